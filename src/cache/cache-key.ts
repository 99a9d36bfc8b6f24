// The key of a cached answer: SHA-256 over the deployment (with its
// targets), the route's shape and query (the api-version decides the answer's
// shape), the consumer when entries are per consumer, and the body
// normalised — keys sorted, and without `model` (the deployment is in the
// key), `stream` and `stream_options` (a streamed and a plain request share an
// entry). Every other field counts, `user` included: end users of one app do
// not share answers unless their bodies are the same.
import { createHash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';
import type { Exchange } from '../proxy/exchange.ts';
import type { CachePolicy } from './policy.ts';

/** Bodies larger than this are not keyed (normalising costs CPU in proportion). */
export const MAX_KEYED_BODY = 4 * 1024 * 1024;

// Sorted keys; a parsed JSON body has no cycles, bigints or functions, so
// `strict` never fires on one — it guards the exactness of the key.
const canonical = configure({ deterministic: true, strict: true, bigint: false, circularValue: Error });

const LEFT_OUT = new Set(['model', 'stream', 'stream_options']);

/** The entry's key, or undefined when this body cannot be keyed (too large, too deep). */
export function cacheKey(ex: Exchange, policy: CachePolicy, body: Record<string, unknown>): string | undefined {
  if (ex.body.length > MAX_KEYED_BODY) return undefined;
  const route = ex.route;
  if (!route || !('operation' in route)) return undefined;
  // No prototype: a body field named __proto__ stays a field.
  const kept = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(body)) if (!LEFT_OUT.has(k)) kept[k] = body[k];
  let normalised: string | undefined;
  try {
    normalised = canonical(kept);
  } catch {
    return undefined; // nested beyond the stack: not worth a key
  }
  if (normalised === undefined) return undefined;
  const who = policy.scope === 'consumer' ? (ex.consumer?.name ?? '') : '';
  const h = createHash('sha256');
  for (const part of ['aoaigw-cache-1', policy.namespace, route.kind, route.operation, route.query, who]) h.update(part).update('\0');
  h.update(normalised);
  return `cache:${h.digest('hex')}`;
}
