// What the ledger keeps: a usage record per finished request, an audit record
// per refusal or key change, and the consumer keys created with the CLI.

export interface UsageRecord {
  /** the record's own id: a retried batch never writes it twice */
  readonly id: string;
  readonly time: number;
  readonly requestId: string;
  readonly consumer: string | undefined;
  readonly deployment: string | undefined;
  readonly endpoint: string | undefined;
  readonly upstreamDeployment: string | undefined;
  /** the model upstream reported */
  readonly model: string | undefined;
  readonly promptTokens: number | undefined;
  readonly completionTokens: number | undefined;
  readonly cachedTokens: number | undefined;
  readonly reasoningTokens: number | undefined;
  readonly totalTokens: number | undefined;
  /** false: upstream never said; totalTokens is what was charged (the estimate) */
  readonly usageKnown: boolean;
  readonly status: number;
  readonly attempts: number;
  readonly latencyMs: number;
  readonly ttfbMs: number | undefined;
  /** the body's `user` */
  readonly user: string | undefined;
  readonly stream: boolean;
  readonly clientIp: string | undefined;
  /** what the response cache did: hit (no upstream tokens), miss, refresh, bypass, skip; absent without a cache */
  readonly cache?: string;
}

export type AuditKind =
  | 'auth_failed'
  | 'deployment_not_allowed'
  | 'network_refused'
  | 'user_required'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'concurrency_limited'
  | 'content_blocked'
  | 'content_safety_unavailable'
  | 'key_created'
  | 'key_revoked';

export interface AuditRecord {
  readonly id: string;
  readonly time: number;
  readonly requestId: string | undefined;
  readonly consumer: string | undefined;
  readonly kind: AuditKind;
  /** why, in a few fields (never a key; a prompt only in content_blocked with contentSafety.recordPrompt) */
  readonly detail: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly clientIp: string | undefined;
}

export interface StoredKey {
  readonly id: string;
  readonly consumer: string;
  /** SHA-256 of the key, hex */
  readonly hash: string;
  /** the key's first characters, to tell keys apart in a list */
  readonly prefix: string;
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
}

export type GroupBy = 'consumer' | 'deployment' | 'endpoint';

/** Usage summed per group, and per model within it (for prices). */
export interface UsageRow {
  readonly group: string;
  readonly deployment: string;
  readonly model: string;
  readonly requests: number;
  readonly errors: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  readonly totalTokens: number;
}

/** A database the ledger writes to: SQLite or PostgreSQL. */
export interface LedgerBackend {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  insertUsage(rows: readonly UsageRecord[]): Promise<void>;
  insertAudit(rows: readonly AuditRecord[]): Promise<void>;
  /** tokens a consumer used since a time (for its quota) */
  tokensSince(consumer: string, since: number): Promise<number>;
  usage(by: GroupBy, since: number): Promise<UsageRow[]>;
  audit(since: number): Promise<AuditRecord[]>;
  createKey(key: StoredKey): Promise<void>;
  keys(): Promise<StoredKey[]>;
  /** revokes by id or by prefix; returns how many keys it revoked */
  revokeKey(idOrPrefix: string, at: number): Promise<number>;
  close(): Promise<void>;
}
