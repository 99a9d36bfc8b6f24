// What a Prometheus scrape of the admin port shows after real traffic:
// names, labels and values, and labels that stay bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { chatBody, eventually, KEY_A, KEY_B, startHarness, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { parsePrometheus, samples, value, type Sample } from './helpers/prometheus.ts';

const ADMIN_KEY = 'metrics-admin-key-0123456789';
const KEY_LIMITED = 'limited-key-0123456789abcdef';
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;

let h: Harness;
before(async () => {
  h = await startHarness({
    simulator: {
      accounts: {
        east: {
          keys: [UPSTREAM_KEY_EAST],
          deployments: {
            solo: { completionTokens: 5 },
            'pool-ptu': { completionTokens: 5 },
            queued: { completionTokens: 5 },
            slow: { completionTokens: 6, latency: { baseMs: 0, perTokenMs: 150 } },
          },
        },
        west: { keys: [UPSTREAM_KEY_WEST], deployments: { payg: { completionTokens: 7 } } },
      },
    },
    patch: (raw) => {
      raw.admin = { key: ADMIN_KEY };
      raw.resilience = { queue: { maxWaitMs: 3000 } };
      raw.deployments = {
        chat: { targets: [{ endpoint: 'east', deployment: 'solo' }] },
        pool: {
          targets: [
            { endpoint: 'east', deployment: 'pool-ptu', priority: 1 },
            { endpoint: 'west', deployment: 'payg', priority: 2 },
          ],
        },
        queued: { targets: [{ endpoint: 'east' }] },
        slow: { targets: [{ endpoint: 'east' }] },
      };
      raw.consumers = {
        'team-a': { keys: [KEY_A], deployments: ['*'] },
        'team-b': { keys: [KEY_B], deployments: ['chat'] },
        limited: { keys: [KEY_LIMITED], deployments: ['*'], limits: { requestsPerMinute: 1 } },
      };
    },
  });
});
after(() => h.close());

async function scrape(): Promise<Sample[]> {
  const r = await send(h.gw.admin!.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  return parsePrometheus(r.text);
}
const chat = (deployment: string, key = KEY_A, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  send(h.url, CHAT(deployment), { headers: json(key, headers), body: chatBody(extra) });
const fault = (deployment: string, f: string | undefined) =>
  send(h.sim.account('east').url, `/_sim/deployments/${deployment}/fault`, f === undefined ? { method: 'DELETE' } : { method: 'PUT', body: JSON.stringify({ fault: f }) });

describe('after real traffic', () => {
  test('requests, tokens and timings, by consumer, deployment, endpoint and status', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await chat('chat')).status, 200);
    assert.equal((await chat('chat', KEY_B)).status, 200);
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hello there' }], stream: true });
    for await (const _ of stream);
    const m = await scrape();

    const a = { consumer: 'team-a', deployment: 'chat', endpoint: 'east' };
    assert.equal(value(m, 'aoai_gateway_requests_total', { ...a, status: '200' }), 4, 'three plain and one stream');
    assert.equal(value(m, 'aoai_gateway_requests_total', { consumer: 'team-b', deployment: 'chat', endpoint: 'east', status: '200' }), 1);
    assert.equal(value(m, 'aoai_gateway_request_duration_seconds_count', { ...a, status_class: '2xx' }), 4);
    assert.ok(value(m, 'aoai_gateway_request_duration_seconds_sum', { ...a, status_class: '2xx' })! > 0);
    assert.equal(value(m, 'aoai_gateway_time_to_first_byte_seconds_count', { deployment: 'chat', endpoint: 'east' }), 5);
    assert.equal(value(m, 'aoai_gateway_upstream_attempts_total', { deployment: 'chat', target: 'east/solo', outcome: '200', retry: 'false' }), 5);

    // gen_ai.client.token.usage, as the OpenTelemetry GenAI conventions name it, with what upstream reported.
    const stats = (await send(h.sim.account('east').url, '/_sim/stats')).json().solo;
    const genai = { 'gen_ai_operation_name': 'chat', 'gen_ai_system': 'az.ai.openai', 'gen_ai_request_model': 'chat' };
    assert.equal(value(m, 'gen_ai_client_token_usage_sum', { ...genai, gen_ai_token_type: 'output' }), stats.completionTokens);
    assert.equal(value(m, 'gen_ai_client_token_usage_sum', { ...genai, gen_ai_token_type: 'input' }), stats.promptTokens);
    assert.equal(value(m, 'gen_ai_client_token_usage_count', { ...genai, gen_ai_token_type: 'output', consumer: 'team-a' }), 4);
    assert.equal(stats.completionTokens, 25, 'five answers of five tokens, the stream\'s counted from the usage chunk the gateway asked for');
    // Buckets are cumulative, ending at +Inf = count.
    const buckets = samples(m, 'gen_ai_client_token_usage_bucket', { ...genai, gen_ai_token_type: 'output', consumer: 'team-a' });
    assert.equal(buckets.find((b) => b.labels.le === '+Inf')!.value, 4);
    assert.equal(buckets.find((b) => b.labels.le === '4')!.value, 0);
    assert.equal(buckets.find((b) => b.labels.le === '16')!.value, 4);
  });

  test('a failover: the 429 attempt, the cooldown it started, the retry, the target shown cooling, the remaining gauges', async () => {
    await fault('pool-ptu', 'status=429;retry-after=30');
    const r = await chat('pool');
    await fault('pool-ptu', undefined);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-gateway-endpoint'], 'west');
    const m = await scrape();
    assert.equal(value(m, 'aoai_gateway_upstream_attempts_total', { target: 'east/pool-ptu', endpoint: 'east', outcome: '429', retry: 'false' }), 1);
    assert.equal(value(m, 'aoai_gateway_upstream_attempts_total', { target: 'west/payg', endpoint: 'west', outcome: '200', retry: 'true' }), 1);
    assert.equal(value(m, 'aoai_gateway_cooldowns_total', { target: 'east/pool-ptu', endpoint: 'east' }), 1);
    assert.equal(value(m, 'aoai_gateway_requests_total', { deployment: 'pool', endpoint: 'west', status: '200' }), 1);
    const state = (s: string) => value(m, 'aoai_gateway_target_state', { target: 'east/pool-ptu', state: s });
    assert.equal(state('cooling'), 1);
    assert.equal(state('available'), 0);
    assert.equal(value(m, 'aoai_gateway_target_state', { target: 'west/payg', state: 'available' }), 1);
    // The seed gauges: what the deployment last reported (the simulator's unlimited deployment says 1,000,000 / 100,000,000).
    assert.equal(value(m, 'reverseproxy_azure_openai_remaining_requests', { account_name: 'west', deployment_name: 'payg' }), 1_000_000);
    assert.equal(value(m, 'reverseproxy_azure_openai_remaining_tokens', { account_name: 'west', deployment_name: 'payg' }), 100_000_000);
  });

  test('refusals by consumer and reason', async () => {
    assert.equal((await chat('chat', KEY_LIMITED)).status, 200);
    assert.equal((await chat('chat', KEY_LIMITED)).status, 429);
    assert.equal((await chat('chat', 'not-a-key-of-anyone-000000')).status, 401);
    assert.equal((await chat('pool', KEY_B)).status, 403);
    const m = await scrape();
    assert.equal(value(m, 'aoai_gateway_refusals_total', { consumer: 'limited', reason: 'rate_limited' }), 1);
    assert.equal(value(m, 'aoai_gateway_refusals_total', { consumer: '', reason: 'auth_failed' }), 1);
    assert.equal(value(m, 'aoai_gateway_refusals_total', { consumer: 'team-b', reason: 'deployment_not_allowed' }), 1);
    assert.equal(value(m, 'aoai_gateway_requests_total', { consumer: 'limited', status: '429' }), 1);
    assert.equal(value(m, 'aoai_gateway_requests_total', { consumer: '', status: '401' }), 1);
  });

  test('in flight, the wait queue and its wait', async () => {
    // A stream in flight, and a request waiting for its only target to come back from a cooldown.
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], stream: true });
    await fault('queued', 'status=429;retry-after-ms=1000');
    const waiting = chat('queued');
    await eventually(() => h.sim.account('east').received.some((r) => r.path.includes('/queued/')));
    await fault('queued', undefined);
    await eventually(() => h.gw.router.queue(h.gw.runtime.deployments.get('queued')!).length === 1);
    const during = await scrape();
    assert.equal(value(during, 'aoai_gateway_requests_in_flight'), 2);
    assert.equal(value(during, 'aoai_gateway_queue_length', { deployment: 'queued' }), 1);
    assert.equal(value(during, 'aoai_gateway_queue_length', { deployment: 'chat' }), 0);
    const served = await waiting;
    assert.equal(served.status, 200);
    assert.equal(served.headers['x-gateway-attempts'], '2');
    for await (const _ of stream);
    const m = await scrape();
    assert.equal(value(m, 'aoai_gateway_queue_wait_seconds_count', { deployment: 'queued' }), 1);
    const waited = value(m, 'aoai_gateway_queue_wait_seconds_sum', { deployment: 'queued' })!;
    assert.ok(waited > 0.5 && waited < 1.5, `waited ${waited} s for a 1 s cooldown`);
    assert.equal(value(m, 'aoai_gateway_queue_length', { deployment: 'queued' }), 0);
  });

  test('the health of the state store and the ledger', async () => {
    await eventually(() => h.gw.ledger.pending === 0, 3000);
    const m = await scrape();
    assert.equal(value(m, 'aoai_gateway_state_store_up'), 1);
    assert.equal(value(m, 'aoai_gateway_ledger_up'), 1);
    assert.equal(value(m, 'aoai_gateway_ledger_pending_records'), 0);
  });

  test('labels stay bounded: no request id, user, prompt text or key in any series', async () => {
    await chat('chat', KEY_A, { user: 'alice@example.com', messages: [{ role: 'user', content: 'secret-prompt-words' }] }, { 'x-request-id': 'req-unique-4711' });
    await chat('nowhere-deployment-xyz');
    await send(h.url, '/some/unknown/path-with-text', { headers: json(KEY_A) });
    const text = (await send(h.gw.admin!.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text;
    for (const s of ['alice@example.com', 'secret-prompt-words', 'req-unique-4711', 'nowhere-deployment-xyz', 'path-with-text', KEY_A, KEY_B, KEY_LIMITED, ADMIN_KEY, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST]) {
      assert.ok(!text.includes(s), s);
    }
    // Every label value comes from the config or a fixed set.
    const allowed = new Set(['', 'team-a', 'team-b', 'limited', 'chat', 'pool', 'queued', 'slow', 'east', 'west', 'east/solo', 'east/pool-ptu', 'east/queued', 'east/slow', 'west/payg', 'solo', 'pool-ptu', 'payg']);
    for (const s of parsePrometheus(text)) {
      for (const k of ['consumer', 'deployment', 'endpoint', 'target', 'account_name', 'deployment_name']) {
        if (k in s.labels) assert.ok(allowed.has(s.labels[k]), `${s.name} ${k}="${s.labels[k]}"`);
      }
    }
  });
});

test('telemetry.prometheus: false turns /metrics off', async () => {
  const off = await startHarness({ patch: (raw) => (raw.telemetry = { prometheus: false }) });
  try {
    const r = await send(off.gw.admin!.url, '/metrics');
    assert.equal(r.status, 404);
    assert.equal((await send(off.url, CHAT('gpt-4o'), { headers: json(KEY_A), body: chatBody() })).status, 200, 'serving is unaffected');
  } finally {
    await off.close();
  }
});
