// `aoai-gateway serve --workers N`: N processes on one port behave as one
// gateway. Limits and cooldowns are global (Redis), the admin port shows the
// sum of the workers, reloads and drains reach all of them, a worker that
// dies is replaced, and SIGTERM stops the whole group cleanly.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { Simulator } from '../src/simulator/index.ts';
import { chatBody, eventually } from './helpers/harness.ts';
import { send } from './helpers/http.ts';

const KEY = 'workers-client-key-0123456789';
const LIMITED_KEY = 'workers-limited-key-0123456789';
const ADMIN_KEY = 'workers-admin-key-0123456789';
const UP_KEY = 'workers-upstream-key-0001';
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;

let sim: Simulator;
let dir: string;
before(async () => {
  dir = mkdtempSync(`${tmpdir()}/aoaigw-workers-`);
  sim = await Simulator.start({
    accounts: {
      ptu: { keys: [UP_KEY], deployments: { 'gpt-4o': { completionTokens: 5 } } },
      paygo: { keys: [UP_KEY], deployments: { 'gpt-4o': { completionTokens: 5 } } },
    },
  });
});
after(() => sim.close());

function config(prefix: string): string {
  return `listen: { host: 127.0.0.1, port: 0, shutdownGraceMs: 2000 }
admin: { host: 127.0.0.1, port: 0, key: ${ADMIN_KEY} }
state: { store: redis, prefix: "${prefix}" }
ledger: { url: "sqlite:${dir}/${prefix.replace(/\W/g, '')}.db" }
endpoints:
  ptu: { url: ${sim.account('ptu').url}, auth: { type: api-key, key: ${UP_KEY} } }
  paygo: { url: ${sim.account('paygo').url}, auth: { type: api-key, key: ${UP_KEY} } }
deployments:
  gpt-4o: { strategy: priority, targets: [ { endpoint: ptu, priority: 1 }, { endpoint: paygo, priority: 2 } ] }
consumers:
  app: { keys: [ ${KEY} ], deployments: ['*'] }
  limited: { keys: [ ${LIMITED_KEY} ], deployments: ['*'], limits: { requestsPerMinute: 10 } }
`;
}

interface Running {
  proc: ChildProcess;
  url: string;
  admin: string;
  out(): string;
  /** the access lines' `worker` fields */
  servedBy(): Set<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function serve(path: string, args: string[]): Promise<Running> {
  const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await eventually(() => /aoai-gateway listening/.test(out) || proc.exitCode !== null, 20_000);
  const line = out.split('\n').find((l) => l.includes('aoai-gateway listening'));
  assert.ok(line, `did not start:\n${out}`);
  const started = JSON.parse(line) as { url: string; admin: string };
  return {
    proc,
    url: started.url,
    admin: started.admin,
    out: () => out,
    servedBy: () =>
      new Set(
        out
          .split('\n')
          .filter((l) => l.includes('"kind":"access"'))
          .map((l) => (JSON.parse(l) as { worker: number }).worker),
      ),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      const [code] = await once(proc, 'exit');
      return code as number | null;
    },
  };
}

/** answers with 200 so far, by consumer key */
const served = new Map<string, number>();

/** A request on a connection of its own, so that the kernel picks a worker for each. */
async function chat(url: string, key = KEY, deployment = 'gpt-4o') {
  const r = await send(url, CHAT(deployment), { headers: { 'api-key': key, 'content-type': 'application/json', connection: 'close' }, body: chatBody() });
  if (r.status === 200) served.set(key, (served.get(key) ?? 0) + 1);
  return r;
}
const admin = (g: Running, path: string, method = 'GET') =>
  send(g.admin, path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, connection: 'close' } });

describe('serve --workers 2', () => {
  let g: Running;
  let path: string;
  const prefix = `workers-${process.pid}-a:`;
  before(async () => {
    path = `${dir}/a.yaml`;
    writeFileSync(path, config(prefix));
    g = await serve(path, ['--workers', '2', '--no-watch']);
  });
  after(() => g.stop());

  test('both workers serve the one port, and the admin port adds up what they served', async () => {
    sim.account('ptu').reset();
    for (let i = 0; i < 24; i++) assert.equal((await chat(g.url)).status, 200);
    await eventually(() => g.servedBy().size === 2, 3000);
    assert.deepEqual([...g.servedBy()].sort(), [0, 1]);

    const metrics = await admin(g, '/metrics');
    assert.equal(metrics.status, 200);
    const scraped = metrics.text
      .split('\n')
      .filter((l) => l.startsWith('aoai_gateway_requests_total{') && l.includes('consumer="app"') && l.includes('status="200"'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(scraped, 24, 'one counter per label set, the sum of both workers');
    assert.equal(metrics.text.match(/^# TYPE aoai_gateway_requests_total /gm)?.length, 1);

    const state = (await admin(g, '/admin/api/state')).json();
    assert.equal(state.workers, 2);
    assert.equal(state.stateStore.kind, 'redis');
    const ptu = state.deployments[0].targets.find((t: { id: string }) => t.id === 'ptu/gpt-4o');
    assert.equal(ptu.tokensThisMinute, sim.account('ptu').stats('gpt-4o').promptTokens + sim.account('ptu').stats('gpt-4o').completionTokens);

    const activity = (await admin(g, '/admin/api/activity')).json();
    const requests = activity.series.reduce((n: number, b: { requests: number }) => n + b.requests, 0);
    assert.ok(requests >= 24, `activity counts both workers (${requests})`);
  });

  test('a consumer request limit is one limit across the workers', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) statuses.push((await chat(g.url, LIMITED_KEY)).status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 6);
  });

  test('a cooldown one worker learns holds in the other', async () => {
    sim.account('ptu').reset();
    sim.account('paygo').reset();
    sim.account('ptu').setFault('gpt-4o', 'status=429;retry-after=30');
    try {
      for (let i = 0; i < 12; i++) assert.equal((await chat(g.url)).status, 200, 'spilled to pay-as-you-go');
      assert.equal(sim.account('ptu').stats('gpt-4o').requests, 1, 'the PTU was asked once, by whichever worker came first');
      assert.equal(sim.account('paygo').stats('gpt-4o').ok, 12);
      const state = (await admin(g, '/admin/api/state')).json();
      assert.equal(state.deployments[0].targets[0].state, 'cooling');
    } finally {
      sim.account('ptu').setFault('gpt-4o', undefined);
    }
  });

  test('a drain through the admin port takes the target out in every worker', async () => {
    // The PTU still cools from the test before: with pay-as-you-go drained too, nothing may reach it.
    assert.equal((await admin(g, '/admin/api/targets/paygo/gpt-4o/drain', 'POST')).status, 200);
    sim.account('paygo').reset();
    try {
      for (let i = 0; i < 10; i++) await chat(g.url);
      assert.equal(sim.account('paygo').stats('gpt-4o').requests, 0);
      assert.equal((await admin(g, '/admin/api/state')).json().deployments[0].targets[1].state, 'drained');
    } finally {
      assert.equal((await admin(g, '/admin/api/targets/paygo/gpt-4o/undrain', 'POST')).status, 200);
    }
    assert.equal((await admin(g, '/admin/api/targets/nowhere/x/drain', 'POST')).status, 404);
  });

  test('a key made through the admin port works on every worker at once; a bad one keeps its 400', async () => {
    const made = await send(g.admin, '/admin/api/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ consumer: 'app' }),
    });
    assert.equal(made.status, 201);
    const { key } = made.json() as { key: string };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await chat(g.url, key)).status);
    assert.deepEqual([...new Set(statuses)], [200], 'no worker waited for its refresh');
    const bad = await send(g.admin, '/admin/api/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ consumer: 'nobody' }),
    });
    assert.equal(bad.status, 400, 'the worker\'s error crosses to the primary with its code');
    assert.equal(bad.json().error.code, 'invalid_body');
    assert.equal(bad.json().error.param, 'consumer');
  });

  test('SIGHUP reloads every worker', async () => {
    writeFileSync(path, config(prefix).replace('deployments:\n', 'deployments:\n  renamed: { targets: [ { endpoint: paygo, deployment: gpt-4o } ] }\n'));
    g.proc.kill('SIGHUP');
    await eventually(() => (g.out().match(/config reloaded/g)?.length ?? 0) >= 2, 10_000);
    for (let i = 0; i < 12; i++) assert.equal((await chat(g.url, KEY, 'renamed')).status, 200);
    assert.deepEqual([...g.servedBy()].sort(), [0, 1]);
  });

  test('what both workers served is in the one ledger', async () => {
    const db = new DatabaseSync(`${dir}/${prefix.replace(/\W/g, '')}.db`, { readOnly: true });
    try {
      const count = (consumer: string) => (db.prepare('SELECT count(*) AS n FROM usage_records WHERE consumer = ? AND status = 200').get(consumer) as { n: number }).n;
      // every key but the limited consumer's is the app's (one made through the admin port among them)
      const app = [...served].filter(([k]) => k !== LIMITED_KEY).reduce((n, [, c]) => n + c, 0);
      await eventually(() => count('app') === app && count('limited') === served.get(LIMITED_KEY), 5000);
    } finally {
      db.close();
    }
  });

  test('a worker that dies is replaced, and the port keeps serving', async () => {
    const pids = [...g.out().matchAll(/"pid":(\d+),"msg":"worker listening"/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2);
    process.kill(pids[0], 'SIGKILL');
    await eventually(() => (g.out().match(/worker listening/g)?.length ?? 0) === 3, 10_000);
    assert.match(g.out(), /worker exited; starting a new one/);
    for (let i = 0; i < 8; i++) assert.equal((await chat(g.url)).status, 200);
  });

  test('while no worker runs, the admin API answers 503 workers_unavailable, then serves again', async () => {
    const pids = () => [...g.out().matchAll(/"pid":(\d+),"msg":"worker listening"/g)].map((m) => Number(m[1]));
    const before = pids().length;
    for (const pid of pids().slice(-2)) process.kill(pid, 'SIGKILL');
    let answer: Awaited<ReturnType<typeof admin>> | undefined;
    await eventually(() => {
      void admin(g, '/admin/api/state').then((r) => {
        if (r.status === 503) answer ??= r;
      }, () => {});
      return answer !== undefined;
    }, 5000);
    assert.equal(answer!.json().error.code, 'workers_unavailable');
    await eventually(() => pids().length === before + 2, 15_000);
    const state = await admin(g, '/admin/api/state');
    assert.equal(state.status, 200);
    assert.equal(state.json().workers, 2);
  });

  test('SIGTERM drains the workers and ends with 0', async () => {
    const code = await g.stop('SIGTERM');
    assert.equal(code, 0);
    assert.match(g.out(), /"msg":"stopped"/);
  });
});

describe('serve --workers: the count', () => {
  test('defaults to the CPU count with the Redis store', async () => {
    const path = `${dir}/b.yaml`;
    writeFileSync(path, config(`workers-${process.pid}-b:`));
    const g = await serve(path, ['--no-watch']);
    try {
      assert.equal((await admin(g, '/admin/api/state')).json().workers ?? 1, availableParallelism());
    } finally {
      assert.equal(await g.stop(), 0);
    }
  });

  async function refused(args: string[], yaml: string): Promise<{ code: number | null; out: string }> {
    const path = `${dir}/refused-${Math.random().toString(36).slice(2)}.yaml`;
    writeFileSync(path, yaml);
    const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = await once(proc, 'exit');
    return { code: code as number | null, out };
  }

  test('more than one worker with the memory store is refused, with the reason', async () => {
    const r = await refused(['--workers', '2'], config('x:').replace(/state: .*\n/, ''));
    assert.equal(r.code, 2);
    assert.match(r.out, /--workers above 1 needs state: \{ store: redis \}/);
  });

  test('a count that is not one is refused', async () => {
    for (const bad of ['0.5', 'many', '-1', '65']) {
      const r = await refused([`--workers=${bad}`], config('x:'));
      assert.equal(r.code, 2, bad);
      assert.match(r.out, /--workers takes a number from 1 to 64, or auto/);
    }
  });
});
