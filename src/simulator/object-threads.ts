// The Assistants API objects of a simulated account, kept minimal: assistants
// (on a deployment of this account), threads with their messages and runs
// (a run completes at once with an assistant message), and vector stores
// holding files of this account.
import { id } from './shapes.ts';
import { badRequest, Bounded, list, notFound, now, type SimAnswer, type SimFile } from './object-common.ts';

interface Thread {
  readonly thread: { id: string; object: 'thread'; created_at: number; metadata: unknown; tool_resources: object };
  readonly messages: object[];
  readonly runs: Map<string, object>;
}

export class SimThreads {
  readonly #files: ReadonlyMap<string, SimFile>;
  readonly #hasDeployment: (name: string) => boolean;
  readonly #assistants = new Bounded<Record<string, unknown>>();
  readonly #threads = new Bounded<Thread>();
  readonly #stores = new Bounded<{ store: Record<string, unknown>; files: Map<string, object> }>();

  constructor(files: ReadonlyMap<string, SimFile>, hasDeployment: (name: string) => boolean) {
    this.#files = files;
    this.#hasDeployment = hasDeployment;
  }

  handle(method: string, collection: string, rest: string[], body: Record<string, unknown>): SimAnswer {
    if (collection === 'assistants') return this.#assistant(method, rest, body);
    if (collection === 'threads') return this.#thread(method, rest, body);
    return this.#vectorStore(method, rest, body);
  }

  #assistant(method: string, rest: string[], body: Record<string, unknown>): SimAnswer {
    const [aid] = rest;
    if (aid === undefined) {
      if (method === 'GET') return { status: 200, json: list([...this.#assistants.values()].reverse() as { id: string }[]) };
      if (typeof body.model !== 'string' || !this.#hasDeployment(body.model)) {
        return { status: 404, json: { error: { code: 'DeploymentNotFound', message: `The deployment '${String(body.model)}' does not exist on this resource.` } } };
      }
      const a = { id: id('asst_'), object: 'assistant', created_at: now(), name: body.name ?? null, description: null, model: body.model, instructions: body.instructions ?? null, tools: [], metadata: {}, tool_resources: body.tool_resources ?? {} };
      this.#assistants.set(a.id, a);
      return { status: 200, json: a };
    }
    const a = this.#assistants.get(aid);
    if (!a || rest.length > 1) return notFound('assistant', aid);
    if (method === 'DELETE') {
      this.#assistants.delete(aid);
      return { status: 200, json: { id: aid, object: 'assistant.deleted', deleted: true } };
    }
    return { status: 200, json: a };
  }

  #thread(method: string, rest: string[], body: Record<string, unknown>): SimAnswer {
    const [tid, sub, subId] = rest;
    if (tid === undefined) return method === 'POST' ? { status: 200, json: this.#newThread(body).thread } : badRequest('Threads cannot be listed.');
    if (tid === 'runs' && method === 'POST') {
      const t = this.#newThread((body.thread ?? {}) as Record<string, unknown>);
      return this.#run(t, body);
    }
    const t = this.#threads.get(tid);
    if (!t) return notFound('thread', tid);
    if (sub === undefined) {
      if (method === 'DELETE') {
        this.#threads.delete(tid);
        return { status: 200, json: { id: tid, object: 'thread.deleted', deleted: true } };
      }
      return { status: 200, json: t.thread };
    }
    if (sub === 'messages' && subId === undefined) {
      if (method === 'GET') return { status: 200, json: list([...t.messages].reverse() as { id: string }[]) };
      return { status: 200, json: this.#message(t, String(body.role ?? 'user'), body.content) };
    }
    if (sub === 'runs' && subId === undefined && method === 'POST') return this.#run(t, body);
    if (sub === 'runs' && subId !== undefined) {
      const run = t.runs.get(subId);
      return run ? { status: 200, json: run } : notFound('run', subId);
    }
    return notFound('resource', rest.join('/'));
  }

  #newThread(body: Record<string, unknown>): Thread {
    const t: Thread = { thread: { id: id('thread_'), object: 'thread', created_at: now(), metadata: body.metadata ?? {}, tool_resources: {} }, messages: [], runs: new Map() };
    for (const m of Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : []) this.#message(t, String(m.role ?? 'user'), m.content);
    this.#threads.set(t.thread.id, t);
    return t;
  }

  #message(t: Thread, role: string, content: unknown, runId: string | null = null): object {
    const text = typeof content === 'string' ? content : JSON.stringify(content ?? '');
    const m = { id: id('msg_'), object: 'thread.message', created_at: now(), thread_id: t.thread.id, role, content: [{ type: 'text', text: { value: text, annotations: [] } }], assistant_id: null, run_id: runId, attachments: [], metadata: {} };
    if (t.messages.length < 1000) t.messages.push(m);
    return m;
  }

  #run(t: Thread, body: Record<string, unknown>): SimAnswer {
    const aid = body.assistant_id;
    const a = typeof aid === 'string' ? this.#assistants.get(aid) : undefined;
    if (!a) return notFound('assistant', String(aid));
    const run = { id: id('run_'), object: 'thread.run', created_at: now(), thread_id: t.thread.id, assistant_id: aid, status: 'completed', model: body.model ?? a.model, instructions: a.instructions, tools: [], completed_at: now(), metadata: {} };
    this.#message(t, 'assistant', 'lorem ipsum dolor sit amet', run.id);
    if (t.runs.size < 1000) t.runs.set(run.id, run);
    return { status: 200, json: run };
  }

  #vectorStore(method: string, rest: string[], body: Record<string, unknown>): SimAnswer {
    const [vid, sub] = rest;
    if (vid === undefined) {
      if (method === 'GET') return { status: 200, json: list([...this.#stores.values()].map((s) => s.store).reverse() as { id: string }[]) };
      const store = { id: id('vs_'), object: 'vector_store', created_at: now(), name: body.name ?? null, status: 'completed', file_counts: { completed: 0, total: 0 }, metadata: {} };
      const entry = { store, files: new Map<string, object>() };
      for (const f of Array.isArray(body.file_ids) ? body.file_ids : []) {
        const added = this.#addStoreFile(entry, f);
        if (added) return added;
      }
      this.#stores.set(store.id, entry);
      return { status: 200, json: store };
    }
    const entry = this.#stores.get(vid);
    if (!entry) return notFound('vector store', vid);
    if (sub === undefined) {
      if (method === 'DELETE') {
        this.#stores.delete(vid);
        return { status: 200, json: { id: vid, object: 'vector_store.deleted', deleted: true } };
      }
      return { status: 200, json: entry.store };
    }
    if (sub === 'files' && rest.length === 2) {
      if (method === 'GET') return { status: 200, json: list([...entry.files.values()] as { id: string }[]) };
      return this.#addStoreFile(entry, body.file_id) ?? { status: 200, json: entry.files.get(String(body.file_id)) };
    }
    return notFound('resource', rest.join('/'));
  }

  /** Adds a file of this account to a vector store; an answer only when it cannot. */
  #addStoreFile(entry: { store: Record<string, unknown>; files: Map<string, object> }, fid: unknown): SimAnswer | undefined {
    const file = typeof fid === 'string' ? this.#files.get(fid) : undefined;
    if (!file) return notFound('file', String(fid));
    entry.files.set(file.id, { id: file.id, object: 'vector_store.file', vector_store_id: entry.store.id, status: 'completed', created_at: now(), usage_bytes: file.bytes });
    entry.store.file_counts = { completed: entry.files.size, total: entry.files.size };
    return undefined;
  }
}
