// What is sent to a target: the client's request with only what routing
// needs changed — the deployment (path segment or body `model`), the
// credentials, hop-by-hop headers — and every other byte as it came.
import type { Target } from '../routing/target.ts';
import type { Exchange } from './exchange.ts';
import { setField } from './json-fields.ts';
import { findFormField, setFormField } from './multipart-fields.ts';

/** Request headers never forwarded: hop-by-hop, framing we recompute, and anything that can carry client credentials. */
const DROP_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  // credentials: the client's never reach upstream
  'api-key',
  'authorization',
  'cookie',
  'ocp-apim-subscription-key',
  // identity encoding keeps usage readable for accounting
  'accept-encoding',
  'traceparent',
  'x-request-id',
  // the response cache's directive is the gateway's, not upstream's
  'x-gateway-cache',
  // which deployment a stored object's creation goes by: the gateway's to read
  'x-gateway-deployment',
]);

export interface UpstreamRequest {
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | null;
}

export function upstreamPath(ex: Exchange, target: Target): string {
  const route = ex.route;
  const ep = target.endpoint;
  if (!route || (route.kind !== 'deployment' && route.kind !== 'body-model')) throw new Error('not a forwarding route');
  if (ep.kind === 'openai') return `${ep.basePath}/v1/${route.operation}${withoutApiVersion(route.query)}`;
  if (route.kind === 'deployment') {
    return `${ep.basePath}/openai/deployments/${target.upstreamName}/${route.operation}${route.query}`;
  }
  return `${ep.basePath}${route.azurePath}${route.query}`;
}

/** The body for a target: `model` set to the upstream name where the upstream reads it from the body. */
export function upstreamBody(ex: Exchange, target: Target): Buffer {
  const route = ex.route;
  const modelInBody = route?.kind === 'body-model' || target.endpoint.kind === 'openai';
  if (!modelInBody || ex.body.length === 0) return ex.body;
  const name = target.upstreamName;
  // A body-model route without `model` (a file upload, a batch) is about a stored object: nothing to rewrite.
  const add = route?.kind !== 'body-model';
  if (ex.json) return add || ex.json.fields.has('model') ? setField(ex.body, ex.json, 'model', JSON.stringify(name)) : ex.body;
  if (ex.boundary) return add || findFormField(ex.body, ex.boundary, 'model') ? setFormField(ex.body, ex.boundary, 'model', name) : ex.body;
  return ex.body;
}

export function upstreamHeaders(ex: Exchange, bodyLength: number): Record<string, string | string[]> {
  const incoming = ex.req.headers;
  const out: Record<string, string | string[]> = {};
  const connection = incoming.connection;
  const named = connection && connection !== 'keep-alive' && connection !== 'close' ? connectionTokens(connection) : undefined;
  for (const key in incoming) {
    if (DROP_REQUEST.has(key) || named?.has(key)) continue;
    const v = incoming[key];
    if (v !== undefined) out[key] = v;
  }
  if (bodyLength > 0 || ex.req.method === 'POST' || ex.req.method === 'PUT' || ex.req.method === 'PATCH') {
    out['content-length'] = String(bodyLength);
  }
  out.traceparent = ex.attemptTraceparent ?? ex.trace.traceparent;
  out['x-request-id'] = ex.requestId;
  return out;
}

function connectionTokens(value: string): Set<string> {
  return new Set(value.split(',').map((s) => s.trim().toLowerCase()));
}

function withoutApiVersion(query: string): string {
  if (!query.includes('api-version=')) return query;
  const kept = query
    .slice(1)
    .split('&')
    .filter((p) => !p.startsWith('api-version='));
  return kept.length ? `?${kept.join('&')}` : '';
}
