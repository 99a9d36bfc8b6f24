// The ledger's writer: records are queued on the request path (no I/O) and
// written in batches on a timer. While the database is away they stay
// queued, up to a bound; past it, new records are dropped, counted and
// logged once. A shutdown writes what is queued before closing.
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { uuidv7 } from './ids.ts';
import type { AuditRecord, LedgerBackend, UsageRecord } from './records.ts';
import { PostgresLedger } from './postgres.ts';
import { SqliteLedger } from './sqlite.ts';

export const LEDGER_PENDING = 'aoai_gateway_ledger_pending_records';
export const LEDGER_DROPPED = 'aoai_gateway_ledger_dropped_records_total';
export const LEDGER_UP = 'aoai_gateway_ledger_up';

export interface LedgerOptions {
  /** records held at most while the database is away */
  readonly maxPending?: number;
  readonly flushMs?: number;
  readonly batchSize?: number;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
}

type Pending = { readonly kind: 'usage'; readonly row: UsageRecord } | { readonly kind: 'audit'; readonly row: AuditRecord };

export class Ledger {
  readonly backend: LedgerBackend;
  readonly #maxPending: number;
  readonly #batchSize: number;
  readonly #log: Logger | undefined;
  readonly #metrics: Metrics | undefined;
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout;
  #writing: Promise<void> | undefined;
  #up = true;
  #dropped = 0;
  #droppedLogged = false;
  #failures = 0;
  #skipUntil = 0;

  constructor(backend: LedgerBackend, opts: LedgerOptions = {}) {
    this.backend = backend;
    this.#maxPending = opts.maxPending ?? 100_000;
    this.#batchSize = opts.batchSize ?? 2000;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
    this.#metrics?.set(LEDGER_UP, 1);
    this.#timer = setInterval(() => void this.#tick(), opts.flushMs ?? 250);
    this.#timer.unref();
  }

  /** Records a finished request. Never waits, never throws. */
  usage(row: Omit<UsageRecord, 'id'>): void {
    this.#enqueue({ kind: 'usage', row: { id: uuidv7(row.time), ...row } });
  }

  /** Records a refusal or a key change. Never waits, never throws. */
  audit(row: Omit<AuditRecord, 'id'>): void {
    this.#enqueue({ kind: 'audit', row: { id: uuidv7(row.time), ...row } });
  }

  get pending(): number {
    return this.#pending.length;
  }

  /** false from a failed write until the next one succeeds */
  get up(): boolean {
    return this.#up;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Writes everything queued; rejects if the database refuses. */
  async flush(): Promise<void> {
    while (this.#pending.length > 0) {
      await this.#writeBatch();
    }
  }

  /** Writes what is queued (trying until `graceMs` passes), then closes the database. */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#timer);
    await this.#writing?.catch(() => {});
    const deadline = Date.now() + graceMs;
    while (this.#pending.length > 0 && Date.now() < deadline) {
      try {
        await this.flush();
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (this.#pending.length > 0) {
      this.#log?.error({ records: this.#pending.length }, 'ledger: the database did not come back before shutdown; these records are lost');
    }
    await this.backend.close();
  }

  #enqueue(p: Pending): void {
    if (this.#pending.length >= this.#maxPending) {
      this.#dropped++;
      this.#metrics?.add(LEDGER_DROPPED, 1, { kind: p.kind });
      if (!this.#droppedLogged) {
        this.#droppedLogged = true;
        this.#log?.error({ maxPending: this.#maxPending }, 'ledger: the buffer is full while the database is away; new records are being dropped');
      }
      return;
    }
    this.#pending.push(p);
  }

  async #tick(): Promise<void> {
    if (this.#writing || this.#pending.length === 0 || Date.now() < this.#skipUntil) {
      this.#metrics?.set(LEDGER_PENDING, this.#pending.length);
      return;
    }
    try {
      await this.flush();
    } catch {
      // #writeBatch has logged it and backs off; the records stay queued.
    }
    this.#metrics?.set(LEDGER_PENDING, this.#pending.length);
  }

  #writeBatch(): Promise<void> {
    this.#writing ??= (async () => {
      const batch = this.#pending.slice(0, this.#batchSize);
      const usage = batch.filter((p): p is Extract<Pending, { kind: 'usage' }> => p.kind === 'usage').map((p) => p.row);
      const audit = batch.filter((p): p is Extract<Pending, { kind: 'audit' }> => p.kind === 'audit').map((p) => p.row);
      try {
        if (usage.length) await this.backend.insertUsage(usage);
        if (audit.length) await this.backend.insertAudit(audit);
      } catch (err) {
        this.#down(err as Error);
        throw err;
      }
      // Rows already written are not written again if the other kind failed: ids make the retry harmless.
      this.#pending.splice(0, batch.length);
      this.#upAgain();
    })().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  #down(err: Error): void {
    this.#failures++;
    this.#skipUntil = Date.now() + Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
    if (!this.#up) return;
    this.#up = false;
    this.#metrics?.set(LEDGER_UP, 0);
    this.#log?.error({ err: err.message, pending: this.#pending.length }, 'ledger: the database cannot be written; records are kept and retried');
  }

  #upAgain(): void {
    this.#failures = 0;
    this.#skipUntil = 0;
    if (this.#up) return;
    this.#up = true;
    this.#droppedLogged = false;
    this.#metrics?.set(LEDGER_UP, 1);
    this.#log?.info({ pending: this.#pending.length, dropped: this.#dropped }, 'ledger: the database is back; queued records are being written');
  }
}

/** The backend a `ledger.url` names: `sqlite:<file>` (`sqlite::memory:` too) or `postgres://…` (migrated on first use). */
export function openLedgerBackend(url: string): LedgerBackend {
  if (url.startsWith('sqlite:')) return new SqliteLedger(url.slice('sqlite:'.length));
  return new PostgresLedger(url);
}
