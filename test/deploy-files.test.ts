// The files that run the gateway for real (Dockerfile, compose.yaml,
// deploy/kubernetes), checked offline: linted by real linters and schemas,
// their gateway configs validated by the gateway itself, and the image's
// contents (production dependencies only) serving real traffic, whose
// metrics must include every one the Grafana dashboard and the alerts query.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import dockerignoreModule from '@balena/dockerignore';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { Deployment } from 'kubernetes-models/apps/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as core from 'kubernetes-models/v1';
import * as policy from 'kubernetes-models/policy/v1';
import { AzureOpenAI } from 'openai';
import pg from 'pg';
import YAML from 'yaml';
import { parseSimulatorConfig } from '../src/simulator/config.ts';
import { Simulator } from '../src/simulator/index.ts';
import {
  composeInterpolate,
  composeServiceEnv,
  copyFrom,
  dashboardQueries,
  dockerfileStages,
  execForm,
  promqlMetricNames,
  read,
  ROOT,
  ruleQueries,
  validateShippedConfig,
  yamlDocs,
  type Stage,
} from './helpers/deploy-files.ts';
import { json, send } from './helpers/http.ts';
import { tempSchema } from './helpers/pg.ts';
import { parsePrometheus, value, type Sample } from './helpers/prometheus.ts';
import { prodInstall, serveFrom, type ProdInstall, type Served } from './helpers/prod-install.ts';
import { promtool, startPrometheus, type PrometheusServer } from './helpers/prometheus-server.ts';

// CommonJS (`module.exports = factory`) whose types say `export default`.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
const DOCKERFILE = read('Dockerfile');
const stages = dockerfileStages(DOCKERFILE);
const runtime = stages.at(-1)!;
const compose = YAML.parse(read('compose.yaml'));
const k8s = yamlDocs('deploy/kubernetes');
const dashboard = JSON.parse(read('deploy/compose/grafana/dashboards/aoai-gateway.json'));
const alerts = YAML.parse(read('deploy/compose/prometheus/alerts.yml'));
const pkg = JSON.parse(read('package.json'));

const of = (s: Stage, keyword: string) => s.instructions.filter((i) => i.getKeyword() === keyword);
const words = (i: Stage['instructions'][number]) => i.getArguments().map((a) => a.getValue());
const kind = (k: string, name?: string) => {
  const found = k8s.filter((d) => d.doc.kind === k && (name === undefined || d.doc.metadata.name === name));
  assert.ok(found.length > 0, `no ${k} ${name ?? ''} in deploy/kubernetes`);
  return found.map((d) => d.doc);
};

describe('Dockerfile', () => {
  test('dockerfile-utils (the Docker language service\'s linter) finds nothing, and does find a planted mistake', () => {
    const problems = lintDockerfile(DOCKERFILE).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
    const broken = DOCKERFILE.replace('EXPOSE 8080 8081', 'EXPOSE 80800\nHEALTHCHECK --interval=soon CMD true');
    assert.ok(lintDockerfile(broken).length >= 2, 'the linter reports an invalid port, a bad duration and a second HEALTHCHECK');
  });

  test('multi-stage on Node 24 slim, the Node the tests run on', () => {
    assert.ok(stages.length >= 2, 'a deps stage and a runtime stage');
    for (const s of stages) assert.match(s.image, /^node:24\.[\d.]+-[a-z]+-slim$/, `stage ${s.name}: ${s.image}`);
    assert.equal(runtime.image, `node:${pkg.devDependencies.node}-bookworm-slim`, 'the pinned devDependency `node`');
    const fromDeps = of(runtime, 'COPY').filter((i) => copyFrom(i) === stages.at(-2)!.name);
    assert.equal(fromDeps.length, 1, 'node_modules comes from the deps stage');
    const npm = of(stages.at(-2)!, 'RUN').map(words).flat().join(' ');
    assert.match(npm, /npm ci --omit=dev/);
  });

  test('runs as a non-root user, by number; health check, ports, and the serve command', () => {
    const users = of(runtime, 'USER').map((i) => words(i)[0]);
    assert.equal(users.length, 1);
    const [uid, gid] = users[0].split(':');
    assert.match(uid, /^[1-9]\d*$/, 'a numeric uid other than 0, so runAsNonRoot can verify it');
    assert.match(gid, /^[1-9]\d*$/);
    const healthchecks = of(runtime, 'HEALTHCHECK');
    assert.equal(healthchecks.length, 1);
    const check = execForm(healthchecks[0]);
    assert.equal(check[0], 'node');
    assert.match(check.join(' '), /AOAIGW_HEALTHCHECK_URL/);
    const env = of(runtime, 'ENV').map(words).flat();
    assert.ok(env.includes('AOAIGW_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz'));
    assert.deepEqual(of(runtime, 'EXPOSE').map(words).flat(), ['8080', '8081']);
    assert.deepEqual(execForm(of(runtime, 'ENTRYPOINT')[0]), ['node', 'bin/aoai-gateway.js']);
    assert.deepEqual(execForm(of(runtime, 'CMD')[0]), ['serve', '--config', '/etc/aoai-gateway/config.yaml']);
  });

  test('.dockerignore lets in what the image copies and nothing else of the checkout', () => {
    const ig = dockerignore().add(read('.dockerignore'));
    const copied = stages.flatMap((s) => of(s, 'COPY')).filter((i) => copyFrom(i) === undefined);
    for (const src of copied.flatMap((i) => words(i).slice(0, -1))) {
      assert.ok(!ig.ignores(src), `${src} is copied, so it must be in the build context`);
      assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
    }
    for (const kept of ['src/cli/main.ts', 'src/admin/dashboard.html', 'bin/aoai-gateway.js']) assert.ok(!ig.ignores(kept), kept);
    for (const out of ['node_modules/pg/package.json', '.git/config', 'data/aoai-gateway.db', 'test/sdk.test.ts', 'bench/lib', 'README.md', '.env', 'deploy/kubernetes/secret.yaml']) {
      assert.ok(ig.ignores(out), `${out} stays out of the build context`);
    }
  });
});

describe('Kubernetes manifests', () => {
  const models: Record<string, Record<string, new (data: any) => { validate(): void }>> = {
    // any: each model class takes its own resource's shape; the documents are parsed YAML.
    v1: core as any,
    'apps/v1': apps as any,
    'autoscaling/v2': autoscaling as any,
    'policy/v1': policy as any,
  };

  test('every document is valid against the Kubernetes OpenAPI schema (kubernetes-models, ajv)', () => {
    assert.ok(k8s.length >= 8);
    for (const { file, doc } of k8s) {
      const Model = models[doc.apiVersion]?.[doc.kind];
      assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
      assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`);
    }
    // The validator is not a no-op: a port given as text is refused.
    const bad = structuredClone(kind('Deployment', 'aoai-gateway')[0]);
    bad.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    assert.throws(() => new Deployment(bad).validate(), /must be integer/);
  });

  test('the gateway Deployment: probes, graceful shutdown that fits shutdownGraceMs, non-root, resources', () => {
    const d = kind('Deployment', 'aoai-gateway')[0];
    const pod = d.spec.template.spec;
    const c = pod.containers.find((x: any) => x.name === 'aoai-gateway');
    const port = (name: string) => c.ports.find((p: any) => p.name === name)?.containerPort;
    assert.equal(port('http'), 8080);
    assert.equal(port('admin'), 8081);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.equal(c.startupProbe.httpGet.path, '/healthz');
    const config = YAML.parse(kind('ConfigMap', 'aoai-gateway')[0].data['config.yaml']);
    const graceS = (config.listen.shutdownGraceMs ?? 30_000) / 1000;
    const preStopS = c.lifecycle.preStop.sleep.seconds;
    assert.ok(preStopS >= 1, 'endpoints are removed before SIGTERM');
    assert.ok(pod.terminationGracePeriodSeconds >= preStopS + graceS + 2, `${pod.terminationGracePeriodSeconds} s for ${preStopS} s preStop and ${graceS} s drain`);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.deepEqual(c.args, ['serve', '--config', '/etc/aoai-gateway/config.yaml', '--workers', '1'], 'one worker per pod: pods are what scale');
  });

  test('names line up: config and secret mounts, Services, the autoscaler, the disruption budget, the service account', () => {
    const d = kind('Deployment', 'aoai-gateway')[0];
    const pod = d.spec.template.spec;
    const labels = d.spec.template.metadata.labels;
    const c = pod.containers[0];
    const volume = (name: string) => pod.volumes.find((v: any) => v.name === name);
    const mount = (path: string) => c.volumeMounts.find((m: any) => m.mountPath === path);
    assert.equal(volume(mount('/etc/aoai-gateway').name).configMap.name, 'aoai-gateway');
    assert.equal(volume(mount('/var/run/secrets/aoai-gateway').name).secret.secretName, 'aoai-gateway');
    assert.ok(kind('ServiceAccount', pod.serviceAccountName));
    const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    assert.ok(matches(d.spec.selector.matchLabels));
    for (const s of kind('Service')) {
      assert.ok(matches(s.spec.selector), `Service ${s.metadata.name} selects the pods`);
      for (const p of s.spec.ports) assert.ok(c.ports.some((cp: any) => cp.name === p.targetPort), `${s.metadata.name}: port ${p.targetPort}`);
    }
    const hpa = kind('HorizontalPodAutoscaler', 'aoai-gateway')[0];
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'aoai-gateway' });
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu', 'on CPU, which the container requests');
    assert.ok(matches(kind('PodDisruptionBudget', 'aoai-gateway')[0].spec.selector.matchLabels));
  });

  test('the sidecar example: a native sidecar next to one app, which calls it on 127.0.0.1', () => {
    const d = k8s.find((x) => x.file.includes('sidecar') && x.doc.kind === 'Deployment')!.doc;
    const pod = d.spec.template.spec;
    const gw = pod.initContainers.find((x: any) => x.name === 'aoai-gateway');
    assert.equal(gw.restartPolicy, 'Always', 'starts before the app and stops after it');
    assert.ok(gw.startupProbe && gw.readinessProbe && gw.livenessProbe);
    const config = YAML.parse(k8s.find((x) => x.file.includes('sidecar') && x.doc.kind === 'ConfigMap')!.doc.data['config.yaml']);
    assert.equal(config.listen.host, '127.0.0.1');
    const app = pod.containers.find((x: any) => x.name === 'app');
    const env = Object.fromEntries(app.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env.AZURE_OPENAI_ENDPOINT, `http://127.0.0.1:${config.listen.port}`);
    assert.equal(env.OPENAI_BASE_URL, `http://127.0.0.1:${config.listen.port}/openai/v1`);
    const graceS = config.listen.shutdownGraceMs / 1000;
    assert.ok(pod.terminationGracePeriodSeconds >= gw.lifecycle.preStop.sleep.seconds + graceS + 2);
  });

  test('the ConfigMaps\' gateway configs pass the gateway\'s own validation, with the Secrets\' keys as the mounted files', () => {
    for (const cm of kind('ConfigMap')) {
      const name = cm.metadata.name;
      const d = kind('Deployment').find((x) => x.spec.template.spec.volumes.some((v: any) => v.configMap?.name === name))!;
      const pod = d.spec.template.spec;
      const secretVolume = pod.volumes.find((v: any) => v.secret);
      const secret = kind('Secret', secretVolume.secret.secretName)[0];
      const mountPath = [...(pod.initContainers ?? []), ...pod.containers]
        .flatMap((c: any) => c.volumeMounts ?? [])
        .find((m: any) => m.name === secretVolume.name).mountPath;
      const files = Object.fromEntries(Object.entries(secret.stringData as Record<string, string>).map(([k, v]) => [`${mountPath}/${k}`, v]));
      const r = validateShippedConfig(cm.data['config.yaml'], {}, files);
      assert.ok(r.ok, `${name}: ${r.ok ? '' : JSON.stringify(r.issues)}`);
      // Every key of the Secret is used, so none is forgotten in a rotation.
      for (const f of Object.keys(files)) assert.ok(cm.data['config.yaml'].includes(`\${file:${f}}`), `${name}: ${f} is not used`);
    }
  });
});

describe('compose.yaml', () => {
  test('dclint (the compose-spec JSON schema, then its rules) finds nothing, and does find a planted mistake', () => {
    const lint = (file: string) => {
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/dclint/bin/dclint.cjs'), file, '--formatter', 'json', '--color', 'false'], { encoding: 'utf8', timeout: 60_000 });
      const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { messages: { rule: string; message: string; line: number }[] }[];
      return out.flatMap((f) => f.messages);
    };
    assert.deepEqual(lint(join(ROOT, 'compose.yaml')).map((m) => `${m.line}: ${m.rule}: ${m.message}`), []);
    const dir = mkdtempSync(join(tmpdir(), 'aoaigw-compose-'));
    try {
      writeFileSync(join(dir, 'compose.yaml'), read('compose.yaml').replace('    stop_grace_period: 35s', '    stop_grace_periods: 35s'));
      assert.ok(lint(join(dir, 'compose.yaml')).some((m) => m.rule === 'invalid-schema'), 'an unknown service key is a schema error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every file it mounts exists; the gateway\'s stop grace covers shutdownGraceMs; Prometheus gets the admin key', () => {
    for (const [name, s] of Object.entries(compose.services as Record<string, any>)) {
      for (const v of s.volumes ?? []) {
        const src = String(v).split(':')[0];
        if (src.startsWith('./')) assert.ok(existsSync(join(ROOT, src)), `${name}: ${src}`);
      }
    }
    const gw = compose.services.gateway;
    assert.ok(gw.volumes.some((v: string) => v.endsWith(':/etc/aoai-gateway/config.yaml:ro')), 'mounted where the image\'s CMD reads it');
    const config = YAML.parse(read('deploy/compose/aoai-gateway.yaml'));
    assert.ok(parseInt(gw.stop_grace_period, 10) * 1000 > config.listen.shutdownGraceMs);
    const prometheus = YAML.parse(read('deploy/compose/prometheus/prometheus.yml'));
    const job = prometheus.scrape_configs.find((j: any) => j.job_name === 'aoai-gateway');
    assert.deepEqual(job.static_configs[0].targets, [`gateway:${config.admin.port.replace(/\$\{\w+:-(\d+)\}/, '$1')}`]);
    const keyMount = compose.services.prometheus.configs.find((c: any) => c.target === job.authorization.credentials_file);
    assert.ok(keyMount, 'the credentials file is mounted');
    assert.equal(composeInterpolate(compose.configs[keyMount.source].content, {}), composeServiceEnv(compose, 'gateway').ADMIN_KEY, 'the same admin key as the gateway\'s');
  });

  test('Grafana: the provisioned data source is the dashboard\'s, and the dashboards folder is mounted where the provider reads', () => {
    const ds = YAML.parse(read('deploy/compose/grafana/provisioning/datasources/prometheus.yaml')).datasources[0];
    assert.equal(ds.type, 'prometheus');
    assert.equal(new URL(ds.url).host, 'prometheus:9090');
    const variable = dashboard.templating.list.find((v: any) => v.type === 'datasource');
    assert.equal(variable.current.value, ds.uid);
    const panels = dashboard.panels.filter((p: any) => p.type !== 'row');
    assert.ok(panels.length >= 15);
    for (const p of panels) assert.equal(p.datasource.uid, `\${${variable.name}}`, p.title);
    const provider = YAML.parse(read('deploy/compose/grafana/provisioning/dashboards/aoai-gateway.yaml')).providers[0];
    assert.ok(compose.services.grafana.volumes.some((v: string) => v === `./deploy/compose/grafana/dashboards:${provider.options.path}:ro`));
    assert.equal(compose.services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `${provider.options.path}/aoai-gateway.json`);
  });

  test('its gateway config passes the gateway\'s own validation with the environment compose gives it', () => {
    const env = composeServiceEnv(compose, 'gateway');
    const r = validateShippedConfig(read('deploy/compose/aoai-gateway.yaml'), env);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    assert.equal(r.config.state.store, 'redis');
    assert.match(r.config.ledger.url, /^postgres:\/\/aoai:.+@postgres:5432\/aoai$/);
    assert.equal(r.config.endpoints.eastus.url, 'http://simulator:9101');
    // The simulator's accounts are the endpoints, on the ports the config names.
    const sim = parseSimulatorConfig(YAML.parse(read('deploy/compose/simulator.yaml')));
    for (const e of Object.values(r.config.endpoints)) {
      const port = Number(new URL(e.url).port);
      const account = Object.values(sim.accounts).find((a) => a.port === port);
      assert.ok(account, `${e.url} is a simulator account`);
      assert.equal(account.keys[0], e.auth?.type === 'api-key' ? e.auth.key : undefined);
    }
  });
});

/** compose's prometheus.yml for a run here: its /etc/prometheus files in `dir`, and optionally another target and pace. */
function prometheusConfigFor(dir: string, key: string, opts: { target?: string; intervalS?: number } = {}): string {
  const config = YAML.parse(read('deploy/compose/prometheus/prometheus.yml'));
  const job = config.scrape_configs.find((j: any) => j.job_name === 'aoai-gateway');
  writeFileSync(join(dir, 'admin-key'), key);
  job.authorization.credentials_file = join(dir, 'admin-key');
  config.rule_files = config.rule_files.map((f: string) => join(ROOT, 'deploy/compose/prometheus', f.replace('/etc/prometheus/', '')));
  if (opts.target) job.static_configs = [{ targets: [opts.target] }];
  if (opts.intervalS) config.global = { scrape_interval: `${opts.intervalS}s`, evaluation_interval: `${opts.intervalS}s` };
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, YAML.stringify(config));
  return file;
}

describe('Prometheus config and rules', () => {
  test('promtool (Debian\'s Prometheus) checks the scrape config and the alert rules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aoaigw-promtool-'));
    try {
      const config = prometheusConfigFor(dir, 'k');
      const c = promtool(['check', 'config', config]);
      assert.equal(c.status, 0, c.output);
      assert.match(c.output, /SUCCESS: 7 rules found/);
      const r = promtool(['check', 'rules', join(ROOT, 'deploy/compose/prometheus/alerts.yml')]);
      assert.equal(r.status, 0, r.output);
      writeFileSync(join(dir, 'bad.yml'), read('deploy/compose/prometheus/alerts.yml').replace('== 0\n        for: 2m', '== \n        for: 2m'));
      assert.notEqual(promtool(['check', 'rules', join(dir, 'bad.yml')]).status, 0, 'promtool refuses a broken expression');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the image\'s contents, serving (production dependencies only, compose\'s gateway config)', () => {
  let install: ProdInstall;
  let sim: Simulator;
  let served: Served;
  let schema: Awaited<ReturnType<typeof tempSchema>>;
  let scrape: Sample[];
  let prometheus: PrometheusServer;
  let promDir: string;
  const env = composeServiceEnv(compose, 'gateway');

  before(async () => {
    install = prodInstall(stages);
    const simConfig = YAML.parse(read('deploy/compose/simulator.yaml'));
    for (const a of Object.values(simConfig.accounts as Record<string, any>)) Object.assign(a, { host: '127.0.0.1', port: 0 });
    sim = await Simulator.start(simConfig);
    schema = await tempSchema();
    served = await serveFrom(install.dir, runtime, execForm(of(runtime, 'CMD')[0]).with(2, join(ROOT, 'deploy/compose/aoai-gateway.yaml')), {
      ...env,
      GATEWAY_PORT: '0',
      GATEWAY_ADMIN_PORT: '0',
      EASTUS_URL: sim.account('eastus').url,
      SWEDEN_URL: sim.account('swedencentral').url,
      WESTUS_URL: sim.account('westus').url,
      REDIS_URL: process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `aoaigw-deploy-${process.pid}-${Date.now()}:`,
      LEDGER_URL: schema.url(),
    });
    // Prometheus with compose's scrape config, aimed at this gateway's admin port, every second.
    promDir = mkdtempSync(join(tmpdir(), 'aoaigw-prom-config-'));
    prometheus = await startPrometheus(prometheusConfigFor(promDir, env.ADMIN_KEY, { target: new URL(served.adminUrl).host, intervalS: 1 }));
    const deadline = Date.now() + 15_000;
    while ((await prometheus.query('up{job="aoai-gateway"} == 1')).length === 0) {
      if (Date.now() > deadline) throw new Error('Prometheus never scraped the gateway');
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    await prometheus?.close();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await served?.stop();
    await sim?.close();
    await schema?.drop();
    install?.remove();
  });

  test('npm ci --omit=dev leaves out every dev package, the pinned Node included', () => {
    assert.deepEqual(install.npmCommand.slice(0, 3), ['npm', 'ci', '--omit=dev']);
    for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!existsSync(join(install.dir, 'node_modules', dev)), dev);
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(install.dir, 'node_modules', dep)), dep);
  });

  test('serves the SDK with Redis state and the PostgreSQL ledger; health and readiness; /metrics with the admin key', async () => {
    assert.equal((await send(served.url, '/healthz')).status, 200);
    assert.equal((await send(served.url, '/readyz')).status, 200);
    const a = new AzureOpenAI({ endpoint: served.url, apiKey: env.TEAM_A_KEY, apiVersion: '2024-10-21', maxRetries: 0 });
    const b = new AzureOpenAI({ endpoint: served.url, apiKey: env.TEAM_B_KEY, apiVersion: '2024-10-21', maxRetries: 0 });
    const chat = (c: AzureOpenAI) => c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5 });
    assert.equal((await chat(a)).choices.length, 1);
    assert.equal((await chat(b)).choices.length, 1);
    const stream = await a.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, stream: true });
    let chunks = 0;
    for await (const _ of stream) chunks++;
    assert.ok(chunks > 1);
    assert.equal((await a.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' })).data.length, 1);
    // The PTU answers 429: the request fails over to pay-as-you-go, and the PTU cools down.
    await send(sim.account('eastus').url, '/_sim/deployments/gpt-4o-ptu/fault', { method: 'PUT', body: JSON.stringify({ fault: 'status=429;retry-after=2' }) });
    const failover = await chat(a).withResponse();
    assert.notEqual(failover.response.headers.get('x-gateway-endpoint'), 'eastus');
    await send(sim.account('eastus').url, '/_sim/deployments/gpt-4o-ptu/fault', { method: 'DELETE' });
    // Refusals: an unknown key, and a deployment team-b may not use.
    const path = (d: string) => `/openai/deployments/${d}/embeddings?api-version=2024-10-21`;
    assert.equal((await send(served.url, path('text-embedding-3-small'), { headers: json('not-a-key-0123456789abcdef'), body: '{"input":"x"}' })).status, 401);
    assert.equal((await send(served.url, path('text-embedding-3-small'), { headers: json(env.TEAM_B_KEY), body: '{"input":"x"}' })).status, 403);

    assert.equal((await send(served.adminUrl, '/metrics')).status, 401, 'the admin key is required');
    const m = await send(served.adminUrl, '/metrics', { headers: { authorization: `Bearer ${env.ADMIN_KEY}` } });
    assert.equal(m.status, 200);
    scrape = parsePrometheus(m.text);
    assert.equal(value(scrape, 'aoai_gateway_state_store_up'), 1, 'Redis reached');
    assert.equal(value(scrape, 'aoai_gateway_cooldowns_total', { target: 'eastus/gpt-4o-ptu' }), 1);

    // Every request that got past authentication is in PostgreSQL.
    const db = new pg.Client({ connectionString: schema.url() });
    await db.connect();
    try {
      const deadline = Date.now() + 5000;
      let n = 0;
      while ((n = Number((await db.query('SELECT count(*) AS n FROM usage_records')).rows[0].n)) < 6 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(n, 6, 'four chats, a stream, an embedding (the 403 is an audit record)');
    } finally {
      await db.end();
    }
  });

  test('every metric the Grafana dashboard and the alert rules query is in that scrape', () => {
    assert.ok(scrape, 'the scrape of the test before');
    const names = new Set(scrape.map((s) => s.name));
    const queries = [...dashboardQueries(dashboard), ...ruleQueries(alerts)];
    assert.ok(queries.length >= 25);
    const missing: string[] = [];
    for (const q of queries) {
      const selected = promqlMetricNames(q.expr);
      assert.ok(selected.length > 0, `${q.where} selects no metric`);
      // `up` is Prometheus' own, for the scrape itself.
      for (const n of selected) if (!names.has(n) && n !== 'up') missing.push(`${q.where}: ${n}`);
    }
    assert.deepEqual(missing, []);
  });

  test('a real Prometheus scrapes it with the admin key: every dashboard query has data, every alert rule evaluates', async () => {
    // A few scrapes with traffic between them: a series is born at its first request, so a rate
    // over a minute needs requests after the series' first scrape to be above zero.
    const deadline = Date.now() + 20_000;
    const a = new AzureOpenAI({ endpoint: served.url, apiKey: env.TEAM_A_KEY, apiVersion: '2024-10-21', maxRetries: 0 });
    const started = Date.now();
    // Traffic across at least three scrapes (one a second), whatever was scraped before.
    while (Date.now() - started < 3500 || Number((await prometheus.query('count_over_time(up{job="aoai-gateway"}[1m])'))[0]?.value[1] ?? 0) < 4) {
      assert.ok(Date.now() < deadline, 'Prometheus keeps scraping');
      await a.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5 });
      await new Promise((r) => setTimeout(r, 250));
    }
    const empty: string[] = [];
    for (const q of dashboardQueries(dashboard)) {
      const expr = q.where.startsWith('variable') ? `count by (__name__) (${q.expr})` : q.expr;
      if ((await prometheus.query(expr)).length === 0) empty.push(`${q.where}: ${expr}`);
    }
    assert.deepEqual(empty, [], 'panels that would show "No data"');
    assert.ok((await prometheus.query('sum(rate(aoai_gateway_requests_total[1m])) > 0')).length === 1, 'the traffic is seen');
    let rules = await prometheus.rules();
    while (rules.some((r) => r.lastEvaluation.startsWith('0001'))) {
      assert.ok(Date.now() < deadline + 5000, 'rules are evaluated');
      await new Promise((r) => setTimeout(r, 250));
      rules = await prometheus.rules();
    }
    assert.equal(rules.length, ruleQueries(alerts).length);
    assert.deepEqual(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`), []);
  });

  test('SIGTERM: drains and exits 0', async () => {
    assert.equal(await served.stop(), 0);
    assert.ok(served.output.some((l) => l.includes('"stopped"')), served.output.slice(-5).join('\n'));
  });
});
