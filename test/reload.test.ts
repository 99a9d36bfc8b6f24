// Hot reload: the reload call, a change of the config file, SIGHUP. A valid
// config is swapped in whole; an invalid one is refused with its problems and
// the running config stays; requests in flight finish on the config they
// started with; targets that still exist keep their health.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, afterEach, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { loadConfigFile } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { chatBody, eventually, KEY_A, KEY_B, LogSink } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const ADMIN_KEY = 'reload-admin-key-0123456789';
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;

let sim: Simulator;
let dir: string;
before(async () => {
  sim = await Simulator.start({
    accounts: {
      east: {
        deployments: {
          ptu: { completionTokens: 5 },
          // Streams 8 tokens, 150 ms apart: long enough to reload under them.
          slow: { completionTokens: 8, latency: { baseMs: 0, perTokenMs: 150 } },
        },
      },
      west: { deployments: { payg: { completionTokens: 5 }, mini: { completionTokens: 5 } } },
    },
  });
  dir = mkdtempSync(`${tmpdir()}/aoaigw-reload-`);
});
after(() => sim.close());

/** A config file: `extra` adds YAML under the deployments and consumers it names. */
function config(o: { deployments: string; consumers: string; listenPort?: number; extra?: string }): string {
  return `listen: { host: 127.0.0.1, port: ${o.listenPort ?? 0} }
admin: { port: 0, key: ${ADMIN_KEY} }
ledger: { url: "sqlite::memory:" }
endpoints:
  east: { url: ${sim.account('east').url}, auth: { type: api-key, key: k } }
  west: { url: ${sim.account('west').url}, auth: { type: api-key, key: k } }
deployments:
${o.deployments}
consumers:
${o.consumers}
${o.extra ?? ''}`;
}

const base = () => config({
  deployments: `  gpt-4o: { targets: [ { endpoint: east, deployment: ptu, priority: 1 }, { endpoint: west, deployment: payg, priority: 2 } ] }
  slow: { targets: [ { endpoint: east, deployment: slow } ] }`,
  consumers: `  team-a: { keys: [ ${KEY_A} ], deployments: ['*'] }`,
});

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close(1000)));
});

async function start(text: string, opts: { watch?: boolean } = {}): Promise<{ gw: Gateway; path: string; log: LogSink }> {
  const path = `${dir}/gw-${gateways.length}-${Date.now()}.yaml`;
  writeFileSync(path, text);
  const loaded = loadConfigFile(path);
  assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.issues));
  const log = new LogSink();
  const gw = await Gateway.start(loaded.config, { logger: createLogger(log), adminPort: 0, configPath: path, watch: opts.watch });
  gateways.push(gw);
  return { gw, path, log };
}

const reloadCall = (gw: Gateway) =>
  send(gw.admin!.url, '/admin/api/reload', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: '' });
const chat = (gw: Gateway, deployment: string, key = KEY_A) => send(gw.url, CHAT(deployment), { headers: json(key), body: chatBody() });

describe('POST /admin/api/reload', () => {
  test('a valid file is swapped in: new deployments, consumers and keys work at once', async () => {
    const { gw, path } = await start(base());
    assert.equal((await chat(gw, 'gpt-4o-mini')).status, 404);
    assert.equal((await chat(gw, 'gpt-4o', KEY_B)).status, 401);
    writeFileSync(
      path,
      config({
        deployments: `  gpt-4o: { targets: [ { endpoint: east, deployment: ptu, priority: 1 }, { endpoint: west, deployment: payg, priority: 2 } ] }
  gpt-4o-mini: { targets: [ { endpoint: west, deployment: mini } ] }`,
        consumers: `  team-a: { keys: [ ${KEY_A} ], deployments: [gpt-4o] }
  team-b: { keys: [ ${KEY_B} ], deployments: ['*'] }`,
      }),
    );
    const r = await reloadCall(gw);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { ok: true, restartNeeded: [] });
    const mini = await chat(gw, 'gpt-4o-mini', KEY_B);
    assert.equal(mini.status, 200);
    assert.equal(mini.headers['x-gateway-deployment'], 'mini');
    assert.equal((await chat(gw, 'gpt-4o-mini', KEY_A)).status, 403, 'team-a lost the right');
    assert.equal((await chat(gw, 'slow')).status, 404, 'a removed deployment is gone');
  });

  test('an invalid file is refused with every problem by path; the running config stays', async () => {
    const { gw, path, log } = await start(base());
    writeFileSync(
      path,
      config({
        deployments: `  gpt-4o: { targets: [ { endpoint: eastu, deployment: ptu }, { endpoint: west, deployment: payg, tmp: 5 } ] }`,
        consumers: `  team-a: { keys: [ ${KEY_A} ], deployments: ['*'] }`,
      }),
    );
    const r = await reloadCall(gw);
    assert.equal(r.status, 400);
    const body = r.json();
    assert.equal(body.ok, false);
    const paths = body.issues.map((i: { path: string }) => i.path);
    assert.ok(paths.includes('deployments.gpt-4o.targets[0].endpoint'), paths.join());
    assert.ok(paths.includes('deployments.gpt-4o.targets[1].tmp'), paths.join());
    assert.match(body.issues.find((i: { path: string }) => i.path.endsWith("[0].endpoint")).message, /did you mean "east"/);
    assert.equal((await chat(gw, 'slow')).status, 200, 'the running config serves on');
    assert.equal((await chat(gw, 'gpt-4o')).headers['x-gateway-endpoint'], 'east');
    assert.ok(log.lines.some((l) => String(l.msg).includes('reload refused')), 'and the refusal is logged');

    writeFileSync(path, 'listen: [ unclosed');
    const syntax = await reloadCall(gw);
    assert.equal(syntax.status, 400);
    assert.match(syntax.json().issues[0].path, /^line \d+/);
  });

  test('requests in flight finish on the config they started with', async () => {
    const { gw, path } = await start(base());
    const client = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], stream: true });
    // Reload under it: its deployment is gone and its endpoint moves.
    writeFileSync(
      path,
      config({
        deployments: `  gpt-4o: { targets: [ { endpoint: west, deployment: payg } ] }`,
        consumers: `  team-a: { keys: [ ${KEY_A} ], deployments: ['*'] }`,
      }).replace(sim.account('east').url, 'http://127.0.0.1:9'),
    );
    let text = '';
    let reloaded = false;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (!reloaded) {
        reloaded = true;
        assert.equal((await reloadCall(gw)).status, 200);
        assert.equal((await chat(gw, 'slow')).status, 404, 'new requests see the new config');
      }
    }
    assert.equal(text, 'lorem ipsum dolor sit amet consectetur adipiscing elit', 'the stream finished whole');
    assert.equal((await chat(gw, 'gpt-4o')).headers['x-gateway-endpoint'], 'west');
  });

  test('targets that stay keep their health: a cooldown survives the reload', async () => {
    const { gw, path } = await start(base());
    const fault = '/_sim/deployments/ptu/fault';
    await send(sim.account('east').url, fault, { method: 'PUT', body: JSON.stringify({ fault: 'status=429;retry-after=30' }) });
    const r = await chat(gw, 'gpt-4o');
    await send(sim.account('east').url, fault, { method: 'DELETE' });
    assert.equal(r.headers['x-gateway-endpoint'], 'west', 'failed over; east/ptu cools for 30 s');
    writeFileSync(path, `${base()}\nprices: { gpt-4o: { input: 1, output: 2 } }\n`);
    assert.equal((await reloadCall(gw)).status, 200);
    const state = await gw.state();
    const ptu = state.deployments.find((d) => d.name === 'gpt-4o')!.targets.find((t) => t.id === 'east/ptu')!;
    assert.equal(ptu.state, 'cooling');
    assert.ok(ptu.cooldownUntil! > Date.now() + 25_000);
    assert.equal((await chat(gw, 'gpt-4o')).headers['x-gateway-endpoint'], 'west', 'still cooling after the reload');
  });

  test('what a running process cannot take over is named, and keeps its running value', async () => {
    const { gw, path } = await start(base());
    const port = gw.port;
    writeFileSync(path, base().replace('port: 0 }', 'port: 1 }').replace('sqlite::memory:', `sqlite:${dir}/other.db`));
    const r = await reloadCall(gw);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json().restartNeeded.sort(), ['ledger', 'listen.port']);
    assert.equal(gw.port, port);
    assert.equal((await chat(gw, 'gpt-4o')).status, 200);
  });

  test('a gateway started without a file says there is nothing to read', async () => {
    const { gw } = await start(base());
    const r = await gw.reload();
    assert.equal(r.ok, true, 'reload() of the same file works');
    const bare = await Gateway.start(gw.runtime.config, { adminPort: 0 });
    gateways.push(bare);
    const none = await bare.reload();
    assert.equal(none.ok, false);
  });
});

describe('a change of the config file', () => {
  test('is picked up on its own, also when an editor replaces the file', async () => {
    const { gw, path } = await start(base(), { watch: true });
    writeFileSync(path, base().replace('slow: {', 'slower: {'));
    await eventually(() => gw.runtime.deployments.has('slower'), 15_000);
    assert.equal((await chat(gw, 'slower')).status, 200);
    // Save by rename, as many editors (and Kubernetes' ConfigMap updates) do.
    writeFileSync(`${path}.tmp`, base().replace('slow: {', 'slowest: {'));
    renameSync(`${path}.tmp`, path);
    await eventually(() => gw.runtime.deployments.has('slowest'), 15_000);
    // A broken save keeps the running config.
    writeFileSync(path, 'deployments: 5');
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(gw.runtime.deployments.has('slowest'));
  });
});

describe('SIGHUP', () => {
  test('makes `aoai-gateway serve` read its config file again', async () => {
    const path = `${dir}/serve.yaml`;
    writeFileSync(path, base());
    const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--no-watch', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await eventually(() => /"url":"(http:[^"]+)"/.test(out), 10_000);
      const url = /"url":"(http:[^"]+)"/.exec(out)![1];
      const call = (d: string) => send(url, CHAT(d), { headers: json(KEY_A), body: chatBody() });
      assert.equal((await call('renamed')).status, 404);
      writeFileSync(path, base().replace('slow: {', 'renamed: {'));
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal((await call('renamed')).status, 404, '--no-watch: nothing happens without the signal');
      proc.kill('SIGHUP');
      await eventually(() => out.includes('config reloaded'), 5000);
      assert.equal((await call('renamed')).status, 200);
      assert.equal(proc.exitCode, null, 'still running');
    } finally {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
  });
});
