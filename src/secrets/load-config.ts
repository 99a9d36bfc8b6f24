// Loading a config file whose values reference Key Vault. Config loading is
// synchronous everywhere else (load.ts); here the Key Vault references are
// collected first, read (all at once, bounded by secrets.keyvault.timeoutMs),
// and then the whole file is resolved and checked synchronously as usual,
// so a missing secret is one more problem listed by its path:
//   consumers.team-a.keys[0]: Key Vault secret "kv1/team-a-key" not found
import { readFileSync } from 'node:fs';
import { ConfigReferenceError, resolvePlaceholders, resolveReference, type Issue } from '../config/interpolate.ts';
import { parseConfigDocument, validateConfig, type LoadResult } from '../config/load.ts';
import { keyVault } from '../config/schema.ts';
import { KeyVaultSecrets, MAX_SECRETS, type SecretRead } from './keyvault.ts';
import { isKeyVaultExpr, parseKeyVaultRef, type KeyVaultRef } from './references.ts';

/**
 * Reads and checks a config file, Key Vault references included. `vault`
 * keeps the last values read (pass the same one to every reload) and
 * learns which secrets the loaded config uses, for its refresh.
 */
export async function loadConfigFileWithSecrets(path: string, env: NodeJS.ProcessEnv = process.env, vault = new KeyVaultSecrets()): Promise<LoadResult> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, issues: [{ path, message: `cannot read the file (${(err as NodeJS.ErrnoException).code})` }] };
  }
  const doc = parseConfigDocument(text);
  if (!doc.ok) return doc;
  const fromEnv = (expr: string) => resolveReference(expr, env);

  // The references, parsed once; a malformed one is reported where it stands by the final pass.
  const refs = new Map<string, KeyVaultRef>();
  for (const { expr } of doc.refs) {
    if (!isKeyVaultExpr(expr)) continue;
    try {
      const ref = parseKeyVaultRef(expr);
      refs.set(ref.id, ref);
    } catch {
      // listed below, by path
    }
  }
  if (!doc.refs.some((r) => isKeyVaultExpr(r.expr))) {
    vault.use([], keyVault.parse({}));
    return validateConfig(doc.raw, fromEnv, doc.refs);
  }

  // How to reach the vault: secrets.keyvault, resolved from the environment and files alone.
  const issues: Issue[] = [];
  const section = resolvePlaceholders(
    structuredClone(rec(rec(doc.raw).secrets).keyvault ?? {}),
    doc.refs,
    (expr) => {
      if (isKeyVaultExpr(expr)) throw new ConfigReferenceError('a Key Vault reference cannot say how to reach Key Vault; use ${VAR} or ${file:/path} here');
      return fromEnv(expr);
    },
    issues,
    'secrets.keyvault',
  );
  const cfg = keyVault.safeParse(section);
  if (refs.size > MAX_SECRETS) issues.push({ path: '(config)', message: `more than ${MAX_SECRETS} Key Vault secrets are referenced` });
  if (issues.length > 0 || !cfg.success) {
    const unread = () => {
      throw new ConfigReferenceError('not read from Key Vault: secrets.keyvault has problems');
    };
    const rest = validateConfig(doc.raw, (expr) => (isKeyVaultExpr(expr) ? unread() : fromEnv(expr)), doc.refs);
    return { ok: false, issues: [...issues, ...(rest.ok ? [] : rest.issues)] };
  }

  const reads = await vault.read([...refs.values()], cfg.data);
  const result = validateConfig(doc.raw, (expr) => (isKeyVaultExpr(expr) ? valueOf(reads, parseKeyVaultRef(expr)) : fromEnv(expr)), doc.refs);
  if (result.ok) vault.use([...refs.values()], result.config.secrets.keyvault ?? cfg.data);
  return result;
}

function valueOf(reads: ReadonlyMap<string, SecretRead>, ref: KeyVaultRef): string {
  const r = reads.get(ref.id);
  if (!r) throw new ConfigReferenceError(`Key Vault secret "${ref.id}" was not read`);
  if (!r.ok) throw new ConfigReferenceError(r.message);
  return r.value;
}

type Loose = Record<string, unknown>;
const rec = (v: unknown): Loose => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {});
