// "90d", "24h", "30m", "2w" on the command line.

const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function parseCliDuration(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(s.trim());
  if (!m) throw new Error(`${flag}: write a duration like 30m, 24h, 90d or 2w (got "${s}")`);
  return Number(m[1]) * UNIT[m[2]];
}
