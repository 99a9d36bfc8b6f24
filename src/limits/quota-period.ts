// Calendar windows in UTC for token quotas.

export type QuotaPeriod = 'hourly' | 'daily' | 'weekly' | 'monthly';

export interface PeriodWindow {
  /** e.g. "2026-11", "2026-W47", "2026-11-21", "2026-11-21T13" */
  readonly name: string;
  readonly start: number;
  readonly endsAt: number;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function periodWindow(period: QuotaPeriod, now: number): PeriodWindow {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (period) {
    case 'hourly': {
      const start = Date.UTC(y, m, day, d.getUTCHours());
      return { name: `${y}-${pad(m + 1)}-${pad(day)}T${pad(d.getUTCHours())}`, start, endsAt: start + 3_600_000 };
    }
    case 'daily': {
      const start = Date.UTC(y, m, day);
      return { name: `${y}-${pad(m + 1)}-${pad(day)}`, start, endsAt: start + 86_400_000 };
    }
    case 'weekly': {
      // ISO weeks: Monday to Monday; the week belongs to the year of its Thursday.
      const weekday = (d.getUTCDay() + 6) % 7;
      const start = Date.UTC(y, m, day - weekday);
      const thursday = new Date(start + 3 * 86_400_000);
      const isoYear = thursday.getUTCFullYear();
      const week = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * 86_400_000)) + 1;
      return { name: `${isoYear}-W${pad(week)}`, start, endsAt: start + 7 * 86_400_000 };
    }
    case 'monthly': {
      const start = Date.UTC(y, m, 1);
      return { name: `${y}-${pad(m + 1)}`, start, endsAt: Date.UTC(y, m + 1, 1) };
    }
  }
}
