// The ledger's schema, versioned. The gateway applies what a database lacks
// at start, each version in its own transaction; a version is never edited
// once released — a change is a new version.

export interface Migration {
  readonly version: number;
  readonly sqlite: readonly string[];
  readonly postgres: readonly string[];
}

const usageColumns = (bool: string, real: string, int64: string) => `
  id TEXT PRIMARY KEY,
  time_ms ${int64} NOT NULL,
  request_id TEXT NOT NULL,
  consumer TEXT,
  deployment TEXT,
  endpoint TEXT,
  upstream_deployment TEXT,
  model TEXT,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  cached_tokens INTEGER,
  reasoning_tokens INTEGER,
  total_tokens INTEGER,
  usage_known ${bool} NOT NULL,
  status INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  latency_ms ${real} NOT NULL,
  ttfb_ms ${real},
  user_id TEXT,
  stream ${bool} NOT NULL,
  client_ip TEXT`;

const auditColumns = (int64: string) => `
  id TEXT PRIMARY KEY,
  time_ms ${int64} NOT NULL,
  request_id TEXT,
  consumer TEXT,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  client_ip TEXT`;

const keyColumns = (int64: string) => `
  id TEXT PRIMARY KEY,
  consumer TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_ms ${int64} NOT NULL,
  expires_ms ${int64},
  revoked_ms ${int64}`;

const indexes = [
  'CREATE INDEX usage_time ON usage_records (time_ms)',
  'CREATE INDEX usage_consumer_time ON usage_records (consumer, time_ms)',
  'CREATE INDEX audit_time ON audit_records (time_ms)',
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sqlite: [
      `CREATE TABLE usage_records (${usageColumns('INTEGER', 'REAL', 'INTEGER')})`,
      `CREATE TABLE audit_records (${auditColumns('INTEGER')})`,
      `CREATE TABLE api_keys (${keyColumns('INTEGER')})`,
      ...indexes,
    ],
    postgres: [
      `CREATE TABLE usage_records (${usageColumns('BOOLEAN', 'DOUBLE PRECISION', 'BIGINT')})`,
      `CREATE TABLE audit_records (${auditColumns('BIGINT')})`,
      `CREATE TABLE api_keys (${keyColumns('BIGINT')})`,
      ...indexes,
    ],
  },
  {
    // what the response cache did for the request (hit: no upstream tokens)
    version: 2,
    sqlite: ['ALTER TABLE usage_records ADD COLUMN cache TEXT'],
    postgres: ['ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS cache TEXT'],
  },
];

export const SCHEMA_TABLE = 'aoaigw_schema_version';
