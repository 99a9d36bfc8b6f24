// The response cache: exact-match answers for deterministic requests, per
// deployment (`deployments.<name>.cache`), in memory or on the shared Redis.
export { ResponseCache, CacheTicket, CACHE_METRICS, RESPONSE_HEADER, type CacheStatus } from './response-cache.ts';
export { compileCachePolicy, REQUEST_HEADER, type CachePolicy } from './policy.ts';
