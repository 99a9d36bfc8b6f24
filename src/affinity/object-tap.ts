// Reads a successful answer about stored objects before the client has it:
// records the objects it made (a file, a batch, a Response — from a streamed
// one's `response.created` event —, a thread…) and the files a finished
// batch wrote, so the client's next request, on this replica or another,
// finds them; and leaves in a list only the consumer's own objects.
import type { AnswerTap } from '../proxy/answer-tap.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { scanJsonFields, stringField, type JsonFields } from '../proxy/json-fields.ts';
import type { StateStore } from '../state/store.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { findHome, rememberHome } from './object-map.ts';
import { OBJECT_ID, type ObjectOperation } from './object-refs.ts';
import { countAffinity } from './affinity-metric.ts';

/** How long an answer may wait for its ids to be written before it goes anyway. */
const WRITE_BOUND_MS = 2000;
/** A list's entries looked up at most; entries past it are not shown. */
const MAX_LISTED = 10_000;
/** Fields of an answer that name files the service made (a batch's output). */
const MADE_FILES = ['output_file_id', 'error_file_id'] as const;
const RESPONSE_CREATED = Buffer.from('"response.created"');

export class ObjectTap implements AnswerTap {
  readonly #ex: Exchange;
  readonly #op: ObjectOperation;
  readonly #store: StateStore;
  readonly #ttlMs: number;
  readonly #metrics: Metrics;
  /** a POST to a collection makes an object: its `id` is recorded */
  readonly #creates: boolean;
  #pending: Promise<void> | undefined;
  #seenCreated = false;

  constructor(ex: Exchange, op: ObjectOperation, store: StateStore, ttlMs: number, metrics: Metrics) {
    this.#ex = ex;
    this.#op = op;
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#metrics = metrics;
    const unstored = op.collection === 'responses' && isFalse(ex.body, ex.json, 'store');
    this.#creates = ex.req.method === 'POST' && op.pathId === undefined && !unstored;
  }

  json(body: Buffer): Promise<Buffer | undefined> | undefined {
    const endpoint = this.#ex.target?.endpoint.name;
    if (endpoint === undefined) return undefined;
    let scan: JsonFields;
    try {
      scan = scanJsonFields(body);
    } catch {
      return undefined;
    }
    if (this.#ex.req.method === 'GET' && this.#op.pathId === undefined && stringField(body, scan, 'object') === 'list') {
      return this.#ownOnly(body, endpoint);
    }
    const ids: string[] = [];
    if (this.#creates) {
      ids.push(stringField(body, scan, 'id') ?? '');
      // POST /threads/runs makes a thread too
      if (this.#op.operation === 'threads/runs') ids.push(stringField(body, scan, 'thread_id') ?? '');
    }
    for (const f of MADE_FILES) ids.push(stringField(body, scan, f) ?? '');
    const made = ids.filter((id) => OBJECT_ID.test(id));
    return made.length ? this.#remember(made, endpoint).then(() => undefined) : undefined;
  }

  events(events: Buffer): void {
    if (!this.#creates || this.#seenCreated || events.indexOf(RESPONSE_CREATED) === -1) return;
    this.#seenCreated = true;
    const endpoint = this.#ex.target?.endpoint.name;
    for (const line of events.toString('utf8').split('\n')) {
      if (!line.startsWith('data:') || !line.includes('"response.created"')) continue;
      try {
        const id = (JSON.parse(line.slice(5)) as { response?: { id?: unknown } }).response?.id;
        if (endpoint !== undefined && typeof id === 'string' && OBJECT_ID.test(id)) this.#pending = this.#remember([id], endpoint);
      } catch {
        // not JSON: the client gets the bytes as they are
      }
      return;
    }
  }

  end(): Promise<void> | undefined {
    return this.#pending;
  }

  /** Writes where the ids live, bounded in time; a failure is counted, and the answer goes anyway. */
  #remember(ids: readonly string[], endpoint: string): Promise<void> {
    const ex = this.#ex;
    const now = Date.now();
    const home = { endpoint, consumer: ex.consumer!.name, deployment: ex.deployment?.name };
    ex.affinity!.stored += ids.length;
    countAffinity(this.#metrics, 'stored', ex.deployment?.name, endpoint, ids.length);
    const written = Promise.all(ids.map((id) => rememberHome(this.#store, id, home, this.#ttlMs, now)));
    return bounded(written).then(
      () => undefined,
      () => countAffinity(this.#metrics, 'store_failed', ex.deployment?.name, endpoint, ids.length),
    );
  }

  /** A list of the endpoint's objects, less those the consumer did not make (all of them if the store cannot say). */
  async #ownOnly(body: Buffer, endpoint: string): Promise<Buffer | undefined> {
    const consumer = this.#ex.consumer!.name;
    let list: { data?: unknown; [k: string]: unknown };
    try {
      list = JSON.parse(body.toString('utf8')) as typeof list;
    } catch {
      return emptyList();
    }
    if (!Array.isArray(list.data)) return emptyList();
    const data = (list.data as unknown[]).slice(0, MAX_LISTED);
    const now = Date.now();
    let mine: boolean[];
    try {
      mine = await bounded(
        Promise.all(
          data.map(async (item) => {
            const id = (item as { id?: unknown } | null)?.id;
            if (typeof id !== 'string' || !OBJECT_ID.test(id)) return false;
            const home = await findHome(this.#store, id, now);
            return home?.consumer === consumer && home.endpoint === endpoint;
          }),
        ),
      );
    } catch {
      return emptyList();
    }
    const kept = data.filter((_, i) => mine[i]);
    // has_more and last_id stay upstream's, so paging with `after` goes on past entries left out.
    return Buffer.from(JSON.stringify({ ...list, data: kept, first_id: (kept[0] as { id?: string } | undefined)?.id ?? null }));
  }
}

function emptyList(): Buffer {
  return Buffer.from(JSON.stringify({ object: 'list', data: [], first_id: null, last_id: null, has_more: false }));
}

function isFalse(body: Buffer, scan: JsonFields | undefined, field: string): boolean {
  const span = scan?.fields.get(field);
  return span !== undefined && body.toString('latin1', span.start, span.end) === 'false';
}

/** `p`, or a rejection after WRITE_BOUND_MS: an answer never waits long on the store. */
function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the state store did not answer in time')), WRITE_BOUND_MS);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
