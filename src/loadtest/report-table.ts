// The end-of-run table: one row per serving endpoint (and per deployment when
// several were called), then the totals in a few lines.
import { table } from '../cli/table.ts';
import type { GroupSummary, Summary } from './summary.ts';

const COLUMNS = ['requests', 'share', 'p50 ms', 'p90 ms', 'p99 ms', 'ttfb p50', 'tokens/s', 'statuses'];
const RIGHT = new Set(COLUMNS.slice(0, 7));

const int = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | null) => (n === null ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

export function statusText(statuses: Readonly<Record<string, number>>): string {
  return Object.entries(statuses)
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
}

function row(first: string, g: GroupSummary): Record<string, string> {
  return {
    [first]: g.name,
    requests: int(g.requests),
    share: `${g.share.toFixed(1)}%`,
    'p50 ms': ms(g.latencyMs.p50),
    'p90 ms': ms(g.latencyMs.p90),
    'p99 ms': ms(g.latencyMs.p99),
    'ttfb p50': ms(g.ttfbMs.p50),
    'tokens/s': g.completionTokensPerSecond.toFixed(1),
    statuses: statusText(g.statuses),
  };
}

export function describeRun(s: Summary): string {
  const t = s.target;
  const load = t.load.kind === 'concurrency' ? `concurrency ${t.load.concurrency}` : `rate ${t.load.perSecond}/s (max ${t.load.maxOutstanding} in flight)`;
  const stop = t.stop.kind === 'duration' ? `${t.stop.ms / 1000} s` : `${int(t.stop.count)} requests`;
  return `${t.url} · ${t.api === 'v1' ? 'v1' : `azure ${t.apiVersion}`} · ${t.deployments.join(', ')} · ${load} · ${stop}${t.stream ? ' · stream' : ''} · prompt ~${t.promptTokens} tokens, max_tokens ${t.maxTokens}`;
}

export function renderTable(s: Summary): string {
  const out: string[] = [`\n${describeRun(s)}\n`];
  const total = row('endpoint', s.totals);
  total.endpoint = 'total';
  out.push(table([...s.endpoints.map((g) => row('endpoint', g)), total], ['endpoint', ...COLUMNS], RIGHT));
  if (s.deployments.length > 1) out.push('', table(s.deployments.map((g) => row('deployment', g)), ['deployment', ...COLUMNS], RIGHT));
  const tt = s.totals;
  const e = tt.errors;
  const lines = [
    `${int(tt.requests)} requests in ${s.seconds.toFixed(1)} s: ${tt.rate.toFixed(1)} req/s · success ${tt.successRate.toFixed(1)}%` + (tt.dropped ? ` · dropped ${int(tt.dropped)} (max-outstanding reached)` : ''),
    `429s: ${int(tt.throttled)}` + (tt.retryAfterMs.count ? ` (retry-after p50 ${seconds(tt.retryAfterMs.p50)}, max ${seconds(tt.retryAfterMs.max)})` : ''),
    `errors: connection ${e.connection} · timeout ${e.timeout} · broken stream ${e.broken} · other ${e.other}`,
    `tokens: prompt ${int(tt.promptTokens)} · completion ${int(tt.completionTokens)} (${tt.completionTokensPerSecond.toFixed(1)}/s)` + (tt.usageMissing ? ` · ${int(tt.usageMissing)} answers without usage` : ''),
    `latency of 2xx answers: p50 ${ms(tt.latencyMs.p50)} ms · p90 ${ms(tt.latencyMs.p90)} · p99 ${ms(tt.latencyMs.p99)} · max ${ms(tt.latencyMs.max)}; time to first ${s.target.stream ? 'content' : 'byte'} p50 ${ms(tt.ttfbMs.p50)} ms`,
  ];
  for (const [kind, message] of Object.entries(tt.errorExamples)) lines.push(`  first ${kind} error: ${message}`);
  if (s.stoppedEarly === 'interrupted') lines.push('interrupted: the figures cover what ended before the stop');
  out.push('', lines.join('\n'), '');
  return out.join('\n');
}

function seconds(msValue: number | null): string {
  return msValue === null ? '—' : `${(msValue / 1000).toFixed(1)} s`;
}
