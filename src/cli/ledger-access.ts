// The CLI's way into the ledger: the config says where it is.
import { formatIssues } from '../config/load.ts';
import { loadConfigFileWithSecrets } from '../secrets/index.ts';
import type { Config } from '../config/schema.ts';
import { openLedgerBackend } from '../ledger/ledger.ts';
import type { LedgerBackend } from '../ledger/records.ts';
import { configPath } from './args.ts';

export async function withLedger<T>(configFlag: string | undefined, fn: (ledger: LedgerBackend, config: Config) => Promise<T>): Promise<T> {
  const path = configPath(configFlag);
  const loaded = await loadConfigFileWithSecrets(path);
  if (!loaded.ok) throw new Error(`${path}: ${loaded.issues.length} problem(s)\n${formatIssues(loaded.issues)}`);
  const ledger = openLedgerBackend(loaded.config.ledger.url);
  try {
    await ledger.migrate();
    return await fn(ledger, loaded.config);
  } finally {
    await ledger.close();
  }
}
