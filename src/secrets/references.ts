// `${keyvault:<vault>/<secret>}` and `${keyvault:<vault>/<secret>/<version>}`:
// the vault's name (its URL comes from secrets.keyvault.vaultUrl), the
// secret's name, optionally a version (else the current one).
import { ConfigReferenceError } from '../config/interpolate.ts';

export interface KeyVaultRef {
  readonly vault: string;
  readonly name: string;
  readonly version: string | undefined;
  /** `vault/name[/version]`: how messages and the cache name it */
  readonly id: string;
}

const VAULT = /^[A-Za-z0-9-]{3,24}$/;
const SECRET = /^[A-Za-z0-9-]{1,127}$/;
const VERSION = /^[A-Za-z0-9]{1,64}$/;

export function isKeyVaultExpr(expr: string): boolean {
  return expr.trimStart().startsWith('keyvault:');
}

/** Parses the expression between the braces; throws a ConfigReferenceError saying how to write it. */
export function parseKeyVaultRef(expr: string): KeyVaultRef {
  const parts = expr.trim().slice('keyvault:'.length).split('/');
  const [vault, name, version] = parts;
  if (parts.length < 2 || parts.length > 3 || !VAULT.test(vault) || !SECRET.test(name) || (version !== undefined && !VERSION.test(version))) {
    throw new ConfigReferenceError(
      `\${${expr}} is not a Key Vault reference; write \${keyvault:<vault>/<secret>} or \${keyvault:<vault>/<secret>/<version>} (vault: 3–24 letters, digits, "-"; secret: letters, digits, "-")`,
    );
  }
  return { vault, name, version, id: parts.join('/') };
}
