// One try of one target: an undici dispatch handler that relays the answer to
// the client as it arrives — chunk by chunk, with backpressure — or, when the
// answer is one worth retrying elsewhere, holds it back and reports it.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { Target } from '../routing/target.ts';
import { createUsageProbe, type UsageProbe } from '../usage/usage-probe.ts';
import { ClientGoneError, TotalTimeoutError, type Exchange } from './exchange.ts';
import { SseFramer, sseErrorEvent } from './sse-framer.ts';
import type { UpstreamRequest } from './upstream-request.ts';

export type FailureKind = 'connect-error' | 'timeout' | 'credential';

export type AttemptOutcome =
  /** an answer went to the client (whatever its status); nothing more to do */
  | { readonly kind: 'relayed' }
  /** nothing reached the client; a retry may follow */
  | { readonly kind: 'failed'; readonly failure: FailureKind; readonly error: Error }
  /** the answer's status was one to retry on; its body was read and dropped */
  | { readonly kind: 'held'; readonly status: number; readonly headers: IncomingHttpHeaders }
  /** the exchange was aborted (client gone) before an answer */
  | { readonly kind: 'aborted' };

/** Response headers never passed on: hop-by-hop, and the upstream's per-target rate-limit view. */
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'x-request-id',
  'traceparent',
]);

export interface AttemptOptions {
  /** statuses to hold back instead of relaying (the retry decision is the caller's) */
  readonly hold: (status: number) => boolean;
  readonly firstByteMs: number;
  readonly idleStreamMs: number;
}

export function runAttempt(ex: Exchange, target: Target, req: UpstreamRequest, opts: AttemptOptions): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    const handler = new AttemptHandler(ex, target, opts, resolve);
    ex.onAbort((reason) => handler.abort(reason));
    target.endpoint.pool.dispatch(
      {
        path: req.path,
        method: ex.req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        headersTimeout: opts.firstByteMs,
        bodyTimeout: opts.idleStreamMs,
      },
      handler,
    );
  });
}

class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #target: Target;
  readonly #opts: AttemptOptions;
  readonly #resolve: (o: AttemptOutcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #pendingAbort: Error | undefined;
  #held: { status: number; headers: IncomingHttpHeaders } | undefined;
  #relaying = false;
  #framer: SseFramer | undefined;
  #probe: UsageProbe | undefined;
  #settled = false;

  constructor(ex: Exchange, target: Target, opts: AttemptOptions, resolve: (o: AttemptOutcome) => void) {
    this.#ex = ex;
    this.#target = target;
    this.#opts = opts;
    this.#resolve = resolve;
  }

  abort(reason: Error): void {
    if (this.#controller) this.#controller.abort(reason);
    else this.#pendingAbort = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    const reason = this.#pendingAbort ?? this.#ex.abortReason;
    if (reason) controller.abort(reason);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    const ex = this.#ex;
    if (this.#opts.hold(statusCode)) {
      this.#held = { status: statusCode, headers };
      return;
    }
    this.#relaying = true;
    ex.target = this.#target;
    ex.status = statusCode;
    ex.ttfbMs = performance.now() - ex.started;
    const out = ex.gatewayHeaders();
    for (const key in headers) {
      if (DROP_RESPONSE.has(key) || key.startsWith('x-ratelimit-') || key.startsWith('x-rate-limit-')) continue;
      const v = headers[key];
      if (v !== undefined) out[key] = v as string;
    }
    const contentType = headers['content-type'];
    const sse = typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    if (sse) this.#framer = new SseFramer();
    if (statusCode < 300) this.#probe = createUsageProbe(typeof contentType === 'string' ? contentType : undefined);
    const res = ex.res;
    res.writeHead(statusCode, out);
    if (sse) res.flushHeaders();
    res.on('drain', () => controller.resume());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#relaying) return; // a held answer's body is read and dropped
    const out = this.#framer ? this.#framer.push(chunk) : chunk;
    if (out.length === 0) return;
    this.#probe?.push(out);
    if (!this.#ex.res.write(out)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#held) return this.#settle({ kind: 'held', ...this.#held });
    const rest = this.#framer?.rest();
    const res = this.#ex.res;
    if (rest) res.write(rest);
    res.end();
    this.#finishUsage();
    this.#settle({ kind: 'relayed' });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const ex = this.#ex;
    if (this.#held) return this.#settle({ kind: 'held', ...this.#held });
    if (!this.#relaying) {
      if (error instanceof ClientGoneError) return this.#settle({ kind: 'aborted' });
      return this.#settle({ kind: 'failed', failure: classify(error), error });
    }
    // The answer was already under way: the client must see that it broke.
    this.#finishUsage();
    const res = ex.res;
    if (error instanceof ClientGoneError) {
      res.destroy();
    } else if (this.#framer && !res.destroyed) {
      this.#framer.rest();
      ex.error = classify(error) === 'timeout' ? 'upstream_stream_timeout' : 'upstream_stream_broken';
      res.end(sseErrorEvent(ex.error, `the upstream stream from ${this.#target.id} broke: ${describe(error)}`));
    } else {
      ex.error = 'upstream_body_broken';
      res.destroy();
    }
    this.#settle({ kind: 'relayed' });
  }

  #finishUsage(): void {
    if (!this.#probe) return;
    const { usage, model } = this.#probe.result();
    this.#ex.usage = usage;
    this.#ex.model = model;
  }

  #settle(outcome: AttemptOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#ex.onAbort(undefined);
    this.#resolve(outcome);
  }
}

export function classify(error: Error): FailureKind {
  if (error instanceof TotalTimeoutError) return 'timeout';
  const code = (error as { code?: string }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'connect-error';
}

/** An error as it may be shown to a client: its code and message, which never hold a key. */
export function describe(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `${code}: ${error.message}` : error.message;
}
