// Routing and resilience against the simulator: failover before the client
// sees a 429 or a 5xx, cooldowns honoured to the millisecond range and never
// shortened, circuits, budget pacing, passive thresholds, probes, drain, the
// wait queue, and Retry-After when nothing can serve.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { formatIssues, validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';
import { chatBody, eventually, KEY_A } from './helpers/harness.ts';
import { json, send, type RawResponse } from './helpers/http.ts';

let sim: Simulator;
const gateways: Gateway[] = [];

before(async () => {
  const d = { completionTokens: 3 };
  sim = await Simulator.start({
    accounts: {
      a: { region: 'eastus', deployments: { d, small: { tpm: 1000, rpm: 6000, completionTokens: 3 }, twoper10: { tpm: 1_000_000, rpm: 12, completionTokens: 3 } } },
      b: { region: 'westus', deployments: { d, small: { tpm: 1000, rpm: 6000, completionTokens: 3 } } },
      c: { region: 'northeurope', deployments: { d } },
    },
  });
});
after(async () => {
  await Promise.all(gateways.map((g) => g.close(100)));
  await sim.close();
});
beforeEach(() => sim.reset());

type Targets = Record<string, unknown>[];

async function gateway(targets: Targets, resilience: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Gateway> {
  const r = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    ledger: { url: 'sqlite::memory:' },
    endpoints: {
      a: { url: sim.account('a').url, auth: { type: 'api-key', key: 'k-a' } },
      b: { url: sim.account('b').url, auth: { type: 'api-key', key: 'k-b' } },
      c: { url: sim.account('c').url, auth: { type: 'api-key', key: 'k-c' } },
      dead: { url: 'http://127.0.0.1:1', auth: { type: 'api-key', key: 'k-dead' } },
    },
    deployments: { pool: { targets, ...extra } },
    consumers: { t: { keys: [KEY_A], deployments: ['*'] } },
    resilience,
  });
  if (!r.ok) throw new Error(formatIssues(r.issues));
  const gw = await Gateway.start(r.config, { adminPort: 0 });
  gateways.push(gw);
  return gw;
}

const A = { endpoint: 'a', deployment: 'd', priority: 1 };
const B = { endpoint: 'b', deployment: 'd', priority: 2 };
const C = { endpoint: 'c', deployment: 'd', priority: 3 };
const PATH = '/openai/deployments/pool/chat/completions?api-version=2024-10-21';
const call = (gw: Gateway, headers: Record<string, string> = {}, body = chatBody()): Promise<RawResponse> =>
  send(gw.url, PATH, { headers: json(KEY_A, headers), body });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const received = (account: string) => sim.account(account).received;

describe('failover and cooldown', () => {
  test('a 429 goes to the next target before the client sees it; the target cools for exactly its retry-after-ms', async () => {
    const gw = await gateway([A, B]);
    sim.account('a').setFault('d', 'status=429;retry-after-ms=1500');
    const first = await call(gw);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-gateway-endpoint'], 'b');
    assert.equal(first.headers['x-gateway-attempts'], '2');
    sim.account('a').setFault('d', undefined);

    // Keep asking; a must not be asked again until its 1500 ms are over, and must be asked right after.
    const throttledAt = received('a')[0].at;
    while (received('a').length < 2) {
      const r = await call(gw);
      assert.equal(r.status, 200);
      await sleep(20);
      assert.ok(Date.now() - throttledAt < 3000, 'a came back');
    }
    const gap = received('a')[1].at - throttledAt;
    assert.ok(gap >= 1500 && gap < 1600, `a was asked again after ${gap} ms`);
  });

  test('a later, shorter Retry-After never shortens a running cooldown', async () => {
    const gw = await gateway([A]);
    const [long, short] = await Promise.all([
      call(gw, { 'x-sim-fault': 'status=429;retry-after-ms=2000' }),
      call(gw, { 'x-sim-fault': 'status=429;retry-after-ms=300;first-byte-ms=100' }),
    ]);
    assert.equal(long.status, 429);
    assert.equal(short.status, 429);
    const t0 = received('a')[0].at;
    await sleep(600);
    const r = await call(gw);
    assert.equal(r.status, 429);
    assert.equal(received('a').length, 2, 'not asked while cooling');
    const ms = Number(r.headers['retry-after-ms']);
    const expected = t0 + 2000 - Date.now();
    assert.ok(Math.abs(ms - expected) < 150, `retry-after-ms ${ms}, expected about ${expected}`);
    assert.equal(r.json().error.code, 'all_targets_throttled');
  });

  test('every target cooling: 429 with Retry-After to the first one back', async () => {
    const gw = await gateway([A, B]);
    sim.account('a').setFault('d', 'status=429;retry-after-ms=3000');
    sim.account('b').setFault('d', 'status=429;retry-after-ms=1200');
    const r = await call(gw);
    assert.equal(r.status, 429);
    assert.equal(r.headers['x-gateway-attempts'], '2');
    const ms = Number(r.headers['retry-after-ms']);
    assert.ok(ms > 1000 && ms <= 1200, `retry-after-ms ${ms}`);
    assert.equal(r.headers['retry-after'], '2');
    // The next request is answered at once, nothing forwarded.
    const again = await call(gw);
    assert.equal(again.status, 429);
    assert.equal(again.headers['x-gateway-attempts'], '0');
    assert.equal(received('a').length + received('b').length, 2);
  });

  test('cooldown from every Retry-After variant', async () => {
    const cases: [string, number, string][] = [
      ['status=429;reset-tokens=55', 55_000, 'the misspelled x-rate-limit-reset-tokens alone'],
      ['status=429;none', 4000, 'no header: the default'],
      ['status=429;retry-after=7', 7000, 'Retry-After in seconds'],
    ];
    for (const [fault, ms, what] of cases) {
      const gw = await gateway([A], { cooldown: { defaultSeconds: 4, maxSeconds: 100 } });
      await call(gw, { 'x-sim-fault': fault });
      const [status] = await gw.runtime.router.status(gw.runtime.deployments.get('pool')!, 0);
      assert.equal(status.condition, 'cooling', what);
      assert.ok(Math.abs(status.at - Date.now() - ms) < 200, what);
    }
  });

  test('5xx and connection errors fail over; the last 5xx is passed on as it came', async () => {
    const gw = await gateway([{ endpoint: 'dead', deployment: 'd', priority: 1 }, B]);
    const r = await call(gw);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-gateway-attempts'], '2');
    assert.equal(r.headers['x-gateway-endpoint'], 'b');

    const gw2 = await gateway([A, B]);
    sim.account('a').setFault('d', 'status=500');
    sim.account('b').setFault('d', 'status=503');
    const bad = await call(gw2);
    assert.equal(bad.status, 503);
    assert.equal(bad.headers['x-gateway-endpoint'], 'b');
    assert.equal(bad.headers['x-gateway-attempts'], '2');
    assert.equal(bad.json().error.code, '503');
  });

  test('every strategy fails over the same way', async () => {
    for (const strategy of ['priority', 'round-robin', 'weighted-round-robin', 'random', 'least-requests', 'power-of-two', 'latency', 'capacity']) {
      sim.reset();
      const gw = await gateway([A, B, C], {}, { strategy });
      sim.account('a').setFault('d', 'status=429;retry-after=30');
      sim.account('b').setFault('d', 'status=503');
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await call(gw);
        assert.equal(r.status, 200, strategy);
        served.add(String(r.headers['x-gateway-endpoint']));
      }
      assert.deepEqual([...served], ['c'], strategy);
      assert.ok(received('a').length <= 1, `${strategy}: a was asked at most once, then left to cool`);
    }
  });

  test('a target that does not answer in firstByteMs is left for the next one', async () => {
    const gw = await gateway([A, B], { timeouts: { firstByteMs: 300 } });
    sim.account('a').setFault('d', 'hang');
    const r = await call(gw);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-gateway-endpoint'], 'b');
    assert.equal(r.headers['x-gateway-attempts'], '2');
    const noRetry = await gateway([A, B], { timeouts: { firstByteMs: 300 }, retryOn: [429, 500, 502, 503, 504, 'connect-error'] });
    const t = await call(noRetry);
    assert.equal(t.status, 504, 'timeout not in retryOn: no retry');
    assert.equal(t.headers['x-gateway-attempts'], '1');
  });

  test('maxAttempts bounds the tries', async () => {
    const gw = await gateway([A, B, C], { maxAttempts: 2 });
    for (const acc of ['a', 'b', 'c']) sim.account(acc).setFault('d', 'status=500');
    const r = await call(gw);
    assert.equal(r.status, 500);
    assert.equal(r.headers['x-gateway-attempts'], '2');
    assert.equal(received('c').length, 0);
  });

  test('400 (content filter too), 401, 403 and 404 from upstream come back as they are, not retried', async () => {
    const gw = await gateway([A, B]);
    for (const fault of ['content-filter', 'status=401', 'status=403', 'status=404']) {
      const r = await call(gw, { 'x-sim-fault': fault });
      assert.equal(r.headers['x-gateway-attempts'], '1', fault);
      assert.equal(r.headers['x-gateway-endpoint'], 'a');
    }
    const filtered = await call(gw, { 'x-sim-fault': 'content-filter' });
    assert.equal(filtered.status, 400);
    assert.equal(filtered.json().error.innererror.code, 'ResponsibleAIPolicyViolation');
    assert.equal(received('b').length, 0);
  });
});

describe('circuit breaker', () => {
  test('opens after the failures, sends one trial when half-open, closes on success', async () => {
    const gw = await gateway([A, B], { circuitBreaker: { failures: 2, windowSeconds: 10, tripSeconds: 1 } });
    sim.account('a').setFault('d', 'status=500');
    for (let i = 0; i < 2; i++) assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'b');
    assert.equal(received('a').length, 2);
    const open = await call(gw);
    assert.equal(open.headers['x-gateway-attempts'], '1', 'open: a is not tried');
    assert.equal(received('a').length, 2);

    await sleep(1050);
    assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'b', 'the trial failed');
    assert.equal(received('a').length, 3);
    assert.equal((await call(gw)).headers['x-gateway-attempts'], '1', 'open again');
    assert.equal(received('a').length, 3);

    sim.account('a').setFault('d', undefined);
    await sleep(1050);
    // Half-open: of three concurrent requests exactly one tries a.
    sim.account('a').setFault('d', 'first-byte-ms=300');
    const three = await Promise.all([call(gw), call(gw), call(gw)]);
    assert.equal(received('a').length, 4);
    assert.deepEqual(three.map((r) => r.headers['x-gateway-endpoint']).sort(), ['a', 'b', 'b']);
    sim.account('a').setFault('d', undefined);
    assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'a', 'closed');
  });

  test('every circuit open: 503 with Retry-After to the first one back', async () => {
    const gw = await gateway([A], { circuitBreaker: { failures: 1, tripSeconds: 2, acceptRetryAfter: false } });
    sim.account('a').setFault('d', 'status=500');
    assert.equal((await call(gw)).status, 500);
    const r = await call(gw);
    assert.equal(r.status, 503);
    assert.equal(r.json().error.code, 'no_target_available');
    const ms = Number(r.headers['retry-after-ms']);
    assert.ok(ms > 1800 && ms <= 2000, `retry-after-ms ${ms}`);
    assert.equal(r.headers['retry-after'], '2');
  });

  test('a stream that breaks after its first byte is an error the SDK raises, charged to the target, never retried', async () => {
    const gw = await gateway([A, B], { circuitBreaker: { failures: 1 } });
    sim.account('a').setFault('d', 'reset-after-chunks=3');
    const client = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'pool', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let chunks = 0;
    await assert.rejects(
      async () => {
        for await (const _ of stream) chunks++;
      },
      (err: Error) => err instanceof OpenAI.APIError && /upstream_stream_broken/.test(JSON.stringify(err.error)),
    );
    assert.equal(chunks, 3);
    assert.equal(received('b').length, 0, 'no retry after the first byte');
    const next = await call(gw);
    assert.equal(next.headers['x-gateway-endpoint'], 'b', 'the break opened a\'s circuit');
    assert.equal(next.headers['x-gateway-attempts'], '1');
  });
});

describe('spill-over, budgets and passive thresholds', () => {
  test('spill-over to the next priority only when the first is out, and back when it returns', async () => {
    const gw = await gateway([A, { ...A, endpoint: 'c' }, B]);
    const served = async (n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(String((await call(gw)).headers['x-gateway-endpoint']));
      return out.sort().join(',');
    };
    assert.doesNotMatch(await served(20), /b/, 'priority 2 unused while priority 1 serves');
    sim.account('a').setFault('d', 'status=429;retry-after-ms=600');
    sim.account('c').setFault('d', 'status=429;retry-after-ms=600');
    const spilled = await call(gw);
    assert.equal(spilled.headers['x-gateway-endpoint'], 'b');
    sim.account('a').setFault('d', undefined);
    sim.account('c').setFault('d', undefined);
    assert.match(await served(5), /^b,b,b,b,b$/);
    await sleep(650);
    assert.doesNotMatch(await served(10), /b/, 'spilled back');
  });

  test('budget pacing: a target is never sent more than its declared TPM; no 429 is provoked', async () => {
    // (A declared tpm is paced by the gateway's own count: the upstream's low remaining-tokens does not take it out.)
    const gw = await gateway([
      { endpoint: 'a', deployment: 'small', tpm: 1000 },
      { endpoint: 'b', deployment: 'small', tpm: 1000 },
    ]);
    const statuses: number[] = [];
    let last!: RawResponse;
    for (let i = 0; i < 8; i++) {
      last = await call(gw, {}, chatBody({ max_tokens: 300 }));
      statuses.push(last.status);
    }
    // Each request reserves ~310 tokens: three fit in each target's minute.
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
    assert.equal(sim.account('a').stats('small').throttled, 0);
    assert.equal(sim.account('b').stats('small').throttled, 0);
    assert.equal(last.headers['x-gateway-attempts'], '0');
    const ms = Number(last.headers['retry-after-ms']);
    assert.ok(ms > 59_000 && ms <= 61_010, `back when the window frees: ${ms}`);
    // A smaller request still fits.
    assert.equal((await call(gw, {}, chatBody({ max_tokens: 50 }))).status, 200);
  });

  test('remaining-requests at 0 takes a target out before it throttles; -1 is unknown, not empty', async () => {
    const gw = await gateway([{ endpoint: 'a', deployment: 'twoper10', priority: 1 }, { endpoint: 'b', deployment: 'd', priority: 2 }], {
      cooldown: { defaultSeconds: 2 },
    });
    const served = [];
    for (let i = 0; i < 4; i++) served.push((await call(gw)).headers['x-gateway-endpoint']);
    assert.deepEqual(served, ['a', 'a', 'b', 'b']);
    assert.equal(sim.account('a').stats('twoper10').throttled, 0, 'a never answered 429');

    const gw2 = await gateway([A, B]);
    const responses = () => send(gw2.url, '/openai/responses?api-version=2025-04-01-preview', { headers: json(KEY_A), body: '{"model":"pool","input":"hi"}' });
    assert.equal((await responses()).headers['x-gateway-endpoint'], 'a');
    assert.equal(gw2.runtime.router.healthById('a/d')!.lastRemainingTokens, undefined);
    assert.equal((await responses()).headers['x-gateway-endpoint'], 'a', 'x-ratelimit-remaining-tokens: -1 does not take it out');
  });
});

describe('operator and probes', () => {
  test('drain takes a target out of rotation; undrain puts it back', async () => {
    const gw = await gateway([A, B]);
    assert.equal(await gw.runtime.router.drain('a/d'), true);
    assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'b');
    assert.equal(received('a').length, 0);
    await gw.runtime.router.drain('a/d', false);
    assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'a');
    assert.equal(await gw.runtime.router.drain('nope/x'), false);
    await gw.runtime.router.drain('a/d');
    await gw.runtime.router.drain('b/d');
    const r = await call(gw);
    assert.equal(r.status, 503, 'all drained');
    assert.ok(r.headers['retry-after']);
  });

  test('active probes: a one-token request; a failing or slow target is out until a probe succeeds', async () => {
    const gw = await gateway([A, B], { activeHealth: { intervalSeconds: 60, timeoutMs: 300 } });
    const prober = gw.prober!;
    const targetA = gw.runtime.deployments.get('pool')!.targets[0];
    sim.account('a').setFault('d', 'status=500');
    await prober.probe(targetA);
    assert.equal((received('a').at(-1)!.body as { max_tokens: number }).max_tokens, 1);
    const r = await call(gw);
    assert.equal(r.headers['x-gateway-endpoint'], 'b');
    assert.equal(r.headers['x-gateway-attempts'], '1', 'a was not tried');

    sim.account('a').setFault('d', undefined);
    await prober.probe(targetA);
    assert.equal((await call(gw)).headers['x-gateway-endpoint'], 'a');

    // A target that served real traffic within the interval is not probed.
    const sent = prober.sent;
    await prober.probe(targetA);
    assert.equal(prober.sent, sent);

    // Slower than timeoutMs: out.
    gw.runtime.router.healthById('a/d')!.lastSuccessAt = 0;
    sim.account('a').setFault('d', 'first-byte-ms=1000');
    await prober.probe(targetA);
    const [status] = await gw.runtime.router.status(gw.runtime.deployments.get('pool')!, 0);
    assert.equal(status.condition, 'probe-failed');
  });
});

describe('the wait queue (queue.maxWaitMs > 0)', () => {
  test('a request waits for the first target back, then is served', async () => {
    const gw = await gateway([A], { queue: { maxWaitMs: 3000 } });
    sim.account('a').setFault('d', 'status=429;retry-after-ms=500');
    setTimeout(() => sim.account('a').setFault('d', undefined), 100);
    const t0 = Date.now();
    const r = await call(gw);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-gateway-attempts'], '2');
    assert.ok(Date.now() - t0 >= 490);
  });

  test('no wait when the first target is back later than maxWaitMs', async () => {
    const gw = await gateway([A], { queue: { maxWaitMs: 1000 } });
    sim.account('a').setFault('d', 'status=429;retry-after-ms=5000');
    const t0 = Date.now();
    const r = await call(gw);
    assert.equal(r.status, 429);
    assert.ok(Date.now() - t0 < 900, 'answered without waiting');
    assert.ok(Number(r.headers['retry-after-ms']) > 4000);
  });

  test('bounded: a full queue answers at once', async () => {
    const gw = await gateway([A], { queue: { maxWaitMs: 3000, maxQueued: 1 } });
    sim.account('a').setFault('d', 'status=429;retry-after-ms=700');
    const waiting = call(gw);
    await eventually(() => gw.runtime.router.queue(gw.runtime.deployments.get('pool')!).length === 1);
    sim.account('a').setFault('d', undefined);
    const t0 = Date.now();
    const refused = await call(gw);
    assert.equal(refused.status, 429);
    assert.ok(Date.now() - t0 < 300);
    assert.equal((await waiting).status, 200);
  });

  test('first in, first served; a client that leaves, leaves the line', async () => {
    const gw = await gateway([A], { queue: { maxWaitMs: 5000 } });
    const pool = gw.runtime.deployments.get('pool')!;
    sim.account('a').setFault('d', 'status=429;retry-after-ms=600');
    const first = call(gw, { 'x-order': '0' });
    await eventually(() => gw.runtime.router.queue(pool).length === 1);
    sim.account('a').setFault('d', undefined);
    const ac = new AbortController();
    const leaving = fetch(`${gw.url}${PATH}`, { method: 'POST', headers: json(KEY_A, { 'x-order': 'gone' }), body: chatBody(), signal: ac.signal });
    await eventually(() => gw.runtime.router.queue(pool).length === 2);
    const rest = [];
    for (let i = 1; i <= 3; i++) {
      rest.push(call(gw, { 'x-order': String(i) }));
      await eventually(() => gw.runtime.router.queue(pool).length === 2 + i);
    }
    ac.abort();
    await assert.rejects(leaving);
    await eventually(() => gw.runtime.router.queue(pool).length === 4);
    const all = await Promise.all([first, ...rest]);
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200]);
    const order = received('a').slice(1).map((r) => r.headers['x-order']);
    assert.deepEqual(order, ['0', '1', '2', '3']);
    assert.equal(gw.runtime.router.queue(pool).length, 0);
  });
});
