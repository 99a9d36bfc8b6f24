// Consumers' keys, what they may use, and what reaches upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { formatKeyHash, KeyIndex } from '../src/auth/consumer-keys.ts';
import { Simulator } from '../src/simulator/index.ts';
import { chatBody, KEY_A, KEY_B, startHarness, UPSTREAM_KEY_EAST, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const HASHED_KEY = 'team-c-hashed-key-0123456789';

let h: Harness;
before(async () => {
  h = await startHarness({
    patch: (raw) => {
      raw.consumers['team-c'] = { keys: [formatKeyHash(HASHED_KEY)], deployments: ['gpt-4o'] };
    },
  });
});
after(() => h.close());

const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';

function assertOpenAiError(body: any, code: string, type: string) {
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, code);
  assert.equal(body.error.type, type);
  assert.equal(typeof body.error.message, 'string');
}

describe('authentication', () => {
  test('no key: 401 in OpenAI shape, nothing forwarded', async () => {
    const before = h.sim.account('east').received.length;
    const r = await send(h.url, CHAT, { headers: { 'content-type': 'application/json' }, body: chatBody() });
    assert.equal(r.status, 401);
    assertOpenAiError(r.json(), 'missing_api_key', 'authentication_error');
    assert.equal(h.sim.account('east').received.length, before);
  });

  test('unknown key: 401, and the key is not echoed', async () => {
    const r = await send(h.url, CHAT, { headers: json('wrong-key-but-long-enough-1234'), body: chatBody() });
    assert.equal(r.status, 401);
    assertOpenAiError(r.json(), 'invalid_api_key', 'authentication_error');
    assert.ok(!r.text.includes('wrong-key-but-long-enough-1234'));
  });

  test('a key one character off is refused', async () => {
    const near = KEY_A.slice(0, -1) + (KEY_A.endsWith('f') ? 'e' : 'f');
    assert.equal((await send(h.url, CHAT, { headers: json(near), body: chatBody() })).status, 401);
  });

  test('api-key header and Authorization: Bearer both work', async () => {
    assert.equal((await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
    const bearer = { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' };
    assert.equal((await send(h.url, CHAT, { headers: bearer, body: chatBody() })).status, 200);
  });

  test('keys configured as sha256:<hex> authenticate the plain key', async () => {
    assert.equal((await send(h.url, CHAT, { headers: json(HASHED_KEY), body: chatBody() })).status, 200);
    assert.equal(new KeyIndex({ c: { keys: [formatKeyHash('x'.repeat(20))], deployments: ['*'], requireUser: false } }).authenticate('x'.repeat(20))?.name, 'c');
  });

  test('403 for a deployment the consumer may not use; 404 for one that does not exist, whoever asks', async () => {
    const r403 = await send(h.url, CHAT, { headers: json(KEY_B), body: chatBody() });
    assert.equal(r403.status, 403);
    assertOpenAiError(r403.json(), 'deployment_not_allowed', 'permission_error');
    for (const key of [KEY_A, KEY_B]) {
      const r404 = await send(h.url, '/openai/deployments/nope/chat/completions?api-version=2024-10-21', { headers: json(key), body: chatBody() });
      assert.equal(r404.status, 404);
      assertOpenAiError(r404.json(), 'deployment_not_found', 'invalid_request_error');
    }
  });
});

describe('what reaches upstream', () => {
  test('the client\'s credentials are replaced by the endpoint\'s key', async () => {
    await send(h.url, CHAT, {
      headers: {
        'api-key': KEY_A,
        authorization: `Bearer ${KEY_A}`,
        cookie: `session=${KEY_A}`,
        'content-type': 'application/json',
        'x-custom': 'kept',
      },
      body: chatBody(),
    });
    const seen = h.sim.account('east').received.at(-1)!;
    assert.equal(seen.headers['api-key'], UPSTREAM_KEY_EAST);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.ok(!JSON.stringify(seen.headers).includes(KEY_A));
  });

  test('an OpenAI-compatible endpoint gets its bearer token, /v1 paths and the model in the body', async () => {
    const sim = await Simulator.start({
      accounts: { vllm: { tokens: ['vllm-token-0001'], deployments: { 'llama-3-70b': { completionTokens: 2 } } } },
    });
    const h2 = await startHarness({
      patch: (raw) => {
        raw.endpoints.vllm = { kind: 'openai', url: `${sim.account('vllm').url}/v1`, auth: { type: 'bearer', token: 'vllm-token-0001' } };
        raw.deployments.llama = { targets: [{ endpoint: 'vllm', deployment: 'llama-3-70b' }] };
      },
    });
    try {
      const r = await send(h2.url, '/openai/deployments/llama/chat/completions?api-version=2024-10-21', { headers: json(KEY_A), body: chatBody() });
      assert.equal(r.status, 200);
      const seen = sim.account('vllm').received.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.headers.authorization, 'Bearer vllm-token-0001');
      assert.equal(seen.headers['api-key'], undefined);
      assert.equal((seen.body as { model: string }).model, 'llama-3-70b');
    } finally {
      await h2.close();
      await sim.close();
    }
  });

  test('every other byte of the body passes as sent', async () => {
    const body = '{ "model" : "gpt-4o",\n  "messages":[{"role":"user","content":"caf\\u00e9 \\"q\\""}], "max_tokens": 5, "x_unknown": {"keep": [1, 2.50, true]} }';
    const r = await send(h.url, '/openai/v1/chat/completions', { headers: json(KEY_A), body });
    assert.equal(r.status, 200);
    assert.equal(h.sim.account('east').received.at(-1)!.raw.toString('utf8'), body.replace('"gpt-4o"', '"gpt4o-ptu"'));
  });
});

describe('paths and names are checked before anything is forwarded', () => {
  const attempts = [
    '/openai/deployments/gpt-4o/../../management/keys?api-version=1',
    '/openai/deployments/gpt-4o/chat/..%2f..%2fsecrets',
    '/openai/deployments/gpt-4o/%2e%2e/%2e%2e/x',
    '/openai/deployments/%2e%2e/chat/completions',
    '/openai/deployments/..%2Fother/chat/completions',
    '/openai/deployments/gpt-4o/chat%2fcompletions',
    '/openai/deployments/gpt-4o/chat\\..\\x',
    '/openai/v1/../deployments/x/chat/completions',
    '/openai/deployments/gpt-4o//chat/completions',
  ];
  for (const path of attempts) {
    test(path, async () => {
      const before = h.sim.account('east').received.length + h.sim.account('west').received.length;
      const r = await send(h.url, path, { headers: json(KEY_A), body: chatBody() });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json().error.code, /^invalid_(path|deployment_name)$/);
      assert.equal(h.sim.account('east').received.length + h.sim.account('west').received.length, before);
    });
  }

  test('a body model that is not a plain name is refused', async () => {
    for (const model of ['../gpt-4o', 'gpt-4o/../x', 'a%2fb', '']) {
      const r = await send(h.url, '/openai/v1/chat/completions', { headers: json(KEY_A), body: chatBody({ model }) });
      assert.equal(r.status, 400, model);
    }
  });

  test('an absolute URL or a Host header cannot point the gateway elsewhere', async () => {
    const before = h.sim.account('west').received.length;
    const abs = await send(h.url, `${h.sim.account('west').url}/openai/deployments/gpt-4o/chat/completions`, { headers: json(KEY_A), body: chatBody() });
    assert.equal(abs.status, 404);
    const host = await send(h.url, CHAT, { headers: { ...json(KEY_A), host: new URL(h.sim.account('west').url).host }, body: chatBody() });
    assert.equal(host.headers['x-gateway-endpoint'], 'east');
    assert.equal(h.sim.account('west').received.length, before);
  });

  test('unknown routes answer 404 in OpenAI shape', async () => {
    const r = await send(h.url, '/admin', { headers: json(KEY_A) });
    assert.equal(r.status, 404);
    assertOpenAiError(r.json(), 'route_not_found', 'invalid_request_error');
  });

  test('the SDK sees a bad body as a 400', async () => {
    const r = await send(h.url, '/openai/v1/chat/completions', { headers: json(KEY_A), body: '{"model": "gpt-4o", ' });
    assert.equal(r.status, 400);
    assertOpenAiError(r.json(), 'invalid_body', 'invalid_request_error');
    const noModel = await send(h.url, '/openai/v1/chat/completions', { headers: json(KEY_A), body: '[1,2]' });
    assert.equal(noModel.status, 400);
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: '', messages: [] }), OpenAI.BadRequestError);
  });
});
