// Consumers held to their limits, as a client sees it through the openai
// SDK and raw HTTP: 429 with the exact time to come back, 403 once the
// quota is spent, the limit headers on every answer, counters per user, IP
// or header, and tokens settled to what upstream reported — streams too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { periodWindow } from '../src/limits/quota-period.ts';
import { chatBody, eventually, KEY_A, startHarness, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';
const KEY_RPM = 'limited-rpm-key-000000001';
const KEY_TPM = 'limited-tpm-key-000000001';
const KEY_CONC = 'limited-conc-key-00000001';
const KEY_QUOTA = 'limited-quota-key-0000001';
const KEY_USER = 'limited-user-key-00000001';
const KEY_HDR = 'limited-header-key-000001';
const KEY_IP = 'limited-ip-key-0000000001';
const KEY_REQ_USER = 'require-user-key-0000001';

let h: Harness;
before(async () => {
  h = await startHarness({
    simulator: {
      accounts: {
        east: {
          deployments: {
            'gpt4o-ptu': { completionTokens: 5 },
            slow: { completionTokens: 2, latency: { baseMs: 400, perTokenMs: 0 } },
          },
        },
        west: { deployments: {} },
      },
    },
    patch: (raw) => {
      raw.deployments = {
        'gpt-4o': { targets: [{ endpoint: 'east', deployment: 'gpt4o-ptu' }] },
        slow: { targets: [{ endpoint: 'east', deployment: 'slow' }] },
      };
      raw.consumers = {
        'team-a': { keys: [KEY_A], deployments: ['*'] },
        rpm: { keys: [KEY_RPM], deployments: ['*'], limits: { requestsPerMinute: 3 } },
        tpm: { keys: [KEY_TPM], deployments: ['*'], limits: { tokensPerMinute: 400 } },
        conc: { keys: [KEY_CONC], deployments: ['*'], limits: { concurrent: 2 } },
        quota: { keys: [KEY_QUOTA], deployments: ['*'], limits: { tokenQuota: 60, tokenQuotaPeriod: 'daily' } },
        peruser: { keys: [KEY_USER], deployments: ['*'], limits: { requestsPerMinute: 2, counter: 'user' } },
        perheader: { keys: [KEY_HDR], deployments: ['*'], limits: { requestsPerMinute: 1, counter: 'header:x-tenant' } },
        perip: { keys: [KEY_IP], deployments: ['*'], limits: { requestsPerMinute: 1, counter: 'ip' } },
        strict: { keys: [KEY_REQ_USER], deployments: ['*'], requireUser: true },
      };
    },
  });
});
after(() => h.close());

describe('per-minute limits', () => {
  test('requestsPerMinute: the fourth request gets 429 with the exact time to come back', async () => {
    const t0 = Date.now();
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const r = await send(h.url, CHAT, { headers: json(KEY_RPM), body: chatBody() });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-ratelimit-limit-requests'], '3');
      seen.push(r.headers['x-ratelimit-remaining-requests']);
    }
    assert.deepEqual(seen, ['2', '1', '0']);
    const r = await send(h.url, CHAT, { headers: json(KEY_RPM), body: chatBody() });
    assert.equal(r.status, 429);
    assert.equal(r.json().error.code, 'rate_limit_exceeded');
    assert.equal(r.json().error.type, 'rate_limit_error');
    const ms = Number(r.headers['retry-after-ms']);
    const expected = t0 + 60_500 - Date.now();
    assert.ok(Math.abs(ms - expected) < 600, `retry-after-ms ${ms}, about ${expected}`);
    assert.equal(r.headers['retry-after'], String(Math.ceil(ms / 1000)));
    assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(r.headers['x-gateway-attempts'], '0', 'nothing was forwarded');
  });

  test('tokensPerMinute: estimates are held, settled to real usage, and the SDK sees a RateLimitError', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_TPM, maxRetries: 0 });
    // Estimated at ~11 prompt + 100 max_tokens; upstream reports ~9 + 5.
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 })
      .withResponse();
    const consumed = Number(response.headers.get('x-gateway-tokens-consumed'));
    assert.ok(consumed > 0 && consumed < 30, `charged what was used: ${consumed}`);
    assert.equal(Number(response.headers.get('x-ratelimit-remaining-tokens')), 400 - consumed);
    // A request estimated above what is left is refused…
    const err = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 395 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.ok(Number(err.headers?.get('retry-after-ms')) > 50_000);
    // …one that fits what is really left passes.
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 300 });
  });

  test('a stream is settled to the usage chunk the gateway asked for, which the client never sees', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.every((c) => !c.usage), 'no usage chunk reached the client');
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'stop');
    const sent = h.sim.account('east').received.at(-1)!.body as { stream_options: unknown };
    assert.deepEqual(sent.stream_options, { include_usage: true }, 'the gateway asked upstream for it');
    await eventually(() => h.log.access().some((l) => l.stream === true && l.completionTokens === 5));

    // A client that asked for usage gets it.
    const own = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const c of own) if (c.usage) usage = c.usage;
    assert.equal(usage?.completion_tokens, 5);
  });

  test('an old Azure api-version is not sent stream_options', async () => {
    await send(h.url, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-02-15-preview', {
      headers: json(KEY_A),
      body: chatBody({ stream: true }),
    });
    assert.equal((h.sim.account('east').received.at(-1)!.body as { stream_options?: unknown }).stream_options, undefined);
  });
});

describe('concurrency and quota', () => {
  test('concurrent: a third request while two run gets 429', async () => {
    const slow = '/openai/deployments/slow/chat/completions?api-version=2024-10-21';
    const running = [send(h.url, slow, { headers: json(KEY_CONC), body: chatBody() }), send(h.url, slow, { headers: json(KEY_CONC), body: chatBody() })];
    await eventually(() => h.sim.account('east').received.filter((r) => r.path.includes('/slow/')).length >= 2);
    const third = await send(h.url, slow, { headers: json(KEY_CONC), body: chatBody() });
    assert.equal(third.status, 429);
    assert.equal(third.json().error.code, 'concurrency_limit_exceeded');
    assert.deepEqual((await Promise.all(running)).map((r) => r.status), [200, 200]);
    assert.equal((await send(h.url, slow, { headers: json(KEY_CONC), body: chatBody() })).status, 200, 'the slots are free again');
  });

  test('tokenQuota: counted by real usage; 403 once spent, with the quota headers', async () => {
    const first = await send(h.url, CHAT, { headers: json(KEY_QUOTA), body: chatBody() });
    assert.equal(first.status, 200);
    const used = Number(first.headers['x-gateway-tokens-consumed']);
    assert.equal(Number(first.headers['x-gateway-remaining-quota-tokens']), 60 - used);
    let r = first;
    for (let i = 0; i < 10 && r.status === 200; i++) r = await send(h.url, CHAT, { headers: json(KEY_QUOTA), body: chatBody() });
    assert.equal(r.status, 403);
    assert.equal(r.json().error.code, 'quota_exceeded');
    assert.equal(r.json().error.type, 'insufficient_quota');
    assert.match(r.json().error.message, new RegExp(periodWindow('daily', Date.now()).name));
    assert.equal(r.headers['x-gateway-remaining-quota-tokens'], '0');
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_QUOTA, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [] }), OpenAI.PermissionDeniedError);
  });
});

describe('what a limit counts under', () => {
  test('per end user (the body\'s user)', async () => {
    const as = (user: string) => send(h.url, CHAT, { headers: json(KEY_USER), body: chatBody({ user }) });
    assert.deepEqual([(await as('alice')).status, (await as('alice')).status, (await as('alice')).status], [200, 200, 429]);
    assert.equal((await as('bob')).status, 200, 'bob has his own count');
  });

  test('per client IP', async () => {
    const from = (ip: string) => send(h.url, CHAT, { headers: json(KEY_IP), body: chatBody(), localAddress: ip });
    assert.equal((await from('127.0.0.1')).status, 200);
    assert.equal((await from('127.0.0.1')).status, 429);
    assert.equal((await from('127.0.0.2')).status, 200, 'another address, another count');
  });

  test('per value of a header', async () => {
    const as = (tenant: string) => send(h.url, CHAT, { headers: json(KEY_HDR, { 'x-tenant': tenant }), body: chatBody() });
    assert.equal((await as('t1')).status, 200);
    assert.equal((await as('t1')).status, 429);
    assert.equal((await as('t2')).status, 200);
  });
});

describe('requireUser and the audit trail', () => {
  test('a body without user is refused with 400, and the refusal is audited', async () => {
    const r = await send(h.url, CHAT, { headers: json(KEY_REQ_USER), body: chatBody() });
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, 'user_required');
    assert.equal(r.json().error.param, 'user');
    assert.equal((await send(h.url, CHAT, { headers: json(KEY_REQ_USER), body: chatBody({ user: 'u-1' }) })).status, 200);
    await h.gw.ledger.flush();
    const audit = await h.gw.ledger.backend.audit(0);
    const refusal = audit.find((a) => a.kind === 'user_required');
    assert.ok(refusal, 'audited');
    assert.equal(refusal.consumer, 'strict');
    assert.equal(refusal.detail.deployment, 'gpt-4o');
    assert.ok(audit.some((a) => a.kind === 'rate_limited' && a.consumer === 'rpm'));
  });
});
