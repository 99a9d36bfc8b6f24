// Reads a config file (YAML or JSON), resolves its references and checks it
// whole: every problem is returned at once, each with its path and a hint.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { protectReferences, resolvePlaceholders, resolveReference, type Issue, type Reference } from './interpolate.ts';
import { configSchema, type Config } from './schema.ts';
import { didYouMean } from './suggest.ts';
import { checkEntraConsumers } from './entra-checks.ts';

export type { Issue };

export type LoadResult = { ok: true; config: Config } | { ok: false; issues: Issue[] };

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: Issue[];
  constructor(source: string, issues: Issue[]) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${formatIssues(issues)}`);
    this.issues = issues;
  }
}

export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
}

/** Parses config text; `env` supplies `${VAR}` references. */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  const doc = parseConfigDocument(text);
  if (!doc.ok) return doc;
  return validateConfig(doc.raw, (expr) => resolveReference(expr, env), doc.refs);
}

/** The parsed YAML of a config, its references still placeholders (src/secrets reads Key Vault ones before resolving). */
export function parseConfigDocument(text: string): { ok: true; raw: unknown; refs: readonly Reference[] } | { ok: false; issues: Issue[] } {
  const { text: safe, refs } = protectReferences(text);
  const doc = YAML.parseDocument(safe, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(file)',
        message: e.message.split('\n')[0],
      })),
    };
  }
  return { ok: true, raw: doc.toJS() ?? {}, refs };
}

/** Validates an already-parsed config object (what tests and the CLI build in code). */
export function validateConfig(
  raw: unknown,
  resolve: (expr: string) => string = (expr) => resolveReference(expr, process.env),
  refs: readonly { expr: string }[] = [],
): LoadResult {
  const issues: Issue[] = [];
  const resolved = resolvePlaceholders(structuredClone(raw), refs, resolve, issues);
  const parsed = configSchema.safeParse(resolved, { reportInput: true });
  if (!parsed.success) issues.push(...parsed.error.issues.flatMap(explainZodIssue));
  issues.push(...crossCheck(parsed.success ? parsed.data : resolved));
  if (issues.length > 0 || !parsed.success) return { ok: false, issues: dedupe(issues) };
  return { ok: true, config: parsed.data };
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, issues: [{ path, message: `cannot read the file (${(err as NodeJS.ErrnoException).code})` }] };
  }
  return parseConfigText(text, env);
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

function explainZodIssue(issue: z.core.$ZodIssue): Issue[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = schemaKeysAt(issue.path);
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: `unknown field${didYouMean(key, known)}`,
    }));
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return [{ path, message: 'required' }];
  }
  return [{ path, message: issue.message }];
}

/** The fields the schema allows at a path, for a "did you mean" after an unknown key. */
function schemaKeysAt(path: readonly PropertyKey[]): string[] {
  // Walk the schema along the path; records and arrays step into their element.
  let node: unknown = configSchema;
  for (const seg of path) {
    node = unwrap(node);
    const def = (node as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown; valueType?: unknown } })
      .def;
    if (!def) return [];
    if (def.type === 'object' && def.shape) node = def.shape[String(seg)];
    else if (def.type === 'record') node = def.valueType;
    else if (def.type === 'array') node = def.element;
    else return [];
  }
  node = unwrap(node);
  const shape = (node as { def?: { shape?: Record<string, unknown> } }).def?.shape;
  return shape ? Object.keys(shape) : [];
}

function unwrap(node: unknown): unknown {
  let n = node as { def?: { type?: string; innerType?: unknown; in?: unknown; out?: unknown } } | undefined;
  while (n?.def && ['default', 'prefault', 'optional', 'pipe', 'nullable'].includes(n.def.type ?? '')) {
    n = (n.def.innerType ?? n.def.out ?? n.def.in) as typeof n;
  }
  return n;
}

type Loose = Record<string, unknown>;
const rec = (v: unknown): Loose => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * What the schema cannot see alone: names that refer to each other. Runs on
 * the unvalidated tree too, so these problems are listed with the others.
 */
function crossCheck(config: unknown): Issue[] {
  const issues: Issue[] = [];
  const root = rec(config);
  const endpoints = rec(root.endpoints);
  const deployments = rec(root.deployments);
  const endpointNames = Object.keys(endpoints);
  const deploymentNames = Object.keys(deployments);
  // Discovered deployments join at run time (src/discovery): the config may name none, and consumers may name them.
  const discovers = Object.values(endpoints).some((e) => rec(e).discovery !== undefined);
  if (!discovers && deploymentNames.length === 0) {
    const hint = ' (or let an endpoint discover them: endpoints.<name>.discovery)';
    issues.push({ path: 'deployments', message: 'deployments' in root ? `define at least one deployment${hint}` : `required${hint}` });
  }

  for (const [dname, dep] of Object.entries(deployments)) {
    const seen = new Set<string>();
    list(rec(dep).targets).forEach((raw, i) => {
      const t = rec(raw);
      if (typeof t.endpoint !== 'string') return;
      const at = `deployments.${dname}.targets[${i}]`;
      if (!(t.endpoint in endpoints)) {
        issues.push({
          path: `${at}.endpoint`,
          message: `no endpoint named "${t.endpoint}"${didYouMean(t.endpoint, endpointNames)}`,
        });
      }
      const id = `${t.endpoint}/${typeof t.deployment === 'string' ? t.deployment : dname}`;
      if (seen.has(id)) issues.push({ path: at, message: `target ${id} is listed twice in this deployment` });
      seen.add(id);
    });
  }

  for (const [ename, raw] of Object.entries(endpoints)) {
    const ep = rec(raw);
    if ((ep.kind ?? 'azure') === 'azure' && rec(ep.auth).type === 'bearer') {
      issues.push({
        path: `endpoints.${ename}.auth.type`,
        message: 'an Azure endpoint takes api-key or entra; bearer is for kind: openai',
      });
    }
    if (rec(ep.auth).type === 'entra') issues.push(...checkAzureIdentity(rec(ep.auth), `endpoints.${ename}.auth`));
    if (ep.discovery !== undefined && (ep.kind ?? 'azure') !== 'azure') {
      issues.push({ path: `endpoints.${ename}.discovery`, message: 'discovery lists Azure OpenAI deployments; it needs kind: azure' });
    }
    const identity = rec(rec(ep.discovery).identity);
    if (Object.keys(identity).length > 0) issues.push(...checkAzureIdentity(identity, `endpoints.${ename}.discovery.identity`));
  }

  const keyOwner = new Map<string, string>();
  for (const [cname, raw] of Object.entries(rec(root.consumers))) {
    const c = rec(raw);
    list(c.deployments).forEach((d, i) => {
      if (typeof d === 'string' && d !== '*' && !(d in deployments) && !discovers) {
        issues.push({
          path: `consumers.${cname}.deployments[${i}]`,
          message: `no deployment named "${d}"${didYouMean(d, deploymentNames)}`,
        });
      }
    });
    list(c.keys).forEach((k, i) => {
      if (typeof k !== 'string') return;
      const path = `consumers.${cname}.keys[${i}]`;
      if (k.startsWith('sha256:') && !/^sha256:[0-9a-f]{64}$/i.test(k)) {
        issues.push({ path, message: 'a hashed key is "sha256:" followed by 64 hex digits' });
        return;
      }
      if (!k.startsWith('sha256:') && k.length < 16) {
        issues.push({ path, message: 'a key needs at least 16 characters' });
        return;
      }
      const other = keyOwner.get(k);
      if (other !== undefined) issues.push({ path, message: `the same key is also given to consumer "${other}"` });
      keyOwner.set(k, cname);
    });
  }

  issues.push(...checkContentSafety(root));
  issues.push(...checkEntraConsumers(root, checkAzureIdentity));

  const defaultEndpoint = rec(root.affinity).defaultEndpoint;
  if (typeof defaultEndpoint === 'string' && !(defaultEndpoint in endpoints)) {
    issues.push({ path: 'affinity.defaultEndpoint', message: `no endpoint named "${defaultEndpoint}"${didYouMean(defaultEndpoint, endpointNames)}` });
  }

  const cd = rec(rec(root.resilience).cooldown);
  if (typeof cd.maxSeconds === 'number' && typeof cd.defaultSeconds === 'number' && cd.maxSeconds < cd.defaultSeconds) {
    issues.push({ path: 'resilience.cooldown.maxSeconds', message: 'must be at least defaultSeconds' });
  }
  const adminKey = rec(root.admin).key;
  if (typeof adminKey === 'string' && adminKey.length < 16) {
    issues.push({ path: 'admin.key', message: 'the admin key needs at least 16 characters' });
  }
  return issues;
}

/** Policies need the service; a policy must check something. */
function checkContentSafety(root: Loose): Issue[] {
  const issues: Issue[] = [];
  const service = root.contentSafety;
  if (rec(rec(service).auth).type === 'entra') issues.push(...checkAzureIdentity(rec(rec(service).auth), 'contentSafety.auth'));
  for (const section of ['deployments', 'consumers'] as const) {
    for (const [name, raw] of Object.entries(rec(root[section]))) {
      const policy = rec(raw).contentSafety;
      if (policy === undefined) continue;
      const at = `${section}.${name}.contentSafety`;
      if (service === undefined) issues.push({ path: at, message: 'needs the top-level contentSafety: { endpoint, auth } of the Azure AI Content Safety resource' });
      const p = rec(policy);
      if (Object.keys(rec(p.categories)).length === 0 && p.promptShields !== true && p.promptShields !== 'true' && list(p.blocklists).length === 0) {
        issues.push({ path: at, message: 'checks nothing: give categories (e.g. { Hate: 4 }), promptShields: true or blocklists' });
      }
    }
  }
  return issues;
}

/** The fields a named credential cannot do without. */
export function checkAzureIdentity(cfg: Record<string, unknown>, at: string): Issue[] {
  const needs: Record<string, string[]> = {
    'client-secret': ['tenantId', 'clientId', 'clientSecret'],
    'client-certificate': ['tenantId', 'clientId', 'certificatePath'],
  };
  const missing = (needs[String(cfg.credential)] ?? []).filter((f) => typeof cfg[f] !== 'string' || cfg[f] === '');
  return missing.map((f) => ({ path: `${at}.${f}`, message: `credential: ${String(cfg.credential)} needs ${f}` }));
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
