// The ledger in PostgreSQL, for replicas: multi-row inserts, one statement a
// batch (all of it or none), records keyed by their own id so a batch
// retried after a lost reply is not written twice.
import pg from 'pg';
import { AUDIT_COLUMNS, auditFromRow, auditValues, KEY_COLUMNS, keyFromRow, keyValues, USAGE_COLUMNS, usageQuery, usageRowFromRow, usageValues } from './columns.ts';
import { MIGRATIONS, SCHEMA_TABLE } from './migrations.ts';
import type { AuditRecord, GroupBy, LedgerBackend, StoredKey, UsageRecord, UsageRow } from './records.ts';

// BIGINT columns come back as strings by default; the ledger's fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** A lock id for migrations, so replicas starting together migrate once. */
const MIGRATION_LOCK = 7_245_010;

export class PostgresLedger implements LedgerBackend {
  readonly dialect = 'postgres';
  readonly pool: pg.Pool;
  #migrated: Promise<void> | undefined;

  constructor(url: string) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 30_000,
      query_timeout: 10_000,
    });
    // A lost connection is reported by the query that needed it; an idle client's error would crash the process.
    this.pool.on('error', () => {});
  }

  /** Brings the schema up to date; until it succeeds, every call tries again first. */
  migrate(): Promise<void> {
    this.#migrated ??= this.#migrate().catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    return this.#migrated;
  }

  async #migrate(): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await c.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (version INTEGER NOT NULL)`);
      const { rows } = await c.query(`SELECT COALESCE(MAX(version), 0) AS v FROM ${SCHEMA_TABLE}`);
      const current = Number(rows[0].v);
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        await c.query('BEGIN');
        try {
          for (const sql of m.postgres) await c.query(sql);
          await c.query(`INSERT INTO ${SCHEMA_TABLE} (version) VALUES ($1)`, [m.version]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      c.release();
    }
  }

  async insertUsage(rows: readonly UsageRecord[]): Promise<void> {
    await this.migrate();
    await this.#insert('usage_records', USAGE_COLUMNS, rows.map((r) => usageValues(r, (b) => b)));
  }

  async insertAudit(rows: readonly AuditRecord[]): Promise<void> {
    await this.migrate();
    await this.#insert('audit_records', AUDIT_COLUMNS, rows.map(auditValues));
  }

  async tokensSince(consumer: string, since: number): Promise<number> {
    await this.migrate();
    const { rows } = await this.pool.query('SELECT COALESCE(SUM(total_tokens), 0) AS t FROM usage_records WHERE consumer = $1 AND time_ms >= $2', [consumer, since]);
    return Number(rows[0].t);
  }

  async usage(by: GroupBy, since: number): Promise<UsageRow[]> {
    await this.migrate();
    const { rows } = await this.pool.query(usageQuery(by, '$1'), [since]);
    return rows.map(usageRowFromRow);
  }

  async audit(since: number): Promise<AuditRecord[]> {
    await this.migrate();
    const { rows } = await this.pool.query('SELECT * FROM audit_records WHERE time_ms >= $1 ORDER BY time_ms, id', [since]);
    return rows.map(auditFromRow);
  }

  async createKey(k: StoredKey): Promise<void> {
    await this.migrate();
    await this.#insert('api_keys', KEY_COLUMNS, [keyValues(k)], false);
  }

  async keys(): Promise<StoredKey[]> {
    await this.migrate();
    const { rows } = await this.pool.query('SELECT * FROM api_keys ORDER BY created_ms, id');
    return rows.map(keyFromRow);
  }

  async revokeKey(idOrPrefix: string, at: number): Promise<number> {
    await this.migrate();
    const r = await this.pool.query('UPDATE api_keys SET revoked_ms = $1 WHERE revoked_ms IS NULL AND (id = $2 OR prefix = $2)', [at, idOrPrefix]);
    return r.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async #insert(table: string, columns: readonly string[], rows: readonly unknown[][], ignoreDuplicates = true): Promise<void> {
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const tuples = rows.map((values) => `(${values.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
    await this.pool.query(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}${ignoreDuplicates ? ' ON CONFLICT (id) DO NOTHING' : ''}`,
      params,
    );
  }
}
