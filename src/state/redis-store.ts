// The state store shared by replicas: Redis, one Lua script per decision.
import { Redis } from 'ioredis';
import { ADMIT, REPORT, RESERVE, SETTLE, TARGETS } from './redis-scripts.ts';
import type {
  Admission,
  ConsumerLimits,
  LimitReason,
  Quota,
  Reservation,
  SharedCondition,
  Settlement,
  StateStore,
  TargetLimits,
  TargetReport,
  TargetView,
} from './store.ts';

type ScriptRunner = (keys: string[], args: (string | number)[]) => Promise<unknown>;

export interface RedisStoreOptions {
  readonly url: string;
  /** prefixes every key, so several gateways can share one Redis */
  readonly prefix?: string;
  /** how long a command may take before it counts as a failure */
  readonly commandTimeoutMs?: number;
}

export class RedisStore implements StateStore {
  readonly kind = 'redis';
  readonly redis: Redis;
  readonly #prefix: string;
  readonly #run: Record<'targets' | 'reserve' | 'report' | 'admit' | 'settle', ScriptRunner>;

  constructor(opts: RedisStoreOptions) {
    this.#prefix = opts.prefix ?? 'aoaigw:';
    this.redis = new Redis(opts.url, {
      // Fail fast while Redis is away: the caller falls back; nothing queues up.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      lazyConnect: true,
      // Commands issued in the same tick go in one write: under load a fifth less CPU
      // per request (bench/limits-cost.ts), at the price of one tick's wait.
      enableAutoPipelining: true,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    // Errors surface as rejected commands; the 'error' event would otherwise be thrown.
    this.redis.on('error', () => {});
    const scripts = { targets: TARGETS, reserve: RESERVE, report: REPORT, admit: ADMIT, settle: SETTLE };
    const run = {} as Record<keyof typeof scripts, ScriptRunner>;
    for (const [name, lua] of Object.entries(scripts) as [keyof typeof scripts, string][]) {
      this.redis.defineCommand(`aoaigw_${name}`, { lua });
      const cmd = (this.redis as unknown as Record<string, (n: number, ...a: (string | number)[]) => Promise<unknown>>)[`aoaigw_${name}`];
      run[name] = (keys, args) => cmd.call(this.redis, keys.length, ...keys, ...args);
    }
    this.#run = run;
  }

  async connect(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect();
  }

  async getValue(key: string): Promise<string | undefined> {
    return (await this.redis.get(`${this.#prefix}v:${key}`)) ?? undefined;
  }

  async putValue(key: string, value: string, ttlMs: number): Promise<void> {
    if (ttlMs <= 0) return;
    await this.redis.set(`${this.#prefix}v:${key}`, value, 'PX', Math.ceil(ttlMs));
  }

  async targets(limits: readonly TargetLimits[], cost: number, now: number): Promise<TargetView[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [now, cost];
    for (const l of limits) {
      keys.push(...this.#targetKeys(l.id));
      args.push(...caps(l));
    }
    const out = (await this.#run.targets(keys, args)) as string[];
    return limits.map((_, i) => toView(out[i * 3], out[i * 3 + 1], out[i * 3 + 2]));
  }

  async reserve(pool: readonly TargetLimits[], index: number, cost: number, now: number): Promise<Reservation> {
    const keys: string[] = [];
    const args: (string | number)[] = [now, cost, index, pool[index].breaker.trialLeaseMs];
    for (const l of pool) {
      keys.push(...this.#targetKeys(l.id));
      args.push(...caps(l));
    }
    const out = (await this.#run.reserve(keys, args)) as (number | string)[];
    return { reserved: out[0] === 1, views: pool.map((_, i) => toView(String(out[1 + i * 3]), String(out[2 + i * 3]), String(out[3 + i * 3]))) };
  }

  async report(l: TargetLimits, r: TargetReport, now: number): Promise<void> {
    const b = l.breaker;
    const [hash] = this.#targetKeys(l.id);
    await this.#run.report(
      [hash, `${hash}:calls`, `${hash}:fail`],
      [
        now,
        r.outcome,
        r.coolMs === undefined ? '' : r.coolMs,
        r.retryAfterMs === undefined ? '' : r.retryAfterMs,
        b.threshold,
        b.percent ? 1 : 0,
        b.minimumCalls,
        b.windowMs,
        b.tripMs,
        b.acceptRetryAfter ? 1 : 0,
      ],
    );
  }

  async drain(id: string, drained: boolean): Promise<void> {
    await this.redis.hset(this.#targetKeys(id)[0], 'dr', drained ? '1' : '0');
  }

  async admit(l: ConsumerLimits, tokens: number, lease: string, leaseMs: number, now: number): Promise<Admission> {
    const c = `${this.#prefix}c:${l.key}`;
    const out = (await this.#run.admit(
      [`${c}:req`, `${c}:tok`, `${c}:lease`, this.#quotaKey(l.quota)],
      [now, l.rpm ?? 0, l.tpm ?? 0, l.concurrent ?? 0, tokens, lease, leaseMs, l.quota?.limit ?? 0],
    )) as [number, string, string, string, string, string];
    const n = (s: string) => (s === '' ? undefined : Number(s));
    return {
      ok: out[0] === 1,
      reason: out[1] === '' ? undefined : (out[1] as LimitReason),
      retryAfterMs: n(out[2]),
      remainingRequests: n(out[3]),
      remainingTokens: n(out[4]),
      quotaUsed: n(out[5]),
    };
  }

  async settle(l: ConsumerLimits, s: Settlement, _now: number): Promise<void> {
    const c = `${this.#prefix}c:${l.key}`;
    await this.#run.settle(
      [`${c}:tok`, `${c}:lease`, this.#quotaKey(l.quota)],
      [s.lease, s.admittedAt, s.estimate, s.actual, l.tpm ?? 0, l.quota?.endsAt ?? 0],
    );
  }

  async seedQuota(q: Quota, used: number): Promise<void> {
    await this.redis.set(this.#quotaKey(q), String(used), 'PXAT', Math.ceil(q.endsAt + 86_400_000), 'NX');
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  #targetKeys(id: string): [string, string, string, string] {
    const h = `${this.#prefix}t:${id}`;
    return [h, `${h}:tok`, `${h}:req`, `${h}:even`];
  }

  #quotaKey(q: Quota | undefined): string {
    return q ? `${this.#prefix}q:${q.consumer}:${q.period}` : `${this.#prefix}q:-`;
  }
}

function caps(l: TargetLimits): number[] {
  return [
    l.tokens?.capacity ?? 0,
    l.tokens?.windowMs ?? 0,
    l.requests?.capacity ?? 0,
    l.requests?.windowMs ?? 0,
    l.evenly?.capacity ?? 0,
    l.evenly?.windowMs ?? 0,
  ];
}

function toView(at: string, condition: string, headroom: string): TargetView {
  const h = Number(headroom);
  return { at: at === 'inf' ? Infinity : Number(at), condition: condition as SharedCondition, headroom: h < 0 ? undefined : h };
}
