// What the run saw, aggregated as it goes in bounded memory: one group per
// serving endpoint and per deployment (latency and TTFB histograms, status
// counts, tokens), the totals, and a timeline whose buckets widen (adjacent
// pairs merged) when a long run would need more than MAX_BUCKETS of them.
import { Histogram } from './histogram.ts';

/** How a request that got no status ended. */
export type ErrorClass = 'connection' | 'timeout' | 'broken' | 'other';

export interface Outcome {
  readonly deployment: string;
  /** from x-gateway-endpoint; undefined: the answer named none (or there was no answer) */
  readonly endpoint: string | undefined;
  /** 0 when no status arrived */
  readonly status: number;
  readonly error: ErrorClass | undefined;
  /** first error message of its kind is kept, to explain a failed run */
  readonly errorMessage?: string;
  readonly latencyUs: number;
  readonly ttfbUs: number;
  /** -1: the answer carried no usage */
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** -1: no retry-after on this answer */
  readonly retryAfterMs: number;
}

export class Group {
  requests = 0;
  ok = 0;
  readonly statuses = new Map<string, number>();
  /** of 2xx answers only: a 429 answered in 2 ms is not a fast request */
  readonly latency = new Histogram();
  readonly ttfb = new Histogram();
  promptTokens = 0;
  completionTokens = 0;
  /** 2xx answers that carried no usage */
  usageMissing = 0;
  throttled = 0;
  readonly retryAfter = new Histogram();

  add(o: Outcome): void {
    this.requests++;
    const key = o.error === undefined ? String(o.status) : o.error;
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    if (o.status === 429) {
      this.throttled++;
      if (o.retryAfterMs >= 0) this.retryAfter.record(o.retryAfterMs);
    }
    if (o.error !== undefined || o.status < 200 || o.status >= 300) return;
    this.ok++;
    this.latency.record(o.latencyUs);
    this.ttfb.record(o.ttfbUs);
    if (o.completionTokens < 0) this.usageMissing++;
    else {
      this.promptTokens += o.promptTokens;
      this.completionTokens += o.completionTokens;
    }
  }
}

export type StatusClass = '2xx' | '429' | '4xx' | '5xx' | 'error';
export const STATUS_CLASSES: readonly StatusClass[] = ['2xx', '429', '4xx', '5xx', 'error'];

export interface TimeBucket {
  requests: number;
  /** 2xx answers per endpoint (index into Recorder.endpointNames) */
  okByEndpoint: number[];
  classes: Record<StatusClass, number>;
  latency: Histogram;
  completionTokens: number;
}

const MAX_BUCKETS = 600;
/** distinct endpoint names kept; more (a misbehaving header) go to "(other)" */
const MAX_NAMES = 64;

export class Recorder {
  readonly total = new Group();
  readonly byEndpoint = new Map<string, Group>();
  readonly byDeployment = new Map<string, Group>();
  readonly endpointNames: string[] = [];
  /** the label of answers without x-gateway-endpoint: the URL's host */
  readonly direct: string;
  readonly errors: Record<ErrorClass, number> = { connection: 0, timeout: 0, broken: 0, other: 0 };
  readonly firstErrors = new Map<ErrorClass, string>();
  /** open loop: arrivals not sent because max-outstanding requests were in flight */
  dropped = 0;
  bucketMs = 1000;
  readonly timeline: TimeBucket[] = [];
  /** for the progress line: what arrived since the last read */
  recent = new Group();

  constructor(direct: string) {
    this.direct = direct;
  }

  /** Adds one request that ended `atMs` after the measured start. */
  add(o: Outcome, atMs: number): void {
    const endpoint = this.#endpointName(o.endpoint);
    this.total.add(o);
    this.recent.add(o);
    group(this.byEndpoint, endpoint).add(o);
    group(this.byDeployment, o.deployment).add(o);
    if (o.error !== undefined) {
      this.errors[o.error]++;
      if (!this.firstErrors.has(o.error) && o.errorMessage) this.firstErrors.set(o.error, o.errorMessage);
    }
    const b = this.#bucket(atMs);
    b.requests++;
    b.classes[classOf(o)]++;
    if (o.error === undefined && o.status >= 200 && o.status < 300) {
      const i = this.endpointNames.indexOf(endpoint);
      b.okByEndpoint[i] = (b.okByEndpoint[i] ?? 0) + 1;
      b.latency.record(o.latencyUs);
      if (o.completionTokens > 0) b.completionTokens += o.completionTokens;
    }
  }

  /** The group of what ended since the previous call. */
  takeRecent(): Group {
    const r = this.recent;
    this.recent = new Group();
    return r;
  }

  #endpointName(header: string | undefined): string {
    const name = header === undefined || header === '' ? this.direct : header.slice(0, 100);
    if (this.endpointNames.includes(name)) return name;
    const kept = this.endpointNames.length < MAX_NAMES ? name : '(other)';
    if (!this.endpointNames.includes(kept)) this.endpointNames.push(kept);
    return kept;
  }

  #bucket(atMs: number): TimeBucket {
    let i = Math.max(0, Math.floor(atMs / this.bucketMs));
    while (i >= MAX_BUCKETS) {
      this.#widen();
      i = Math.floor(atMs / this.bucketMs);
    }
    while (this.timeline.length <= i) this.timeline.push(newBucket());
    return this.timeline[i];
  }

  /** Doubles the bucket width, merging neighbours: memory stays bounded on any run length. */
  #widen(): void {
    const merged: TimeBucket[] = [];
    for (let i = 0; i < this.timeline.length; i += 2) {
      const a = this.timeline[i];
      const b = this.timeline[i + 1];
      if (b) {
        a.requests += b.requests;
        b.okByEndpoint.forEach((n, k) => (a.okByEndpoint[k] = (a.okByEndpoint[k] ?? 0) + (n ?? 0)));
        for (const c of STATUS_CLASSES) a.classes[c] += b.classes[c];
        a.latency.add(b.latency);
        a.completionTokens += b.completionTokens;
      }
      merged.push(a);
    }
    this.timeline.length = 0;
    this.timeline.push(...merged);
    this.bucketMs *= 2;
  }
}

function group(map: Map<string, Group>, key: string): Group {
  let g = map.get(key);
  if (!g) map.set(key, (g = new Group()));
  return g;
}

function classOf(o: Outcome): StatusClass {
  if (o.error !== undefined) return 'error';
  if (o.status === 429) return '429';
  if (o.status >= 200 && o.status < 300) return '2xx';
  return o.status >= 500 ? '5xx' : '4xx';
}

function newBucket(): TimeBucket {
  return { requests: 0, okByEndpoint: [], classes: { '2xx': 0, '429': 0, '4xx': 0, '5xx': 0, error: 0 }, latency: new Histogram(), completionTokens: 0 };
}
