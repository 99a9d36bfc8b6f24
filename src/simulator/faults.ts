// Faults on demand, from the deployment's config or per request from the
// `x-sim-fault` header: `status=503`, `status=429;retry-after=5`,
// `status=429;retry-after-ms=1500`, `status=429;reset-tokens=55` (only the
// misspelled x-rate-limit-reset-tokens, as once captured from Azure),
// `status=429;none` (no retry header at all), `content-filter`,
// `reset-after-chunks=2`, `hang`, `first-byte-ms=3000`.

export interface Fault {
  status?: number;
  retryAfterS?: number;
  retryAfterMs?: number;
  resetTokensS?: number;
  noRetryHeaders?: boolean;
  contentFilter?: boolean;
  /** write this many SSE events (or body chunks), then reset the connection; 0: reset before any answer */
  resetAfterChunks?: number;
  hang?: boolean;
  firstByteMs?: number;
}

export function parseFault(spec: string): Fault {
  const fault: Fault = {};
  for (const part of spec.split(/[;,]/)) {
    const [rawKey, rawValue] = part.split('=', 2);
    const key = rawKey.trim().toLowerCase();
    const value = rawValue === undefined ? undefined : Number(rawValue.trim());
    const need = (): number => {
      if (value === undefined || !Number.isFinite(value) || value < 0) throw new Error(`fault "${key}" needs a number`);
      return value;
    };
    switch (key) {
      case '':
        break;
      case 'status':
        fault.status = need();
        break;
      case 'retry-after':
        fault.retryAfterS = need();
        break;
      case 'retry-after-ms':
        fault.retryAfterMs = need();
        break;
      case 'reset-tokens':
        fault.resetTokensS = need();
        break;
      case 'none':
        fault.noRetryHeaders = true;
        break;
      case 'content-filter':
        fault.contentFilter = true;
        break;
      case 'reset-after-chunks':
        fault.resetAfterChunks = need();
        break;
      case 'hang':
        fault.hang = true;
        break;
      case 'first-byte-ms':
        fault.firstByteMs = need();
        break;
      default:
        throw new Error(`unknown fault "${key}"`);
    }
  }
  return fault;
}
