// Which requests the response cache may answer or fill. A deployment opts in
// (`deployments.<name>.cache`); within it, a request is cacheable when its
// answer is a function of its body: embeddings always, chat and legacy
// completions at `temperature: 0` with one choice. The client can force,
// refresh or bypass with the `x-gateway-cache` request header.
import type { DeploymentConfig } from '../config/schema.ts';
import { GatewayError } from '../proxy/errors.ts';
import type { Exchange } from '../proxy/exchange.ts';

/** A deployment's cache settings, compiled once per config. */
export interface CachePolicy {
  readonly ttlMs: number;
  readonly scope: 'consumer' | 'shared';
  readonly maxEntryBytes: number;
  /** the deployment and its targets: entries made for another pool are never read */
  readonly namespace: string;
}

export function compileCachePolicy(name: string, dep: DeploymentConfig): CachePolicy | undefined {
  const c = dep.cache;
  if (!c) return undefined;
  const targets = dep.targets.map((t) => `${t.endpoint}/${t.deployment ?? name}`).sort();
  return { ttlMs: c.ttlSeconds * 1000, scope: c.scope, maxEntryBytes: c.maxEntryBytes, namespace: `${name}\n${targets.join('\n')}` };
}

/** The operations whose answers can be cached: one JSON answer per body. */
export const CACHEABLE_OPERATIONS: ReadonlySet<string> = new Set(['chat/completions', 'completions', 'embeddings']);

/** What the client's `x-gateway-cache` header asks for. */
export type ClientDirective = 'auto' | 'force' | 'refresh' | 'bypass';

export const REQUEST_HEADER = 'x-gateway-cache';

/** The request header's directive; a value it does not know is a 400, not a silent default. */
export function clientDirective(ex: Exchange): ClientDirective {
  const raw = ex.req.headers[REQUEST_HEADER];
  if (raw === undefined) return 'auto';
  const v = (Array.isArray(raw) ? raw[0] : raw).trim().toLowerCase();
  if (v === 'force' || v === 'refresh' || v === 'bypass') return v;
  throw new GatewayError('invalid_parameter', `The ${REQUEST_HEADER} header is force, refresh or bypass.`, { param: REQUEST_HEADER });
}

/**
 * Whether the answer to this request may be reused for the same body.
 * `forced`: the client vouches for it, whatever its sampling.
 */
export function cacheable(ex: Exchange, body: Record<string, unknown> | undefined, forced: boolean): body is Record<string, unknown> {
  const route = ex.route;
  if (ex.req.method !== 'POST' || !route || !('operation' in route) || !CACHEABLE_OPERATIONS.has(route.operation) || !body) return false;
  if (route.operation === 'embeddings') return !ex.stream;
  if (forced) return true;
  return body.temperature === 0 && oneOrAbsent(body.n) && oneOrAbsent(body.best_of);
}

function oneOrAbsent(v: unknown): boolean {
  return v === undefined || v === null || v === 1;
}
