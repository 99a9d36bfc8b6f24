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

export function traceContext(incoming: string | undefined): TraceContext {
  const m = incoming === undefined ? null : TRACEPARENT.exec(incoming);
  const traceId = m && m[1] !== '00000000000000000000000000000000' ? m[1] : randomHex(16);
  const flags = m ? m[3] : '01';
  const spanId = randomHex(8);
  return { traceId, spanId, flags, traceparent: `00-${traceId}-${spanId}-${flags}` };
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The client's x-request-id when it is a sane token, else a new one. */
export function requestId(incoming: string | undefined): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
