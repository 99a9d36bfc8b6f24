// `${VAR}`, `${VAR:-default}`, `${env:VAR}` and `${file:/path}` references in
// config values. References are swapped for YAML-safe placeholders before the
// text is parsed (so `key: ${KEY}` works inside flow mappings, where `{` would
// otherwise start a nested map), and resolved afterwards, value by value, so a
// secret never becomes YAML syntax and every failure is reported by path.
import { readFileSync } from 'node:fs';

const REF = /\$\$\{|\$\{([^}]*)\}/g;
const PLACEHOLDER = /__aoaigw_ref_(\d+)__/g;

export interface Reference {
  /** what stood between the braces, e.g. `EASTUS_KEY:-abc` */
  readonly expr: string;
}

export interface Protected {
  readonly text: string;
  readonly refs: readonly Reference[];
}

/** Replaces every reference with a placeholder; `$${` stays a literal `${`. */
export function protectReferences(text: string): Protected {
  const refs: Reference[] = [];
  const out = text.replace(REF, (whole, expr: string | undefined) => {
    if (whole === '$${') return '__aoaigw_dollar__';
    refs.push({ expr: expr ?? '' });
    return `__aoaigw_ref_${refs.length - 1}__`;
  });
  return { text: out, refs };
}

export type Resolver = (expr: string) => string;

export class ConfigReferenceError extends Error {
  readonly code = 'CONFIG_REFERENCE';
}

/** Resolves one reference from the environment or a file. */
export function resolveReference(expr: string, env: NodeJS.ProcessEnv): string {
  if (expr.startsWith('file:')) {
    const path = expr.slice(5).trim();
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigReferenceError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (expr.startsWith('keyvault:')) {
    throw new ConfigReferenceError(`\${${expr}}: Key Vault references are read when the gateway loads its config file (serve, check, reload), not here`);
  }
  const body = expr.startsWith('env:') ? expr.slice(4) : expr;
  const sep = body.indexOf(':-');
  const name = (sep === -1 ? body : body.slice(0, sep)).trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new ConfigReferenceError(`\${${expr}} is not a valid reference; write \${NAME}, \${NAME:-default} or \${file:/path}`);
  }
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (sep !== -1) return body.slice(sep + 2);
  throw new ConfigReferenceError(`environment variable ${name} is not set (write \${${name}:-value} to give a default)`);
}

export interface Issue {
  path: string;
  message: string;
}

/**
 * Walks a parsed document and resolves placeholders in every string, in
 * place. Problems are collected with their path instead of thrown.
 */
export function resolvePlaceholders(
  node: unknown,
  refs: readonly Reference[],
  resolve: Resolver,
  issues: Issue[],
  path = '',
): unknown {
  if (typeof node === 'string') {
    if (!node.includes('__aoaigw_')) return node;
    let failed = false;
    const value = node
      .replace(PLACEHOLDER, (_m, i: string) => {
        try {
          return resolve(refs[Number(i)].expr);
        } catch (err) {
          failed = true;
          issues.push({ path: path || '(root)', message: (err as Error).message });
          return '';
        }
      })
      .replaceAll('__aoaigw_dollar__', '${');
    return failed ? node : value;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      node[i] = resolvePlaceholders(node[i], refs, resolve, issues, `${path}[${i}]`);
    }
    return node;
  }
  if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      obj[key] = resolvePlaceholders(obj[key], refs, resolve, issues, path ? `${path}.${key}` : key);
    }
    return obj;
  }
  return node;
}
