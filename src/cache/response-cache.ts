// The response cache: after a request is admitted, a cacheable one is looked
// up and, on a hit, answered from the entry without contacting upstream — as
// JSON, or replayed as a stream. On a miss its answer is kept as the relay
// passes it on and stored once the exchange has ended well: a 200 with a
// whole JSON body (or a whole stream, put back together), usage reported,
// not filtered, within the entry bound.
//
// Entries live in a StateStore's values: this process's memory (bounded by
// `cache.maxMemoryBytes`), or Redis when `state.store` is redis, so every
// replica on that Redis shares them. The cache never fails a request: a store
// that cannot be read is a miss, one that cannot be written is counted.
import type { Config } from '../config/schema.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { MemoryStore } from '../state/memory-store.ts';
import type { StateStore } from '../state/store.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { cacheKey } from './cache-key.ts';
import { decodeEntry, encodeEntry, type CacheEntry } from './entry.ts';
import { cacheable, clientDirective, type CachePolicy } from './policy.ts';
import { replayStream } from './replay.ts';
import { StreamAssembler } from './stream-assembler.ts';

/** What the cache did for a request (the `x-gateway-cache` response header, the log's and ledger's `cache`). */
export type CacheStatus = 'hit' | 'miss' | 'refresh' | 'bypass' | 'skip';

export const RESPONSE_HEADER = 'x-gateway-cache';

export const CACHE_METRICS = {
  requests: 'aoai_gateway_cache_requests_total',
  stores: 'aoai_gateway_cache_stores_total',
  tokensSaved: 'aoai_gateway_cache_tokens_saved_total',
  errors: 'aoai_gateway_cache_errors_total',
} as const;

/** A request's dealings with the cache, kept on its Exchange. */
export class CacheTicket {
  readonly status: CacheStatus;
  readonly key: string | undefined;
  readonly policy: CachePolicy | undefined;
  /** the answer is to be kept for the cache (a miss or a refresh) */
  readonly storing: boolean;
  #json: Buffer | undefined;
  #assembler: StreamAssembler | undefined;

  constructor(status: CacheStatus, key?: string, policy?: CachePolicy) {
    this.status = status;
    this.key = key;
    this.policy = policy;
    this.storing = key !== undefined && policy !== undefined && (status === 'miss' || status === 'refresh');
  }

  /** The relay held a whole successful JSON answer: the same buffer it sends. */
  takeJson(body: Buffer): void {
    if (this.storing) this.#json = body;
  }

  /** Whole SSE events of a successful stream, as they pass. */
  takeEvents(events: Buffer): void {
    if (!this.storing) return;
    (this.#assembler ??= new StreamAssembler(this.policy!.maxEntryBytes)).push(events);
  }

  /** The answer to store, or why not. */
  answer(): { body: string } | { problem: 'too_large' | 'unusable' } {
    const limit = this.policy!.maxEntryBytes;
    if (this.#assembler) {
      const assembled = this.#assembler.result();
      if (!assembled) return { problem: 'unusable' };
      const body = JSON.stringify(assembled);
      return Buffer.byteLength(body) > limit ? { problem: 'too_large' } : { body };
    }
    // No body held: longer than the relay holds JSON (1 MiB), or not JSON at all.
    if (!this.#json) return { problem: 'too_large' };
    if (this.#json.length > limit) return { problem: 'too_large' };
    const text = this.#json.toString('utf8');
    return storable(text) ? { body: text } : { problem: 'unusable' };
  }
}

/** Only whole answers with choices (none cut by the content filter) or embeddings data. */
function storable(text: string): boolean {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  if (v === null || typeof v !== 'object') return false;
  const body = v as { choices?: unknown; data?: unknown; usage?: unknown };
  if (body.usage === null || typeof body.usage !== 'object') return false;
  if (Array.isArray(body.data)) return true;
  if (!Array.isArray(body.choices) || body.choices.length === 0) return false;
  return body.choices.every((c: { finish_reason?: unknown } | null) => c !== null && typeof c === 'object' && typeof c.finish_reason === 'string' && c.finish_reason !== 'content_filter');
}

const SKIP = new CacheTicket('skip');
const BYPASS = new CacheTicket('bypass');
const HIT = new CacheTicket('hit');

export class ResponseCache {
  readonly #shared: StateStore | undefined;
  readonly #metrics: Metrics;
  #memory: { bytes: number; store: MemoryStore } | undefined;

  /** `shared`: the state store when it is Redis (entries seen by every replica); else entries stay in this process */
  constructor(shared: StateStore | undefined, metrics: Metrics) {
    this.#shared = shared;
    this.#metrics = metrics;
  }

  /**
   * Looks the request up. On a hit the answer is sent and true returned; on
   * anything else the exchange carries a ticket saying what the cache did
   * and whether its answer is to be stored.
   */
  async answer(ex: Exchange, policy: CachePolicy, config: Config['cache']): Promise<boolean> {
    const directive = clientDirective(ex);
    const count = (status: CacheStatus, ticket: CacheTicket) => {
      ex.cache = ticket;
      this.#metrics.add(CACHE_METRICS.requests, 1, { deployment: ex.deployment!.name, consumer: ex.consumer?.name ?? '', result: status });
      return false;
    };
    if (directive === 'bypass') return count('bypass', BYPASS);
    const body = ex.bodyObject();
    const key = cacheable(ex, body, directive !== 'auto') ? cacheKey(ex, policy, body) : undefined;
    if (!key) return count('skip', SKIP);
    if (directive === 'refresh') return count('refresh', new CacheTicket('refresh', key, policy));
    const now = Date.now();
    let entry: CacheEntry | undefined;
    try {
      const raw = await this.#store(config).getValue(key, now);
      entry = raw === undefined ? undefined : decodeEntry(raw);
    } catch {
      this.#metrics.add(CACHE_METRICS.errors, 1, { operation: 'get' });
    }
    // A TTL shortened by a reload applies to entries stored before it.
    if (entry && now - entry.storedAt < policy.ttlMs && !ex.res.destroyed && this.#send(ex, entry, now)) {
      count('hit', HIT);
      this.#metrics.add(CACHE_METRICS.tokensSaved, entry.totalTokens, { deployment: ex.deployment!.name, consumer: ex.consumer?.name ?? '' });
      return true;
    }
    return count('miss', new CacheTicket('miss', key, policy));
  }

  /** After the exchange was answered: stores its answer when it is one to keep. Not awaited by the request. */
  keep(ex: Exchange, config: Config['cache']): void {
    const t = ex.cache;
    if (!t?.storing || ex.status !== 200 || ex.error !== undefined || ex.abortReason) return;
    const deployment = ex.deployment!.name;
    // Without reported usage a hit could not say what it saved.
    const got = ex.target && ex.usage ? t.answer() : ({ problem: 'unusable' } as const);
    if ('problem' in got) {
      this.#metrics.add(CACHE_METRICS.stores, 1, { deployment, outcome: got.problem });
      return;
    }
    const now = Date.now();
    const entry = encodeEntry({
      storedAt: now,
      endpoint: ex.target!.endpoint.name,
      upstreamDeployment: ex.target!.upstreamName,
      contentType: 'application/json',
      model: ex.model,
      totalTokens: ex.usage!.totalTokens,
      body: got.body,
    });
    this.#store(config)
      .putValue(t.key!, entry, t.policy!.ttlMs, now)
      .then(
        () => this.#metrics.add(CACHE_METRICS.stores, 1, { deployment, outcome: 'stored' }),
        () => this.#metrics.add(CACHE_METRICS.errors, 1, { operation: 'put' }),
      );
  }

  /** Writes the cached answer: as it was stored, or replayed as a stream. false: it cannot be replayed (a miss). */
  #send(ex: Exchange, entry: CacheEntry, now: number): boolean {
    let payload = entry.body;
    let contentType = entry.contentType;
    if (ex.stream) {
      let body: unknown;
      try {
        body = JSON.parse(entry.body);
      } catch {
        return false;
      }
      const opts = ex.bodyObject()?.stream_options as { include_usage?: unknown } | undefined;
      const sse = body !== null && typeof body === 'object' ? replayStream(body as Record<string, unknown>, opts?.include_usage === true) : undefined;
      if (sse === undefined) return false;
      payload = sse;
      contentType = 'text/event-stream; charset=utf-8';
    }
    ex.cache = HIT; // before the headers: they say so
    ex.status = 200;
    ex.model = entry.model;
    const headers: Record<string, string> = {
      ...ex.gatewayHeaders(),
      // the target that made the answer; no upstream was tried for this one
      'x-gateway-endpoint': entry.endpoint,
      'x-gateway-deployment': entry.upstreamDeployment,
      'content-type': contentType,
      'content-length': String(Buffer.byteLength(payload)),
      age: String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))),
    };
    if (ex.stream) headers['cache-control'] = 'no-cache';
    ex.res.writeHead(200, headers);
    ex.res.end(payload);
    return true;
  }

  #store(config: Config['cache']): StateStore {
    if (this.#shared) return this.#shared;
    // A reload that changes the bound starts an empty cache: entries are only ever a shortcut.
    if (this.#memory?.bytes !== config.maxMemoryBytes) {
      this.#memory = { bytes: config.maxMemoryBytes, store: new MemoryStore({ maxValueBytes: config.maxMemoryBytes }) };
    }
    return this.#memory.store;
  }
}
