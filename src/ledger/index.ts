export { Ledger, openLedgerBackend, LEDGER_DROPPED, LEDGER_PENDING, LEDGER_UP, type LedgerOptions } from './ledger.ts';
export type { AuditKind, AuditRecord, GroupBy, LedgerBackend, StoredKey, UsageRecord, UsageRow } from './records.ts';
export { SqliteLedger } from './sqlite.ts';
export { PostgresLedger } from './postgres.ts';
