// `auth: {type: entra}` endpoints with the real @azure/identity code against
// local stand-ins: a managed identity endpoint (App Service style,
// IDENTITY_ENDPOINT + IDENTITY_HEADER), and a fake Entra authority over TLS
// for client secrets, certificates and workload identity. The simulator
// accepts only the tokens the stand-ins issue.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AzureOpenAI } from 'openai';
import { FakeEntra, IDENTITY_HEADER, ManagedIdentityStandIn, TENANT } from './helpers/entra-stand-in.ts';
import { KEY_A, UPSTREAM_KEY_WEST, defaultSimulator, eventually, startHarness, type Harness } from './helpers/harness.ts';
import { send } from './helpers/http.ts';
import { parsePrometheus, value } from './helpers/prometheus.ts';
import { makeTestCert, trustInThisProcess, type TestCert } from './helpers/tls-cert.ts';

const ADMIN_KEY = 'entra-admin-key-0123456789';
const SCOPE = 'https://cognitiveservices.azure.com/.default';
const API_VERSION = '2024-10-21';
/** Tokens the simulated account accepts: what the stand-ins issue, in order. */
const accepted = (prefix: string) => Array.from({ length: 200 }, (_, i) => `${prefix}-${i + 1}`);

function client(h: Harness): AzureOpenAI {
  return new AzureOpenAI({ endpoint: h.url, apiKey: KEY_A, apiVersion: API_VERSION, maxRetries: 0 });
}

async function adminState(h: Harness): Promise<any> {
  const r = await send(h.gw.admin!.url, '/admin/api/state', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(r.status, 200);
  return r.json();
}

function target(state: any, deployment: string, id: string): any {
  return state.deployments.find((d: any) => d.name === deployment).targets.find((t: any) => t.id === id);
}

function bearerOf(h: Harness, account: string): string | undefined {
  const last = h.sim.account(account).received.at(-1);
  return last?.headers.authorization as string | undefined;
}

/** One sim account per endpoint kind: east takes Entra tokens only, west its api-key. */
function simulatorWithTokens(tokens: string[]) {
  const sim = defaultSimulator();
  sim.accounts.east.keys = [];
  sim.accounts.east.tokens = tokens;
  return sim;
}

function entraPatch(auth: Record<string, unknown>) {
  return (raw: Record<string, any>) => {
    raw.admin = { key: ADMIN_KEY };
    raw.endpoints.east.auth = { type: 'entra', ...auth };
    // gpt-4o: east first, west behind it; gpt-4o-mini: east only.
    raw.deployments['gpt-4o'] = {
      targets: [
        { endpoint: 'east', deployment: 'gpt4o-ptu', priority: 1 },
        { endpoint: 'west', deployment: 'gpt-4o', priority: 2 },
      ],
    };
  };
}

describe('managed identity (App Service identity endpoint)', () => {
  let mi: ManagedIdentityStandIn;
  let h: Harness;
  const saved = { ...process.env };
  const start = (clientId?: string) =>
    startHarness({ simulator: simulatorWithTokens(accepted('mi-token')), patch: entraPatch({ credential: 'managed-identity', ...(clientId ? { clientId } : {}) }) });

  before(async () => {
    mi = await ManagedIdentityStandIn.start();
    Object.assign(process.env, mi.env);
    h = await start();
  });
  after(async () => {
    await h?.close();
    await mi?.close();
    process.env = saved;
  });

  test('the simulator receives the token; many concurrent requests share one fetch', async () => {
    const ai = client(h);
    const answers = await Promise.all(Array.from({ length: 25 }, () => ai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })));
    assert.equal(answers.length, 25);
    assert.ok(answers.every((a) => a.choices[0].message.content));
    assert.equal(mi.issued.length, 1, 'one token fetch for all of them');
    await client(h).embeddings.create({ model: 'text-embedding-3-small', input: 'again' });
    assert.equal(mi.issued.length, 1, 'and for the next ones');
    assert.equal(mi.issued[0].resource, 'https://cognitiveservices.azure.com');
    assert.equal(bearerOf(h, 'east'), `Bearer ${mi.issued[0].token}`);
    const state = await adminState(h);
    const cred = state.credentials.find((c: any) => c.endpoint === 'east');
    assert.equal(cred.state, 'ok');
    assert.ok(cred.tokenExpiresAt > Date.now());
    assert.ok(!JSON.stringify(state).includes('mi-token'), 'the state never shows a token');
  });

  test('the token is refreshed in the background before it expires', async () => {
    // Short-lived tokens from here on: the gateway must refresh them itself.
    await h.close();
    mi.tokenLifetimeSeconds = 4;
    // A user-assigned identity: MSAL's managed-identity token cache is per process, by identity.
    h = await start('user-assigned-identity-1');
    const before = mi.issued.length;
    // A 4 s token is refreshed at half its life: without any request.
    await eventually(() => mi.issued.length >= before + 2, 8000);
    const r = await client(h).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    assert.ok(r.choices.length > 0);
    const newest = mi.issued.at(-1)!.token;
    const sent = bearerOf(h, 'east');
    // the newest, or the one before it if a refresh landed in between
    assert.ok(sent === `Bearer ${newest}` || sent === `Bearer ${mi.issued.at(-2)!.token}`, `sent ${sent}`);
  });

  test('token endpoint failing: the endpoint is out with the reason, other targets serve at once, a fast 503 where there is none; back when tokens come', async () => {
    mi.mode = 'error';
    // The token in hand expires within 4 s; then the endpoint's targets go out.
    let state: any;
    const deadline = Date.now() + 10_000;
    for (;;) {
      state = await adminState(h);
      if (target(state, 'gpt-4o', 'east/gpt4o-ptu').state === 'credential-failed') break;
      assert.ok(Date.now() < deadline, 'the endpoint is shown unavailable');
      await new Promise((r) => setTimeout(r, 100));
    }
    const east = target(state, 'gpt-4o', 'east/gpt4o-ptu');
    assert.match(east.reason, /Identity not found/);
    assert.ok(east.availableAt > Date.now(), 'with when it is tried again');
    assert.equal(target(state, 'gpt-4o', 'west/gpt-4o').state, 'available');
    assert.equal(state.credentials.find((c: any) => c.endpoint === 'east').state, 'failed');

    // Other targets serve at once, without an attempt on east.
    const eastBefore = h.sim.account('east').received.length;
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const { data, response } = await client(h)
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
        .withResponse();
      assert.ok(data.choices.length > 0);
      assert.equal(response.headers.get('x-gateway-endpoint'), 'west');
      assert.equal(response.headers.get('x-gateway-attempts'), '1');
      assert.ok(Date.now() - started < 1000, 'no slow failing first');
    }
    assert.equal(h.sim.account('east').received.length, eastBefore, 'nothing was sent to east');

    // No other target: a fast, clear 503.
    const started = Date.now();
    const r = await send(h.url, `/openai/deployments/gpt-4o-mini/chat/completions?api-version=${API_VERSION}`, {
      headers: { 'api-key': KEY_A, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    assert.ok(Date.now() - started < 1000);
    assert.equal(r.status, 503);
    assert.equal(r.json().error.code, 'upstream_credential_unavailable');
    assert.ok(Number(r.headers['retry-after']) >= 1);
    assert.equal(r.headers['x-gateway-attempts'], '0');

    // The SDK raises it as a typed error.
    await assert.rejects(
      client(h).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      (err: any) => err.status === 503 && err.code === 'upstream_credential_unavailable',
    );

    // The target-state metric shows it.
    const metrics = parsePrometheus((await send(h.gw.admin!.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text);
    assert.equal(value(metrics, 'aoai_gateway_target_state', { target: 'east/gpt4o-ptu', deployment: 'gpt-4o', state: 'credential-failed' }), 1);
    assert.equal(value(metrics, 'aoai_gateway_target_state', { target: 'east/gpt4o-ptu', deployment: 'gpt-4o', state: 'available' }), 0);

    // Back when the identity endpoint answers again (retried in the background, backoff 1, 2, 4 s…).
    mi.mode = 'ok';
    await eventually(() => h.gw.runtime.endpoints.get('east')!.credential.unavailableUntil!() === 0, 15_000);
    const back = await client(h).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).withResponse();
    assert.equal(back.response.headers.get('x-gateway-endpoint'), 'east');
    assert.equal(bearerOf(h, 'east'), `Bearer ${mi.issued.at(-1)!.token}`);
    assert.equal(target(await adminState(h), 'gpt-4o', 'east/gpt4o-ptu').state, 'available');

    // Logged once for the episode, and its end; never a token or the identity header.
    const lines = h.log.lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('entra:'));
    const down = lines.filter((l) => (l.msg as string).includes('no token'));
    assert.equal(down.length, 1, 'one line for the episode, not one per retry');
    assert.equal(down[0].endpoint, 'east');
    assert.match(String(down[0].reason), /Identity not found/);
    assert.equal(lines.filter((l) => (l.msg as string).includes('obtained again')).length, 1);
    const all = h.log.raw.join('\n');
    assert.ok(!/mi-token-\d/.test(all), 'no token in any log line');
    assert.ok(!all.includes(IDENTITY_HEADER));
  });
});

describe('a fake Entra authority over TLS (MSAL): client secret, certificate, workload identity', () => {
  let tlsCert: TestCert;
  let appCert: TestCert;
  let entra: FakeEntra;
  const SECRET = 'client-secret-value-0123456789~abc';
  const saved = { ...process.env };

  before(async () => {
    tlsCert = makeTestCert();
    appCert = makeTestCert('aoai-gateway-app');
    trustInThisProcess(tlsCert.cert);
    entra = await FakeEntra.start({ cert: tlsCert.cert, key: tlsCert.key });
    entra.apps.set('app-secret', { secret: SECRET });
    entra.apps.set('app-cert', { certificate: appCert.cert });
    entra.apps.set('app-wi', { federatedToken: 'federated-service-account-token-0001' });
  });
  after(async () => {
    await entra?.close();
    tlsCert?.remove();
    appCert?.remove();
    process.env = saved;
  });

  async function servesWith(auth: Record<string, unknown>, how: string): Promise<Harness> {
    const h = await startHarness({
      simulator: simulatorWithTokens(accepted('entra-at')),
      patch: entraPatch({ tenantId: TENANT, authorityHost: entra.url, ...auth }),
    });
    try {
      const r = await client(h).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
      assert.ok(r.choices.length > 0);
      const issued = entra.issued.at(-1)!;
      assert.equal(issued.how, how);
      assert.equal(issued.scope, SCOPE);
      assert.equal(bearerOf(h, 'east'), `Bearer ${issued.token}`);
      return h;
    } catch (err) {
      const reason = h.gw.runtime.endpoints.get('east')!.credential.status!().reason;
      await h.close();
      throw new Error(`${(err as Error).message} (credential: ${reason})`);
    }
  }

  test('client secret: the token comes from the authority, discovered over OIDC', async () => {
    const h = await servesWith({ credential: 'client-secret', clientId: 'app-secret', clientSecret: SECRET }, 'secret');
    try {
      assert.ok(entra.requests.includes(`GET /${TENANT}/v2.0/.well-known/openid-configuration`));
      assert.ok(!entra.requests.some((r) => r.includes('/common/discovery/instance')), 'no instance discovery for a private authority');
      assert.ok(!h.log.raw.join('\n').includes(SECRET));
    } finally {
      await h.close();
    }
  });

  test('client certificate: a signed assertion the authority verifies', async () => {
    const h = await servesWith({ credential: 'client-certificate', clientId: 'app-cert', certificatePath: appCert.bundlePath }, 'certificate');
    await h.close();
  });

  test('workload identity: the federated token file', async () => {
    const file = join(tlsCert.dir, 'federated-token');
    writeFileSync(file, 'federated-service-account-token-0001');
    process.env.AZURE_FEDERATED_TOKEN_FILE = file;
    const h = await servesWith({ credential: 'workload-identity', clientId: 'app-wi' }, 'federated');
    await h.close();
  });

  test('the authority down (connections refused): out while it is, back when it returns', async () => {
    entra.tokenLifetimeSeconds = 3;
    const h = await servesWith({ credential: 'client-secret', clientId: 'app-secret', clientSecret: SECRET }, 'secret');
    try {
      await entra.stop();
      await eventually(() => h.gw.runtime.endpoints.get('east')!.credential.unavailableUntil!() > 0, 10_000);
      const east = target(await adminState(h), 'gpt-4o', 'east/gpt4o-ptu');
      assert.equal(east.state, 'credential-failed');
      assert.ok(east.reason.length > 0);
      const { response } = await client(h).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).withResponse();
      assert.equal(response.headers.get('x-gateway-endpoint'), 'west');
      await entra.resume();
      await eventually(() => h.gw.runtime.endpoints.get('east')!.credential.unavailableUntil!() === 0, 20_000);
      const back = await client(h).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).withResponse();
      assert.equal(back.response.headers.get('x-gateway-endpoint'), 'east');
      assert.equal(bearerOf(h, 'east'), `Bearer ${entra.issued.at(-1)!.token}`);
    } finally {
      entra.tokenLifetimeSeconds = 3600;
      await h.close();
    }
  });

  test('a wrong client secret: the endpoint is out with the reason, never the secret; west serves', async () => {
    const wrong = 'wrong-secret-value-0123456789~xyz';
    const h = await startHarness({
      simulator: simulatorWithTokens(accepted('entra-at')),
      patch: entraPatch({ credential: 'client-secret', tenantId: TENANT, clientId: 'app-secret', clientSecret: wrong, authorityHost: entra.url }),
    });
    try {
      await eventually(() => h.gw.runtime.endpoints.get('east')!.credential.unavailableUntil!() > 0, 8000);
      const state = await adminState(h);
      const east = target(state, 'gpt-4o', 'east/gpt4o-ptu');
      assert.equal(east.state, 'credential-failed');
      assert.match(east.reason, /Invalid client secret/);
      const { response } = await client(h).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).withResponse();
      assert.equal(response.headers.get('x-gateway-endpoint'), 'west');
      const r = await send(h.url, `/openai/deployments/gpt-4o-mini/chat/completions?api-version=${API_VERSION}`, {
        headers: { 'api-key': KEY_A, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      });
      assert.equal(r.status, 503);
      for (const text of [JSON.stringify(state), r.text, h.log.raw.join('\n')]) {
        assert.ok(!text.includes(wrong), 'the secret is nowhere');
        assert.ok(!text.includes(UPSTREAM_KEY_WEST), 'nor any other key');
      }
    } finally {
      await h.close();
    }
  });
});
