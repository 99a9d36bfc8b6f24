// One request as an undici dispatch handler (no stream objects, no promise
// per chunk): the time its headers and first content arrive, the serving
// endpoint, retry-after, and usage from the JSON body or the final SSE chunk.
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { ErrorClass, Outcome } from './stats.ts';

type Headers = Record<string, string | string[] | undefined>;

/** a JSON answer is read for its usage up to this size; past it the rest is only counted */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** of a stream, at least its last this many bytes are kept: they hold the usage chunk and [DONE] */
const SSE_TAIL_BYTES = 64 * 1024;
const CONTENT = Buffer.from('"content":"');
/** within a JSON text this can only be a key: a quote inside a string is escaped */
const USAGE_KEY = '"usage":{';
/** the end of a stream is read from its last lines ([DONE], usage, an error event) */
const END_BYTES = 8 * 1024;
const END_LINES = 8;

/** A `"content":"` with something in it (the role chunk's content is ""). */
function hasContent(buf: Buffer): boolean {
  for (let i = buf.indexOf(CONTENT); i !== -1; i = buf.indexOf(CONTENT, i + CONTENT.length)) {
    if (buf[i + CONTENT.length] !== 34) return true;
  }
  return false;
}

/** Up to `max` non-empty lines from the end of `buf`, last first, as latin1 (the markers are ASCII). */
function lastLines(buf: Buffer, max: number): string[] {
  const lines: string[] = [];
  let end = buf.length;
  while (end > 0 && lines.length < max) {
    const nl = buf.lastIndexOf(10, end - 1);
    let stop = end;
    if (stop > nl + 1 && buf[stop - 1] === 13) stop--;
    if (stop > nl + 1) lines.push(buf.toString('latin1', nl + 1, stop));
    end = nl === -1 ? 0 : nl;
  }
  return lines;
}

/** The JSON object that starts at `open` (a "{"), by matching braces outside strings. */
function usageObject(text: string, open: number): string {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) return text.slice(open, i + 1);
  }
  return '';
}

export class TimeoutError extends Error {
  readonly code = 'BENCH_TIMEOUT';
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly startedAt = performance.now();
  readonly #deployment: string;
  readonly #stream: boolean;
  readonly #done: (o: Outcome, endedAt: number) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #timedOut = false;
  #status = 0;
  #endpoint: string | undefined;
  #retryAfterMs = -1;
  #headersAt = 0;
  #contentAt = 0;
  #ok = false;
  #chunks: Buffer[] = [];
  #size = 0;
  #sseMode = false;
  #sawDone = false;
  #sawErrorEvent = false;
  #promptTokens = -1;
  #completionTokens = -1;
  #finished = false;

  constructor(deployment: string, stream: boolean, done: (o: Outcome, endedAt: number) => void) {
    this.#deployment = deployment;
    this.#stream = stream;
    this.#done = done;
  }

  /** Aborts the request: it ends as a timeout. */
  timeout(): void {
    this.#timedOut = true;
    this.#controller?.abort(new TimeoutError('timed out'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#timedOut) controller.abort(new TimeoutError('timed out'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Headers): void {
    this.#headersAt = performance.now();
    this.#status = status;
    this.#ok = status >= 200 && status < 300;
    const endpoint = headers['x-gateway-endpoint'];
    this.#endpoint = typeof endpoint === 'string' ? endpoint : undefined;
    if (status === 429) this.#retryAfterMs = retryAfterMs(headers);
    // A stream was asked for; an answer that is not one (JSON) is read as JSON.
    const type = headers['content-type'];
    this.#sseMode = this.#stream && typeof type === 'string' && type.includes('text/event-stream');
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#ok) return;
    if (this.#sseMode) return this.#sse(chunk);
    this.#size += chunk.length;
    if (this.#size <= MAX_JSON_BYTES) this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#ok && this.#sseMode) this.#sseEnd();
    else if (this.#ok && this.#size <= MAX_JSON_BYTES) this.#jsonUsage();
    const broken = this.#ok && this.#sseMode && (this.#sawErrorEvent || !this.#sawDone);
    this.#finish(broken ? 'broken' : undefined, broken ? (this.#sawErrorEvent ? 'the stream ended with an error event' : 'the stream ended without [DONE]') : undefined);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const code = (err as { code?: string }).code ?? '';
    const kind: ErrorClass = this.#timedOut || TIMEOUT_CODES.has(code) ? 'timeout' : this.#status !== 0 ? 'broken' : CONNECTION_CODES.has(code) ? 'connection' : 'other';
    this.#finish(kind, code ? `${code}: ${err.message}` : err.message);
  }

  #finish(error: ErrorClass | undefined, message: string | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#chunks = [];
    const end = performance.now();
    const first = this.#stream && this.#contentAt > 0 ? this.#contentAt : this.#headersAt || end;
    this.#done(
      {
        deployment: this.#deployment,
        endpoint: this.#endpoint,
        status: this.#status,
        error,
        errorMessage: message,
        latencyUs: (end - this.startedAt) * 1000,
        ttfbUs: (first - this.startedAt) * 1000,
        promptTokens: this.#promptTokens,
        completionTokens: this.#completionTokens,
        retryAfterMs: this.#retryAfterMs,
      },
      end,
    );
  }

  /**
   * While a stream runs only its first content is looked for; what else
   * matters (the usage chunk, [DONE], an error event) is at its end, read
   * once from the last chunks kept.
   */
  #sse(chunk: Buffer): void {
    if (this.#contentAt === 0 && hasContent(chunk)) this.#contentAt = performance.now();
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0].length >= SSE_TAIL_BYTES) this.#size -= (this.#chunks.shift() as Buffer).length;
  }

  /** The usage object of a JSON answer (its last "usage" key: Azure and OpenAI write it last), parsed alone. */
  #jsonUsage(): void {
    const text = (this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#size)).toString('latin1');
    const at = text.lastIndexOf(USAGE_KEY);
    if (at !== -1) this.#readUsage(usageObject(text, at + USAGE_KEY.length - 1));
  }

  /** Reads the stream's last lines: [DONE], an error event, the usage chunk. */
  #sseEnd(): void {
    // The last chunks that hold at least END_BYTES (a line is never longer in practice), else all of them.
    let from = this.#chunks.length;
    let bytes = 0;
    while (from > 0 && bytes < END_BYTES) bytes += this.#chunks[--from].length;
    const tail = from === this.#chunks.length - 1 ? this.#chunks[from] : Buffer.concat(this.#chunks.slice(from), bytes);
    for (const line of lastLines(tail, END_LINES)) {
      if (line === 'data: [DONE]' || line === 'data:[DONE]') this.#sawDone = true;
      else if (line.startsWith('event: error') || line.startsWith('data: {"error"')) this.#sawErrorEvent = true;
      else if (this.#completionTokens < 0) {
        const at = line.lastIndexOf(USAGE_KEY);
        if (at !== -1) this.#readUsage(usageObject(line, at + USAGE_KEY.length - 1));
      }
    }
  }

  #readUsage(json: string): void {
    try {
      const usage = JSON.parse(json) as Usage;
      if (typeof usage.completion_tokens === 'number') {
        this.#completionTokens = usage.completion_tokens;
        this.#promptTokens = typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : 0;
      }
    } catch {
      // not JSON: the usage stays unknown
    }
  }
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

const TIMEOUT_CODES = new Set(['BENCH_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EMFILE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** retry-after-ms, else retry-after (seconds or an HTTP date); -1 when neither. */
function retryAfterMs(h: Headers): number {
  const ms = Number(h['retry-after-ms']);
  if (typeof h['retry-after-ms'] === 'string' && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = h['retry-after'];
  if (typeof ra !== 'string') return -1;
  const s = Number(ra);
  if (ra.trim() !== '' && Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? -1 : Math.max(0, at - Date.now());
}
