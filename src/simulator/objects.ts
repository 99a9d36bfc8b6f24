// Objects a simulated account keeps, as Azure keeps them: on the account
// that made them. Files (multipart upload, content, delete), batches
// (validating, then completed with an output file that answers each input
// line with the deployment its `model` names) and stored Responses here;
// assistants, threads and vector stores in object-threads.ts. An id this
// account did not make is a 404, so a request sent to the wrong account shows.
import { badRequest, Bounded, list, notFound, now, type SimAnswer, type SimFile } from './object-common.ts';
import { SimThreads } from './object-threads.ts';
import { id } from './shapes.ts';

export type { SimAnswer } from './object-common.ts';

/** How the account answers one line of a batch: its deployments generate it. */
export type LineAnswerer = (body: Record<string, unknown>) => { status: number; body: unknown };

interface Batch {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: null;
  input_file_id: string;
  completion_window: string;
  status: 'validating' | 'in_progress' | 'completed' | 'cancelled';
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  completed_at: number | null;
  cancelled_at: number | null;
  expires_at: number;
  request_counts: { total: number; completed: number; failed: number };
  metadata: unknown;
}

interface StoredResponse {
  readonly object: Record<string, unknown>;
  readonly input: unknown[];
}

const PURPOSES = new Set(['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']);
const OBJECT_PATH = /^(?:\/openai\/v1|\/openai|\/v1)\/(files|batches|assistants|threads|vector_stores|responses)(?:\/(.*))?$/;

export class SimObjects {
  readonly files = new Bounded<SimFile>();
  readonly #content = new Bounded<Buffer>();
  readonly #batches = new Bounded<Batch>();
  /** when each batch was created (ms), for its move from validating to completed */
  readonly #started = new Bounded<number>();
  readonly #responses = new Bounded<StoredResponse>();
  readonly #threads: SimThreads;
  readonly #answerLine: LineAnswerer;
  /** how long a batch stays validating */
  readonly #batchMs: number;

  constructor(opts: { answerLine: LineAnswerer; hasDeployment: (name: string) => boolean; batchMs?: number }) {
    this.#answerLine = opts.answerLine;
    this.#batchMs = opts.batchMs ?? 50;
    this.#threads = new SimThreads(this.files, opts.hasDeployment);
  }

  /** Whether `path` is an object route (a Responses create is not: its deployment answers it). */
  static route(path: string): { collection: string; rest: string[] } | undefined {
    const m = OBJECT_PATH.exec(path);
    if (!m) return undefined;
    const rest = m[2] ? m[2].split('/') : [];
    if (m[1] === 'responses' && rest.length === 0) return undefined;
    return { collection: m[1], rest };
  }

  async handle(method: string, route: { collection: string; rest: string[] }, body: Record<string, unknown>, raw: Buffer, contentType: string): Promise<SimAnswer> {
    const { collection, rest } = route;
    if (collection === 'files') return this.#file(method, rest, raw, contentType);
    if (collection === 'batches') return this.#batch(method, rest, body);
    if (collection === 'responses') return this.#response(method, rest);
    return this.#threads.handle(method, collection, rest, body);
  }

  /** Whether a Response is stored here; one that is continued is kept longest. */
  hasResponse(rid: string): boolean {
    const stored = this.#responses.get(rid);
    if (!stored) return false;
    this.#responses.delete(rid);
    this.#responses.set(rid, stored);
    return true;
  }

  storeResponse(rid: string, object: Record<string, unknown>, input: unknown): void {
    const items = typeof input === 'string' ? [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }] : Array.isArray(input) ? input : [];
    this.#responses.set(rid, { object, input: items.map((it) => ({ id: id('msg_'), ...(it as object) })) });
  }

  addFile(purpose: string, filename: string, content: Buffer): SimFile {
    const file: SimFile = { id: id('file-'), object: 'file', bytes: content.length, created_at: now(), filename, purpose, status: 'processed', status_details: null };
    this.files.set(file.id, file);
    this.#content.set(file.id, content);
    return file;
  }

  async #file(method: string, rest: string[], raw: Buffer, contentType: string): Promise<SimAnswer> {
    const [fid, sub] = rest;
    if (fid === undefined) {
      if (method === 'GET') return { status: 200, json: list([...this.files.values()].reverse()) };
      if (method !== 'POST') return badRequest(`${method} is not supported here.`);
      let form: FormData;
      try {
        form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
      } catch {
        return badRequest('The upload must be multipart/form-data with the fields purpose and file.');
      }
      const purpose = form.get('purpose');
      const file = form.get('file');
      if (typeof purpose !== 'string' || !PURPOSES.has(purpose)) return badRequest(`purpose must be one of ${[...PURPOSES].join(', ')}.`, 'purpose');
      if (!file || typeof file === 'string') return badRequest('A file part is required.', 'file');
      return { status: 200, json: this.addFile(purpose, file.name, Buffer.from(await file.arrayBuffer())) };
    }
    const file = this.files.get(fid);
    if (!file) return notFound('file', fid);
    if (sub === 'content' && method === 'GET') return { status: 200, bytes: this.#content.get(fid) ?? Buffer.alloc(0), contentType: 'application/octet-stream' };
    if (sub !== undefined) return notFound('resource', rest.join('/'));
    if (method === 'GET') return { status: 200, json: file };
    if (method === 'DELETE') {
      this.files.delete(fid);
      this.#content.delete(fid);
      return { status: 200, json: { id: fid, object: 'file', deleted: true } };
    }
    return badRequest(`${method} is not supported here.`);
  }

  #batch(method: string, rest: string[], body: Record<string, unknown>): SimAnswer {
    const [bid, sub] = rest;
    if (bid === undefined) {
      if (method === 'GET') return { status: 200, json: list([...this.#batches.values()].map((b) => this.#progress(b)).reverse()) };
      if (method !== 'POST') return badRequest(`${method} is not supported here.`);
      const input = body.input_file_id;
      if (typeof input !== 'string') return badRequest('input_file_id is required.', 'input_file_id');
      const file = this.files.get(input);
      if (!file) return notFound('file', input);
      if (file.purpose !== 'batch') return badRequest(`The file '${input}' was not uploaded with purpose "batch".`, 'input_file_id');
      if (body.completion_window !== '24h') return badRequest('completion_window must be "24h".', 'completion_window');
      if (typeof body.endpoint !== 'string') return badRequest('endpoint is required.', 'endpoint');
      const t = now();
      const batch: Batch = {
        id: id('batch_'),
        object: 'batch',
        endpoint: body.endpoint,
        errors: null,
        input_file_id: input,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: t,
        in_progress_at: null,
        completed_at: null,
        cancelled_at: null,
        expires_at: t + 86_400,
        request_counts: { total: 0, completed: 0, failed: 0 },
        metadata: body.metadata ?? null,
      };
      this.#batches.set(batch.id, batch);
      this.#started.set(batch.id, Date.now());
      return { status: 200, json: batch };
    }
    const batch = this.#batches.get(bid);
    if (!batch) return notFound('batch', bid);
    if (sub === 'cancel' && method === 'POST') {
      if (this.#progress(batch).status !== 'completed') Object.assign(batch, { status: 'cancelled', cancelled_at: now() });
      return { status: 200, json: batch };
    }
    if (sub !== undefined || method !== 'GET') return notFound('resource', rest.join('/'));
    return { status: 200, json: this.#progress(batch) };
  }

  /** A batch that has been validating long enough runs: every input line is answered into the output file. */
  #progress(batch: Batch): Batch {
    if (batch.status !== 'validating' || Date.now() - (this.#started.get(batch.id) ?? 0) < this.#batchMs) return batch;
    const lines = (this.#content.get(batch.input_file_id) ?? Buffer.alloc(0)).toString('utf8').split('\n').filter((l) => l.trim());
    const out: string[] = [];
    const errors: string[] = [];
    for (const line of lines) {
      let req: { custom_id?: unknown; body?: unknown };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        errors.push(JSON.stringify({ id: id('batch_req_'), custom_id: null, response: null, error: { code: 'invalid_json_line', message: 'This line is not valid JSON.' } }));
        continue;
      }
      const answer = this.#answerLine((req.body ?? {}) as Record<string, unknown>);
      const record = JSON.stringify({
        id: id('batch_req_'),
        custom_id: req.custom_id ?? null,
        response: { status_code: answer.status, request_id: id(''), body: answer.body },
        error: null,
      });
      (answer.status === 200 ? out : errors).push(record);
    }
    const t = now();
    batch.status = 'completed';
    batch.in_progress_at = t;
    batch.completed_at = t;
    batch.request_counts = { total: lines.length, completed: out.length, failed: errors.length };
    batch.output_file_id = this.addFile('batch_output', 'output.jsonl', Buffer.from(out.map((l) => `${l}\n`).join(''))).id;
    if (errors.length) batch.error_file_id = this.addFile('batch_output', 'errors.jsonl', Buffer.from(errors.map((l) => `${l}\n`).join(''))).id;
    return batch;
  }

  #response(method: string, rest: string[]): SimAnswer {
    const [rid, sub] = rest;
    const stored = this.#responses.get(rid);
    if (!stored) return { status: 404, json: { error: { message: `Response with id '${rid}' not found.`, type: 'invalid_request_error', param: null, code: null } } };
    if (sub === 'input_items' && method === 'GET') return { status: 200, json: list(stored.input as { id: string }[]) };
    if (sub !== undefined) return notFound('resource', rest.join('/'));
    if (method === 'GET') return { status: 200, json: stored.object };
    if (method === 'DELETE') {
      this.#responses.delete(rid);
      return { status: 200, json: { id: rid, object: 'response.deleted', deleted: true } };
    }
    return badRequest(`${method} is not supported here.`);
  }
}
