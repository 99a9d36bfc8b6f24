// Rows as both databases take them: the column order of the inserts and the
// values of a record in that order.
import type { AuditRecord, StoredKey, UsageRecord } from './records.ts';

export const USAGE_COLUMNS = [
  'id', 'time_ms', 'request_id', 'consumer', 'deployment', 'endpoint', 'upstream_deployment', 'model',
  'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'total_tokens', 'usage_known',
  'status', 'attempts', 'latency_ms', 'ttfb_ms', 'user_id', 'stream', 'client_ip', 'cache',
] as const;

export const AUDIT_COLUMNS = ['id', 'time_ms', 'request_id', 'consumer', 'kind', 'detail', 'client_ip'] as const;

export const KEY_COLUMNS = ['id', 'consumer', 'hash', 'prefix', 'created_ms', 'expires_ms', 'revoked_ms'] as const;

type Value = string | number | null;
const n = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

export function usageValues<B>(r: UsageRecord, bool: (b: boolean) => B): (Value | B)[] {
  return [
    r.id, r.time, r.requestId, n(r.consumer), n(r.deployment), n(r.endpoint), n(r.upstreamDeployment), n(r.model),
    n(r.promptTokens), n(r.completionTokens), n(r.cachedTokens), n(r.reasoningTokens), n(r.totalTokens), bool(r.usageKnown),
    r.status, r.attempts, r.latencyMs, n(r.ttfbMs), n(r.user), bool(r.stream), n(r.clientIp), n(r.cache),
  ];
}

export function auditValues(r: AuditRecord): Value[] {
  return [r.id, r.time, n(r.requestId), n(r.consumer), r.kind, JSON.stringify(r.detail), n(r.clientIp)];
}

export function keyValues(k: StoredKey): Value[] {
  return [k.id, k.consumer, k.hash, k.prefix, k.createdAt, n(k.expiresAt), n(k.revokedAt)];
}

type Row = Record<string, unknown>;
const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));

export function keyFromRow(r: Row): StoredKey {
  return {
    id: String(r.id),
    consumer: String(r.consumer),
    hash: String(r.hash),
    prefix: String(r.prefix),
    createdAt: Number(r.created_ms),
    expiresAt: num(r.expires_ms),
    revokedAt: num(r.revoked_ms),
  };
}

export function auditFromRow(r: Row): AuditRecord {
  return {
    id: String(r.id),
    time: Number(r.time_ms),
    requestId: r.request_id === null ? undefined : String(r.request_id),
    consumer: r.consumer === null ? undefined : String(r.consumer),
    kind: String(r.kind) as AuditRecord['kind'],
    detail: JSON.parse(String(r.detail)) as AuditRecord['detail'],
    clientIp: r.client_ip === null ? undefined : String(r.client_ip),
  };
}

/** The usage summary query, grouped by one of three columns (never a value from outside). */
export function usageQuery(by: 'consumer' | 'deployment' | 'endpoint', placeholder: string): string {
  const col = { consumer: 'consumer', deployment: 'deployment', endpoint: 'endpoint' }[by];
  return `SELECT COALESCE(${col}, '') AS grp, COALESCE(deployment, '') AS deployment, COALESCE(model, '') AS model,
      COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
      COALESCE(SUM(prompt_tokens), 0) AS prompt, COALESCE(SUM(completion_tokens), 0) AS completion,
      COALESCE(SUM(cached_tokens), 0) AS cached, COALESCE(SUM(total_tokens), 0) AS total
    FROM usage_records WHERE time_ms >= ${placeholder}
    GROUP BY COALESCE(${col}, ''), COALESCE(deployment, ''), COALESCE(model, '')
    ORDER BY 1, 2, 3`;
}

export function usageRowFromRow(r: Row) {
  return {
    group: String(r.grp),
    deployment: String(r.deployment),
    model: String(r.model),
    requests: Number(r.requests),
    errors: Number(r.errors),
    promptTokens: Number(r.prompt),
    completionTokens: Number(r.completion),
    cachedTokens: Number(r.cached),
    totalTokens: Number(r.total),
  };
}
