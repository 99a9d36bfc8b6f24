// Redis with a way out: while Redis cannot be reached, decisions are made on
// this process's own state (fail-open, the default) or refused (fail-closed).
// The switch is logged once each way and shown as a gauge; when Redis answers
// again, it is used again.
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { MemoryStore } from './memory-store.ts';
import type { RedisStore } from './redis-store.ts';
import type { StateStore } from './store.ts';

export class StoreUnavailableError extends Error {
  readonly code = 'STATE_STORE_UNAVAILABLE';
}

export const STORE_UP = 'aoai_gateway_state_store_up';

export class FallbackStore implements StateStore {
  readonly kind = 'redis';
  readonly #redis: RedisStore;
  readonly #local = new MemoryStore();
  readonly #failOpen: boolean;
  readonly #log: Logger | undefined;
  readonly #metrics: Metrics;
  #up = true;

  constructor(redis: RedisStore, opts: { failOpen: boolean; logger?: Logger; metrics: Metrics }) {
    this.#redis = redis;
    this.#failOpen = opts.failOpen;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
    this.#metrics.set(STORE_UP, 1);
    redis.redis.on('ready', () => this.#mark(true));
  }

  get up(): boolean {
    return this.#up;
  }

  targets: StateStore['targets'] = (...a) => this.#call((s) => s.targets(...a));
  reserve: StateStore['reserve'] = (...a) => this.#call((s) => s.reserve(...a));
  report: StateStore['report'] = (...a) => this.#call((s) => s.report(...a));
  drain: StateStore['drain'] = async (...a) => {
    // An operator's drain must hold here even while Redis is away.
    await this.#local.drain(...a);
    await this.#call((s) => s.drain(...a));
  };
  admit: StateStore['admit'] = (...a) => this.#call((s) => s.admit(...a));
  settle: StateStore['settle'] = (...a) => this.#call((s) => s.settle(...a));
  seedQuota: StateStore['seedQuota'] = (...a) => this.#call((s) => s.seedQuota(...a));
  getValue: StateStore['getValue'] = (...a) => this.#call((s) => s.getValue(...a));
  putValue: StateStore['putValue'] = (...a) => this.#call((s) => s.putValue(...a));

  async ping(): Promise<void> {
    if (!this.#up && !this.#failOpen) throw new StoreUnavailableError('the state store (Redis) cannot be reached');
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  async #call<T>(op: (s: StateStore) => Promise<T>): Promise<T> {
    if (this.#up) {
      try {
        return await op(this.#redis);
      } catch (err) {
        if ((err as Error).name === 'ReplyError') throw err; // a script error is a bug, not an outage
        this.#mark(false, err as Error);
      }
    }
    if (!this.#failOpen) throw new StoreUnavailableError('the state store (Redis) cannot be reached');
    return op(this.#local);
  }

  #mark(up: boolean, err?: Error): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#metrics.set(STORE_UP, up ? 1 : 0);
    if (up) this.#log?.info('state store: Redis is back; shared state is used again');
    else {
      this.#log?.error(
        { err: err?.message },
        `state store: Redis cannot be reached; ${this.#failOpen ? 'serving on this replica\'s own state (fail-open)' : 'refusing requests (fail-closed)'}`,
      );
    }
  }
}
