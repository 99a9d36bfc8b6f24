// How long an upstream asked us to stay away, read as Azure OpenAI writes it:
// `retry-after-ms`, else `retry-after` (seconds or an HTTP date), else the
// reset headers (`x-ratelimit-reset-requests|tokens`, and the misspelled
// `x-rate-limit-reset-tokens`), seconds or durations like "1m30s", "200ms".
import type { IncomingHttpHeaders } from 'node:http';

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Milliseconds the answer asks to wait, or undefined when it says nothing usable. */
export function retryDelayMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = Number(first(headers['retry-after-ms']));
  if (first(headers['retry-after-ms']) !== undefined && Number.isFinite(ms) && ms >= 0) return ms;

  const ra = first(headers['retry-after'])?.trim();
  if (ra) {
    if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }

  let reset: number | undefined;
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens', 'x-rate-limit-reset-tokens', 'x-rate-limit-reset-requests']) {
    const d = parseDuration(first(headers[name]));
    if (d !== undefined && (reset === undefined || d > reset)) reset = d;
  }
  return reset;
}

/** "55" (seconds), "1.5", "200ms", "1s", "6m0s", "1h2m3.5s" → ms. */
export function parseDuration(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = s.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(v)) !== null) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed = re.lastIndex;
  }
  return consumed === v.length && consumed > 0 ? total : undefined;
}

/** A remaining-* header as a number; -1 (Azure's "unknown") and garbage are undefined. */
export function remaining(headers: IncomingHttpHeaders, name: string): number | undefined {
  const raw = first(headers[name]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
