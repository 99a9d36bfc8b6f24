// Reads the deployment files the repository ships (Dockerfile, compose.yaml,
// deploy/) into plain facts for test/deploy-files.test.ts to assert on.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parser as promql } from '@prometheus-io/lezer-promql';
import YAML from 'yaml';
import { protectReferences } from '../../src/config/interpolate.ts';
import { validateConfig, type LoadResult } from '../../src/config/load.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

// any: YAML documents are untyped trees, which the tests check field by field.
type Loose = Record<string, any>;

/** Every YAML document of the files under `dir` (recursively), with the file each came from. */
export function yamlDocs(dir: string): { file: string; doc: Loose }[] {
  const out: { file: string; doc: Loose }[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
    const file = join(entry.parentPath, entry.name).slice(ROOT.length);
    for (const d of YAML.parseAllDocuments(read(file))) {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      const doc = d.toJS() as Loose | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

// ---- Dockerfile ----

export interface Stage {
  readonly name: string | null;
  /** the FROM image with the global ARG defaults substituted */
  readonly image: string;
  readonly instructions: Instruction[];
}

export function dockerfileStages(text: string): Stage[] {
  const df = DockerfileParser.parse(text);
  const args = new Map(df.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue() ?? '']));
  const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get((a ?? b)!) ?? '');
  const stages: { name: string | null; image: string; instructions: Instruction[] }[] = [];
  for (const i of df.getInstructions()) {
    if (i.getKeyword() === 'FROM') {
      const from = df.getFROMs().find((f) => f.getRange().start.line === i.getRange().start.line)!;
      stages.push({ name: from.getBuildStage(), image: expand(from.getImage() ?? ''), instructions: [] });
    } else if (stages.length) {
      stages.at(-1)!.instructions.push(i);
    }
  }
  return stages;
}

/** The stage a COPY --from=… copies from, or undefined for the build context. */
export function copyFrom(i: Instruction): string | undefined {
  return i instanceof Copy ? (i.getFromFlag()?.getValue() ?? undefined) : undefined;
}

/** An exec-form (JSON array) instruction's words, e.g. CMD ["serve", …]. */
export function execForm(i: Instruction): string[] {
  const raw = i.getRawArgumentsContent() ?? '';
  const json = raw.slice(raw.indexOf('['));
  return JSON.parse(json.replace(/\\\r?\n\s*/g, '')) as string[];
}

// ---- compose ----

/** Compose's own interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$`. */
export function composeInterpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?-)([^}]*))?\}/g, (whole, name: string | undefined, op: string | undefined, def: string | undefined) => {
    if (whole === '$$') return '$';
    const v = env[name!];
    if (op === ':-') return v ? v : (def ?? '');
    if (op === '-') return v ?? def ?? '';
    if (v === undefined) throw new Error(`compose: \${${name}} is not set and has no default`);
    return v;
  });
}

/** A compose service's `environment`, interpolated as `docker compose` would with `env` as the shell's. */
export function composeServiceEnv(compose: Loose, service: string, env: Record<string, string | undefined> = {}): Record<string, string> {
  const raw = compose.services[service].environment as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, composeInterpolate(String(v), env)]));
}

// ---- the gateway's config files ----

/**
 * Validates a gateway config text as `serve` would, with `${VAR}` from `env`
 * and `${file:…}` from `files` (path → content), so a config meant for a
 * container can be checked without its mounts.
 */
export function validateShippedConfig(text: string, env: Record<string, string>, files: Record<string, string> = {}): LoadResult {
  const { text: safe, refs } = protectReferences(text);
  const raw: unknown = YAML.parse(safe);
  return validateConfig(
    raw,
    (expr) => {
      if (expr.startsWith('file:')) {
        const path = expr.slice(5).trim();
        if (!(path in files)) throw new Error(`no mounted file ${path}`);
        return files[path];
      }
      const [name, def] = expr.split(':-');
      const v = env[name.trim()];
      if (v) return v;
      if (def !== undefined) return def;
      throw new Error(`environment variable ${name} is not set`);
    },
    refs,
  );
}

// ---- PromQL in the dashboard and the rules ----

/** Grafana's variables, as a dashboard would send them with "All" selected. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
    .replace(/\$\{?(\w+)\}?/g, '.*');
}

/** The metric names a PromQL expression selects; throws on a syntax error. */
export function promqlMetricNames(expr: string): string[] {
  const tree = promql.parse(expr);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError && error === undefined) error = n.from;
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') names.push(expr.slice(n.from, n.to));
    },
  });
  if (error !== undefined) throw new Error(`not PromQL at ${error}: ${expr}`);
  return names;
}

export interface Query {
  readonly where: string;
  readonly expr: string;
}

/** Every PromQL expression of a Grafana dashboard: panel targets and `label_values(metric, …)` variables. */
export function dashboardQueries(dashboard: Loose): Query[] {
  const out: Query[] = [];
  const walk = (panels: Loose[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: substituteGrafanaVariables(t.expr) });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list as Loose[]) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q);
    if (!m) throw new Error(`variable ${v.name}: a query the test cannot read: ${q}`);
    out.push({ where: `variable ${v.name}`, expr: m[1] });
  }
  return out;
}

/** Every expression of a Prometheus rules file. */
export function ruleQueries(rules: Loose): Query[] {
  return (rules.groups as Loose[]).flatMap((g) => (g.rules as Loose[]).map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: String(r.expr) })));
}
