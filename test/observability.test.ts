// What an operator sees of each request: the gateway's response headers, the
// trace context passed upstream, and one access-log line without a secret.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { chatBody, eventually, KEY_A, startHarness, UPSTREAM_KEY_EAST, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

let h: Harness;
before(async () => (h = await startHarness()));
after(() => h.close());

const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

test('every response carries the gateway headers; the upstream\'s rate-limit view does not leak', async () => {
  const ok = await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody() });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-gateway-endpoint'], 'east');
  assert.equal(ok.headers['x-gateway-deployment'], 'gpt4o-ptu');
  assert.equal(ok.headers['x-gateway-attempts'], '1');
  assert.match(String(ok.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.match(String(ok.headers.traceparent), TRACEPARENT);
  assert.equal(ok.headers['x-ms-region'], 'eastus', 'other upstream headers pass');
  assert.equal(ok.headers['x-ratelimit-remaining-tokens'], undefined);
  assert.equal(ok.headers['x-ratelimit-remaining-requests'], undefined);

  for (const r of [
    await send(h.url, CHAT, { body: chatBody() }),
    await send(h.url, '/nowhere', { headers: json(KEY_A) }),
    await send(h.url, '/openai/deployments/missing/chat/completions', { headers: json(KEY_A), body: chatBody() }),
  ]) {
    assert.match(String(r.headers['x-request-id']), /./);
    assert.match(String(r.headers.traceparent), TRACEPARENT);
    assert.equal(r.headers['x-gateway-attempts'], '0');
  }
});

test('x-request-id and the trace are continued and passed upstream', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await send(h.url, CHAT, {
    headers: json(KEY_A, { 'x-request-id': 'my-request-42', traceparent: `00-${traceId}-00f067aa0ba902b7-01` }),
    body: chatBody(),
  });
  assert.equal(r.headers['x-request-id'], 'my-request-42');
  const tp = String(r.headers.traceparent).split('-');
  assert.equal(tp[1], traceId);
  assert.notEqual(tp[2], '00f067aa0ba902b7', 'the gateway is a new span of the trace');
  const seen = h.sim.account('east').received.at(-1)!;
  assert.equal(seen.headers.traceparent, r.headers.traceparent);
  assert.equal(seen.headers['x-request-id'], 'my-request-42');

  const fresh = await send(h.url, CHAT, { headers: json(KEY_A, { traceparent: 'garbage' }), body: chatBody() });
  assert.match(String(fresh.headers.traceparent), TRACEPARENT);
});

test('one access-log line per request, with tokens, timings and no secret', async () => {
  h.log.lines.length = 0;
  const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-west',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream);
  await send(h.url, CHAT, { headers: json('bad-key-which-is-long-00001'), body: chatBody() });
  await eventually(() => h.log.access().length === 3);
  const [plain, streamed, refused] = h.log.access();
  assert.equal(plain.consumer, 'team-a');
  assert.equal(plain.deployment, 'gpt-4o');
  assert.equal(plain.endpoint, 'east');
  assert.equal(plain.upstreamDeployment, 'gpt4o-ptu');
  assert.equal(plain.status, 200);
  assert.equal(plain.attempts, 1);
  assert.equal(plain.completionTokens, 5);
  assert.equal(plain.model, 'gpt-4o-2024-08-06');
  assert.ok((plain.latencyMs as number) >= (plain.ttfbMs as number));
  assert.equal(streamed.stream, true);
  assert.equal(streamed.endpoint, 'west');
  assert.equal(streamed.completionTokens, 5);
  assert.equal(refused.status, 401);
  assert.equal(refused.error, 'invalid_api_key');
  assert.equal(refused.consumer, undefined);
  const all = h.log.raw.join('\n');
  for (const secret of [KEY_A, 'bad-key-which-is-long-00001', UPSTREAM_KEY_EAST]) assert.ok(!all.includes(secret), secret);
});
