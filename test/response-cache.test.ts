// The response cache as a client sees it through the openai SDK: a
// deterministic repeat answered without upstream, what is and is not cached,
// the client's force/refresh/bypass, per-consumer and shared entries, TTL,
// streams replayed from a cached answer and streamed answers stored, limits
// and the ledger on hits, Redis shared by two gateways, metrics, the access
// log and hot reload.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { formatIssues, validateConfig } from '../src/config/load.ts';
import type { SqliteLedger } from '../src/ledger/sqlite.ts';
import { Gateway } from '../src/server/gateway.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { defaultGatewayConfig, eventually, KEY_A, KEY_B, LogSink, startHarness, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { parsePrometheus, value } from './helpers/prometheus.ts';

const ADMIN_KEY = 'cache-admin-key-0123456789';
const KEY_LIMITED = 'cache-limited-key-000000001';
const REDIS_URL = process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** Simulated deployments: one per gateway deployment, so each test counts its own upstream requests. */
const SIM_DEPLOYMENTS = ['chat', 'shared', 'short', 'small', 'nocache', 'limited', 'embed', 'reload'] as const;

function cacheDeployments(): Record<string, unknown> {
  const d = (sim: string, cache: unknown) => ({ targets: [{ endpoint: 'east', deployment: sim }], ...(cache === undefined ? {} : { cache }) });
  return {
    chat: d('chat', true),
    shared: d('shared', { scope: 'shared' }),
    short: d('short', { ttlSeconds: 1 }),
    small: d('small', { maxEntryBytes: 1024 }),
    nocache: d('nocache', undefined),
    limited: d('limited', true),
    'text-embedding-3-small': d('embed', true),
    reload: d('reload', { ttlSeconds: 600 }),
  };
}

function patch(raw: Record<string, any>): void {
  raw.admin = { key: ADMIN_KEY };
  raw.deployments = cacheDeployments();
  raw.consumers = {
    'team-a': { keys: [KEY_A], deployments: ['*'] },
    'team-b': { keys: [KEY_B], deployments: ['*'] },
    limited: { keys: [KEY_LIMITED], deployments: ['limited'], limits: { requestsPerMinute: 100, tokensPerMinute: 100000 } },
  };
}

let h: Harness;
before(async () => {
  const deployments: Record<string, object> = {};
  for (const name of SIM_DEPLOYMENTS) deployments[name] = name === 'embed' ? { kind: 'embeddings', model: 'text-embedding-3-small' } : { completionTokens: 6 };
  h = await startHarness({ simulator: { accounts: { east: { deployments }, west: { deployments: {} } } }, patch });
});
after(() => h.close());

const upstream = (deployment: string) => h.sim.account('east').stats(deployment).requests;
const client = (key = KEY_A) => new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: key, maxRetries: 0 });
/** A prompt no other test sends: entries never leak between tests. */
const prompt = () => [{ role: 'user' as const, content: `What is ${randomUUID()}?` }];

async function chat(model: string, body: Record<string, unknown>, headers: Record<string, string> = {}, key = KEY_A) {
  const { data, response } = await client(key)
    .chat.completions.create({ model, messages: prompt(), max_tokens: 20, ...body } as OpenAI.ChatCompletionCreateParamsNonStreaming, { headers })
    .withResponse();
  return { data, headers: response.headers };
}

async function scrape() {
  const r = await send(h.gw.admin!.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(r.status, 200);
  return parsePrometheus(r.text);
}

describe('what is cached', () => {
  test('a temperature 0 repeat is answered from the cache, without upstream', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const first = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(first.response.headers.get('x-gateway-cache'), 'miss');
    assert.equal(first.response.headers.get('x-gateway-attempts'), '1');
    const second = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(upstream('chat'), before + 1, 'the simulator received one request');
    const hdr = second.response.headers;
    assert.equal(hdr.get('x-gateway-cache'), 'hit');
    assert.equal(hdr.get('x-gateway-attempts'), '0');
    assert.equal(hdr.get('x-gateway-endpoint'), 'east', 'the target that made the answer');
    assert.equal(hdr.get('x-gateway-deployment'), 'chat');
    assert.match(String(hdr.get('age')), /^\d+$/);
    assert.equal(hdr.get('x-ms-region'), null, 'upstream headers of the first answer are not replayed');
    assert.deepEqual(second.data, first.data, 'the same answer, id and usage included');
    assert.equal(second.data.choices[0].message.content, 'lorem ipsum dolor sit amet consectetur');

    // The AzureOpenAI client on the deployment route with the same api-version shares nothing with the v1 route,
    // but repeats of its own are hits too.
    const azure = new AzureOpenAI({ endpoint: h.url, apiKey: KEY_A, apiVersion: '2024-10-21', deployment: 'chat', maxRetries: 0 });
    const a1 = await azure.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    const a2 = await azure.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(a1.response.headers.get('x-gateway-cache'), 'miss');
    assert.equal(a2.response.headers.get('x-gateway-cache'), 'hit');
    assert.equal(a2.data.id, a1.data.id);
    assert.equal(upstream('chat'), before + 2);
  });

  test('the key is the normalised body: field order and stream do not matter, every other field does', async () => {
    const content = `Order ${randomUUID()}`;
    const path = '/openai/deployments/chat/chat/completions?api-version=2024-10-21';
    const before = upstream('chat');
    const a = await send(h.url, path, { headers: json(KEY_A), body: `{"temperature":0,"messages":[{"role":"user","content":"${content}"}],"max_tokens":20}` });
    const b = await send(h.url, path, { headers: json(KEY_A), body: `{ "max_tokens": 20, "messages": [{"content":"${content}","role":"user"}], "temperature": 0.0 }` });
    assert.equal(a.headers['x-gateway-cache'], 'miss');
    assert.equal(b.headers['x-gateway-cache'], 'hit');
    assert.equal(b.json().id, a.json().id);
    const c = await send(h.url, path, { headers: json(KEY_A), body: `{"temperature":0,"messages":[{"role":"user","content":"${content}"}],"max_tokens":21}` });
    assert.equal(c.headers['x-gateway-cache'], 'miss', 'max_tokens is part of the key');
    const d = await send(h.url, path, { headers: json(KEY_A), body: `{"temperature":0,"messages":[{"role":"user","content":"${content}"}],"max_tokens":20,"user":"u-1"}` });
    assert.equal(d.headers['x-gateway-cache'], 'miss', 'so is user');
    assert.equal(upstream('chat'), before + 3);
  });

  test('temperature 0.7, no temperature, or two choices are not cached', async () => {
    const messages = prompt();
    const before = upstream('chat');
    for (const body of [{ temperature: 0.7 }, { temperature: 0.7 }, {}, {}, { temperature: 0, n: 2 }, { temperature: 0, n: 2 }]) {
      const r = await client().chat.completions.create({ model: 'chat', messages, max_tokens: 20, ...body }).withResponse();
      assert.equal(r.response.headers.get('x-gateway-cache'), 'skip');
    }
    assert.equal(upstream('chat'), before + 6);
  });

  test('embeddings are deterministic: cached without a temperature', async () => {
    const input = `embed ${randomUUID()}`;
    const before = upstream('embed');
    const e1 = await client().embeddings.create({ model: 'text-embedding-3-small', input }).withResponse();
    const e2 = await client().embeddings.create({ model: 'text-embedding-3-small', input }).withResponse();
    assert.equal(e1.response.headers.get('x-gateway-cache'), 'miss');
    assert.equal(e2.response.headers.get('x-gateway-cache'), 'hit');
    assert.deepEqual(e2.data.data[0].embedding, e1.data.data[0].embedding);
    assert.equal(upstream('embed'), before + 1);
  });

  test('a deployment without a cache says nothing and caches nothing', async () => {
    const before = upstream('nocache');
    const messages = prompt();
    for (let i = 0; i < 2; i++) {
      const r = await client().chat.completions.create({ model: 'nocache', messages, temperature: 0, max_tokens: 20 }, { headers: { 'x-gateway-cache': 'force' } }).withResponse();
      assert.equal(r.response.headers.get('x-gateway-cache'), null);
    }
    assert.equal(upstream('nocache'), before + 2);
  });

  test('an upstream error is never cached; the next good answer is', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const failing = client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }, { headers: { 'x-sim-fault': 'status=500' } });
    await assert.rejects(failing, (e: unknown) => e instanceof OpenAI.InternalServerError);
    const filtered = client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }, { headers: { 'x-sim-fault': 'content-filter' } });
    await assert.rejects(filtered, (e: unknown) => e instanceof OpenAI.BadRequestError);
    const ok = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(ok.response.headers.get('x-gateway-cache'), 'miss');
    const again = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(again.response.headers.get('x-gateway-cache'), 'hit');
    assert.equal(upstream('chat'), before + 3);
  });

  test('an answer over maxEntryBytes is relayed whole and not stored', async () => {
    const messages = prompt();
    const before = upstream('small');
    const long = { headers: { 'x-sim-completion-tokens': '300' } };
    const r1 = await client().chat.completions.create({ model: 'small', messages, temperature: 0, max_tokens: 400 }, long).withResponse();
    assert.ok(JSON.stringify(r1.data).length > 1024);
    const r2 = await client().chat.completions.create({ model: 'small', messages, temperature: 0, max_tokens: 400 }, long).withResponse();
    assert.equal(r2.response.headers.get('x-gateway-cache'), 'miss');
    assert.equal(upstream('small'), before + 2);
    assert.ok((value(await scrape(), 'aoai_gateway_cache_stores_total', { deployment: 'small', outcome: 'too_large' }) ?? 0) >= 2);
    // A short answer on the same deployment fits.
    const short = prompt();
    await client().chat.completions.create({ model: 'small', messages: short, temperature: 0, max_tokens: 3 });
    const hit = await client().chat.completions.create({ model: 'small', messages: short, temperature: 0, max_tokens: 3 }).withResponse();
    assert.equal(hit.response.headers.get('x-gateway-cache'), 'hit');
  });
});

describe('the client decides with x-gateway-cache', () => {
  test('force caches a request that is not deterministic', async () => {
    const before = upstream('chat');
    const messages = prompt();
    const force = { headers: { 'x-gateway-cache': 'force' } };
    const a = await client().chat.completions.create({ model: 'chat', messages, temperature: 0.9, max_tokens: 20 }, force).withResponse();
    const b = await client().chat.completions.create({ model: 'chat', messages, temperature: 0.9, max_tokens: 20 }, force).withResponse();
    assert.equal(a.response.headers.get('x-gateway-cache'), 'miss');
    assert.equal(b.response.headers.get('x-gateway-cache'), 'hit');
    assert.equal(b.data.id, a.data.id);
    const plain = await client().chat.completions.create({ model: 'chat', messages, temperature: 0.9, max_tokens: 20 }).withResponse();
    assert.equal(plain.response.headers.get('x-gateway-cache'), 'skip', 'without force the same body is not read from the cache');
    assert.equal(upstream('chat'), before + 2);
  });

  test('bypass neither reads nor writes; refresh writes a fresh answer', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const bypass = await chat('chat', { messages, temperature: 0 }, { 'x-gateway-cache': 'bypass' });
    assert.equal(bypass.headers.get('x-gateway-cache'), 'bypass');
    const first = await chat('chat', { messages, temperature: 0 });
    assert.equal(first.headers.get('x-gateway-cache'), 'miss', 'bypass stored nothing');
    const bypassAgain = await chat('chat', { messages, temperature: 0 }, { 'x-gateway-cache': 'BYPASS' });
    assert.equal(bypassAgain.headers.get('x-gateway-cache'), 'bypass');
    assert.notEqual(bypassAgain.data.id, first.data.id, 'bypass did not read the entry');
    const refreshed = await chat('chat', { messages, temperature: 0 }, { 'x-gateway-cache': 'refresh' });
    assert.equal(refreshed.headers.get('x-gateway-cache'), 'refresh');
    assert.notEqual(refreshed.data.id, first.data.id);
    const hit = await chat('chat', { messages, temperature: 0 });
    assert.equal(hit.headers.get('x-gateway-cache'), 'hit');
    assert.equal(hit.data.id, refreshed.data.id, 'the refreshed answer replaced the old one');
    assert.equal(upstream('chat'), before + 4);
    assert.equal(h.sim.account('east').received.at(-1)!.headers['x-gateway-cache'], undefined, 'the directive is not sent upstream');
  });

  test('an unknown value is a 400 in OpenAI\'s shape', async () => {
    const err = await client()
      .chat.completions.create({ model: 'chat', messages: prompt(), temperature: 0 }, { headers: { 'x-gateway-cache': 'please' } })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.code, 'invalid_parameter');
    assert.match(err.message, /x-gateway-cache header is force, refresh or bypass/);
  });
});

describe('who shares an entry', () => {
  test('scope consumer (the default): another consumer misses', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const a = await chat('chat', { messages, temperature: 0 }, {}, KEY_A);
    const b = await chat('chat', { messages, temperature: 0 }, {}, KEY_B);
    assert.equal(a.headers.get('x-gateway-cache'), 'miss');
    assert.equal(b.headers.get('x-gateway-cache'), 'miss');
    assert.notEqual(b.data.id, a.data.id);
    assert.equal((await chat('chat', { messages, temperature: 0 }, {}, KEY_B)).headers.get('x-gateway-cache'), 'hit');
    assert.equal(upstream('chat'), before + 2);
  });

  test('scope shared: another consumer hits', async () => {
    const messages = prompt();
    const a = await chat('shared', { messages, temperature: 0 }, {}, KEY_A);
    const b = await chat('shared', { messages, temperature: 0 }, {}, KEY_B);
    assert.equal(b.headers.get('x-gateway-cache'), 'hit');
    assert.equal(b.data.id, a.data.id);
  });
});

test('an entry expires after ttlSeconds', async () => {
  const messages = prompt();
  const before = upstream('short');
  await chat('short', { messages, temperature: 0 });
  assert.equal((await chat('short', { messages, temperature: 0 })).headers.get('x-gateway-cache'), 'hit');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await chat('short', { messages, temperature: 0 })).headers.get('x-gateway-cache'), 'miss');
  assert.equal(upstream('short'), before + 2);
});

describe('streams', () => {
  test('a streamed request replays a cached answer as Azure\'s stream; usage only when asked', async () => {
    const messages = prompt();
    const plain = await chat('chat', { messages, temperature: 0 });
    const before = upstream('chat');

    const { data: stream, response } = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20, stream: true }).withResponse();
    assert.equal(response.headers.get('x-gateway-cache'), 'hit');
    assert.match(String(response.headers.get('content-type')), /^text\/event-stream/);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), plain.data.choices[0].message.content);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'stop');
    assert.ok(chunks.every((c) => !c.usage), 'no usage chunk when the client did not ask');
    assert.equal(chunks[0].choices.length, 0, 'the first chunk has no choices, as Azure sends it');

    const withUsage = await client().chat.completions.create({
      model: 'chat', messages, temperature: 0, max_tokens: 20, stream: true, stream_options: { include_usage: true },
    });
    const got: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of withUsage) got.push(c);
    assert.deepEqual(got.at(-1)!.usage, plain.data.usage);
    assert.equal(got.at(-1)!.choices.length, 0);
    assert.equal(upstream('chat'), before, 'neither stream reached upstream');

    const raw = await send(h.url, '/openai/deployments/chat/chat/completions?api-version=2024-10-21', {
      headers: json(KEY_A),
      body: JSON.stringify({ messages, temperature: 0, max_tokens: 20, stream: true }),
    });
    const events = raw.text.split('\n\n').filter(Boolean);
    assert.equal(events.at(-1), 'data: [DONE]');
    const firstEvent = JSON.parse(events[0].slice(6));
    assert.deepEqual(firstEvent.choices, []);
    assert.ok(Array.isArray(firstEvent.prompt_filter_results));
  });

  test('a streamed miss is put back together and stored: plain and streamed repeats hit', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const stream = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20, stream: true }).withResponse();
    assert.equal(stream.response.headers.get('x-gateway-cache'), 'miss');
    let text = '';
    let usageSeen = false;
    for await (const c of stream.data) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usageSeen = true;
    }
    assert.equal(usageSeen, false, 'the usage chunk the gateway asked for is still removed');
    const plain = await chat('chat', { messages, temperature: 0 });
    assert.equal(plain.headers.get('x-gateway-cache'), 'hit');
    assert.equal(plain.data.choices[0].message.content, text);
    assert.equal(plain.data.choices[0].message.role, 'assistant');
    assert.equal(plain.data.choices[0].finish_reason, 'stop');
    assert.equal(plain.data.object, 'chat.completion');
    assert.equal(plain.data.usage?.completion_tokens, 6);
    const streamedAgain = await client().chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20, stream: true });
    let again = '';
    for await (const c of streamedAgain) again += c.choices[0]?.delta?.content ?? '';
    assert.equal(again, text);
    assert.equal(upstream('chat'), before + 1);
  });

  test('a stream broken upstream is not stored', async () => {
    const messages = prompt();
    const broken = await client().chat.completions.create(
      { model: 'chat', messages, temperature: 0, max_tokens: 20, stream: true },
      { headers: { 'x-sim-fault': 'reset-after-chunks=2' } },
    );
    await assert.rejects(async () => {
      for await (const _ of broken);
    });
    const next = await chat('chat', { messages, temperature: 0 });
    assert.equal(next.headers.get('x-gateway-cache'), 'miss');
  });
});

test('a hit counts a request against the consumer\'s limits and charges no tokens; the ledger says cached', async () => {
  const messages = prompt();
  const miss = await chat('limited', { messages, temperature: 0 }, {}, KEY_LIMITED);
  const hit = await chat('limited', { messages, temperature: 0 }, {}, KEY_LIMITED);
  assert.equal(hit.headers.get('x-gateway-cache'), 'hit');
  assert.equal(hit.headers.get('x-gateway-tokens-consumed'), '0');
  assert.equal(Number(miss.headers.get('x-gateway-tokens-consumed')), miss.data.usage!.total_tokens);
  assert.equal(Number(hit.headers.get('x-ratelimit-remaining-requests')), Number(miss.headers.get('x-ratelimit-remaining-requests')) - 1);

  const db = (h.gw.ledger.backend as SqliteLedger).db;
  const rows = () => db.prepare("SELECT cache, total_tokens, usage_known, endpoint, attempts FROM usage_records WHERE consumer = 'limited' ORDER BY time_ms").all();
  await eventually(() => rows().length === 2, 3000);
  const [m, c] = rows();
  assert.equal(m.cache, 'miss');
  assert.equal(m.total_tokens, miss.data.usage!.total_tokens);
  assert.deepEqual({ ...c }, { cache: 'hit', total_tokens: 0, usage_known: 1, endpoint: null, attempts: 0 });
});

test('metrics and the access log show hits, misses and what was saved', async () => {
  const messages = prompt();
  h.log.lines.length = 0;
  const miss = await chat('shared', { messages, temperature: 0 });
  await chat('shared', { messages, temperature: 0 });
  await chat('shared', { messages, temperature: 0.5 });
  await eventually(() => h.log.access().length === 3);
  const [m, hit, skip] = h.log.access();
  assert.equal(m.cache, 'miss');
  assert.equal(m.endpoint, 'east');
  assert.equal(hit.cache, 'hit');
  assert.equal(hit.endpoint, undefined, 'no upstream was tried');
  assert.equal(hit.attempts, 0);
  assert.equal(hit.status, 200);
  assert.equal(skip.cache, 'skip');

  const s = await scrape();
  const where = { deployment: 'shared', consumer: 'team-a' };
  assert.ok(value(s, 'aoai_gateway_cache_requests_total', { ...where, result: 'hit' })! >= 1);
  assert.ok(value(s, 'aoai_gateway_cache_requests_total', { ...where, result: 'miss' })! >= 1);
  assert.ok(value(s, 'aoai_gateway_cache_requests_total', { ...where, result: 'skip' })! >= 1);
  assert.ok(value(s, 'aoai_gateway_cache_stores_total', { deployment: 'shared', outcome: 'stored' })! >= 1);
  assert.ok(value(s, 'aoai_gateway_cache_tokens_saved_total', where)! >= miss.data.usage!.total_tokens);
  assert.ok(value(s, 'aoai_gateway_requests_total', { deployment: 'shared', endpoint: '', status: '200' })! >= 1, 'a hit is a request answered by no endpoint');
});

test('hot reload: entries survive an unrelated change; a shorter TTL or no cache applies at once', async () => {
  const messages = prompt();
  await chat('reload', { messages, temperature: 0 });
  const reload = async (cache: unknown) => {
    const cfg = defaultGatewayConfig(h.sim, (raw) => {
      patch(raw);
      raw.deployments.extra = { targets: [{ endpoint: 'east', deployment: 'chat' }] };
      if (cache === undefined) delete raw.deployments.reload.cache;
      else raw.deployments.reload.cache = cache;
    });
    const r = await h.gw.reload(cfg);
    assert.equal(r.ok, true);
  };
  await reload({ ttlSeconds: 600 });
  assert.equal((await chat('reload', { messages, temperature: 0 })).headers.get('x-gateway-cache'), 'hit', 'the entry survived the reload');
  await new Promise((r) => setTimeout(r, 1100));
  await reload({ ttlSeconds: 1 });
  assert.equal((await chat('reload', { messages, temperature: 0 })).headers.get('x-gateway-cache'), 'miss', 'the shorter TTL applies to older entries');
  await reload(undefined);
  const off = await chat('reload', { messages, temperature: 0 });
  assert.equal(off.headers.get('x-gateway-cache'), null, 'cache removed: no lookups');
  await reload({ ttlSeconds: 600 });
});

describe('on Redis, two gateways share one cache', () => {
  const gateways: Gateway[] = [];
  before(async () => {
    const prefix = `aoaigw-cache-test-${process.pid}-${Date.now()}:`;
    for (let i = 0; i < 2; i++) {
      const cfg = defaultGatewayConfig(h.sim, (raw) => {
        patch(raw);
        raw.state = { store: 'redis', url: REDIS_URL, prefix };
      });
      gateways.push(await Gateway.start(cfg, { logger: createLogger(new LogSink()), adminPort: false }));
    }
  });
  after(async () => {
    for (const g of gateways) await g.close(1000);
  });

  test('an answer stored through one is a hit on the other', async () => {
    const messages = prompt();
    const before = upstream('chat');
    const [one, two] = gateways.map((g) => new OpenAI({ baseURL: `${g.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 }));
    const a = await one.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    assert.equal(a.response.headers.get('x-gateway-cache'), 'miss');
    let b = await two.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    // The store is written after the answer went out: give it a moment.
    for (let i = 0; i < 20 && b.response.headers.get('x-gateway-cache') !== 'hit'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      b = await two.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 20 }).withResponse();
    }
    assert.equal(b.response.headers.get('x-gateway-cache'), 'hit');
    assert.equal(b.data.id, a.data.id);
    assert.equal(upstream('chat'), before + 1);
  });
});

describe('tool calls and legacy completions', () => {
  // An OpenAI-compatible upstream that answers with a tool call, streamed in pieces as OpenAI streams them.
  let upstreamServer: Server;
  let served = 0;
  let tools: Harness;
  const call = { id: 'call_abc123', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' } };
  const usage = { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 };
  before(async () => {
    upstreamServer = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      served++;
      const head = { id: `chatcmpl-${served}`, created: 1700000000 + served, model: 'gpt-4o-2024-08-06', system_fingerprint: 'fp_x' };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...head, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls', logprobs: null }], usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null) => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
      const args = call.function.arguments;
      const events: object[] = [
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: 'get_weather', arguments: '' } }] }, null),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 10) } }] }, null),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(10) } }] }, null),
        chunk({}, 'tool_calls'),
      ];
      if (body.stream_options?.include_usage) events.push({ ...head, object: 'chat.completion.chunk', choices: [], usage });
      for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
      res.end('data: [DONE]\n\n');
    });
    await new Promise<void>((r) => upstreamServer.listen(0, '127.0.0.1', r));
    const port = (upstreamServer.address() as AddressInfo).port;
    tools = await startHarness({
      patch: (raw) => {
        raw.endpoints.tools = { kind: 'openai', url: `http://127.0.0.1:${port}`, auth: { type: 'none' } };
        raw.deployments.tools = { targets: [{ endpoint: 'tools', deployment: 'gpt-4o' }], cache: true };
        raw.deployments['gpt-4o-mini'].cache = true;
      },
    });
  });
  after(async () => {
    await tools.close();
    await new Promise((r) => upstreamServer.close(r));
  });

  const weather: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } } } } },
  ];

  test('a streamed tool call is stored whole; the plain repeat and the streamed one get it back', async () => {
    const sdk = new OpenAI({ baseURL: `${tools.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const messages = prompt();
    const before = served;
    const runner = sdk.chat.completions.stream({ model: 'tools', messages, tools: weather, temperature: 0 });
    const streamed = await runner.finalChatCompletion();
    assert.deepEqual(streamed.choices[0].message.tool_calls?.[0], call);

    const { data: plain, response } = await sdk.chat.completions.create({ model: 'tools', messages, tools: weather, temperature: 0 }).withResponse();
    assert.equal(response.headers.get('x-gateway-cache'), 'hit');
    assert.deepEqual(plain.choices[0].message.tool_calls, [call]);
    assert.equal(plain.choices[0].message.content, null);
    assert.equal(plain.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(plain.usage, usage);

    const again = await sdk.chat.completions.stream({ model: 'tools', messages, tools: weather, temperature: 0 }).finalChatCompletion();
    assert.deepEqual(again.choices[0].message.tool_calls?.[0], call);
    assert.equal(again.choices[0].finish_reason, 'tool_calls');
    assert.equal(served, before + 1, 'upstream answered once');
  });

  test('legacy completions: a plain answer replays as a stream, a streamed one is stored', async () => {
    const sdk = new OpenAI({ baseURL: `${tools.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const before = tools.sim.account('east').stats('gpt-4o-mini').requests;
    const p1 = `Complete ${randomUUID()}`;
    const plain = await sdk.completions.create({ model: 'gpt-4o-mini', prompt: p1, temperature: 0, max_tokens: 10 });
    const replay = await sdk.completions.create({ model: 'gpt-4o-mini', prompt: p1, temperature: 0, max_tokens: 10, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let last: OpenAI.Completion | undefined;
    for await (const c of replay) {
      text += c.choices[0]?.text ?? '';
      last = c;
    }
    assert.equal(text, plain.choices[0].text);
    assert.deepEqual(last?.usage, plain.usage);

    const p2 = `Complete ${randomUUID()}`;
    let streamedText = '';
    for await (const c of await sdk.completions.create({ model: 'gpt-4o-mini', prompt: p2, temperature: 0, max_tokens: 10, stream: true })) streamedText += c.choices[0]?.text ?? '';
    const { data, response } = await sdk.completions.create({ model: 'gpt-4o-mini', prompt: p2, temperature: 0, max_tokens: 10 }).withResponse();
    assert.equal(response.headers.get('x-gateway-cache'), 'hit');
    assert.equal(data.choices[0].text, streamedText);
    assert.equal(data.object, 'text_completion');
    assert.equal(tools.sim.account('east').stats('gpt-4o-mini').requests, before + 2);
  });
});

test('a wrong cache config is refused with every problem by path', () => {
  const r = validateConfig({
    endpoints: { east: { url: 'https://east.openai.azure.com' } },
    deployments: {
      a: { targets: [{ endpoint: 'east' }], cache: { scope: 'everyone', ttlSecs: 5 } },
      b: { targets: [{ endpoint: 'east' }], cache: { maxEntryBytes: 8 * 1024 * 1024 } },
    },
    cache: { maxMemoryBytes: 10 },
  });
  assert.equal(r.ok, false);
  const problems = formatIssues(r.ok ? [] : r.issues);
  assert.match(problems, /deployments\.a\.cache\.scope: cache\.scope is consumer or shared/);
  assert.match(problems, /deployments\.a\.cache\.ttlSecs: unknown field \(known: "ttlSeconds", "scope", "maxEntryBytes"\)/);
  assert.match(problems, /deployments\.b\.cache\.maxEntryBytes: at most 1048576/);
  assert.match(problems, /cache\.maxMemoryBytes: at least 1048576/);
});
