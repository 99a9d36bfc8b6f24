// `aoai-gateway keys` and `aoai-gateway usage` against a running gateway
// sharing their ledger: a created key works within seconds, a revoked one
// stops working within seconds, and the usage report adds up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { loadConfigFile } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';
import { chatBody, eventually } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

let sim: Simulator;
let gw: Gateway;
let config: string;
const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/aoai-gateway.js', ...args, '--config', config], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  sim = await Simulator.start({ accounts: { east: { deployments: { 'gpt4o-ptu': { completionTokens: 5 }, mini: { completionTokens: 5 } } } } });
  const dir = mkdtempSync(`${tmpdir()}/aoaigw-cli-`);
  config = `${dir}/gw.yaml`;
  writeFileSync(
    config,
    `listen: { host: 127.0.0.1, port: 0 }
ledger: { url: "sqlite:${dir}/ledger.db", keysRefreshSeconds: 0.2 }
endpoints: { east: { url: ${sim.account('east').url}, auth: { type: api-key, key: k } } }
deployments:
  gpt-4o: { targets: [ { endpoint: east, deployment: gpt4o-ptu } ] }
  gpt-4o-mini: { targets: [ { endpoint: east, deployment: mini } ] }
consumers:
  team-a: { deployments: ['*'] }
  team-b: { deployments: ['*'] }
prices:
  gpt-4o: { input: 2.5, output: 10 }
`,
  );
  const loaded = loadConfigFile(config);
  assert.ok(loaded.ok);
  gw = await Gateway.start(loaded.config, { adminPort: 0 });
});
after(async () => {
  await gw.close(100);
  await sim.close();
});

const call = (key: string, path = CHAT) => send(gw.url, path, { headers: json(key), body: chatBody() });

test('keys create prints a key once; the running gateway accepts it within seconds', async () => {
  const r = cli('keys', 'create', '--consumer', 'team-a', '--json');
  assert.equal(r.code, 0, r.err);
  const { key, id, prefix } = JSON.parse(r.out) as { key: string; id: string; prefix: string };
  assert.match(key, /^aoai-[A-Za-z0-9_-]{43}$/);
  assert.equal(key.slice(0, 12), prefix);
  const t0 = Date.now();
  for (;;) {
    if ((await call(key)).status === 200) break;
    assert.ok(Date.now() - t0 < 3000, 'accepted within seconds');
    await new Promise((res) => setTimeout(res, 100));
  }
  const listed = cli('keys', 'list');
  assert.match(listed.out, new RegExp(`${id}\\s+team-a\\s+${prefix}…`));
  assert.ok(!listed.out.includes(key), 'the key itself is never shown again');
  assert.match(listed.out, /active/);

  const revoked = cli('keys', 'revoke', id);
  assert.equal(revoked.code, 0, revoked.err);
  const t1 = Date.now();
  for (;;) {
    if ((await call(key)).status === 401) break;
    assert.ok(Date.now() - t1 < 3000, 'refused within seconds');
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(cli('keys', 'list').out, /revoked/);
  assert.equal(cli('keys', 'revoke', id).code, 1, 'nothing left to revoke');
  await gw.ledger.flush();
  const kinds = (await gw.ledger.backend.audit(0)).map((a) => a.kind);
  assert.ok(kinds.includes('key_created') && kinds.includes('key_revoked'));
});

test('a key that expires stops working', async () => {
  const { key } = JSON.parse(cli('keys', 'create', '--consumer', 'team-b', '--expires', '2s', '--json').out) as { key: string };
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) {
    ok = (await call(key)).status === 200;
    if (!ok) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(ok);
  await new Promise((res) => setTimeout(res, 2100));
  assert.equal((await call(key)).status, 401);
});

test('keys create refuses a consumer the config does not have', () => {
  const r = cli('keys', 'create', '--consumer', 'team-c');
  assert.equal(r.code, 1);
  assert.match(r.err, /no consumer named "team-c" in the config \(did you mean "team-a"\?\)/);
});

test('usage adds up by consumer and deployment, with cost where prices are set; --json and --csv', async () => {
  const { key: keyA } = JSON.parse(cli('keys', 'create', '--consumer', 'team-a', '--json').out) as { key: string };
  const { key: keyB } = JSON.parse(cli('keys', 'create', '--consumer', 'team-b', '--json').out) as { key: string };
  await gw.refreshKeys();
  for (let i = 0; i < 3; i++) assert.equal((await call(keyA)).status, 200);
  assert.equal((await call(keyB, '/openai/deployments/gpt-4o-mini/chat/completions')).status, 200);
  await gw.ledger.flush();

  const rows = JSON.parse(cli('usage', '--by', 'consumer', '--since', '1h', '--json').out) as Record<string, number | string | null>[];
  const a = rows.find((r) => r.consumer === 'team-a')!;
  assert.ok((a.requests as number) >= 3);
  assert.equal(a.totalTokens, (a.promptTokens as number) + (a.completionTokens as number));
  const expectedCost = ((a.promptTokens as number) * 2.5 + (a.completionTokens as number) * 10) / 1_000_000;
  assert.ok(Math.abs((a.cost as number) - expectedCost) < 1e-12);
  assert.equal(rows.find((r) => r.consumer === 'team-b')!.cost, null, 'gpt-4o-mini has no price');

  const byDeployment = cli('usage', '--by', 'deployment', '--since', '1h');
  assert.match(byDeployment.out, /usage by deployment since/);
  assert.match(byDeployment.out, /gpt-4o\s+\d+\s+0\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+\$0\.\d{4}/);
  assert.match(byDeployment.out, /gpt-4o-mini .*no price/);

  const csvOut = cli('usage', '--csv', '--since', '1h').out.trim().split('\n');
  assert.equal(csvOut[0], 'consumer,requests,errors,promptTokens,completionTokens,totalTokens,cost');
  assert.ok(csvOut.some((l) => l.startsWith('team-a,')));

  assert.equal(cli('usage', '--by', 'user').code, 2, 'a usage error');
  assert.match(cli('usage', '--since', 'yesterday').err, /write a duration like/);
});
