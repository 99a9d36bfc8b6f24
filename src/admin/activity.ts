// What this process served recently, for the dashboard: requests, errors and
// tokens in 10-second buckets over the last 15 minutes, who used the most,
// and the last refusals. Memory is fixed: 90 buckets, a bounded list.

const BUCKET_MS = 10_000;
const BUCKETS = 90;
const REFUSALS = 50;
const TOP_WINDOW_MS = 5 * 60_000;

interface Bucket {
  start: number;
  requests: number;
  errors: number;
  throttled: number;
  tokens: number;
  /** consumer → [requests, tokens] */
  consumers: Map<string, [number, number]>;
}

export interface Refusal {
  readonly time: number;
  readonly consumer: string | undefined;
  readonly deployment: string | undefined;
  readonly status: number;
  readonly reason: string;
}

export interface ActivitySnapshot {
  readonly bucketSeconds: number;
  readonly series: { t: number; requests: number; errors: number; throttled: number; tokens: number }[];
  readonly topConsumers: { consumer: string; requests: number; tokens: number }[];
  readonly refusals: readonly Refusal[];
}

export class Activity {
  readonly #buckets: (Bucket | undefined)[] = new Array(BUCKETS);
  readonly #refusals: Refusal[] = [];

  record(now: number, consumer: string | undefined, status: number, tokens: number): void {
    const b = this.#bucket(now);
    b.requests++;
    if (status === 429) b.throttled++;
    else if (status >= 400 || status === 0) b.errors++;
    b.tokens += tokens;
    if (consumer) {
      const c = b.consumers.get(consumer);
      if (c) {
        c[0]++;
        c[1] += tokens;
      } else b.consumers.set(consumer, [1, tokens]);
    }
  }

  refusal(r: Refusal): void {
    this.#refusals.push(r);
    if (this.#refusals.length > REFUSALS) this.#refusals.shift();
  }

  snapshot(now: number): ActivitySnapshot {
    const series = [];
    const top = new Map<string, [number, number]>();
    const first = Math.floor(now / BUCKET_MS) - BUCKETS + 1;
    for (let i = 0; i < BUCKETS; i++) {
      const idx = first + i;
      const b = this.#buckets[idx % BUCKETS];
      const live = b && b.start === idx * BUCKET_MS ? b : undefined;
      series.push({ t: idx * BUCKET_MS, requests: live?.requests ?? 0, errors: live?.errors ?? 0, throttled: live?.throttled ?? 0, tokens: live?.tokens ?? 0 });
      if (live && live.start >= now - TOP_WINDOW_MS) {
        for (const [c, [r, t]] of live.consumers) {
          const acc = top.get(c) ?? [0, 0];
          top.set(c, [acc[0] + r, acc[1] + t]);
        }
      }
    }
    const topConsumers = [...top.entries()]
      .map(([consumer, [requests, tokens]]) => ({ consumer, requests, tokens }))
      .sort((a, b) => b.tokens - a.tokens || b.requests - a.requests)
      .slice(0, 10);
    return { bucketSeconds: BUCKET_MS / 1000, series, topConsumers, refusals: [...this.#refusals].reverse() };
  }

  #bucket(now: number): Bucket {
    const idx = Math.floor(now / BUCKET_MS);
    const slot = idx % BUCKETS;
    let b = this.#buckets[slot];
    if (!b || b.start !== idx * BUCKET_MS) {
      b = { start: idx * BUCKET_MS, requests: 0, errors: 0, throttled: 0, tokens: 0, consumers: new Map() };
      this.#buckets[slot] = b;
    }
    return b;
  }
}
