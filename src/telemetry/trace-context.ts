// W3C trace context: continue the client's trace (its trace id, our own span
// id as the new parent) or start one. Ids come from a pooled random buffer so
// a request costs no crypto call of its own.
import { randomFillSync, randomUUID } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
  /** `00-<trace>-<span>-<flags>`: what goes upstream and back to the client */
  readonly traceparent: string;
}

/** The caller's trace context, if its traceparent header is a valid one. */
export function parseTraceparent(incoming: string | undefined): { traceId: string; spanId: string; flags: string } | undefined {
  const m = incoming === undefined ? null : TRACEPARENT.exec(incoming);
  if (!m || m[1] === '00000000000000000000000000000000' || m[2] === '0000000000000000') return undefined;
  return { traceId: m[1], spanId: m[2], flags: m[3] };
}

export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

/** The request's trace context without a tracer: the caller's trace continued with a span id of ours, or a new trace. */
export function traceContext(incoming: string | undefined): TraceContext {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomHex(16);
  const flags = parent?.flags ?? '01';
  const spanId = randomHex(8);
  return { traceId, spanId, flags, traceparent: formatTraceparent(traceId, spanId, flags) };
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The client's x-request-id when it is a sane token, else a new one. */
export function requestId(incoming: string | undefined): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
