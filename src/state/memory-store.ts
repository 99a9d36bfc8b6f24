// The state store of a single instance: maps in this process.
import { Circuit } from './circuit.ts';
import type { Admission, ConsumerLimits, Quota, Reservation, Settlement, StateStore, TargetLimits, TargetReport, TargetView } from './store.ts';
import { BucketWindow, type WindowSpec } from './window.ts';

const MINUTE: Omit<WindowSpec, 'capacity'> = { windowMs: 60_000 };

class TargetState {
  cooldownUntil = 0;
  drained = false;
  readonly circuit = new Circuit();
  readonly tokens = new BucketWindow();
  readonly requests = new BucketWindow();
  readonly evenly = new BucketWindow();
}

class ConsumerState {
  readonly requests = new BucketWindow();
  readonly tokens = new BucketWindow();
  /** lease id → when it lapses */
  readonly leases = new Map<string, number>();
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  readonly #targets = new Map<string, TargetState>();
  readonly #consumers = new Map<string, ConsumerState>();
  /** `${consumer}\0${period}` → tokens used */
  readonly #quotas = new Map<string, { used: number; endsAt: number }>();
  /** key → value and expiry, oldest put first (a Map keeps insertion order) */
  readonly #values = new Map<string, { value: string; expiresAt: number; bytes: number }>();
  #valueBytes = 0;
  readonly #maxValueBytes: number;

  /** `maxValueBytes` bounds what getValue/putValue hold (keys and values, as UTF-16 lengths × 2) */
  constructor(opts: { maxValueBytes?: number } = {}) {
    this.#maxValueBytes = opts.maxValueBytes ?? 256 * 1024 * 1024;
  }

  async getValue(key: string, now: number): Promise<string | undefined> {
    const v = this.#values.get(key);
    if (!v) return undefined;
    if (v.expiresAt <= now) {
      this.#forget(key);
      return undefined;
    }
    return v.value;
  }

  async putValue(key: string, value: string, ttlMs: number, now: number): Promise<void> {
    this.#forget(key);
    const bytes = (key.length + value.length) * 2;
    if (bytes > this.#maxValueBytes || ttlMs <= 0) return;
    while (this.#valueBytes + bytes > this.#maxValueBytes) this.#forget(this.#values.keys().next().value as string);
    this.#values.set(key, { value, expiresAt: now + ttlMs, bytes });
    this.#valueBytes += bytes;
  }

  #forget(key: string): void {
    const v = this.#values.get(key);
    if (!v) return;
    this.#values.delete(key);
    this.#valueBytes -= v.bytes;
  }

  async targets(limits: readonly TargetLimits[], cost: number, now: number): Promise<TargetView[]> {
    return limits.map((l) => this.#view(l, cost, now));
  }

  async reserve(pool: readonly TargetLimits[], index: number, cost: number, now: number): Promise<Reservation> {
    const views = pool.map((l) => this.#view(l, cost, now));
    if (views[index].condition !== 'available') return { reserved: false, views };
    const l = pool[index];
    const s = this.#target(l.id);
    if (l.tokens) s.tokens.add(l.tokens, cost, now);
    if (l.requests) s.requests.add(l.requests, 1, now);
    if (l.evenly) s.evenly.add(l.evenly, cost, now);
    s.circuit.onSend(l.breaker, now);
    return { reserved: true, views };
  }

  async report(l: TargetLimits, r: TargetReport, now: number): Promise<void> {
    const s = this.#target(l.id);
    if (r.coolMs !== undefined) s.cooldownUntil = Math.max(s.cooldownUntil, now + r.coolMs);
    s.circuit.record(l.breaker, r.outcome, now, r.retryAfterMs);
  }

  async drain(id: string, drained: boolean): Promise<void> {
    this.#target(id).drained = drained;
  }

  async admit(l: ConsumerLimits, tokens: number, lease: string, leaseMs: number, now: number): Promise<Admission> {
    const s = this.#consumer(l.key);
    const quota = l.quota ? this.#quota(l.quota) : undefined;
    const rpm = l.rpm === undefined ? undefined : { capacity: l.rpm, ...MINUTE };
    const tpm = l.tpm === undefined ? undefined : { capacity: l.tpm, ...MINUTE };
    // A request larger than the whole minute is admitted into an empty one.
    const cost = tpm ? Math.min(tokens, tpm.capacity) : tokens;
    const usedRequests = rpm ? s.requests.used(rpm, now) : 0;
    const usedTokens = tpm ? s.tokens.used(tpm, now) : 0;
    const refuse = (reason: Admission['reason'], retryAfterMs?: number): Admission => ({
      ok: false,
      reason,
      retryAfterMs,
      remainingRequests: rpm ? Math.max(0, rpm.capacity - usedRequests) : undefined,
      remainingTokens: tpm ? Math.max(0, tpm.capacity - usedTokens) : undefined,
      quotaUsed: quota?.used,
    });
    if (quota && l.quota && quota.used >= l.quota.limit) return refuse('quota');
    if (l.concurrent !== undefined) {
      for (const [id, until] of s.leases) if (until <= now) s.leases.delete(id);
      if (s.leases.size >= l.concurrent) return refuse('concurrent');
    }
    const waitRequests = rpm ? s.requests.waitFor(rpm, 1, now) : 0;
    const waitTokens = tpm ? s.tokens.waitFor(tpm, cost, now) : 0;
    if (waitRequests > 0 || waitTokens > 0) {
      return refuse(waitTokens > waitRequests ? 'tokens' : 'requests', Math.max(waitRequests, waitTokens));
    }
    if (rpm) s.requests.add(rpm, 1, now);
    if (tpm) s.tokens.add(tpm, cost, now);
    if (l.concurrent !== undefined) s.leases.set(lease, now + leaseMs);
    return {
      ok: true,
      reason: undefined,
      retryAfterMs: undefined,
      remainingRequests: rpm ? rpm.capacity - usedRequests - 1 : undefined,
      remainingTokens: tpm ? Math.max(0, tpm.capacity - usedTokens - cost) : undefined,
      quotaUsed: quota?.used,
    };
  }

  async settle(l: ConsumerLimits, st: Settlement, now: number): Promise<void> {
    const s = this.#consumer(l.key);
    s.leases.delete(st.lease);
    if (l.tpm !== undefined) {
      const tpm = { capacity: l.tpm, ...MINUTE };
      s.tokens.adjust(tpm, Math.min(st.actual, tpm.capacity) - Math.min(st.estimate, tpm.capacity), st.admittedAt);
    }
    if (l.quota) this.#quota(l.quota).used += st.actual;
    void now;
  }

  async seedQuota(q: Quota, used: number): Promise<void> {
    const k = `${q.consumer}\0${q.period}`;
    if (!this.#quotas.has(k)) this.#quotas.set(k, { used, endsAt: q.endsAt });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  #view(l: TargetLimits, cost: number, now: number): TargetView {
    const s = this.#target(l.id);
    const headroom = l.tokens ? Math.max(0, l.tokens.capacity - s.tokens.used(l.tokens, now)) : undefined;
    if (s.drained) return { at: Infinity, condition: 'drained', headroom };
    let at = now;
    let condition: TargetView['condition'] = 'available';
    const later = (t: number, c: TargetView['condition']) => {
      if (t > at) {
        at = t;
        condition = c;
      }
    };
    const circuit = s.circuit.availableAt(l.breaker, now);
    later(circuit.at, circuit.state === 'open' ? 'circuit-open' : 'half-open');
    later(s.cooldownUntil, 'cooling');
    const wait = Math.max(
      l.tokens ? s.tokens.waitFor(l.tokens, cost, now) : 0,
      l.requests ? s.requests.waitFor(l.requests, 1, now) : 0,
      l.evenly ? s.evenly.waitFor(l.evenly, cost, now) : 0,
    );
    if (wait > 0) later(now + wait, 'over-budget');
    return { at, condition, headroom };
  }

  #target(id: string): TargetState {
    let s = this.#targets.get(id);
    if (!s) this.#targets.set(id, (s = new TargetState()));
    return s;
  }

  #consumer(key: string): ConsumerState {
    let s = this.#consumers.get(key);
    if (!s) this.#consumers.set(key, (s = new ConsumerState()));
    return s;
  }

  #quota(q: Quota): { used: number; endsAt: number } {
    const k = `${q.consumer}\0${q.period}`;
    let v = this.#quotas.get(k);
    if (!v) this.#quotas.set(k, (v = { used: 0, endsAt: q.endsAt }));
    return v;
  }
}
