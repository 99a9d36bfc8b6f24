// Deployment discovery (issue 6) against local stand-ins of Resource Manager
// and of an App Service managed-identity endpoint, with the simulator as the
// data plane and the official openai SDK as the client. Real HTTP throughout;
// the credential is @azure/identity's ManagedIdentityCredential, unchanged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import OpenAI, { AzureOpenAI, NotFoundError } from 'openai';
import { formatIssues, loadConfigFile, validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator, type SimulatorConfig } from '../src/simulator/index.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { ARM_API_VERSION, ArmStandIn, IDENTITY_HEADER, TokenStandIn, type ArmDeploymentSpec } from './helpers/arm-stand-in.ts';
import { chatBody, KEY_A, LogSink, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const SUB = '00000000-0000-0000-0000-000000000001';
const messages = [{ role: 'user' as const, content: 'Say hello' }];

let tokens: TokenStandIn;
let arm: ArmStandIn;
let dir: string;

before(async () => {
  tokens = await TokenStandIn.start();
  arm = await ArmStandIn.start();
  // App Service's managed identity: what ManagedIdentityCredential reads.
  process.env.IDENTITY_ENDPOINT = `${tokens.url}/msi/token`;
  process.env.IDENTITY_HEADER = IDENTITY_HEADER;
  dir = mkdtempSync(join(tmpdir(), 'aoaigw-discovery-'));
});
after(async () => {
  await arm.close();
  await tokens.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  arm.accounts.clear();
  arm.received.length = 0;
  arm.mode = 'ok';
  arm.pageSize = 2;
  arm.nextLinkBase = undefined;
  tokens.working = true;
});

// `any`: raw configs and admin answers are JSON the tests edit and read by path, as the harness does.
type Raw = Record<string, any>;

interface Setup {
  gw: Gateway;
  sim: Simulator;
  log: LogSink;
  file: string;
  raw: Raw;
  azure: AzureOpenAI;
  openai: OpenAI;
  admin(path: string, method?: string): Promise<any>; // any: see Raw
  write(raw: Raw): void;
  close(): Promise<void>;
}

function discovery(account: string, extra: Record<string, unknown> = {}) {
  return { subscriptionId: SUB, resourceGroup: 'rg-openai', account, armUrl: arm.url, identity: { credential: 'managed-identity' }, refreshSeconds: 3600, ...extra };
}

/** Two accounts in ARM and in the simulator; a config file with discovery on both endpoints; the gateway reading that file. */
async function start(opts: {
  sim: SimulatorConfig;
  east: ArmDeploymentSpec[];
  west?: ArmDeploymentSpec[];
  patch?: (raw: Raw) => void;
}): Promise<Setup> {
  const sim = await Simulator.start(opts.sim);
  arm.account('contoso-east', { subscription: SUB, resourceGroup: 'rg-openai', endpoint: `${sim.account('east').url}/`, deployments: opts.east });
  arm.account('contoso-west', { subscription: SUB, resourceGroup: 'rg-openai', endpoint: `${sim.account('west').url}/`, deployments: opts.west ?? [] });
  const raw: Raw = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { key: ADMIN_KEY },
    ledger: { url: 'sqlite::memory:' },
    endpoints: {
      east: { url: sim.account('east').url, auth: { type: 'api-key', key: UPSTREAM_KEY_EAST }, discovery: discovery('contoso-east', { include: ['gpt-4o*'] }) },
      west: { url: sim.account('west').url, auth: { type: 'api-key', key: UPSTREAM_KEY_WEST }, discovery: discovery('contoso-west', { include: ['gpt-4o*'] }) },
    },
    consumers: { 'team-a': { keys: [KEY_A], deployments: ['*'] } },
  };
  opts.patch?.(raw);
  const file = join(dir, `gateway-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(raw));
  const loaded = loadConfigFile(file);
  if (!loaded.ok) throw new Error(formatIssues(loaded.issues));
  const log = new LogSink();
  const gw = await Gateway.start(loaded.config, { logger: createLogger(log), adminPort: 0, configPath: file });
  const adminUrl = gw.admin!.url;
  return {
    gw,
    sim,
    log,
    file,
    raw,
    azure: new AzureOpenAI({ endpoint: gw.url, apiKey: KEY_A, apiVersion: '2024-10-21', maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 }),
    async admin(path, method = 'GET') {
      const r = await send(adminUrl, path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.equal(r.status, 200, r.text);
      return r.headers['content-type']?.toString().includes('json') ? r.json() : r.text;
    },
    write(next) {
      writeFileSync(file, JSON.stringify(next));
    },
    async close() {
      await gw.close(1000);
      await sim.close();
    },
  };
}

async function until(fn: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Which endpoint and deployment served a chat completion through the SDK. */
async function servedBy(s: Setup, model: string, extra: { max_tokens?: number } = {}): Promise<string> {
  const { response } = await s.azure.chat.completions.create({ model, messages, max_tokens: extra.max_tokens ?? 5 }).withResponse();
  return `${response.headers.get('x-gateway-endpoint')}/${response.headers.get('x-gateway-deployment')}`;
}

const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { status?: number }).status ?? 0;
  }
};

const logged = (s: Setup, msg: RegExp) => s.log.lines.filter((l) => typeof l.msg === 'string' && msg.test(l.msg));

describe('discovered deployments', () => {
  test('two accounts\' gpt-4o deployments become one gateway deployment gpt-4o, PTU first; the include pattern leaves the embeddings out', async () => {
    const s = await start({
      sim: {
        accounts: {
          east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'gpt-4o-ptu': { completionTokens: 5 }, 'gpt-4o-mini-payg': { completionTokens: 5 }, 'embed-small': { kind: 'embeddings' } } },
          west: { keys: [UPSTREAM_KEY_WEST], deployments: { 'gpt4o-global': { completionTokens: 5 } } },
        },
      },
      east: [
        { name: 'gpt-4o-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged' },
        { name: 'embed-small', model: 'text-embedding-3-small' },
        { name: 'gpt-4o-mini-payg', model: 'gpt-4o-mini' },
      ],
      west: [{ name: 'gpt4o-global', model: 'gpt-4o', sku: 'GlobalStandard' }],
    });
    try {
      assert.equal(await servedBy(s, 'gpt-4o'), 'east/gpt-4o-ptu');
      assert.equal(await servedBy(s, 'gpt-4o-mini'), 'east/gpt-4o-mini-payg');
      // The pay-as-you-go account is in the same pool, behind the PTU: drain the PTU and it serves.
      await s.admin('/admin/api/targets/east/gpt-4o-ptu/drain', 'POST');
      assert.equal(await servedBy(s, 'gpt-4o'), 'west/gpt4o-global');

      const models = (await s.openai.models.list()).data.map((m) => m.id).sort();
      assert.deepEqual(models, ['gpt-4o', 'gpt-4o-mini']);
      const embed = s.openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
      await assert.rejects(embed, (err) => err instanceof NotFoundError && (err.error as { code?: string }).code === 'deployment_not_found');

      const state = await s.admin('/admin/api/state');
      const gpt4o = state.deployments.find((d: { name: string }) => d.name === 'gpt-4o');
      assert.deepEqual(
        gpt4o.targets.map((t: { id: string; priority: number }) => [t.id, t.priority]),
        [['east/gpt-4o-ptu', 1], ['west/gpt4o-global', 2]],
      );
      const east = state.discovery.find((d: { endpoint: string }) => d.endpoint === 'east');
      assert.equal(east.listed, 3);
      assert.equal(east.failing, false);
      assert.equal(east.urlMatches, true);
      assert.ok(east.lastSuccess);
      assert.deepEqual(east.skipped, [{ name: 'embed-small', reason: 'matches no include pattern' }]);

      // ARM saw the token from the identity endpoint and the api-version on every call, and its second page was read.
      assert.ok(arm.received.every((r) => r.authorization === 'Bearer arm-token-0001' && r.query.includes(`api-version=${ARM_API_VERSION}`)));
      assert.ok(arm.received.some((r) => r.path.endsWith('/accounts/contoso-east/deployments') && r.query.includes('$skipToken=2')));
      assert.ok(tokens.resources.includes(new URL(arm.url).origin), 'the token is asked for Resource Manager (its origin + /.default)');
    } finally {
      await s.close();
    }
  });

  test('a naming rule groups; what the config writes wins; a file reload keeps the discovered targets and re-applies the rule without asking ARM', async () => {
    const s = await start({
      sim: {
        accounts: {
          east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'chat-ptu': { completionTokens: 5 }, 'chat-payg': { completionTokens: 5 }, legacy: {} } },
          west: { keys: [UPSTREAM_KEY_WEST], deployments: {} },
        },
      },
      east: [
        { name: 'chat-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged' },
        { name: 'chat-payg', model: 'gpt-4o' },
        { name: 'legacy', model: 'gpt-35-turbo' },
      ],
      patch: (raw) => {
        raw.endpoints.east.discovery = discovery('contoso-east', { groupBy: { pattern: '^(?<deployment>.+?)-(ptu|payg)$' } });
        delete raw.endpoints.west.discovery;
        // Written: chat-payg at priority 3 (discovery would say 2).
        raw.deployments = { chat: { targets: [{ endpoint: 'east', deployment: 'chat-payg', priority: 3 }] } };
      },
    });
    try {
      assert.equal(await servedBy(s, 'chat'), 'east/chat-ptu');
      const targets = async () => {
        const st = await s.admin('/admin/api/state');
        return st.deployments.find((d: { name: string }) => d.name === 'chat').targets.map((t: { id: string; priority: number }) => `${t.id}@${t.priority}`).sort();
      };
      assert.deepEqual(await targets(), ['east/chat-payg@3', 'east/chat-ptu@1']);
      const st = await s.admin('/admin/api/state');
      assert.deepEqual(st.discovery[0].skipped, [{ name: 'legacy', reason: 'the naming rule does not match' }]);
      assert.equal(await statusOf(s.azure.chat.completions.create({ model: 'legacy', messages })), 404);

      const armCalls = arm.received.length;
      await s.admin('/admin/api/reload', 'POST');
      assert.deepEqual(await targets(), ['east/chat-payg@3', 'east/chat-ptu@1'], 'a file reload keeps the discovered targets');
      // The file now excludes the PTU: applied at the reload, from the list already read.
      s.raw.endpoints.east.discovery.exclude = ['chat-ptu'];
      s.write(s.raw);
      await s.admin('/admin/api/reload', 'POST');
      assert.deepEqual(await targets(), ['east/chat-payg@3']);
      assert.equal(await servedBy(s, 'chat'), 'east/chat-payg');
      assert.equal(arm.received.length, armCalls, 'no ARM call for a reload');
    } finally {
      await s.close();
    }
  });

  test('a deployment added in ARM appears after a refresh, one removed disappears, and a request in flight on it finishes', async () => {
    const s = await start({
      sim: {
        accounts: {
          east: {
            keys: [UPSTREAM_KEY_EAST],
            deployments: { 'gpt-4o-ptu': { completionTokens: 5, latency: { baseMs: 1500 } }, 'gpt-4o-mini-payg': { completionTokens: 5 } },
          },
          west: { keys: [UPSTREAM_KEY_WEST], deployments: {} },
        },
      },
      east: [{ name: 'gpt-4o-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged' }],
      patch: (raw) => {
        raw.endpoints.east.discovery.refreshSeconds = 1;
        delete raw.endpoints.west.discovery;
      },
    });
    try {
      assert.equal(await statusOf(s.azure.chat.completions.create({ model: 'gpt-4o-mini', messages })), 404);
      arm.deployments('contoso-east').push({ name: 'gpt-4o-mini-payg', model: 'gpt-4o-mini' });
      // The timer's next refresh (every second) brings it.
      await until(async () => (await statusOf(s.azure.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 }))) === 200);
      assert.equal(logged(s, /deployments changed/)[0]?.added?.toString(), 'gpt-4o-mini-payg');

      const inFlight = s.azure.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 }).withResponse();
      await until(async () => s.gw.inFlight === 1, 2000);
      arm.deployments('contoso-east').splice(0, 1);
      await s.gw.discovery.refresh();
      const gone = await send(s.gw.url, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21', { headers: json(KEY_A), body: chatBody() });
      assert.equal(gone.status, 404);
      assert.equal(gone.json().error.code, 'deployment_not_found');
      const { data, response } = await inFlight;
      assert.equal(data.choices[0].message.content, 'lorem ipsum dolor sit amet');
      assert.equal(response.headers.get('x-gateway-deployment'), 'gpt-4o-ptu');
      assert.deepEqual(logged(s, /deployments changed/).at(-1)?.removed, ['gpt-4o-ptu']);
    } finally {
      await s.close();
    }
  });
});

describe('when Resource Manager fails', () => {
  test('each kind of failure keeps the last good list, shows in the state and the metrics, and is logged once per run of failures', async () => {
    const s = await start({
      sim: { accounts: { east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'gpt-4o-ptu': { completionTokens: 5 } } }, west: { deployments: {} } } },
      east: [{ name: 'gpt-4o-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged' }],
      patch: (raw) => {
        raw.endpoints.east.discovery.timeoutMs = 400;
        delete raw.endpoints.west.discovery;
      },
    });
    try {
      const failure = async () => {
        await s.gw.discovery.refresh();
        const st = await s.admin('/admin/api/state');
        assert.equal(await servedBy(s, 'gpt-4o'), 'east/gpt-4o-ptu', 'the last good list still serves');
        assert.equal(st.discovery[0].failing, true);
        return st.discovery[0].lastError as { code: string; message: string };
      };
      arm.mode = 'error-500';
      assert.deepEqual(await failure(), { code: 'http', message: 'Resource Manager answered 500 InternalServerError: Encountered internal server error.', at: (await s.admin('/admin/api/state')).discovery[0].lastError.at });
      arm.mode = 'malformed';
      assert.equal((await failure()).code, 'body');
      arm.mode = 'hang';
      assert.equal((await failure()).code, 'timeout');
      arm.mode = 'ok';
      // A nextLink to another host is not followed: the ARM token goes nowhere else.
      arm.pageSize = 0;
      arm.nextLinkBase = 'http://127.0.0.2:9';
      assert.deepEqual(await failure(), { code: 'body', message: 'nextLink leaves Resource Manager (http://127.0.0.2:9); not followed', at: (await s.admin('/admin/api/state')).discovery[0].lastError.at });
      arm.pageSize = 2;
      arm.nextLinkBase = undefined;
      tokens.working = false;
      const tokenError = await failure();
      assert.equal(tokenError.code, 'token');
      assert.match(tokenError.message, /^no token for Resource Manager: ManagedIdentityCredential/);

      assert.equal(logged(s, /^discovery: refresh failed/).length, 1, 'one warning for the whole run of failures');
      const st = await s.admin('/admin/api/state');
      assert.ok(st.discovery[0].consecutiveFailures >= 5);

      tokens.working = true;
      await s.gw.discovery.refresh();
      const back = (await s.admin('/admin/api/state')).discovery[0];
      assert.equal(back.failing, false);
      assert.equal(back.lastError.code, 'token', 'the last error stays on record');
      assert.equal(logged(s, /answers again/).length, 1);

      const metrics: string = await s.admin('/metrics');
      for (const outcome of ['ok', 'http', 'body', 'timeout', 'token']) {
        assert.match(metrics, new RegExp(`aoai_gateway_discovery_refreshes_total\\{endpoint="east",outcome="${outcome}"[^}]*\\} [1-9]`), outcome);
      }
      assert.match(metrics, /aoai_gateway_discovery_failing\{endpoint="east"[^}]*\} 0/);
      assert.match(metrics, /aoai_gateway_discovery_last_success_seconds\{endpoint="east"[^}]*\} \d{10}/);
      // No token or identity secret in any log line.
      assert.ok(!s.log.raw.some((l) => l.includes('arm-token-0001') || l.includes(IDENTITY_HEADER)));
    } finally {
      await s.close();
    }
  });

  test('a first discovery that fails starts the gateway on the config\'s own deployments, and a later success adds the discovered ones', async () => {
    arm.mode = 'error-500';
    const s = await start({
      sim: {
        accounts: {
          east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'gpt-4o-ptu': { completionTokens: 5 }, 'gpt-4o-mini-payg': { completionTokens: 5 } } },
          west: { deployments: {} },
        },
      },
      east: [{ name: 'gpt-4o-mini-payg', model: 'gpt-4o-mini' }],
      patch: (raw) => {
        raw.endpoints.east.discovery.refreshSeconds = 1;
        delete raw.endpoints.west.discovery;
        raw.deployments = { 'gpt-4o': { targets: [{ endpoint: 'east', deployment: 'gpt-4o-ptu' }] } };
        raw.consumers['team-a'].deployments = ['gpt-4o', 'gpt-4o-mini'];
      },
    });
    try {
      assert.equal(await servedBy(s, 'gpt-4o'), 'east/gpt-4o-ptu');
      assert.equal(await statusOf(s.azure.chat.completions.create({ model: 'gpt-4o-mini', messages })), 404);
      assert.match(String(logged(s, /^discovery: refresh failed/)[0]?.msg), /serving the config's own deployments/);
      arm.mode = 'ok';
      await until(async () => (await statusOf(s.azure.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 }))) === 200);
      assert.equal(await servedBy(s, 'gpt-4o'), 'east/gpt-4o-ptu');
    } finally {
      await s.close();
    }
  });
});

describe('capacity from rateLimits', () => {
  test('tpm and rpm come from the deployment\'s rateLimits and pace it: a request over the PTU\'s minute goes to pay-as-you-go', async () => {
    const s = await start({
      sim: {
        accounts: {
          east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'gpt-4o-ptu': { completionTokens: 5 } } },
          west: { keys: [UPSTREAM_KEY_WEST], deployments: { 'gpt4o-payg': { completionTokens: 5 } } },
        },
      },
      east: [{ name: 'gpt-4o-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged', tokensPerMinute: 6000, requestsPer10s: 6 }],
      west: [{ name: 'gpt4o-payg', model: 'gpt-4o', sku: 'Standard' }],
    });
    try {
      const st = await s.admin('/admin/api/state');
      const [ptu, payg] = st.deployments.find((d: { name: string }) => d.name === 'gpt-4o').targets;
      assert.deepEqual([ptu.id, ptu.tpm, ptu.rpm], ['east/gpt-4o-ptu', 6000, 36]);
      assert.deepEqual([payg.id, payg.tpm, payg.rpm], ['west/gpt4o-payg', null, null]);
      assert.equal(await servedBy(s, 'gpt-4o'), 'east/gpt-4o-ptu');
      assert.equal(await servedBy(s, 'gpt-4o', { max_tokens: 7000 }), 'west/gpt4o-payg');
      assert.equal(s.sim.account('east').received.length, 1, 'the PTU was not asked to take what did not fit');
      // capacity: false leaves tpm/rpm unknown: the same request goes to the PTU.
      s.raw.endpoints.east.discovery.capacity = false;
      s.write(s.raw);
      await s.admin('/admin/api/reload', 'POST');
      const unpaced = (await s.admin('/admin/api/state')).deployments.find((d: { name: string }) => d.name === 'gpt-4o').targets[0];
      assert.deepEqual([unpaced.id, unpaced.tpm, unpaced.rpm], ['east/gpt-4o-ptu', null, null]);
      assert.equal(await servedBy(s, 'gpt-4o', { max_tokens: 7000 }), 'east/gpt-4o-ptu');
    } finally {
      await s.close();
    }
  });
});

describe('config and CLI', () => {
  const base = (discoveryCfg: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    endpoints: { east: { url: 'https://contoso-east.openai.azure.com', auth: { type: 'entra' }, discovery: { subscriptionId: SUB, resourceGroup: 'rg', account: 'contoso-east', ...discoveryCfg } } },
    ...extra,
  });
  const problems = (raw: unknown) => {
    const r = validateConfig(raw);
    return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  test('discovery alone is a config: no deployments needed, and consumers may name what discovery brings', () => {
    const r = validateConfig(base({}, { consumers: { a: { keys: ['a-key-0123456789abcdef'], deployments: ['gpt-4o'] } } }));
    assert.ok(r.ok);
    const d = r.config.endpoints.east.discovery!;
    assert.equal(d.armUrl, 'https://management.azure.com');
    assert.equal(d.apiVersion, '2024-10-01');
    assert.equal(d.groupBy, 'model');
    assert.equal(d.refreshSeconds, 300);
    assert.deepEqual(d.priority, { ProvisionedManaged: 1, GlobalProvisionedManaged: 1, DataZoneProvisionedManaged: 1, default: 2 });
    assert.match(problems({ endpoints: { east: { url: 'https://x.openai.azure.com' } } }).join('\n'), /deployments: define at least one deployment \(or let an endpoint discover them: endpoints\.<name>\.discovery\)/);
  });

  test('wrong discovery settings are listed by path', () => {
    const found = problems({
      endpoints: {
        east: { url: 'https://e.openai.azure.com', discovery: { subscriptionId: SUB, resourceGroup: 'rg', account: 'e', groupBy: { pattern: '^(.+)-ptu$' }, armUrl: 'management' } },
        vllm: { kind: 'openai', url: 'http://10.0.0.5:8000', discovery: { subscriptionId: SUB, resourceGroup: 'rg', account: 'v' } },
        west: { url: 'https://w.openai.azure.com', discovery: { subscriptionId: SUB, account: 'w', identity: { credential: 'client-secret', tenantId: 't' }, refreshSeconds: 0 } },
      },
    }).join('\n');
    assert.match(found, /endpoints\.east\.discovery\.groupBy\.pattern: the pattern needs a named group \(\?<deployment>…\)/);
    assert.match(found, /endpoints\.east\.discovery\.armUrl: "management" is not a URL/);
    assert.match(found, /endpoints\.vllm\.discovery: discovery lists Azure OpenAI deployments; it needs kind: azure/);
    assert.match(found, /endpoints\.west\.discovery\.resourceGroup: required/);
    assert.match(found, /endpoints\.west\.discovery\.identity\.clientId: credential: client-secret needs clientId/);
    assert.match(found, /endpoints\.west\.discovery\.refreshSeconds: /);
  });

  test('check --discover prints what discovery would add', async () => {
    const east = await Simulator.start({ accounts: { east: { deployments: {} } } });
    try {
      arm.account('contoso-east', {
        subscription: SUB,
        resourceGroup: 'rg-openai',
        endpoint: `${east.account('east').url}/`,
        deployments: [
          { name: 'gpt-4o-ptu', model: 'gpt-4o', sku: 'ProvisionedManaged' },
          { name: 'gpt-4o-payg', model: 'gpt-4o', tokensPerMinute: 300000, requestsPer10s: 180 },
          { name: 'embed-small', model: 'text-embedding-3-small' },
        ],
      });
      const file = join(dir, 'check.json');
      writeFileSync(file, JSON.stringify({ endpoints: { east: { url: east.account('east').url, auth: { type: 'api-key', key: 'k' }, discovery: discovery('contoso-east', { include: ['gpt-4o*'] }) } } }));
      const { stdout } = await promisify(execFile)(process.execPath, ['bin/aoai-gateway.js', 'check', '--discover', '--config', file], { env: { ...process.env }, timeout: 60_000 });
      assert.match(stdout, /east \(account contoso-east\): 3 listed, 2 taken/);
      assert.match(stdout, /\+ east\/gpt-4o-ptu → gpt-4o \(new\)  priority 1  ProvisionedManaged/);
      assert.match(stdout, /\+ east\/gpt-4o-payg → gpt-4o \(new\)  priority 2  Standard  tpm 300000 rpm 1080/);
      assert.match(stdout, /- embed-small: matches no include pattern/);
      assert.match(stdout, /gpt-4o  \(strategy: priority\)\n    priority 1 \(first\)\n      → east\/gpt-4o-ptu/);
    } finally {
      await east.close();
    }
  });
});
