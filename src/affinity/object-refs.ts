// Which stored objects a request is about: the collection its path is in,
// the id in its path, and the ids its body names (`previous_response_id`,
// a batch's `input_file_id`, a run's `assistant_id`, `file_id`s in input
// items and tool resources…).
import type { Exchange } from '../proxy/exchange.ts';

export const COLLECTIONS = new Set(['files', 'batches', 'responses', 'assistants', 'threads', 'vector_stores']);

export interface ObjectOperation {
  /** files, batches, responses, assistants, threads or vector_stores */
  readonly collection: string;
  /** the id the path names (`files/{id}/content` → the file's), if any */
  readonly pathId: string | undefined;
  /** the operation's path below the API root, as the route gave it */
  readonly operation: string;
}

export interface ObjectRef {
  readonly id: string;
  /** where the request named it: `path`, or the body field */
  readonly param: string;
}

/** Words that stand where an id could but are operations: create-and-run, Responses utilities, Azure's file import. */
const NOT_IDS = new Set(['threads/runs', 'responses/input_tokens', 'responses/compact', 'files/import']);

/** Body fields that name stored objects, at any depth. */
const REF_FIELDS = new Set(['previous_response_id', 'thread_id', 'assistant_id', 'input_file_id', 'file_id', 'file_ids', 'vector_store_id', 'vector_store_ids']);
const REF_HINT = /"(?:previous_response|thread|assistant|input_file|file|vector_store)_ids?"/;
/** Bodies up to this size are searched at every depth; larger ones at the top level only. */
const DEEP_SEARCH_BYTES = 1024 * 1024;
const MAX_DEPTH = 32;
const MAX_REFS = 64;

/** What an id may look like; anything else is not looked up. */
export const OBJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/;

/** The stored-object operation of a body-model route's operation path, or undefined. */
export function objectOperation(operation: string): ObjectOperation | undefined {
  const slash = operation.indexOf('/');
  const collection = slash === -1 ? operation : operation.slice(0, slash);
  if (!COLLECTIONS.has(collection)) return undefined;
  if (slash === -1) return { collection, pathId: undefined, operation };
  const next = operation.indexOf('/', slash + 1);
  const segment = operation.slice(slash + 1, next === -1 ? undefined : next);
  if (NOT_IDS.has(`${collection}/${segment}`)) return { collection, pathId: undefined, operation };
  return { collection, pathId: segment, operation };
}

/** Every object id the request names, the path's first. */
export function referencedIds(op: ObjectOperation, ex: Exchange): ObjectRef[] {
  const refs: ObjectRef[] = [];
  if (op.pathId !== undefined) refs.push({ id: op.pathId, param: 'path' });
  if (!ex.json || ex.req.method !== 'POST') return refs;
  const seen = new Set(refs.map((r) => r.id));
  const add = (param: string, v: unknown) => {
    for (const id of Array.isArray(v) ? v : [v]) {
      if (typeof id !== 'string' || seen.has(id) || refs.length >= MAX_REFS) continue;
      seen.add(id);
      refs.push({ id, param });
    }
  };
  const body = ex.body.length <= DEEP_SEARCH_BYTES && REF_HINT.test(ex.body.toString('latin1')) ? ex.bodyObject() : undefined;
  if (body) walk(body, add);
  else {
    for (const field of REF_FIELDS) {
      const span = ex.json.fields.get(field);
      if (!span) continue;
      try {
        add(field, JSON.parse(ex.body.toString('utf8', span.start, span.end)));
      } catch {
        // not JSON: upstream judges the body
      }
    }
  }
  return refs;
}

/** Visits every reference field of a parsed body, without recursion and to a bounded depth. */
function walk(root: unknown, add: (param: string, v: unknown) => void): void {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object' || depth > MAX_DEPTH) continue;
    if (Array.isArray(node)) {
      for (const v of node) stack.push([v, depth + 1]);
      continue;
    }
    for (const [k, v] of Object.entries(node)) {
      if (REF_FIELDS.has(k)) add(k, v);
      else if (v !== null && typeof v === 'object') stack.push([v, depth + 1]);
    }
  }
}
