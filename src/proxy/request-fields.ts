// What the gateway reads from a request body — the top-level JSON fields, a
// multipart boundary, `stream`, `user`, `model` — and the one change it may
// make for accounting: asking upstream for the streamed usage chunk the
// client did not ask for (removed again before the client sees it).
import { GatewayError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { fieldValue, JsonShapeError, scanJsonFields, setField, stringField } from './json-fields.ts';
import { findFormField, multipartBoundary } from './multipart-fields.ts';

export function readBodyFields(ex: Exchange): void {
  const contentType = ex.req.headers['content-type'];
  if (ex.body.length === 0) return;
  if (contentType === undefined || contentType.includes('json')) {
    try {
      ex.json = scanJsonFields(ex.body);
    } catch (err) {
      if (!(err instanceof JsonShapeError)) throw err;
      // A deployment route forwards what it got: upstream judges the body.
      if (ex.route?.kind === 'body-model') {
        throw new GatewayError('invalid_body', `The request body is not a JSON object: ${err.message}.`);
      }
      return;
    }
    const stream = ex.json.fields.get('stream');
    ex.stream = stream !== undefined && ex.body[stream.start] === 0x74; /* true */
    const user = stringField(ex.body, ex.json, 'user');
    if (user) ex.user = user;
    return;
  }
  ex.boundary = multipartBoundary(contentType);
}

/** The `model` of a body-model route, from JSON or a multipart form. */
export function bodyModel(ex: Exchange): string | undefined {
  if (ex.json) return stringField(ex.body, ex.json, 'model');
  if (!ex.boundary) return undefined;
  const span = findFormField(ex.body, ex.boundary, 'model');
  return span ? ex.body.toString('utf8', span.start, span.end).trim() : undefined;
}

const STREAM_USAGE_SINCE = '2024-09-01';

/**
 * For a streamed chat or completions request whose client did not ask for
 * usage: asks for it (`stream_options.include_usage`), where upstream
 * understands it — the v1 routes, OpenAI-compatible servers, and Azure
 * api-versions from 2024-09-01 on.
 */
export function requestStreamUsage(ex: Exchange): void {
  const route = ex.route;
  if (!ex.stream || !ex.json || !route || !('operation' in route)) return;
  if (route.operation !== 'chat/completions' && route.operation !== 'completions') return;
  if (route.kind === 'deployment' && ex.deployment?.targets.some((t) => t.endpoint.kind === 'azure')) {
    const version = /[?&]api-version=(\d{4}-\d{2}-\d{2})/.exec(route.query)?.[1];
    if (!version || version < STREAM_USAGE_SINCE) return;
  }
  let options: unknown;
  try {
    options = fieldValue(ex.body, ex.json, 'stream_options');
  } catch {
    return;
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) return;
  if ((options as { include_usage?: unknown } | undefined)?.include_usage === true) return;
  ex.body = setField(ex.body, ex.json, 'stream_options', JSON.stringify({ ...(options as object | undefined), include_usage: true }));
  ex.json = scanJsonFields(ex.body);
  ex.injectedUsage = true;
}
