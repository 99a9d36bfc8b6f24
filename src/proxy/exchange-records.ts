// What a finished exchange leaves behind: its access-log line, its usage
// record, and — for a refusal — its audit record. Fields are picked one by
// one: no header, no body, no key.
import type { AuditKind, AuditRecord, UsageRecord } from '../ledger/records.ts';
import type { AccessRecord } from '../telemetry/access-log.ts';
import type { GatewayErrorCode } from './errors.ts';
import type { Exchange } from './exchange.ts';

export function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function accessRecord(ex: Exchange, now: number): AccessRecord {
  return {
    requestId: ex.requestId,
    method: ex.req.method ?? '',
    path: pathOf(ex.req.url).slice(0, 256),
    consumer: ex.consumer?.name,
    deployment: ex.deployment?.name,
    endpoint: ex.target?.endpoint.name,
    upstreamDeployment: ex.target?.upstreamName || undefined,
    status: ex.status,
    attempts: ex.attempts,
    latencyMs: round(now - ex.started),
    ttfbMs: ex.ttfbMs === undefined ? undefined : round(ex.ttfbMs),
    stream: ex.stream,
    cache: ex.cache?.status,
    affinity: ex.affinity?.outcome,
    objectsStored: ex.affinity?.stored || undefined,
    contentSafety: ex.safety?.result,
    contentSafetyMs: ex.safety === undefined ? undefined : round(ex.safety.ms),
    promptTokens: ex.usage?.promptTokens,
    completionTokens: ex.usage?.completionTokens,
    totalTokens: ex.usage?.totalTokens,
    model: ex.model,
    error: ex.error,
    traceId: ex.trace.traceId,
  };
}

/** A usage record for every request that got past authentication. */
export function usageRecord(ex: Exchange, now: number): Omit<UsageRecord, 'id'> | undefined {
  if (!ex.consumer) return undefined;
  // A cache hit cost upstream nothing: known, and zero.
  const u = ex.cache?.status === 'hit' ? NO_TOKENS : ex.usage;
  const charged = ex.chargedTokens();
  return {
    time: ex.startedAt,
    requestId: ex.requestId,
    consumer: ex.consumer.name,
    deployment: ex.deployment?.name,
    endpoint: ex.target?.endpoint.name,
    upstreamDeployment: ex.target?.upstreamName || undefined,
    model: ex.model,
    promptTokens: u?.promptTokens,
    completionTokens: u?.completionTokens,
    cachedTokens: u?.cachedTokens,
    reasoningTokens: u?.reasoningTokens,
    totalTokens: u ? u.totalTokens : charged > 0 ? charged : undefined,
    usageKnown: u !== undefined,
    status: ex.status,
    attempts: ex.attempts,
    latencyMs: round(now - ex.started),
    ttfbMs: ex.ttfbMs === undefined ? undefined : round(ex.ttfbMs),
    user: ex.user,
    stream: ex.stream,
    clientIp: ex.clientIp,
    cache: ex.cache?.status,
  };
}

const NO_TOKENS = { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: undefined, reasoningTokens: undefined } as const;

const AUDITED: Partial<Record<GatewayErrorCode, AuditKind>> = {
  missing_api_key: 'auth_failed',
  invalid_api_key: 'auth_failed',
  invalid_token: 'auth_failed',
  deployment_not_allowed: 'deployment_not_allowed',
  network_not_allowed: 'network_refused',
  user_required: 'user_required',
  rate_limit_exceeded: 'rate_limited',
  concurrency_limit_exceeded: 'concurrency_limited',
  quota_exceeded: 'quota_exceeded',
  content_filter: 'content_blocked',
  content_safety_text_too_long: 'content_blocked',
  content_safety_unavailable: 'content_safety_unavailable',
};

/** An audit record when the gateway refused the request for who asked or how much. */
export function auditRecord(ex: Exchange, code: GatewayErrorCode, detail: Record<string, string | number | undefined>): Omit<AuditRecord, 'id'> | undefined {
  const kind = AUDITED[code];
  if (!kind) return undefined;
  return {
    time: Date.now(),
    requestId: ex.requestId,
    consumer: ex.consumer?.name,
    kind,
    detail: { code, deployment: ex.deployment?.name, path: pathOf(ex.req.url).slice(0, 256), ...detail, ...ex.safety?.audit },
    clientIp: ex.clientIp,
  };
}
