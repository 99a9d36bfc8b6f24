// Finds the top-level fields of a JSON object body without parsing it whole,
// so routing can read `model` and `stream` and rewrite `model` while every
// other byte passes as the client sent it. Strings are skipped with
// Buffer#indexOf; nothing recurses, so deep nesting costs no stack.

export interface Span {
  /** first byte of the value */
  readonly start: number;
  /** one past its last byte */
  readonly end: number;
}

export interface JsonFields {
  readonly fields: ReadonlyMap<string, Span>;
  /** index of the opening `{` */
  readonly open: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class JsonShapeError extends Error {
  readonly code = 'JSON_SHAPE';
}

/** Top-level fields of a JSON object, or throws JsonShapeError. */
export function scanJsonFields(buf: Uint8Array): JsonFields {
  const fields = new Map<string, Span>();
  let i = skipWs(buf, 0);
  if (buf[i] !== 0x7b /* { */) throw new JsonShapeError('the body must be a JSON object');
  const open = i;
  i = skipWs(buf, i + 1);
  if (buf[i] === 0x7d /* } */) {
    i++;
  } else {
    for (;;) {
      if (buf[i] !== QUOTE) throw new JsonShapeError(`expected a field name at byte ${i}`);
      const keyEnd = stringEnd(buf, i);
      const key = decodeKey(buf, i, keyEnd + 1);
      i = skipWs(buf, keyEnd + 1);
      if (buf[i] !== 0x3a /* : */) throw new JsonShapeError(`expected ":" at byte ${i}`);
      i = skipWs(buf, i + 1);
      const start = i;
      i = valueEnd(buf, i);
      fields.set(key, { start, end: i });
      i = skipWs(buf, i);
      if (buf[i] === 0x2c /* , */) {
        i = skipWs(buf, i + 1);
        continue;
      }
      if (buf[i] === 0x7d) {
        i++;
        break;
      }
      throw new JsonShapeError(`expected "," or "}" at byte ${i}`);
    }
  }
  if (skipWs(buf, i) !== buf.length) throw new JsonShapeError('unexpected data after the JSON object');
  return { fields, open };
}

/** The JSON value of a field, decoded; undefined when absent. */
export function fieldValue(buf: Buffer, scan: JsonFields, key: string): unknown {
  const span = scan.fields.get(key);
  if (!span) return undefined;
  return JSON.parse(buf.toString('utf8', span.start, span.end));
}

/** A string field's value, or undefined when absent or not a string. */
export function stringField(buf: Buffer, scan: JsonFields, key: string): string | undefined {
  const span = scan.fields.get(key);
  if (!span || buf[span.start] !== QUOTE) return undefined;
  if (!buf.subarray(span.start, span.end).includes(BACKSLASH)) return buf.toString('utf8', span.start + 1, span.end - 1);
  return JSON.parse(buf.toString('utf8', span.start, span.end)) as string;
}

/** Whether a field is literally `true`. */
export function isTrue(buf: Uint8Array, scan: JsonFields, key: string): boolean {
  const span = scan.fields.get(key);
  return span !== undefined && span.end - span.start === 4 && buf[span.start] === 0x74 /* t */;
}

/** The body with one top-level field set to `json` (a JSON text), added first when absent. */
export function setField(buf: Buffer, scan: JsonFields, key: string, json: string): Buffer {
  const span = scan.fields.get(key);
  if (span) return Buffer.concat([buf.subarray(0, span.start), Buffer.from(json), buf.subarray(span.end)]);
  const sep = scan.fields.size > 0 ? ',' : '';
  const at = scan.open + 1;
  return Buffer.concat([buf.subarray(0, at), Buffer.from(`${JSON.stringify(key)}:${json}${sep}`), buf.subarray(at)]);
}

function skipWs(buf: Uint8Array, i: number): number {
  for (; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
  }
  return i;
}

/** Index of the quote closing the string that opens at `i`. */
function stringEnd(buf: Uint8Array, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = buf.indexOf(QUOTE, from);
    if (q === -1) throw new JsonShapeError('unterminated string');
    let slashes = 0;
    for (let j = q - 1; buf[j] === BACKSLASH; j--) slashes++;
    if ((slashes & 1) === 0) return q;
    from = q + 1;
  }
}

function valueEnd(buf: Uint8Array, i: number): number {
  const c = buf[i];
  if (c === QUOTE) return stringEnd(buf, i) + 1;
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < buf.length; j++) {
      const b = buf[j];
      if (b === QUOTE) j = stringEnd(buf, j);
      else if (b === 0x7b || b === 0x5b) depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--depth === 0) return j + 1;
      }
    }
    throw new JsonShapeError('unterminated object or array');
  }
  // number, true, false, null
  let j = i;
  while (j < buf.length) {
    const b = buf[j];
    if (b === 0x2c || b === 0x7d || b === 0x5d || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) break;
    j++;
  }
  if (j === i) throw new JsonShapeError(`expected a value at byte ${i}`);
  return j;
}

function decodeKey(buf: Uint8Array, start: number, end: number): string {
  const raw = Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
  return raw.includes(BACKSLASH) ? (JSON.parse(raw.toString('utf8')) as string) : raw.toString('utf8', 1, raw.length - 1);
}
