// The ledger in a SQLite file, through node:sqlite. Writes are short
// transactions in WAL mode; a locked database fails fast (busy timeout of a
// few milliseconds) so the writer buffers instead of stalling requests.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { AUDIT_COLUMNS, auditFromRow, auditValues, KEY_COLUMNS, keyFromRow, keyValues, USAGE_COLUMNS, usageQuery, usageRowFromRow, usageValues } from './columns.ts';
import { MIGRATIONS, SCHEMA_TABLE } from './migrations.ts';
import type { AuditRecord, GroupBy, LedgerBackend, StoredKey, UsageRecord, UsageRow } from './records.ts';

const BUSY_TIMEOUT_MS = 20;

/** Rows per INSERT statement: one statement per chunk costs far less than one per row. */
const ROWS_PER_STATEMENT = 100;

export class SqliteLedger implements LedgerBackend {
  readonly dialect = 'sqlite';
  readonly db: DatabaseSync;
  /** prepared multi-row inserts, by table and row count */
  readonly #inserts = new Map<string, StatementSync>();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`);
    this.#migrateSync();
  }

  async migrate(): Promise<void> {
    this.#migrateSync();
  }

  async insertUsage(rows: readonly UsageRecord[]): Promise<void> {
    this.#insertRows('usage_records', USAGE_COLUMNS, rows.map((r) => usageValues(r, (b) => (b ? 1 : 0))));
  }

  async insertAudit(rows: readonly AuditRecord[]): Promise<void> {
    this.#insertRows('audit_records', AUDIT_COLUMNS, rows.map(auditValues));
  }

  #insertRows(table: string, columns: readonly string[], rows: readonly SQLInputValue[][]): void {
    this.#inTransaction(() => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
        this.#insert(table, columns, chunk.length).run(...chunk.flat());
      }
    });
  }

  #insert(table: string, columns: readonly string[], rows: number): StatementSync {
    const k = `${table}/${rows}`;
    let st = this.#inserts.get(k);
    if (!st) {
      const tuple = `(${columns.map(() => '?').join(', ')})`;
      st = this.db.prepare(`INSERT OR IGNORE INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`);
      this.#inserts.set(k, st);
    }
    return st;
  }

  async tokensSince(consumer: string, since: number): Promise<number> {
    const row = this.db.prepare('SELECT COALESCE(SUM(total_tokens), 0) AS t FROM usage_records WHERE consumer = ? AND time_ms >= ?').get(consumer, since);
    return Number(row?.t ?? 0);
  }

  async usage(by: GroupBy, since: number): Promise<UsageRow[]> {
    return this.db.prepare(usageQuery(by, '?')).all(since).map(usageRowFromRow);
  }

  async audit(since: number): Promise<AuditRecord[]> {
    return this.db.prepare('SELECT * FROM audit_records WHERE time_ms >= ? ORDER BY time_ms, id').all(since).map(auditFromRow);
  }

  async createKey(k: StoredKey): Promise<void> {
    this.db.prepare(`INSERT INTO api_keys (${KEY_COLUMNS.join(', ')}) VALUES (${KEY_COLUMNS.map(() => '?').join(', ')})`).run(...keyValues(k));
  }

  async keys(): Promise<StoredKey[]> {
    return this.db.prepare('SELECT * FROM api_keys ORDER BY created_ms, id').all().map(keyFromRow);
  }

  async revokeKey(idOrPrefix: string, at: number): Promise<number> {
    const r = this.db.prepare('UPDATE api_keys SET revoked_ms = ? WHERE revoked_ms IS NULL AND (id = ? OR prefix = ?)').run(at, idOrPrefix, idOrPrefix);
    return Number(r.changes);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }

  #inTransaction(fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  #migrateSync(): void {
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (version INTEGER NOT NULL)`);
    const current = Number(this.db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM ${SCHEMA_TABLE}`).get()?.v ?? 0);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.#inTransaction(() => {
        for (const sql of m.sqlite) this.db.exec(sql);
        this.db.prepare(`INSERT INTO ${SCHEMA_TABLE} (version) VALUES (?)`).run(m.version);
      });
    }
  }
}
