// Holds each consumer to its limits (DESIGN.md §2 consumers.limits):
// requests and tokens per minute, requests at once, and a token quota per
// calendar period. Tokens are estimated at admission and settled to what
// upstream reports when the answer ends. Every replica counts in the same
// state store, so a limit is the consumer's, not each replica's.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Consumer } from '../auth/consumer-keys.ts';
import type { LedgerBackend } from '../ledger/records.ts';
import type { Admission, ConsumerLimits, Quota, StateStore } from '../state/store.ts';
import { periodWindow, type QuotaPeriod } from './quota-period.ts';

/** What a consumer's request was admitted with, kept until it is settled. */
export interface Admitted {
  readonly limits: ConsumerLimits;
  readonly lease: string;
  readonly admittedAt: number;
  readonly estimate: number;
  readonly result: Admission;
}

/** What the counter key is made of, from the request. */
export interface CounterInput {
  readonly consumer: Consumer;
  readonly user: string | undefined;
  readonly clientIp: string | undefined;
  header(name: string): string | undefined;
}

export class ConsumerLimiter {
  readonly #store: StateStore;
  readonly #ledger: LedgerBackend | undefined;
  readonly #leaseMs: number;
  readonly #log: Logger | undefined;
  /** quota periods this process has seeded from the ledger */
  readonly #seeded = new Map<string, Promise<void>>();

  constructor(store: StateStore, opts: { ledger?: LedgerBackend; leaseMs: number; logger?: Logger }) {
    this.#store = store;
    this.#ledger = opts.ledger;
    this.#leaseMs = opts.leaseMs;
    this.#log = opts.logger;
  }

  /** The limits that apply to this request, or undefined when the consumer has none. */
  limitsFor(input: CounterInput, now: number): ConsumerLimits | undefined {
    const l = input.consumer.limits;
    if (!l || (l.requestsPerMinute === undefined && l.tokensPerMinute === undefined && l.concurrent === undefined && l.tokenQuota === undefined)) {
      return undefined;
    }
    let quota: Quota | undefined;
    if (l.tokenQuota !== undefined) {
      const w = periodWindow(l.tokenQuotaPeriod as QuotaPeriod, now);
      quota = { consumer: input.consumer.name, limit: l.tokenQuota, period: w.name, start: w.start, endsAt: w.endsAt };
    }
    return {
      key: counterKey(input, l.counter),
      rpm: l.requestsPerMinute,
      tpm: l.tokensPerMinute,
      concurrent: l.concurrent,
      quota,
    };
  }

  /** Admits (all limits or none) or says why not; the caller answers 429/403. */
  async admit(limits: ConsumerLimits, estimate: number, now: number): Promise<Admitted> {
    if (limits.quota) await this.#seed(limits.quota);
    const lease = randomUUID();
    const result = await this.#store.admit(limits, estimate, lease, this.#leaseMs, now);
    return { limits, lease, admittedAt: now, estimate, result };
  }

  /** Settles an admitted request to the tokens it used. Never waits for the store. */
  settle(a: Admitted, actual: number, now: number): void {
    if (!a.result.ok) return;
    void this.#store.settle(a.limits, { lease: a.lease, admittedAt: a.admittedAt, estimate: a.estimate, actual }, now).catch((err: Error) => {
      this.#log?.warn({ err: err.message }, 'limits: a settlement was not recorded');
    });
  }

  /** Starts a quota's count from the ledger, once per period and process. */
  #seed(q: Quota): Promise<void> {
    const k = `${q.consumer}\0${q.period}`;
    let p = this.#seeded.get(k);
    if (!p) {
      p = (async () => {
        if (!this.#ledger) return;
        try {
          await this.#store.seedQuota(q, await this.#ledger.tokensSince(q.consumer, q.start));
        } catch (err) {
          // Without the ledger the quota counts from now; the next process start seeds it properly.
          this.#log?.warn({ consumer: q.consumer, err: (err as Error).message }, 'limits: the quota could not be read from the ledger');
        }
      })();
      this.#seeded.set(k, p);
    }
    return p;
  }
}

/** The key a consumer's windows count under. Values from the request are hashed: any length, no key-space games. */
export function counterKey(input: CounterInput, counter: string): string {
  const name = input.consumer.name;
  let value: string | undefined;
  if (counter === 'user') value = input.user;
  else if (counter === 'ip') value = input.clientIp;
  else if (counter.startsWith('header:')) value = input.header(counter.slice(7).toLowerCase());
  else return name;
  // A request without the value counts under the consumer's own key.
  if (value === undefined || value === '') return `${name}|${counter}|-`;
  return `${name}|${counter}|${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`;
}
