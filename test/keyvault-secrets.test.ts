// `${keyvault:vault/secret}` references, read with @azure/keyvault-secrets
// (its challenge-based auth included) from a local Key Vault stand-in over
// TLS, with a managed identity stand-in for the token; and `${file:…}`
// references read again on reload.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AzureOpenAI } from 'openai';
import { loadConfigFileWithSecrets, KeyVaultSecrets } from '../src/secrets/index.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { ManagedIdentityStandIn } from './helpers/entra-stand-in.ts';
import { eventually, LogSink } from './helpers/harness.ts';
import { send } from './helpers/http.ts';
import { KeyVaultStandIn } from './helpers/keyvault-stand-in.ts';
import { makeTestCert, trustInThisProcess, type TestCert } from './helpers/tls-cert.ts';

const UPSTREAM_KEY = 'upstream-key-from-the-vault-0001';
const TEAM_KEY_1 = 'team-a-key-from-the-vault-0001';
const TEAM_KEY_2 = 'team-a-key-from-the-vault-0002';
const API_VERSION = '2024-10-21';
const chat = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });

let cert: TestCert;
let kv: KeyVaultStandIn;
let mi: ManagedIdentityStandIn;
let sim: Simulator;
let dir: string;
const savedEnv = { ...process.env };

before(async () => {
  cert = makeTestCert();
  trustInThisProcess(cert.cert); // for the in-process loads; the child gets NODE_EXTRA_CA_CERTS
  mi = await ManagedIdentityStandIn.start();
  mi.prefix = 'kv-token';
  Object.assign(process.env, mi.env);
  kv = await KeyVaultStandIn.start({ cert: cert.cert, key: cert.key });
  // The vault takes the managed identity's tokens, and only those it issued for Key Vault.
  kv.accepts = (t) => mi.issued.some((i) => i.token === t && i.resource === 'https://vault.azure.net');
  kv.set('kv-test', 'east-key', UPSTREAM_KEY);
  kv.set('kv-test', 'team-a-key', TEAM_KEY_1);
  sim = await Simulator.start({ accounts: { east: { keys: [UPSTREAM_KEY], deployments: { 'gpt4o-ptu': { completionTokens: 3 } } } } });
  dir = mkdtempSync(join(tmpdir(), 'aoaigw-kv-'));
});
after(async () => {
  await sim?.close();
  await kv?.close();
  await mi?.close();
  cert?.remove();
  rmSync(dir, { recursive: true, force: true });
  process.env = savedEnv;
});

function configYaml(extra: { teamKey?: string; refreshSeconds?: number } = {}): string {
  return `
listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
ledger: { url: "sqlite::memory:" }
secrets:
  keyvault:
    credential: managed-identity
    vaultUrl: "${kv.vaultUrl}"
    refreshSeconds: ${extra.refreshSeconds ?? 1}
    timeoutMs: 3000
    disableChallengeResourceVerification: true   # the stand-in is 127.0.0.1, not *.vault.azure.net
endpoints:
  east: { url: "${sim.account('east').url}", auth: { type: api-key, key: "\${keyvault:kv-test/east-key}" } }
deployments:
  gpt-4o: { targets: [ { endpoint: east, deployment: gpt4o-ptu } ] }
consumers:
  team-a: { keys: [ "${extra.teamKey ?? '${keyvault:kv-test/team-a-key}'}" ], deployments: ["*"] }
`;
}

const call = (url: string, key: string) =>
  send(url, `/openai/deployments/gpt-4o/chat/completions?api-version=${API_VERSION}`, { headers: { 'api-key': key, 'content-type': 'application/json' }, body: chat });

describe('aoai-gateway serve with Key Vault references', () => {
  let proc: ChildProcess;
  let out = '';
  let url = '';

  before(async () => {
    const path = join(dir, 'serve.yaml');
    writeFileSync(path, configYaml());
    proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--no-watch', '--config', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath, ...mi.env },
    });
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await eventually(() => /"url":"(http:[^"]+)"/.test(out) || proc.exitCode !== null, 20_000);
    assert.equal(proc.exitCode, null, out);
    url = /"url":"(http:[^"]+)"/.exec(out)![1];
  });
  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
  });

  test('starts with the values: the consumer key and the upstream key come from the vault', async () => {
    const ai = new AzureOpenAI({ endpoint: url, apiKey: TEAM_KEY_1, apiVersion: API_VERSION, maxRetries: 0 });
    const r = await ai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    assert.ok(r.choices.length > 0);
    assert.equal(sim.account('east').received.at(-1)!.headers['api-key'], UPSTREAM_KEY);
    assert.ok(kv.challenges >= 1, 'the client went through the challenge');
    assert.ok(mi.issued.some((i) => i.resource === 'https://vault.azure.net'));
  });

  test('a changed secret applies within the refresh interval: the new key works, the old one does not', async () => {
    kv.set('kv-test', 'team-a-key', TEAM_KEY_2);
    const deadline = Date.now() + 10_000;
    while ((await call(url, TEAM_KEY_2)).status !== 200) {
      assert.ok(Date.now() < deadline, `the new key was not taken in time:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await call(url, TEAM_KEY_1)).status, 401);
    // (the log is written asynchronously, in batches)
    await eventually(() => /keyvault: a secret changed; reloading the config/.test(out) && out.includes('config reloaded'), 5000);
  });

  test('the vault away: the last good values stay, and the log says so', async () => {
    await kv.stop();
    try {
      await eventually(() => out.includes('keyvault: refresh failed'), 10_000);
      assert.equal((await call(url, TEAM_KEY_2)).status, 200, 'the consumer key read last still works');
      assert.equal(sim.account('east').received.at(-1)!.headers['api-key'], UPSTREAM_KEY, 'and the upstream key');
      assert.equal((await call(url, TEAM_KEY_1)).status, 401);
    } finally {
      await kv.resume();
    }
  });

  test('no secret value and no token in the output', () => {
    for (const s of [UPSTREAM_KEY, TEAM_KEY_1, TEAM_KEY_2, ...mi.issued.map((i) => i.token)]) assert.ok(!out.includes(s), `"${s}" in the output`);
  });
});

describe('loading', () => {
  test('a missing secret is a problem listed by its path; serve refuses to start', async () => {
    const path = join(dir, 'missing.yaml');
    writeFileSync(path, configYaml({ teamKey: '${keyvault:kv-test/no-such-secret}' }));
    const r = await loadConfigFileWithSecrets(path);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.issues, [{ path: 'consumers.team-a.keys[0]', message: 'Key Vault secret "kv-test/no-such-secret" not found' }]);

    const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath, ...mi.env },
    });
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const [code] = await once(proc, 'exit');
    assert.equal(code, 1);
    assert.match(err, /consumers\.team-a\.keys\[0\]: Key Vault secret "kv-test\/no-such-secret" not found/);
  });

  test('a malformed reference and a reference in secrets.keyvault itself, each by path', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      configYaml({ teamKey: '${keyvault:kv-test}' }).replace('timeoutMs: 3000', 'timeoutMs: 3000\n    clientId: "${keyvault:kv-test/client-id}"'),
    );
    const r = await loadConfigFileWithSecrets(path);
    assert.equal(r.ok, false);
    const issues = !r.ok ? r.issues : [];
    assert.ok(issues.some((i) => i.path === 'secrets.keyvault.clientId' && /cannot say how to reach Key Vault/.test(i.message)), JSON.stringify(issues));
    assert.ok(issues.some((i) => i.path === 'consumers.team-a.keys[0]'), JSON.stringify(issues));
  });

  test('the vault unreachable at the first load: the problem is by path, with the reason (no last value yet)', async () => {
    const path = join(dir, 'down.yaml');
    writeFileSync(path, configYaml().replace(kv.vaultUrl, 'https://127.0.0.1:1/{vault}'));
    const r = await loadConfigFileWithSecrets(path);
    assert.equal(r.ok, false);
    const issues = !r.ok ? r.issues : [];
    assert.ok(issues.some((i) => i.path === 'endpoints.east.auth.key' && /Key Vault secret "kv-test\/east-key" could not be read/.test(i.message)), JSON.stringify(issues));
  });

  test('a reload with the vault away keeps the last good values (same KeyVaultSecrets)', async () => {
    const path = join(dir, 'again.yaml');
    writeFileSync(path, configYaml());
    const log = new LogSink();
    const vault = new KeyVaultSecrets(createLogger(log));
    const first = await loadConfigFileWithSecrets(path, process.env, vault);
    assert.ok(first.ok);
    await kv.stop();
    try {
      const second = await loadConfigFileWithSecrets(path, process.env, vault);
      assert.ok(second.ok, JSON.stringify(!second.ok && second.issues));
      assert.deepEqual(second.config.consumers['team-a'].keys, first.config.consumers['team-a'].keys);
      await eventually(() => log.lines.some((l) => String(l.msg).includes('the last values read stay in use')), 2000);
    } finally {
      await kv.resume();
    }
  });
});

test('${file:…} references are read again on reload (a mounted Kubernetes secret that changed)', async () => {
  const keyFile = join(dir, 'team-a.key');
  writeFileSync(keyFile, `${TEAM_KEY_1}\n`);
  const path = join(dir, 'file-ref.yaml');
  writeFileSync(path, configYaml({ teamKey: `\${file:${keyFile}}` }));
  const loaded = await loadConfigFileWithSecrets(path);
  assert.ok(loaded.ok);
  const gw = await Gateway.start(loaded.config, { configPath: path, adminPort: false });
  try {
    assert.equal((await call(gw.url, TEAM_KEY_1)).status, 200);
    writeFileSync(keyFile, `${TEAM_KEY_2}\n`);
    assert.deepEqual(await gw.reload(), { ok: true, restartNeeded: [] });
    assert.equal((await call(gw.url, TEAM_KEY_2)).status, 200);
    assert.equal((await call(gw.url, TEAM_KEY_1)).status, 401);
  } finally {
    await gw.close(0);
  }
});
