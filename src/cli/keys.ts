// `aoai-gateway keys create|list|revoke`: consumer keys kept in the ledger,
// only as their SHA-256. A new key is printed once; running gateways pick it
// up (and a revocation) within ledger.keysRefreshSeconds.
import { didYouMean } from '../config/suggest.ts';
import { createKey, keyStatus, revokeKey } from '../ledger/keys.ts';
import { parse, UsageError } from './args.ts';
import { parseCliDuration } from '../config/durations.ts';
import { withLedger } from './ledger-access.ts';
import { table } from './table.ts';

export async function keys(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create':
      return create(rest);
    case 'list':
      return list(rest);
    case 'revoke':
      return revoke(rest);
    default:
      throw new UsageError('keys create --consumer NAME [--expires 90d] | keys list [--json] | keys revoke ID|PREFIX');
  }
}

async function create(args: string[]): Promise<number> {
  const o = parse(args, { config: { type: 'string', short: 'c' }, consumer: { type: 'string' }, expires: { type: 'string' }, json: { type: 'boolean' } });
  if (!o.consumer) throw new UsageError('keys create needs --consumer NAME');
  const consumer = o.consumer;
  const expiresIn = o.expires === undefined ? undefined : parseCliDuration(o.expires, '--expires');
  return withLedger(o.config, async (ledger, config) => {
    if (!config.consumers[consumer]) {
      throw new Error(`no consumer named "${consumer}" in the config${didYouMean(consumer, Object.keys(config.consumers))}; keys belong to a consumer the config defines`);
    }
    const { key, stored } = await createKey(ledger, consumer, expiresIn);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ key, id: stored.id, consumer, prefix: stored.prefix, expiresAt: stored.expiresAt ?? null })}\n`);
    } else {
      process.stdout.write(
        `${key}\n\nkey ${stored.id} for consumer "${consumer}"${stored.expiresAt ? `, expires ${new Date(stored.expiresAt).toISOString()}` : ''}.\n` +
          'This is the only time the key is shown: only its SHA-256 is stored.\n',
      );
    }
    return 0;
  });
}

async function list(args: string[]): Promise<number> {
  const o = parse(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } });
  return withLedger(o.config, async (ledger) => {
    const rows = (await ledger.keys()).map((k) => ({
      id: k.id,
      consumer: k.consumer,
      prefix: `${k.prefix}…`,
      created: new Date(k.createdAt).toISOString(),
      expires: k.expiresAt ? new Date(k.expiresAt).toISOString() : '',
      status: keyStatus(k),
    }));
    process.stdout.write(o.json ? `${JSON.stringify(rows)}\n` : table(rows, ['id', 'consumer', 'prefix', 'created', 'expires', 'status']));
    return 0;
  });
}

async function revoke(args: string[]): Promise<number> {
  const o = parse(args, { config: { type: 'string', short: 'c' } }, true);
  const target = o.positionals[0];
  if (!target) throw new UsageError('keys revoke needs a key id or prefix');
  return withLedger(o.values.config, async (ledger) => {
    const revoked = await revokeKey(ledger, target);
    if (revoked.length === 0) {
      process.stderr.write(`no active key with id or prefix "${target}"\n`);
      return 1;
    }
    process.stdout.write(`revoked ${revoked.length} key(s); running gateways refuse them within seconds\n`);
    return 0;
  });
}
