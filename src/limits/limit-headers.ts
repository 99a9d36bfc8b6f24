// The headers a limited consumer gets on every answer (DESIGN.md §3): its
// limits, what is left of them, what this request cost, and its quota.
import type { Admitted } from './consumer-limiter.ts';

export function limitHeaders(a: Admitted, charged: number): Record<string, string> {
  const h: Record<string, string> = {};
  const { limits, result } = a;
  if (limits.rpm !== undefined) {
    h['x-ratelimit-limit-requests'] = String(limits.rpm);
    if (result.remainingRequests !== undefined) h['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(result.remainingRequests)));
  }
  if (limits.tpm !== undefined) {
    h['x-ratelimit-limit-tokens'] = String(limits.tpm);
    if (result.remainingTokens !== undefined) {
      // Settled against what this request really used, where that is known already.
      const settled = result.ok ? result.remainingTokens + Math.min(a.estimate, limits.tpm) - Math.min(charged, limits.tpm) : result.remainingTokens;
      h['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(settled)));
    }
  }
  h['x-gateway-tokens-consumed'] = String(charged);
  if (limits.quota && result.quotaUsed !== undefined) {
    h['x-gateway-remaining-quota-tokens'] = String(Math.max(0, Math.floor(limits.quota.limit - result.quotaUsed - charged)));
  }
  return h;
}
