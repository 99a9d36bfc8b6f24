// Reads and rewrites one text field of a multipart/form-data body (the
// `model` of an audio upload on the v1 routes) without re-encoding the file
// parts around it.
import type { Span } from './json-fields.ts';

export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The value span of the form field `name`, if the body has it. */
export function findFormField(buf: Buffer, boundary: string, name: string): Span | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const bodyDelimiter = Buffer.from(`\r\n--${boundary}`);
  let at = buf.indexOf(delimiter);
  if (at === -1) return undefined;
  const wanted = new RegExp(`name="${name.replace(/[^\w-]/g, '\\$&')}"`, 'i');
  for (;;) {
    const headersStart = at + delimiter.length + 2; // past CRLF
    if (buf[at + delimiter.length] === 0x2d /* "--": closing delimiter */) return undefined;
    const headersEnd = buf.indexOf('\r\n\r\n', headersStart);
    if (headersEnd === -1) return undefined;
    const next = buf.indexOf(bodyDelimiter, headersEnd + 4);
    if (next === -1) return undefined;
    const headers = buf.toString('latin1', headersStart, headersEnd);
    const disposition = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? '';
    if (wanted.test(disposition) && !/filename=/i.test(disposition)) return { start: headersEnd + 4, end: next };
    at = next + 2;
  }
}

/** The body with field `name` set to `value`, added as the first part when absent. */
export function setFormField(buf: Buffer, boundary: string, name: string, value: string): Buffer {
  const span = findFormField(buf, boundary, name);
  if (span) return Buffer.concat([buf.subarray(0, span.start), Buffer.from(value), buf.subarray(span.end)]);
  const first = buf.indexOf(`--${boundary}`);
  const part = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const at = first === -1 ? 0 : first;
  return Buffer.concat([buf.subarray(0, at), part, buf.subarray(at)]);
}
