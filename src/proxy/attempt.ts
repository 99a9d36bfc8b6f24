// One try of one target: an undici dispatch handler that relays the answer to
// the client as it arrives — chunk by chunk, with backpressure — or, when the
// answer is one worth retrying elsewhere, holds it back and reports it.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { Target } from '../routing/target.ts';
import { createUsageProbe, type UsageProbe } from '../usage/usage-probe.ts';
import type { AnswerTap } from './answer-tap.ts';
import { ClientGoneError, TotalTimeoutError, type Exchange } from './exchange.ts';
import { SseFramer, sseErrorEvent, USAGE_OBJECT, withoutUsageEvent } from './sse-framer.ts';
import type { UpstreamRequest } from './upstream-request.ts';

export type FailureKind = 'connect-error' | 'timeout';

export type AttemptOutcome =
  /** an answer went to the client (whatever its status); `broken` if it was cut short upstream */
  | { readonly kind: 'relayed'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly ttfbMs: number; readonly broken: boolean }
  /** the answer's status was one to retry on: read whole (bounded) and kept, not sent */
  | { readonly kind: 'held'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly ttfbMs: number; readonly body: Buffer | undefined }
  /** nothing reached the client; a retry may follow */
  | { readonly kind: 'failed'; readonly failure: FailureKind; readonly error: Error }
  /** the exchange was aborted (the client left) before an answer */
  | { readonly kind: 'aborted' };

export type HeldAnswer = Extract<AttemptOutcome, { kind: 'held' }>;

/** A held answer's body is kept up to this size, to be relayed if no retry follows. */
const MAX_HELD_BODY = 256 * 1024;
/** A JSON answer is kept until it ends up to this size; a longer one is relayed as it comes. */
const MAX_HELD_JSON = 1024 * 1024;

/** Response headers never passed on: hop-by-hop, and ids the gateway sets itself. */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'x-request-id', 'traceparent']);

export interface AttemptOptions {
  /** statuses to hold back instead of relaying (the retry decision is the caller's) */
  readonly hold: (status: number) => boolean;
  /**
   * Keep a successful JSON answer (up to 1 MiB) until it ends, so its
   * headers can say what it cost (a limited consumer's x-gateway-tokens-consumed).
   */
  readonly holdJson: boolean;
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

/** The client's response headers: the upstream's, less hop-by-hop and rate-limit headers, plus the gateway's. */
export function clientHeaders(ex: Exchange, upstream: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = ex.gatewayHeaders();
  for (const key in upstream) {
    if (DROP_RESPONSE.has(key) || key.startsWith('x-ratelimit-') || key.startsWith('x-rate-limit-')) continue;
    const v = upstream[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Sends a held answer to the client as it came from upstream. */
export function relayHeld(ex: Exchange, target: Target, held: HeldAnswer): void {
  ex.target = target;
  ex.status = held.status;
  const headers = clientHeaders(ex, held.headers);
  if (held.body) headers['content-length'] = String(held.body.length);
  ex.res.writeHead(held.status, headers);
  ex.res.end(held.body);
}

class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #target: Target;
  readonly #opts: AttemptOptions;
  readonly #resolve: (o: AttemptOutcome) => void;
  readonly #sentAt = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #pendingAbort: Error | undefined;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #ttfbMs = 0;
  /** set while holding an answer back */
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  #relaying = false;
  /** a successful JSON answer kept until it ends (holdJson), with the controller to pause */
  #json: Buffer[] | undefined;
  #jsonBytes = 0;
  #upstreamHeaders: IncomingHttpHeaders = {};
  #framer: SseFramer | undefined;
  #probe: UsageProbe | undefined;
  /** the exchange's tap, for a successful answer */
  #tap: AnswerTap | undefined;
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

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    const ex = this.#ex;
    this.#status = statusCode;
    this.#headers = headers;
    this.#ttfbMs = performance.now() - this.#sentAt;
    if (this.#opts.hold(statusCode)) {
      this.#held = [];
      return;
    }
    this.#relaying = true;
    ex.target = this.#target;
    ex.status = statusCode;
    ex.ttfbMs = performance.now() - ex.started;
    const contentType = headers['content-type'];
    const sse = typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    if (sse) this.#framer = new SseFramer();
    if (statusCode < 300) this.#probe = createUsageProbe(typeof contentType === 'string' ? contentType : undefined);
    if (statusCode < 300) this.#tap = ex.answerTap;
    const res = ex.res;
    res.on('drain', () => controller.resume());
    this.#upstreamHeaders = headers;
    if (this.#opts.holdJson && !sse && statusCode < 300 && typeof contentType === 'string' && contentType.startsWith('application/json')) {
      this.#json = [];
      return;
    }
    res.writeHead(statusCode, clientHeaders(ex, headers));
    if (sse) res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#held) {
      this.#heldBytes += chunk.length;
      if (this.#heldBytes <= MAX_HELD_BODY) this.#held.push(chunk);
      return;
    }
    if (this.#json) {
      this.#json.push(chunk);
      this.#jsonBytes += chunk.length;
      if (this.#jsonBytes > MAX_HELD_JSON) this.#releaseJson();
      return;
    }
    let out = chunk;
    if (this.#framer) {
      out = this.#framer.push(chunk);
      if (out.length === 0) return;
      // One look for a usage object serves both reading it and removing the chunk the client did not ask for.
      const hasUsage = out.indexOf(USAGE_OBJECT) !== -1;
      this.#probe?.push(out, hasUsage);
      if (this.#status === 200) this.#ex.cache?.takeEvents(out);
      this.#tap?.events(out);
      if (hasUsage && this.#ex.injectedUsage) out = withoutUsageEvent(out);
    } else {
      this.#probe?.push(out);
    }
    if (!this.#ex.res.write(out)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#held) return this.#settleHeld();
    const res = this.#ex.res;
    if (this.#json) {
      const body = Buffer.concat(this.#json);
      this.#probe?.push(body);
      this.#ex.cache?.takeJson(body);
      this.#finishUsage();
      this.#json = undefined;
      // The tap may hold the answer back (until what it created is recorded) or give another body.
      const tapped = this.#tap?.json(body);
      if (tapped) return void tapped.then((b) => this.#endJson(b ?? body), () => this.#endJson(body));
      return this.#endJson(body);
    }
    const rest = this.#framer?.rest();
    if (rest) res.write(rest);
    const held = this.#tap?.end();
    if (held) return void held.then(() => this.#endStream(), () => this.#endStream());
    this.#endStream();
  }

  #endJson(body: Buffer): void {
    this.#ex.res.writeHead(this.#status, { ...clientHeaders(this.#ex, this.#upstreamHeaders), 'content-length': String(body.length) });
    this.#ex.res.end(body);
    this.#settleRelayed(false);
  }

  #endStream(): void {
    this.#ex.res.end();
    this.#finishUsage();
    this.#settleRelayed(false);
  }

  /** A kept JSON answer grew too long: send what there is and relay the rest as it comes. */
  #releaseJson(): void {
    const parts = this.#json ?? [];
    this.#json = undefined;
    const res = this.#ex.res;
    res.writeHead(this.#status, clientHeaders(this.#ex, this.#upstreamHeaders));
    for (const p of parts) {
      this.#probe?.push(p);
      res.write(p);
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const ex = this.#ex;
    if (this.#held) {
      if (error instanceof ClientGoneError) return this.#settle({ kind: 'aborted' });
      // The status is what matters; a body cut short is not kept.
      this.#heldBytes = Infinity;
      return this.#settleHeld();
    }
    if (!this.#relaying) {
      if (error instanceof ClientGoneError) return this.#settle({ kind: 'aborted' });
      return this.#settle({ kind: 'failed', failure: classify(error), error });
    }
    if (this.#json) this.#releaseJson();
    // The answer was already under way: the client must see that it broke.
    this.#finishUsage();
    const res = ex.res;
    if (error instanceof ClientGoneError) {
      res.destroy();
      return this.#settleRelayed(false);
    }
    if (this.#framer && !res.destroyed) {
      this.#framer.rest();
      ex.error = classify(error) === 'timeout' ? 'upstream_stream_timeout' : 'upstream_stream_broken';
      res.end(sseErrorEvent(ex.error, `the upstream stream from ${this.#target.id} broke: ${describe(error)}`));
    } else {
      ex.error = 'upstream_body_broken';
      res.destroy();
    }
    this.#settleRelayed(true);
  }

  #finishUsage(): void {
    if (!this.#probe) return;
    const { usage, model } = this.#probe.result();
    this.#ex.usage = usage;
    this.#ex.model = model;
  }

  #settleHeld(): void {
    const body = this.#heldBytes <= MAX_HELD_BODY ? Buffer.concat(this.#held as Buffer[]) : undefined;
    this.#settle({ kind: 'held', status: this.#status, headers: this.#headers, ttfbMs: this.#ttfbMs, body });
  }

  #settleRelayed(broken: boolean): void {
    this.#settle({ kind: 'relayed', status: this.#status, headers: this.#headers, ttfbMs: this.#ttfbMs, broken });
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
