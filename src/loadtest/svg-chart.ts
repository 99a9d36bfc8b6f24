// Inline SVG charts over time for the HTML report: lines or stacked areas,
// axes with round ticks, a legend. Pure strings, no script, no fonts to fetch.

export interface Series {
  readonly name: string;
  readonly color: string;
  /** y per x; null: no value there (a gap in a line, zero in a stack) */
  readonly values: readonly (number | null)[];
}

export interface ChartSpec {
  readonly title: string;
  /** x of each value, seconds */
  readonly xs: readonly number[];
  readonly series: readonly Series[];
  readonly yLabel: string;
  readonly stacked: boolean;
  readonly width?: number;
  readonly height?: number;
}

const PAD = { left: 64, right: 16, top: 40, bottom: 58 };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** About `count` round steps (1, 2 or 5 × 10^n) from 0 to at least `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) as number;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const fmt = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 2 : 1));

export function chart(spec: ChartSpec): string {
  const W = spec.width ?? 1100;
  const H = spec.height ?? 320;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const n = spec.xs.length;
  const xMax = n ? Math.max(spec.xs[n - 1], 1) : 1;
  // Stacks: each series drawn on top of the ones before it.
  const tops: number[][] = [];
  let floor = new Array<number>(n).fill(0);
  for (const s of spec.series) {
    const top = spec.stacked ? floor.map((f, i) => f + (s.values[i] ?? 0)) : s.values.map((v) => v ?? NaN);
    tops.push(top);
    if (spec.stacked) floor = top;
  }
  const yMaxData = Math.max(0, ...tops.flat().filter((v) => Number.isFinite(v)));
  const yTicks = niceTicks(yMaxData);
  const yMax = yTicks[yTicks.length - 1];
  const X = (x: number) => PAD.left + (x / xMax) * iw;
  const Y = (y: number) => PAD.top + ih - (y / yMax) * ih;
  const p = (x: number, y: number) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`;

  const parts: string[] = [];
  parts.push(`<text x="${PAD.left}" y="22" class="title">${escapeHtml(spec.title)}</text>`);
  for (const t of yTicks) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${(Y(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(xMax, 8)) {
    if (t > xMax) break;
    parts.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${PAD.top + ih}" y2="${PAD.top + ih + 4}" class="axis"/>`);
    parts.push(`<text x="${X(t).toFixed(1)}" y="${PAD.top + ih + 17}" class="tick" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<text x="${PAD.left + iw / 2}" y="${H - 26}" class="label" text-anchor="middle">seconds since the start</text>`);
  parts.push(`<text transform="translate(14 ${PAD.top + ih / 2}) rotate(-90)" class="label" text-anchor="middle">${escapeHtml(spec.yLabel)}</text>`);

  spec.series.forEach((s, k) => {
    const top = tops[k];
    if (spec.stacked) {
      const base = k === 0 ? new Array<number>(n).fill(0) : tops[k - 1];
      if (n === 0) return;
      const upper = spec.xs.map((x, i) => p(x, top[i]));
      const lower = spec.xs.map((x, i) => p(x, base[i])).reverse();
      parts.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${s.color}" fill-opacity="0.8" stroke="${s.color}" stroke-width="1"/>`);
    } else {
      // A line per run of values; a gap where a bucket had none.
      let run: string[] = [];
      const flush = () => {
        if (run.length > 1) parts.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
        else if (run.length === 1) parts.push(`<circle cx="${run[0].split(',')[0]}" cy="${run[0].split(',')[1]}" r="2" fill="${s.color}"/>`);
        run = [];
      };
      spec.xs.forEach((x, i) => (Number.isFinite(top[i]) ? run.push(p(x, top[i])) : flush()));
      flush();
    }
  });
  parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + ih}" y2="${PAD.top + ih}" class="axis"/>`);
  parts.push(`<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + ih}" class="axis"/>`);

  // Legend under the x axis label.
  let lx = PAD.left;
  for (const s of spec.series) {
    const label = escapeHtml(s.name);
    parts.push(`<rect x="${lx}" y="${H - 14}" width="12" height="12" fill="${s.color}"/><text x="${lx + 16}" y="${H - 4}" class="legend">${label}</text>`);
    lx += 28 + Math.min(s.name.length, 40) * 7;
  }
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(spec.title)}">${parts.join('')}</svg>`;
}
