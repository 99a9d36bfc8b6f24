// The run's result as plain data: what --json prints and what the table and
// the HTML report are drawn from. Times in ms, shares in percent.
import type { Histogram } from './histogram.ts';
import type { RunInfo } from './engine.ts';
import type { BenchOptions } from './options.ts';
import { STATUS_CLASSES, type ErrorClass, type Group, type Recorder, type StatusClass } from './stats.ts';

export interface Percentiles {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

export interface GroupSummary {
  readonly name: string;
  readonly requests: number;
  /** of all requests of the run, percent */
  readonly share: number;
  readonly ok: number;
  /** 2xx answers, percent of this group's requests */
  readonly successRate: number;
  /** of 2xx answers */
  readonly latencyMs: Percentiles;
  readonly ttfbMs: Percentiles;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly completionTokensPerSecond: number;
  /** 2xx answers without usage: their tokens are unknown, not zero */
  readonly usageMissing: number;
  /** "200", "429", … and the error classes "connection", "timeout", "broken", "other" */
  readonly statuses: Readonly<Record<string, number>>;
  readonly throttled: number;
  readonly retryAfterMs: { readonly count: number; readonly p50: number | null; readonly max: number | null };
}

export interface TimelinePoint {
  /** seconds since the measured start, at the bucket's start */
  readonly t: number;
  readonly requests: number;
  /** 2xx answers per endpoint, in the order of Timeline.endpoints */
  readonly okByEndpoint: readonly number[];
  readonly classes: Readonly<Record<StatusClass, number>>;
  readonly latencyMs: { readonly p50: number | null; readonly p90: number | null; readonly p99: number | null };
  readonly completionTokens: number;
}

export interface Summary {
  readonly tool: 'aoai-gateway bench';
  readonly target: {
    readonly url: string;
    readonly api: string;
    readonly apiVersion: string | null;
    readonly deployments: readonly string[];
    readonly stream: boolean;
    readonly promptTokens: number;
    readonly maxTokens: number;
    readonly load: BenchOptions['load'];
    readonly stop: BenchOptions['stop'];
    readonly warmupSeconds: number;
    readonly timeoutSeconds: number;
    /** names only: values may be secrets */
    readonly extraHeaders: readonly string[];
  };
  readonly startedAt: string;
  readonly seconds: number;
  readonly stoppedEarly: string | null;
  readonly totals: GroupSummary & {
    /** answers (and errors) per second over the measured time */
    readonly rate: number;
    /** open loop: arrivals not sent, max-outstanding being in flight */
    readonly dropped: number;
    readonly errors: Readonly<Record<ErrorClass, number>>;
    /** the first message of each error class */
    readonly errorExamples: Readonly<Partial<Record<ErrorClass, string>>>;
  };
  readonly endpoints: readonly GroupSummary[];
  readonly deployments: readonly GroupSummary[];
  readonly timeline: { readonly bucketSeconds: number; readonly endpoints: readonly string[]; readonly points: readonly TimelinePoint[] };
}

/** the row of answers that named no serving endpoint, in a run through a gateway */
export const NO_ENDPOINT = '(no x-gateway-endpoint)';

const round = (x: number, digits = 1) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
/** a histogram of µs as ms percentiles */
function percentiles(h: Histogram, unit = 1000): Percentiles {
  const q = (p: number) => (h.total ? round(h.quantile(p) / unit) : null);
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: h.total ? round(h.max / unit) : null, mean: h.total ? round(h.mean() / unit) : null };
}

function groupSummary(name: string, g: Group, all: number, seconds: number): GroupSummary {
  return {
    name,
    requests: g.requests,
    share: all ? round((g.requests / all) * 100, 2) : 0,
    ok: g.ok,
    successRate: g.requests ? round((g.ok / g.requests) * 100, 2) : 0,
    latencyMs: percentiles(g.latency),
    ttfbMs: percentiles(g.ttfb),
    promptTokens: g.promptTokens,
    completionTokens: g.completionTokens,
    completionTokensPerSecond: round(g.completionTokens / seconds),
    usageMissing: g.usageMissing,
    statuses: Object.fromEntries([...g.statuses].sort(([a], [b]) => statusOrder(a) - statusOrder(b) || a.localeCompare(b))),
    throttled: g.throttled,
    retryAfterMs: { count: g.retryAfter.total, p50: g.retryAfter.total ? round(g.retryAfter.quantile(0.5), 0) : null, max: g.retryAfter.total ? g.retryAfter.max : null },
  };
}

function statusOrder(s: string): number {
  const n = Number(s);
  return Number.isInteger(n) ? n : 1000;
}

export function summarise(o: BenchOptions, rec: Recorder, run: RunInfo): Summary {
  const all = rec.total.requests;
  const s = run.seconds;
  const byRequests = (a: GroupSummary, b: GroupSummary) => b.requests - a.requests || a.name.localeCompare(b.name);
  // Through a gateway, the answers without x-gateway-endpoint are its own (and the requests without an answer).
  const viaGateway = rec.endpointNames.some((n) => n !== rec.direct);
  const label = (n: string) => (viaGateway && n === rec.direct ? NO_ENDPOINT : n);
  return {
    tool: 'aoai-gateway bench',
    target: {
      url: o.origin + o.basePath,
      api: o.api,
      apiVersion: o.api === 'azure' ? o.apiVersion : null,
      deployments: o.deployments,
      stream: o.stream,
      promptTokens: o.promptTokens,
      maxTokens: o.maxTokens,
      load: o.load,
      stop: o.stop,
      warmupSeconds: o.warmupMs / 1000,
      timeoutSeconds: o.timeoutMs / 1000,
      extraHeaders: o.headers.map(([n]) => n),
    },
    startedAt: run.startedAt.toISOString(),
    seconds: round(s, 3),
    stoppedEarly: run.stoppedEarly ?? null,
    totals: {
      ...groupSummary('total', rec.total, all, s),
      rate: round(all / s, 2),
      dropped: rec.dropped,
      errors: { ...rec.errors },
      errorExamples: Object.fromEntries(rec.firstErrors),
    },
    endpoints: [...rec.byEndpoint].map(([n, g]) => groupSummary(label(n), g, all, s)).sort(byRequests),
    deployments: o.deployments.filter((d) => rec.byDeployment.has(d)).map((d) => groupSummary(d, rec.byDeployment.get(d) as Group, all, s)),
    timeline: {
      bucketSeconds: rec.bucketMs / 1000,
      endpoints: rec.endpointNames.map(label),
      points: rec.timeline.map((b, i) => ({
        t: (i * rec.bucketMs) / 1000,
        requests: b.requests,
        okByEndpoint: rec.endpointNames.map((_, k) => b.okByEndpoint[k] ?? 0),
        classes: Object.fromEntries(STATUS_CLASSES.map((c) => [c, b.classes[c]])) as Record<StatusClass, number>,
        latencyMs: { p50: b.latency.total ? round(b.latency.quantile(0.5) / 1000) : null, p90: b.latency.total ? round(b.latency.quantile(0.9) / 1000) : null, p99: b.latency.total ? round(b.latency.quantile(0.99) / 1000) : null },
        completionTokens: b.completionTokens,
      })),
    },
  };
}
