// The --html report: one self-contained file (inline CSS and SVG, no script,
// nothing fetched) with the run's description, the three charts over time —
// successful requests per serving endpoint, latency percentiles, status mix —
// and the per-endpoint and per-deployment tables.
import { chart, escapeHtml, type Series } from './svg-chart.ts';
import { describeRun, statusText } from './report-table.ts';
import { NO_ENDPOINT, type GroupSummary, type Summary } from './summary.ts';
import { STATUS_CLASSES, type StatusClass } from './stats.ts';

const PALETTE = ['#2563eb', '#f59e0b', '#10b981', '#8b5cf6', '#ef4444', '#06b6d4', '#84cc16', '#ec4899', '#64748b', '#a16207'];
const CLASS_COLORS: Record<StatusClass, string> = { '2xx': '#16a34a', '429': '#f59e0b', '4xx': '#8b5cf6', '5xx': '#dc2626', error: '#475569' };
const CLASS_NAMES: Record<StatusClass, string> = { '2xx': '2xx', '429': '429', '4xx': 'other 4xx', '5xx': '5xx', error: 'no answer (connection, timeout, broken)' };

const CSS = `
body { max-width: 1180px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; margin: 24px; background: #f8fafc; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.run { color: #475569; margin-bottom: 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0 8px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; } .card span { color: #64748b; font-size: 12px; }
.charts { display: grid; grid-template-columns: 1fr; gap: 14px; }
.chart { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; width: 100%; max-width: 1100px; height: auto; }
.chart .title { font-size: 15px; font-weight: 600; fill: #0f172a; }
.chart .tick, .chart .legend { font-size: 12px; fill: #334155; } .chart .label { font-size: 12px; fill: #64748b; }
.chart .grid { stroke: #e2e8f0; } .chart .axis { stroke: #94a3b8; }
table { border-collapse: collapse; background: #fff; border: 1px solid #e2e8f0; }
th, td { padding: 5px 10px; border-bottom: 1px solid #e2e8f0; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.statuses, th:last-child { text-align: left; } th { background: #f1f5f9; font-weight: 600; }
tr.total td { font-weight: 600; }
.note { color: #64748b; font-size: 12px; max-width: 920px; }
`;

const int = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | null) => (n === null ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

function groupRows(groups: readonly GroupSummary[], total?: GroupSummary): string {
  const tr = (g: GroupSummary, cls = '') =>
    `<tr class="${cls}"><td>${escapeHtml(g.name)}</td><td>${int(g.requests)}</td><td>${g.share.toFixed(1)}%</td><td>${g.successRate.toFixed(1)}%</td>` +
    `<td>${ms(g.latencyMs.p50)}</td><td>${ms(g.latencyMs.p90)}</td><td>${ms(g.latencyMs.p99)}</td><td>${ms(g.ttfbMs.p50)}</td>` +
    `<td>${g.completionTokensPerSecond.toFixed(1)}</td><td class="statuses">${escapeHtml(statusText(g.statuses))}</td></tr>`;
  return groups.map((g) => tr(g)).join('') + (total ? tr({ ...total, name: 'total' }, 'total') : '');
}

function groupTable(first: string, groups: readonly GroupSummary[], total?: GroupSummary): string {
  return `<table><thead><tr><th>${first}</th><th>requests</th><th>share</th><th>success</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>ttfb p50 ms</th><th>completion tokens/s</th><th>statuses</th></tr></thead><tbody>${groupRows(groups, total)}</tbody></table>`;
}

export function renderHtml(s: Summary): string {
  const tl = s.timeline;
  const width = (t: number) => Math.max(0.001, Math.min(tl.bucketSeconds, s.seconds - t));
  const xs = tl.points.map((p) => p.t + width(p.t) / 2);
  const perSecond = (f: (p: Summary['timeline']['points'][number]) => number) => tl.points.map((p) => f(p) / width(p.t));

  // Endpoints that served nothing (the gateway's own answers, say) have no band.
  const throughput: Series[] = tl.endpoints
    .map((name, k) => ({ name, color: PALETTE[k % PALETTE.length], values: perSecond((p) => p.okByEndpoint[k] ?? 0) }))
    .filter((sr) => sr.values.some((v) => v > 0));
  const latency: Series[] = [
    { name: 'p50', color: '#2563eb', values: tl.points.map((p) => p.latencyMs.p50) },
    { name: 'p90', color: '#f59e0b', values: tl.points.map((p) => p.latencyMs.p90) },
    { name: 'p99', color: '#dc2626', values: tl.points.map((p) => p.latencyMs.p99) },
  ];
  const classes = STATUS_CLASSES.filter((c) => tl.points.some((p) => p.classes[c] > 0));
  const mix: Series[] = classes.map((c) => ({ name: CLASS_NAMES[c], color: CLASS_COLORS[c], values: perSecond((p) => p.classes[c]) }));

  const t = s.totals;
  const card = (value: string, label: string) => `<div class="card"><b>${escapeHtml(value)}</b><span>${escapeHtml(label)}</span></div>`;
  const cards = [
    card(int(t.requests), `requests in ${s.seconds.toFixed(1)} s`),
    card(t.rate.toFixed(1), 'requests / s'),
    card(`${t.successRate.toFixed(1)}%`, 'success (2xx)'),
    card(int(t.throttled), '429s'),
    card(int(t.errors.connection + t.errors.timeout + t.errors.broken + t.errors.other), 'no answer / broken'),
    card(ms(t.latencyMs.p50), 'p50 latency ms'),
    card(ms(t.latencyMs.p99), 'p99 latency ms'),
    card(ms(t.ttfbMs.p50), `p50 time to first ${s.target.stream ? 'content' : 'byte'} ms`),
    card(t.completionTokensPerSecond.toFixed(0), 'completion tokens / s'),
  ].join('');
  const retry = t.retryAfterMs.count ? ` 429s carried retry-after: p50 ${(Number(t.retryAfterMs.p50) / 1000).toFixed(1)} s, max ${(Number(t.retryAfterMs.max) / 1000).toFixed(1)} s.` : '';
  const dropped = t.dropped ? ` ${int(t.dropped)} arrivals were dropped: max-outstanding requests were in flight.` : '';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>aoai-gateway bench — ${escapeHtml(s.target.url)}</title><style>${CSS}</style></head>
<body>
<h1>aoai-gateway bench</h1>
<div class="run">${escapeHtml(describeRun(s))}<br>started ${escapeHtml(s.startedAt)} · measured ${s.seconds.toFixed(1)} s${s.target.warmupSeconds ? ` after a ${s.target.warmupSeconds} s warm-up` : ''}${s.stoppedEarly ? ` · stopped early: ${escapeHtml(s.stoppedEarly)}` : ''}</div>
<div class="cards">${cards}</div>
<div class="charts">
${chart({ title: 'Successful requests per second, by serving endpoint (x-gateway-endpoint)', xs, series: throughput, yLabel: 'requests / s', stacked: true })}
${chart({ title: 'Latency of successful requests (to the last byte)', xs, series: latency, yLabel: 'ms', stacked: false })}
${chart({ title: 'Status mix: answers per second by status', xs, series: mix, yLabel: 'requests / s', stacked: true })}
</div>
<h2>By serving endpoint</h2>
${groupTable('endpoint', s.endpoints, t)}
${s.deployments.length > 1 ? `<h2>By deployment called</h2>${groupTable('deployment', s.deployments)}` : ''}
<p class="note">Latency and time to first ${s.target.stream ? 'content' : 'byte'} are of 2xx answers; share is of all requests. The row ${escapeHtml(NO_ENDPOINT)} (or, called directly, the URL's host) holds the answers that named no serving endpoint — through the gateway, its own, such as a 429 when every deployment is cooling down — and the requests that got no answer.${retry}${dropped} Charts: ${tl.bucketSeconds} s buckets.</p>
</body></html>
`;
}
