// Per-request state: who asked, for what, and how it ended. Each upstream try
// is an Attempt of its own (attempt.ts); a retry makes a new one and never
// changes what the client asked for.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AffinityState } from '../affinity/index.ts';
import type { Consumer } from '../auth/consumer-keys.ts';
import type { CacheTicket } from '../cache/response-cache.ts';
import { limitHeaders } from '../limits/limit-headers.ts';
import type { Admitted } from '../limits/consumer-limiter.ts';
import type { DeploymentPool, Target } from '../routing/target.ts';
import type { SafetyOutcome } from '../safety/outcome.ts';
import type { Span } from '../telemetry/spans.ts';
import { requestId, traceContext, type TraceContext } from '../telemetry/trace-context.ts';
import { estimateRequestTokens, generatesTokens } from '../tokens/estimate.ts';
import type { Usage } from '../usage/usage.ts';
import type { AnswerTap } from './answer-tap.ts';
import type { JsonFields } from './json-fields.ts';
import type { Route } from './routes.ts';

export class ClientGoneError extends Error {
  readonly code = 'CLIENT_GONE';
  constructor() {
    super('the client closed the connection');
  }
}

export class TotalTimeoutError extends Error {
  readonly code = 'TOTAL_TIMEOUT';
  constructor(ms: number) {
    super(`the request took longer than ${ms} ms in all`);
  }
}

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started = performance.now();
  readonly startedAt = Date.now();
  readonly requestId: string;
  /** the request's trace context (its own span's, when a tracer is configured) */
  trace: TraceContext;
  /** the request's span, when a tracer is configured */
  span: Span | undefined;
  /** the traceparent of the running attempt's span: what upstream sees as its parent */
  attemptTraceparent: string | undefined;

  route: Route | undefined;
  consumer: Consumer | undefined;
  deployment: DeploymentPool | undefined;
  body: Buffer = EMPTY;
  /** the top-level fields of a JSON body */
  json: JsonFields | undefined;
  /** the multipart boundary of a form body */
  boundary: string | undefined;
  /** whether the client asked for a stream */
  stream = false;
  /** the body's `user` field */
  user: string | undefined;
  /** the client's address (X-Forwarded-For only from trusted proxies) */
  clientIp: string | undefined;
  /** the consumer's limits this request was admitted under (a limited consumer only) */
  admitted: Admitted | undefined;
  /** the gateway asked upstream for the usage chunk the client did not ask for: it is removed again */
  injectedUsage = false;
  /** what the response cache did for it (a deployment with a cache only) */
  cache: CacheTicket | undefined;
  /** what the content safety check found (a deployment or consumer with a contentSafety policy only) */
  safety: SafetyOutcome | undefined;
  /** where a request about stored objects goes, and why (src/affinity) */
  affinity: AffinityState | undefined;
  /** reads a successful answer before the client has it all (affinity: the ids it made) */
  answerTap: AnswerTap | undefined;

  attempts = 0;
  /** the target that produced the response the client got */
  target: Target | undefined;
  status = 0;
  ttfbMs: number | undefined;
  usage: Usage | undefined;
  model: string | undefined;
  /** a short code for what went wrong, for the log */
  error: string | undefined;
  /** set once the client is gone or the total time ran out: attempts stop */
  abortReason: Error | undefined;
  #onAbort: ((reason: Error) => void) | undefined;
  #tokens: number | undefined;
  #parsed: Record<string, unknown> | null | undefined;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
    const rid = req.headers['x-request-id'];
    this.requestId = requestId(typeof rid === 'string' ? rid : undefined);
    const tp = req.headers.traceparent;
    this.trace = traceContext(typeof tp === 'string' ? tp : undefined);
  }

  /** The gateway's own response headers, on every answer. */
  gatewayHeaders(): Record<string, string> {
    const h: Record<string, string> = {
      'x-request-id': this.requestId,
      traceparent: this.trace.traceparent,
      'x-gateway-attempts': String(this.attempts),
    };
    if (this.target) {
      h['x-gateway-endpoint'] = this.target.endpoint.name;
      // an endpoint's own target (stored objects) has no deployment name
      if (this.target.upstreamName) h['x-gateway-deployment'] = this.target.upstreamName;
    }
    if (this.cache) h['x-gateway-cache'] = this.cache.status;
    if (this.admitted) Object.assign(h, limitHeaders(this.admitted, this.chargedTokens()));
    return h;
  }

  /**
   * Tokens this request is charged: what upstream reported, else — for an
   * answer that started — the estimate (usage that never arrived is not
   * zero), else nothing.
   */
  chargedTokens(): number {
    if (this.cache?.status === 'hit') return 0; // answered from the cache: upstream spent nothing
    if (this.usage) return this.usage.totalTokens;
    if (this.status >= 200 && this.status < 300 && this.admitted) return this.admitted.estimate;
    return 0;
  }

  /** Registers what to do when the exchange is aborted (the running attempt's abort). */
  onAbort(fn: ((reason: Error) => void) | undefined): void {
    this.#onAbort = fn;
  }

  /** Tokens this request reserves at admission (Azure's arithmetic), computed once. */
  estimatedTokens(defaultMaxTokens: number): number {
    if (this.#tokens === undefined) {
      const body = this.bodyObject();
      const op = this.route && 'operation' in this.route ? this.route.operation : '';
      this.#tokens = body ? estimateRequestTokens(body, defaultMaxTokens, generatesTokens(op)) : 0;
    }
    return this.#tokens;
  }

  /** The JSON body parsed, once: at its first call, before the gateway adds stream_options (undefined when not a JSON object). */
  bodyObject(): Record<string, unknown> | undefined {
    if (this.#parsed === undefined) {
      this.#parsed = null;
      if (this.json) {
        try {
          this.#parsed = JSON.parse(this.body.toString('utf8')) as Record<string, unknown>;
        } catch {
          // the fields scanned, but the whole is not JSON: upstream judges it
        }
      }
    }
    return this.#parsed ?? undefined;
  }

  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.#onAbort?.(reason);
  }
}

const EMPTY = Buffer.alloc(0);
