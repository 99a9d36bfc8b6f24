// Errors the gateway answers itself, in OpenAI's shape
// `{"error":{"message","type","code","param"}}`. Callers pick a fixed code
// from GATEWAY_ERRORS; the status and type follow from it.
import type { ServerResponse } from 'node:http';

export const GATEWAY_ERRORS = {
  invalid_body: { status: 400, type: 'invalid_request_error' },
  invalid_parameter: { status: 400, type: 'invalid_request_error' },
  model_required: { status: 400, type: 'invalid_request_error' },
  invalid_deployment_name: { status: 400, type: 'invalid_request_error' },
  invalid_path: { status: 400, type: 'invalid_request_error' },
  user_required: { status: 400, type: 'invalid_request_error' },
  content_filter: { status: 400, type: 'invalid_request_error' },
  content_safety_text_too_long: { status: 400, type: 'invalid_request_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  invalid_token: { status: 401, type: 'authentication_error' },
  deployment_not_allowed: { status: 403, type: 'permission_error' },
  network_not_allowed: { status: 403, type: 'permission_error' },
  admin_disabled: { status: 403, type: 'permission_error' },
  quota_exceeded: { status: 403, type: 'insufficient_quota' },
  deployment_not_found: { status: 404, type: 'invalid_request_error' },
  route_not_found: { status: 404, type: 'invalid_request_error' },
  object_not_found: { status: 404, type: 'invalid_request_error' },
  unknown_object_reference: { status: 400, type: 'invalid_request_error' },
  objects_on_different_endpoints: { status: 400, type: 'invalid_request_error' },
  deployment_not_on_endpoint: { status: 400, type: 'invalid_request_error' },
  endpoint_required: { status: 400, type: 'invalid_request_error' },
  endpoint_not_allowed: { status: 403, type: 'permission_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  all_targets_throttled: { status: 429, type: 'rate_limit_error' },
  upstream_unreachable: { status: 502, type: 'server_error' },
  upstream_error: { status: 502, type: 'server_error' },
  no_target_available: { status: 503, type: 'server_error' },
  upstream_credential_unavailable: { status: 503, type: 'server_error' },
  token_validation_unavailable: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  workers_unavailable: { status: 503, type: 'server_error' },
  state_store_unavailable: { status: 503, type: 'server_error' },
  content_safety_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
  internal_error: { status: 500, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly param: string | null;
  /** seconds; sent as Retry-After with retry-after-ms */
  readonly retryAfterMs: number | undefined;
  /** a body in another shape than OpenAI's (Azure's content_filter answer) */
  readonly body: string | undefined;
  constructor(code: GatewayErrorCode, message: string, opts: { param?: string; retryAfterMs?: number; body?: string } = {}) {
    super(message);
    this.code = code;
    this.status = GATEWAY_ERRORS[code].status;
    this.param = opts.param ?? null;
    this.retryAfterMs = opts.retryAfterMs;
    this.body = opts.body;
  }
}

/** The JSON body of an error, as OpenAI writes it. */
export function errorBody(code: GatewayErrorCode, message: string, param: string | null = null): string {
  return JSON.stringify({ error: { message, type: GATEWAY_ERRORS[code].type, code, param } });
}

/**
 * Writes a gateway error. `headers` are the gateway's own response headers
 * (request id, attempts…); nothing from upstream is in them.
 */
export function sendError(res: ServerResponse, err: GatewayError, headers: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = err.body ?? errorBody(err.code, err.message, err.param);
  const out: Record<string, string> = {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (err.retryAfterMs !== undefined) {
    const ms = Math.max(0, Math.ceil(err.retryAfterMs));
    out['retry-after'] = String(Math.ceil(ms / 1000));
    out['retry-after-ms'] = String(ms);
  }
  res.writeHead(err.status, out);
  res.end(body);
}
