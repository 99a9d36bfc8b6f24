// The Azure OpenAI simulator on its own: admission like Azure (tokens in a
// running minute, requests in 10-second windows), Azure's shapes and headers,
// and faults on demand.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from '../src/simulator/rate-limiter.ts';
import { Simulator } from '../src/simulator/index.ts';
import { eventually } from './helpers/harness.ts';
import { send } from './helpers/http.ts';

const KEY = 'sim-key-0001';
let sim: Simulator;
before(async () => {
  sim = await Simulator.start({
    accounts: {
      a: {
        region: 'swedencentral',
        keys: [KEY],
        deployments: {
          tokens: { tpm: 1000, rpm: 6000, completionTokens: 3 },
          requests: { tpm: 1_000_000, rpm: 60, completionTokens: 3 },
          free: { completionTokens: 4 },
          broken: { fault: 'status=500' },
        },
      },
      b: { region: 'westus', deployments: { other: {} } },
    },
  });
});
after(() => sim.close());

const h = { 'api-key': KEY, 'content-type': 'application/json' };
const chat = (d: string, body: object, headers: Record<string, string> = {}) =>
  send(sim.account('a').url, `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`, {
    headers: { ...h, ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

describe('rate limits', () => {
  test('a request costs prompt + max_tokens in a 60 s token window; over it, Azure\'s 429', async () => {
    const costs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await chat('tokens', { max_tokens: 300 });
      assert.equal(r.status, 200);
      costs.push(Number(r.headers['x-ratelimit-remaining-tokens']));
    }
    // Each request reserved the same estimate: prompt (~8) + 300.
    assert.equal(costs[0] - costs[1], costs[1] - costs[2]);
    assert.ok(costs[0] - costs[1] >= 300);
    const r = await chat('tokens', { max_tokens: 300 });
    assert.equal(r.status, 429);
    const body = r.json();
    assert.equal(body.error.code, '429');
    assert.match(body.error.message, /exceeded token rate limit .* Please retry after \d+ seconds/);
    const ms = Number(r.headers['retry-after-ms']);
    assert.ok(ms > 50_000 && ms <= 60_000, `retry-after-ms ${ms}`);
    assert.equal(r.headers['retry-after'], String(Math.ceil(ms / 1000)));
    assert.ok(Number(r.headers['x-ratelimit-reset-tokens']) > 50);
    assert.equal(r.headers['x-ms-region'], 'swedencentral');
    // A smaller request still fits.
    assert.equal((await chat('tokens', { max_tokens: 10 })).status, 200);
  });

  test('without max_tokens a request reserves the default', async () => {
    const r = await chat('free', {});
    assert.equal(r.status, 200);
    const sim2 = await Simulator.start({ accounts: { x: { deployments: { d: { tpm: 1500, defaultMaxTokens: 1000 } } } } });
    try {
      const url = sim2.account('x').url;
      const req = () => send(url, '/openai/deployments/d/chat/completions', { headers: h, body: '{"messages":[{"role":"user","content":"hi"}]}' });
      assert.equal((await req()).status, 200);
      assert.equal((await req()).status, 429);
    } finally {
      await sim2.close();
    }
  });

  test('requests are counted in 10 s windows of RPM/6', async () => {
    // 60 RPM → 10 per 10-second window. Near a window's end, wait for the next so the 11 fall in one.
    const into = Date.now() % 10_000;
    if (into > 8_000) await new Promise((r) => setTimeout(r, 10_020 - into));
    const start = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await chat('requests', { max_tokens: 1 })).status);
    const sameWindow = Math.floor(start / 10_000) === Math.floor(Date.now() / 10_000);
    if (sameWindow) {
      assert.deepEqual(statuses, [...Array(10).fill(200), 429]);
      const r = await chat('requests', { max_tokens: 1 });
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers['retry-after-ms']) <= 10_000);
      assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
      assert.match(r.json().error.message, /call rate limit/);
    } else {
      assert.ok(statuses.filter((s) => s === 200).length >= 10, String(statuses));
    }
  });

  test('the token window slides; the request window resets', () => {
    const rl = new RateLimiter(1000, 60);
    const t = 1_000_000_000_000;
    assert.equal(rl.admit(600, t).ok, true);
    assert.equal(rl.admit(300, t + 20_000).ok, true);
    const refused = rl.admit(200, t + 30_000);
    assert.equal(refused.ok, false);
    // It fits once the first reservation leaves the window, 60 s after it was made.
    assert.equal(!refused.ok && refused.retryAfterMs, 30_000);
    assert.equal(rl.admit(200, t + 59_999).ok, false);
    assert.equal(rl.admit(200, t + 60_000).ok, true);
    // 10 requests per 10-second window
    const rr = new RateLimiter(1e9, 60);
    const w = 2_000_000_000_000; // a window boundary
    for (let i = 0; i < 10; i++) assert.equal(rr.admit(1, w + i).ok, true);
    const over = rr.admit(1, w + 2500);
    assert.equal(over.ok, false);
    assert.equal(!over.ok && over.reason, 'requests');
    assert.equal(!over.ok && over.retryAfterMs, 7500);
    assert.equal(rr.admit(1, w + 10_000).ok, true);
  });

  test('every answer carries x-ratelimit-remaining-* and x-ms-region', async () => {
    for (const r of [await chat('free', {}), await chat('broken', {}), await chat('free', {}, { 'x-sim-fault': 'status=429' })]) {
      assert.ok(r.headers['x-ratelimit-remaining-requests'] !== undefined);
      assert.ok(r.headers['x-ratelimit-remaining-tokens'] !== undefined);
      assert.equal(r.headers['x-ms-region'], 'swedencentral');
      assert.ok(r.headers['apim-request-id']);
    }
  });
});

describe('shapes', () => {
  test('a stream starts with Azure\'s empty-choices chunk and ends with [DONE]', async () => {
    const r = await chat('free', { stream: true });
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    const events = r.text.split('\n\n').filter(Boolean);
    const first = JSON.parse(events[0].slice(6));
    assert.deepEqual(first.choices, []);
    assert.equal(first.id, '');
    assert.equal(first.prompt_filter_results[0].prompt_index, 0);
    assert.equal(events.at(-1), 'data: [DONE]');
    assert.ok(!r.text.includes('"usage":{'), 'no usage unless asked');
    const deltas = events.slice(1, -1).map((e) => JSON.parse(e.slice(6)));
    assert.equal(deltas.map((d) => d.choices[0]?.delta?.content ?? '').join(''), 'lorem ipsum dolor sit');
  });

  test('include_usage adds a last chunk with empty choices and usage', async () => {
    const r = await chat('free', { stream: true, stream_options: { include_usage: true } });
    const events = r.text.split('\n\n').filter(Boolean);
    const usage = JSON.parse(events.at(-2)!.slice(6));
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, 4);
  });

  test('401 for a wrong key, 404 DeploymentNotFound for an unknown deployment', async () => {
    const r401 = await send(sim.account('a').url, '/openai/deployments/free/chat/completions', { headers: { 'api-key': 'nope' }, body: '{}' });
    assert.equal(r401.status, 401);
    assert.equal(r401.json().error.code, '401');
    const r404 = await chat('missing', {});
    assert.equal(r404.status, 404);
    assert.equal(r404.json().error.code, 'DeploymentNotFound');
  });

  test('v1 and Responses routes take the deployment from model', async () => {
    const v1 = await send(sim.account('a').url, '/openai/v1/chat/completions', { headers: { authorization: `Bearer x`, 'content-type': 'application/json' }, body: '{"model":"free","messages":[]}' });
    assert.equal(v1.status, 200);
    const resp = await send(sim.account('a').url, '/openai/responses?api-version=2025-04-01-preview', { headers: h, body: '{"model":"free","input":"hi"}' });
    assert.equal(resp.status, 200);
    assert.equal(resp.json().object, 'response');
    assert.equal(resp.headers['x-ratelimit-remaining-tokens'], '-1', 'Azure\'s "unknown" on the Responses API');
  });

  test('several accounts, each on its own port', async () => {
    assert.notEqual(sim.account('a').url, sim.account('b').url);
    const r = await send(sim.account('b').url, '/openai/deployments/other/embeddings', { headers: h, body: '{"input":"x"}' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ms-region'], 'westus');
  });
});

describe('faults', () => {
  test('status and Retry-After variants from the x-sim-fault header', async () => {
    const r503 = await chat('free', {}, { 'x-sim-fault': 'status=503' });
    assert.equal(r503.status, 503);
    const both = await chat('free', {}, { 'x-sim-fault': 'status=429;retry-after=5' });
    assert.equal(both.status, 429);
    assert.equal(both.headers['retry-after'], '5');
    assert.equal(both.headers['retry-after-ms'], '5000');
    const msOnly = await chat('free', {}, { 'x-sim-fault': 'status=429;retry-after-ms=1500' });
    assert.equal(msOnly.headers['retry-after-ms'], '1500');
    assert.equal(msOnly.headers['retry-after'], undefined);
    const captured = await chat('free', {}, { 'x-sim-fault': 'status=429;reset-tokens=55' });
    assert.equal(captured.headers['x-rate-limit-reset-tokens'], '55');
    assert.equal(captured.headers['policy-id'], 'DeploymentRatelimit-Token');
    assert.equal(captured.headers['retry-after'], undefined);
    const none = await chat('free', {}, { 'x-sim-fault': 'status=429;none' });
    assert.equal(none.headers['retry-after'], undefined);
    assert.equal(none.headers['retry-after-ms'], undefined);
    const filtered = await chat('free', {}, { 'x-sim-fault': 'content-filter' });
    assert.equal(filtered.status, 400);
    assert.equal(filtered.json().error.code, 'content_filter');
    assert.equal(filtered.json().error.innererror.code, 'ResponsibleAIPolicyViolation');
    const bad = await chat('free', {}, { 'x-sim-fault': 'bogus=1' });
    assert.equal(bad.status, 400);
  });

  test('a connection reset after N chunks: N events arrive, then the connection breaks', async () => {
    const res = await fetch(`${sim.account('a').url}/openai/deployments/free/chat/completions`, {
      method: 'POST',
      headers: { ...h, 'x-sim-fault': 'reset-after-chunks=2' },
      body: '{"stream":true,"messages":[]}',
    });
    let text = '';
    const decoder = new TextDecoder();
    await assert.rejects(async () => {
      for await (const chunk of res.body!) text += decoder.decode(chunk);
    });
    assert.equal(text.split('\n\n').filter(Boolean).length, 2);
    await assert.rejects(chat('free', {}, { 'x-sim-fault': 'reset-after-chunks=0' }));
  });

  test('a slow first byte and a hang', async () => {
    const t0 = Date.now();
    assert.equal((await chat('free', {}, { 'x-sim-fault': 'first-byte-ms=300' })).status, 200);
    assert.ok(Date.now() - t0 >= 290);
    await assert.rejects(
      fetch(`${sim.account('a').url}/openai/deployments/free/chat/completions`, {
        method: 'POST',
        headers: { ...h, 'x-sim-fault': 'hang' },
        body: '{}',
        signal: AbortSignal.timeout(300),
      }),
    );
  });

  test('standing faults from config and the control API', async () => {
    assert.equal((await chat('broken', {})).status, 500);
    const url = sim.account('a').url;
    const put = await send(url, '/_sim/deployments/free/fault', { method: 'PUT', body: '{"fault":"status=502"}' });
    assert.equal(put.status, 200);
    assert.equal((await chat('free', {})).status, 502);
    await send(url, '/_sim/deployments/free/fault', { method: 'DELETE' });
    assert.equal((await chat('free', {})).status, 200);
    const stats = (await send(url, '/_sim/stats')).json();
    assert.ok(stats.broken.faults >= 1);
  });
});

test('aoai-gateway simulate runs accounts from a config file', async () => {
  const dir = mkdtempSync(`${tmpdir()}/aoaigw-sim-`);
  writeFileSync(`${dir}/sim.yaml`, 'accounts:\n  one: { port: 0, deployments: { gpt: { tpm: 5000 } } }\n  two: { port: 0, region: westeurope, deployments: { emb: {} } }\n');
  const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'simulate', '--config', `${dir}/sim.yaml`]);
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await eventually(() => /two\s+http/.test(out), 10_000);
    const url = /one\s+(http:\/\/\S+)/.exec(out)![1];
    const r = await send(url, '/openai/deployments/gpt/chat/completions', { headers: h, body: '{"messages":[]}' });
    assert.equal(r.status, 200);
  } finally {
    proc.kill('SIGTERM');
  }
});
