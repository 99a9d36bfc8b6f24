// Three gateway processes on one Redis and one PostgreSQL behave like one
// gateway: a consumer's limit is global, a cooldown or an open circuit seen
// by one replica holds on the others at once, a target's budget is shared,
// and a revoked key stops working on every replica within seconds. When
// Redis goes away, a replica serves on its own state (or refuses, if so
// configured) and goes back to Redis when it returns.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';
import { STORE_UP } from '../src/state/fallback-store.ts';
import { LogSink, chatBody, eventually, KEY_A } from './helpers/harness.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { json, send } from './helpers/http.ts';
import { tempSchema } from './helpers/pg.ts';

const REDIS_URL = process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const KEY_LIMITED = 'replica-limited-key-000001';

describe('three replicas on one Redis', () => {
  let sim: Simulator;
  let dir: string;
  let schema: Awaited<ReturnType<typeof tempSchema>>;
  const procs: ChildProcess[] = [];
  const urls: string[] = [];

  before(async () => {
    sim = await Simulator.start({
      accounts: {
        a: { deployments: { cool: { completionTokens: 2 }, circ: { completionTokens: 2 }, paced: { tpm: 2000, rpm: 6000, completionTokens: 2 } } },
        b: { deployments: { cool: { completionTokens: 2 }, circ: { completionTokens: 2 }, plain: { completionTokens: 2 } } },
      },
    });
    schema = await tempSchema();
    dir = mkdtempSync(`${tmpdir()}/aoaigw-replicas-`);
    writeFileSync(
      `${dir}/gw.yaml`,
      `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
state: { store: redis, url: "${REDIS_URL}", prefix: "aoaigw-replicas-${process.pid}-${Date.now()}:" }
ledger: { url: "${schema.url()}", keysRefreshSeconds: 0.5 }
resilience: { circuitBreaker: { failures: 1, tripSeconds: 30 } }
endpoints:
  a: { url: ${sim.account('a').url}, auth: { type: api-key, key: k } }
  b: { url: ${sim.account('b').url}, auth: { type: api-key, key: k } }
deployments:
  cool: { targets: [ { endpoint: a, priority: 1 }, { endpoint: b, priority: 2 } ] }
  circ: { targets: [ { endpoint: a, priority: 1 }, { endpoint: b, priority: 2 } ] }
  paced: { targets: [ { endpoint: a, tpm: 2000 } ] }
  plain: { targets: [ { endpoint: b } ] }
consumers:
  open: { keys: [ ${KEY_A} ], deployments: ['*'] }
  limited: { keys: [ ${KEY_LIMITED} ], deployments: ['*'], limits: { requestsPerMinute: 6 } }
  cli: { deployments: ['*'] }
`,
    );
    for (let i = 0; i < 3; i++) {
      const p = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', `${dir}/gw.yaml`], { stdio: ['ignore', 'pipe', 'inherit'] });
      procs.push(p);
      let out = '';
      p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      await eventually(() => /"url":"(http:[^"]+)"/.test(out), 15_000);
      urls.push(/"url":"(http:[^"]+)"/.exec(out)![1]);
    }
  });
  after(async () => {
    for (const p of procs) {
      p.kill('SIGTERM');
      await once(p, 'exit');
    }
    await sim.close();
    await schema.drop();
  });

  const call = (i: number, deployment: string, key = KEY_A, headers: Record<string, string> = {}, body = chatBody()) =>
    send(urls[i % 3], `/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`, { headers: json(key, headers), body });

  test('a consumer\'s limit is the consumer\'s, not multiplied by the replicas', async () => {
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(i, 'cool', KEY_LIMITED)).status);
    assert.equal(statuses.filter((s) => s === 200).length, 6, String(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, 6);
  });

  test('a cooldown taken by one replica is honoured by the others on their next request', async () => {
    sim.account('a').setFault('cool', 'status=429;retry-after=30');
    const first = await call(0, 'cool');
    sim.account('a').setFault('cool', undefined);
    assert.equal(first.headers['x-gateway-endpoint'], 'b', 'replica 1 failed over');
    const asked = sim.account('a').stats('cool').requests;
    for (const i of [1, 2]) {
      const r = await call(i, 'cool');
      assert.equal(r.headers['x-gateway-endpoint'], 'b');
      assert.equal(r.headers['x-gateway-attempts'], '1', `replica ${i + 1} did not try the cooling target`);
    }
    assert.equal(sim.account('a').stats('cool').requests, asked);
  });

  test('a circuit opened by one replica is open on the others', async () => {
    sim.account('a').setFault('circ', 'status=500');
    assert.equal((await call(0, 'circ')).headers['x-gateway-endpoint'], 'b');
    sim.account('a').setFault('circ', undefined);
    for (const i of [1, 2]) {
      const r = await call(i, 'circ');
      assert.equal(r.headers['x-gateway-attempts'], '1', `replica ${i + 1} sees the open circuit`);
      assert.equal(r.headers['x-gateway-endpoint'], 'b');
    }
  });

  test('a target\'s budget is shared: the replicas together never provoke a 429', async () => {
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i, 'paced', KEY_A, {}, chatBody({ max_tokens: 300 }))));
    // ~310 tokens each against 2,000 TPM: six fit, whichever replica sent them.
    assert.equal(statuses.filter((r) => r.status === 200).length, 6);
    assert.equal(sim.account('a').stats('paced').throttled, 0);
  });

  test('a revoked key is refused on every replica within seconds', async () => {
    const created = spawnSync(process.execPath, ['bin/aoai-gateway.js', 'keys', 'create', '--consumer', 'cli', '--json', '--config', `${dir}/gw.yaml`], { encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
    const allAre = async (status: number) => (await Promise.all([0, 1, 2].map((i) => call(i, 'plain', key)))).every((r) => r.status === status);
    const t0 = Date.now();
    while (!(await allAre(200))) {
      assert.ok(Date.now() - t0 < 5000, 'every replica accepts the new key within seconds');
      await new Promise((r) => setTimeout(r, 100));
    }
    spawnSync(process.execPath, ['bin/aoai-gateway.js', 'keys', 'revoke', id, '--config', `${dir}/gw.yaml`]);
    const t1 = Date.now();
    while (!(await allAre(401))) {
      assert.ok(Date.now() - t1 < 5000, 'every replica refuses it within seconds');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('when Redis goes away', () => {
  let port: number;
  let redis: ChildProcess | undefined;
  let sim: Simulator;

  async function startRedis(): Promise<void> {
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await eventually(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 5000);
  }
  async function stopRedis(): Promise<void> {
    redis?.kill('SIGKILL');
    if (redis) await once(redis, 'exit');
    redis = undefined;
  }

  before(async () => {
    port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await startRedis();
    sim = await Simulator.start({ accounts: { a: { deployments: { d: { completionTokens: 2 } } } } });
  });
  after(async () => {
    await stopRedis();
    await sim.close();
  });

  async function gateway(failOpen: boolean, log: LogSink): Promise<Gateway> {
    const r = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      state: { store: 'redis', url: `redis://127.0.0.1:${port}`, failOpen },
      ledger: { url: 'sqlite::memory:' },
      endpoints: { a: { url: sim.account('a').url, auth: { type: 'api-key', key: 'k' } } },
      deployments: { d: { targets: [{ endpoint: 'a' }] } },
      consumers: { c: { keys: [KEY_A], deployments: ['*'], limits: { requestsPerMinute: 1000 } } },
    });
    assert.ok(r.ok);
    return Gateway.start(r.config, { logger: createLogger(log), adminPort: 0 });
  }
  const CHAT = '/openai/deployments/d/chat/completions?api-version=2024-10-21';

  test('fail-open: it keeps serving on local state, logs it once, shows it in metrics, and returns to Redis', async () => {
    const log = new LogSink();
    const gw = await gateway(true, log);
    try {
      assert.equal((await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
      assert.equal(gw.metrics.value(STORE_UP), 1);
      await stopRedis();
      for (let i = 0; i < 5; i++) assert.equal((await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
      assert.equal(gw.metrics.value(STORE_UP), 0);
      await eventually(() => log.lines.some((l) => /Redis cannot be reached/.test(String(l.msg))));
      assert.equal(log.lines.filter((l) => /Redis cannot be reached/.test(String(l.msg))).length, 1, 'logged once');
      assert.equal((await send(gw.url, '/readyz')).status, 200, 'still ready: it serves');
      await startRedis();
      await eventually(() => gw.metrics.value(STORE_UP) === 1, 10_000);
      assert.equal((await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
      assert.ok(log.lines.some((l) => /Redis is back/.test(String(l.msg))));
    } finally {
      await gw.close(100);
    }
  });

  test('fail-closed: requests get 503 and /readyz says not ready until Redis is back', async () => {
    if (!redis) await startRedis();
    const log = new LogSink();
    const gw = await gateway(false, log);
    try {
      assert.equal((await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
      await stopRedis();
      const r = await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() });
      assert.equal(r.status, 503);
      assert.equal(r.json().error.code, 'state_store_unavailable');
      assert.equal((await send(gw.url, '/readyz')).status, 503);
      await startRedis();
      await eventually(() => gw.metrics.value(STORE_UP) === 1, 10_000);
      assert.equal((await send(gw.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
    } finally {
      await gw.close(100);
    }
  });
});
