// The admin API on the admin port: its auth, each call as an operator uses
// it (state, usage, keys, drain), its OpenAPI description — and none of it on
// the data port.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatKeyHash } from '../src/auth/consumer-keys.ts';
import { chatBody, KEY_A, KEY_B, startHarness, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const ADMIN_KEY = 'admin-key-for-tests-0123456789';
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;

let h: Harness;
let admin: string;
before(async () => {
  h = await startHarness({
    patch: (raw) => {
      raw.admin = { key: ADMIN_KEY };
      raw.ledger = { url: 'sqlite::memory:', keysRefreshSeconds: 60 };
      raw.deployments['gpt-4o'] = {
        targets: [
          { endpoint: 'east', deployment: 'gpt4o-ptu', priority: 1, tpm: 100_000 },
          { endpoint: 'west', deployment: 'gpt-4o', priority: 2 },
        ],
      };
      raw.prices = { 'gpt-4o': { input: 2.5, output: 10 } };
    },
  });
  admin = h.gw.admin!.url;
});
after(() => h.close());

const bearer = (key = ADMIN_KEY) => ({ authorization: `Bearer ${key}` });
const get = (path: string, headers: Record<string, string> = bearer()) => send(admin, path, { headers });
const post = (path: string, body?: unknown, headers: Record<string, string> = bearer()) =>
  send(admin, path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
const chat = (deployment: string, key = KEY_A) => send(h.url, CHAT(deployment), { headers: json(key), body: chatBody() });

describe('auth', () => {
  test('every /admin/api call needs the admin key: 401 without it or with a wrong one, in OpenAI shape', async () => {
    for (const path of ['/admin/api/state', '/admin/api/usage', '/admin/api/keys', '/admin/api/activity', '/admin/api/openapi.json', '/metrics']) {
      const none = await get(path, {});
      assert.equal(none.status, 401, path);
      assert.equal(none.json().error.code, 'missing_api_key');
      const wrong = await get(path, bearer('not-the-admin-key-0000000'));
      assert.equal(wrong.status, 401, path);
      assert.equal(wrong.json().error.code, 'invalid_api_key');
      assert.ok(!wrong.text.includes('not-the-admin-key-0000000'), 'the key given is not echoed');
      assert.ok(!wrong.text.includes(ADMIN_KEY));
    }
    for (const r of [await post('/admin/api/reload', undefined, {}), await post('/admin/api/targets/east/gpt4o-ptu/drain', undefined, {})]) {
      assert.equal(r.status, 401);
    }
  });

  test('a consumer key is not an admin key', async () => {
    assert.equal((await get('/admin/api/state', bearer(KEY_A))).status, 401);
  });

  test('the admin key works as api-key too', async () => {
    assert.equal((await get('/admin/api/state', { 'api-key': ADMIN_KEY })).status, 200);
  });

  test('the admin API is never on the data port', async () => {
    for (const path of ['/admin/api/state', '/metrics', '/admin/api/keys']) {
      const r = await send(h.url, path, { headers: bearer() });
      assert.equal(r.status, 404, path);
      assert.equal(r.json().error.code, 'route_not_found');
    }
    assert.equal((await send(h.url, '/', { headers: bearer() })).status, 404, 'nor the dashboard');
  });

  test('a wrong method is 405; an unknown admin route is 404', async () => {
    const r = await send(admin, '/admin/api/state', { method: 'DELETE', headers: bearer() });
    assert.equal(r.status, 405);
    assert.equal(r.json().error.code, 'method_not_allowed');
    assert.equal((await get('/admin/api/nothing')).status, 404);
  });
});

describe('without admin.key', () => {
  test('the admin API is off (403) and says how to turn it on; /metrics stays readable', async () => {
    const open = await startHarness();
    try {
      const url = open.gw.admin!.url;
      const r = await send(url, '/admin/api/state', { headers: bearer() });
      assert.equal(r.status, 403);
      assert.equal(r.json().error.code, 'admin_disabled');
      assert.match(r.json().error.message, /admin\.key/);
      const m = await send(url, '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.text, /aoai_gateway_requests_in_flight/);
    } finally {
      await open.close();
    }
  });

  test('admin.key may be given as sha256:<hex>', async () => {
    const hashed = await startHarness({ patch: (raw) => (raw.admin = { key: formatKeyHash(ADMIN_KEY) }) });
    try {
      const url = hashed.gw.admin!.url;
      assert.equal((await send(url, '/admin/api/state', { headers: bearer() })).status, 200);
      assert.equal((await send(url, '/admin/api/state', { headers: bearer(formatKeyHash(ADMIN_KEY)) })).status, 401, 'the digest itself is not the key');
    } finally {
      await hashed.close();
    }
  });
});

describe('calls', () => {
  test('GET /admin/api/state: every deployment and target, with what routing knows of it', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await chat('gpt-4o')).status, 200);
    const r = await get('/admin/api/state');
    assert.equal(r.status, 200);
    const s = r.json();
    assert.deepEqual(s.stateStore, { kind: 'memory', up: true });
    assert.equal(s.ledger.up, true);
    assert.equal(typeof s.inFlight, 'number');
    const d = s.deployments.find((x: { name: string }) => x.name === 'gpt-4o');
    assert.equal(d.strategy, 'priority');
    assert.equal(d.queue, 0);
    const [ptu, payg] = d.targets;
    assert.equal(ptu.id, 'east/gpt4o-ptu');
    assert.equal(ptu.state, 'available');
    assert.equal(ptu.circuit, 'closed');
    assert.equal(ptu.priority, 1);
    assert.equal(ptu.tpm, 100_000);
    assert.equal(ptu.inFlight, 0);
    assert.ok(ptu.tokensThisMinute > 0, 'tokens served this minute');
    assert.ok(ptu.reservedThisMinute > 0, 'tokens counted against its declared tpm');
    assert.equal(typeof ptu.remainingTokens, 'number', 'the last x-ratelimit-remaining-tokens');
    assert.equal(typeof ptu.remainingRequests, 'number');
    assert.equal(payg.id, 'west/gpt-4o');
    assert.equal(payg.tpm, null);
    assert.ok(!r.text.includes(UPSTREAM_KEY_EAST) && !r.text.includes(UPSTREAM_KEY_WEST) && !r.text.includes(KEY_A), 'no key in the state');

    // A cooldown shows with its end.
    const fault = `/_sim/deployments/gpt4o-ptu/fault`;
    await send(h.sim.account('east').url, fault, { method: 'PUT', body: JSON.stringify({ fault: 'status=429;retry-after=30' }) });
    const cooled = await chat('gpt-4o');
    await send(h.sim.account('east').url, fault, { method: 'DELETE' });
    assert.equal(cooled.status, 200, 'failed over');
    assert.equal(cooled.headers['x-gateway-endpoint'], 'west');
    const after = (await get('/admin/api/state')).json().deployments.find((x: { name: string }) => x.name === 'gpt-4o').targets[0];
    assert.equal(after.state, 'cooling');
    assert.ok(after.cooldownUntil > Date.now() + 25_000 && after.cooldownUntil <= Date.now() + 30_500, String(after.cooldownUntil));
    assert.equal(after.availableAt, after.cooldownUntil);
  });

  test('GET /admin/api/usage: the ledger grouped by consumer, deployment or endpoint, with cost', async () => {
    await chat('gpt-4o-mini', KEY_B);
    // Records reach the ledger in batches, off the request path.
    let byConsumer = await get('/admin/api/usage?by=consumer&since=1h');
    for (let i = 0; i < 100 && !byConsumer.json().rows.some((r: { consumer: string }) => r.consumer === 'team-b'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      byConsumer = await get('/admin/api/usage?by=consumer&since=1h');
    }
    assert.equal(byConsumer.status, 200);
    const body = byConsumer.json();
    assert.equal(body.by, 'consumer');
    assert.ok(Date.parse(body.since) < Date.now() - 3_500_000);
    const rows = body.rows as Record<string, unknown>[];
    const a = rows.find((x) => x.consumer === 'team-a')!;
    const b = rows.find((x) => x.consumer === 'team-b')!;
    assert.ok((a.requests as number) >= 4, JSON.stringify(a));
    assert.equal(b.requests, 1);
    assert.equal(b.cost, null, 'gpt-4o-mini has no price');
    assert.ok((a.cost as number) > 0, 'gpt-4o has one');
    assert.ok((a.totalTokens as number) > 0);

    const byDeployment = (await get('/admin/api/usage?by=deployment')).json().rows as Record<string, unknown>[];
    assert.deepEqual(byDeployment.map((r) => r.deployment).sort(), ['gpt-4o', 'gpt-4o-mini']);
    const byEndpoint = (await get(`/admin/api/usage?by=endpoint&since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`)).json().rows as Record<string, unknown>[];
    assert.deepEqual(byEndpoint.map((r) => r.endpoint).sort(), ['east', 'west']);

    const badBy = await get('/admin/api/usage?by=user');
    assert.equal(badBy.status, 400);
    assert.equal(badBy.json().error.param, 'by');
    const badSince = await get('/admin/api/usage?since=yesterday');
    assert.equal(badSince.status, 400);
    assert.equal(badSince.json().error.param, 'since');
  });

  test('keys: create (shown once), list (never the key), revoke; the data port follows at once', async () => {
    const created = await post('/admin/api/keys', { consumer: 'team-b', expiresInSeconds: 3600 });
    assert.equal(created.status, 201);
    const k = created.json();
    assert.match(k.key, /^aoai-/);
    assert.equal(k.consumer, 'team-b');
    assert.ok(Date.parse(k.expiresAt) > Date.now() + 3_500_000);
    assert.equal((await chat('gpt-4o-mini', k.key)).status, 200, 'the new key works on this gateway without waiting for a refresh');
    assert.equal((await chat('gpt-4o', k.key)).status, 403, 'with the consumer\'s rights');

    const listed = await get('/admin/api/keys');
    assert.equal(listed.status, 200);
    const entry = listed.json().keys.find((x: { id: string }) => x.id === k.id);
    assert.equal(entry.status, 'active');
    assert.equal(entry.prefix, k.key.slice(0, 12));
    assert.ok(!listed.text.includes(k.key), 'the list never holds a key');
    assert.ok(!listed.text.includes(formatKeyHash(k.key).slice(7)), 'nor its hash');

    const revoked = await send(admin, `/admin/api/keys/${k.id}`, { method: 'DELETE', headers: bearer() });
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.json(), { revoked: 1 });
    assert.equal((await chat('gpt-4o-mini', k.key)).status, 401, 'refused at once');
    assert.equal((await get('/admin/api/keys')).json().keys.find((x: { id: string }) => x.id === k.id).status, 'revoked');
    const again = await post(`/admin/api/keys/${k.id}/revoke`);
    assert.equal(again.status, 404);

    // Revoking by prefix, with the POST spelling.
    const other = (await post('/admin/api/keys', { consumer: 'team-a' })).json();
    assert.equal(other.expiresAt, null);
    assert.equal((await post(`/admin/api/keys/${encodeURIComponent(other.prefix)}/revoke`)).status, 200);
    assert.equal((await chat('gpt-4o', other.key)).status, 401);
  });

  test('keys: bad requests get 400 with the field named', async () => {
    const cases: [unknown, string][] = [
      [{ consumer: 'nobody' }, 'consumer'],
      [{}, 'consumer'],
      [{ consumer: 'team-a', expiresInSeconds: -5 }, 'expiresInSeconds'],
      [{ consumer: 'team-a', expiresInSeconds: '90d' }, 'expiresInSeconds'],
    ];
    for (const [body, param] of cases) {
      const r = await post('/admin/api/keys', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json().error.param, param);
    }
    const notJson = await send(admin, '/admin/api/keys', { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json().error.code, 'invalid_body');
    const huge = await send(admin, '/admin/api/keys', { method: 'POST', headers: bearer(), body: 'x'.repeat(200_000) });
    assert.equal(huge.status, 413);
  });

  test('drain takes a target out of rotation, undrain puts it back', async () => {
    // The PTU target may still cool from the test above: take a deployment of its own.
    const drained = await post('/admin/api/targets/east/gpt-4o-mini/drain');
    assert.equal(drained.status, 200);
    assert.deepEqual(drained.json(), { target: 'east/gpt-4o-mini', drained: true });
    const state = (await get('/admin/api/state')).json().deployments.find((x: { name: string }) => x.name === 'gpt-4o-mini').targets[0];
    assert.equal(state.state, 'drained');
    const r = await chat('gpt-4o-mini');
    assert.equal(r.status, 503, 'its only target is drained');
    assert.equal(r.json().error.code, 'no_target_available');
    assert.equal((await post('/admin/api/targets/east/gpt-4o-mini/undrain')).status, 200);
    assert.equal((await chat('gpt-4o-mini')).status, 200);
    const unknown = await post('/admin/api/targets/east/nothing/drain');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'route_not_found');
  });

  test('GET /admin/api/openapi.json describes every call', async () => {
    const r = await get('/admin/api/openapi.json');
    assert.equal(r.status, 200);
    const doc = r.json();
    assert.equal(doc.openapi, '3.1.0');
    for (const [path, method] of [
      ['/admin/api/state', 'get'],
      ['/admin/api/usage', 'get'],
      ['/admin/api/keys', 'get'],
      ['/admin/api/keys', 'post'],
      ['/admin/api/keys/{id}', 'delete'],
      ['/admin/api/reload', 'post'],
      ['/admin/api/targets/{endpoint}/{deployment}/drain', 'post'],
      ['/admin/api/targets/{endpoint}/{deployment}/undrain', 'post'],
      ['/admin/api/activity', 'get'],
      ['/metrics', 'get'],
    ]) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
    }
  });
});
