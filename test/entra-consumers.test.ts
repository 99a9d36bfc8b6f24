// Consumers that are Entra apps: access tokens the test signs with a fake
// tenant's keys (jose), published by a local authority over TLS (its OpenID
// configuration and JWKS), sent through the official openai SDK —
// AzureOpenAI with azureADTokenProvider, OpenAI with the token as apiKey.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from 'jose';
import OpenAI, { AzureOpenAI } from 'openai';
import { FakeEntra, TENANT } from './helpers/entra-stand-in.ts';
import { KEY_A, defaultGatewayConfig, startHarness, type Harness } from './helpers/harness.ts';
import { send } from './helpers/http.ts';
import { makeTestCert, trustInThisProcess, type TestCert } from './helpers/tls-cert.ts';

const AUDIENCE = 'api://aoai-gateway';
const APP_A = '1b2c3d4e-0000-4000-8000-00000000000a';
const APP_B = '1b2c3d4e-0000-4000-8000-00000000000b';
const ROLE = 'Gateway.Use';
const API_VERSION = '2024-10-21';

let cert: TestCert;
let entra: FakeEntra;
let h: Harness;

function patch(raw: Record<string, any>): void {
  raw.entra = { tenantId: TENANT, audiences: [AUDIENCE], authorityHost: entra.url, requiredRoles: [ROLE], jwksCooldownSeconds: 1 };
  raw.consumers['team-a'].entraAppIds = [APP_A];
  raw.consumers['team-b'].entraAppIds = [APP_B];
  raw.consumers['team-b'].limits = { requestsPerMinute: 2 };
}

before(async () => {
  cert = makeTestCert();
  trustInThisProcess(cert.cert);
  entra = await FakeEntra.start({ cert: cert.cert, key: cert.key });
  h = await startHarness({ patch });
});
after(async () => {
  await h?.close();
  await entra?.close();
  cert?.remove();
});

/** A v2.0 token of app `azp` for the gateway, as Entra issues for client credentials. */
const v2 = (azp: string, extra: Record<string, unknown> = {}, opts: Parameters<FakeEntra['sign']>[1] = {}) =>
  entra.sign({ iss: entra.issuer, aud: AUDIENCE, azp, roles: [ROLE], sub: `sp-${azp}`, ...extra }, opts);

const chat = { messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 5 };

function azure(token: string): AzureOpenAI {
  return new AzureOpenAI({ endpoint: h.url, azureADTokenProvider: async () => token, apiVersion: API_VERSION, maxRetries: 0 });
}

async function raw(token: string, deployment = 'gpt-4o') {
  return send(h.url, `/openai/deployments/${deployment}/chat/completions?api-version=${API_VERSION}`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(chat),
  });
}

async function refused(token: string, why: RegExp): Promise<void> {
  const r = await raw(token);
  assert.equal(r.status, 401, r.text);
  const body = r.json();
  assert.equal(body.error.code, 'invalid_token');
  assert.equal(body.error.type, 'authentication_error');
  assert.match(body.error.message, why);
  assert.ok(!r.text.includes(token) && !r.text.includes(token.split('.')[2]), 'the token is never echoed');
}

describe('Entra apps as consumers', () => {
  test('a valid token through AzureOpenAI (azureADTokenProvider): the app is its consumer', async () => {
    const token = await v2(APP_A);
    const r = await azure(token).chat.completions.create({ model: 'gpt-4o', ...chat }).withResponse();
    assert.ok(r.data.choices.length > 0);
    assert.equal(r.response.headers.get('x-gateway-endpoint'), 'east');
    // The token is not forwarded upstream: the endpoint's key is.
    const sent = h.sim.account('east').received.at(-1)!.headers;
    assert.equal(sent.authorization, undefined);
    assert.ok(typeof sent['api-key'] === 'string');
    await new Promise((r) => setTimeout(r, 50));
    const line = h.log.access().at(-1)!;
    assert.equal(line.consumer, 'team-a');
    assert.equal(line.status, 200);
  });

  test('the same token as OpenAI apiKey, on the v1 route', async () => {
    const token = await v2(APP_A);
    const ai = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: token, maxRetries: 0 });
    const r = await ai.chat.completions.create({ model: 'gpt-4o', ...chat });
    assert.ok(r.choices.length > 0);
    const models = await ai.models.list();
    assert.ok(models.data.some((m) => m.id === 'gpt-4o'));
  });

  test("a v1 token (sts.windows.net issuer, appid): its consumer's deployments and limits apply", async () => {
    const token = await entra.sign({ iss: `https://sts.windows.net/${TENANT}/`, aud: AUDIENCE, appid: APP_B, roles: [ROLE], ver: '1.0' });
    const ai = azure(token);
    await assert.rejects(ai.chat.completions.create({ model: 'gpt-4o', ...chat }), (err: any) => err.status === 403 && err.code === 'deployment_not_allowed');
    assert.ok((await ai.chat.completions.create({ model: 'gpt-4o-mini', ...chat })).choices.length > 0);
    assert.ok((await ai.chat.completions.create({ model: 'gpt-4o-mini', ...chat })).choices.length > 0);
    await assert.rejects(ai.chat.completions.create({ model: 'gpt-4o-mini', ...chat }), (err: any) => err.status === 429 && err.code === 'rate_limit_exceeded');
  });

  test('refused with 401 invalid_token: wrong audience, wrong issuer, expired, not yet valid, bad signature, unknown app, no role', async () => {
    await refused(await v2(APP_A, { aud: 'api://someone-else' }), /audience/);
    await refused(await v2(APP_A, { iss: `https://login.microsoftonline.com/${TENANT}/v2.0` }), /issuer/);
    await refused(await v2(APP_A, {}, { expiresInSeconds: -120 }), /expired/);
    await refused(await v2(APP_A, { nbf: Math.floor(Date.now() / 1000) + 600 }), /not valid yet/);
    // Signed by another key under the published kid.
    const { privateKey } = await generateKeyPair('RS256');
    await refused(await v2(APP_A, {}, { key: privateKey }), /signature/);
    // A token with its signature swapped for another token's.
    const [h1, p1] = (await v2(APP_A)).split('.');
    const other = (await v2(APP_B)).split('.')[2];
    await refused(`${h1}.${p1}.${other}`, /signature/);
    await refused(await v2('99999999-0000-4000-8000-000000000000'), /not a consumer/);
    await refused(await v2(APP_A, { roles: ['Something.Else'] }), /role/);
    // No signature at all ("alg": "none") is not even considered.
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p1}.`;
    const r = await raw(unsigned);
    assert.equal(r.status, 401);
  });

  test('refusals are audited as auth failures, without the token', async () => {
    const token = await v2(APP_A, { aud: 'api://not-us' });
    await raw(token);
    let records: any[] = [];
    for (let i = 0; i < 50 && !records.some((a) => a.detail.code === 'invalid_token'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      records = await h.gw.ledger.backend.audit(0);
    }
    const audit = records.filter((a) => a.detail.code === 'invalid_token');
    assert.ok(audit.length > 0);
    assert.equal(audit[0].kind, 'auth_failed');
    assert.ok(!JSON.stringify(records).includes(token.split('.')[2]));
    assert.ok(!h.log.raw.join('\n').includes(token.split('.')[2]), 'nor in the log');
    const line = h.log.access().find((l) => l.error === 'invalid_token: audience');
    assert.ok(line, 'the access log says which check failed');
  });

  test('an unknown kid is refused after one look at the keys; a rotated key is picked up', async () => {
    const hidden = await entra.addSigningKey(false);
    await new Promise((r) => setTimeout(r, 1100)); // past the JWKS cooldown
    let fetched = entra.jwksRequests;
    await refused(await v2(APP_A, {}, { kid: hidden }), /key the tenant does not publish/);
    assert.equal(entra.jwksRequests, fetched + 1, 'the keys were fetched again once');
    // Within the cooldown another unknown kid does not fetch again.
    await refused(await v2(APP_A, {}, { kid: hidden }), /key/);
    assert.equal(entra.jwksRequests, fetched + 1, 'bounded: not on every request');

    // The tenant rotates: a new key is published and tokens are signed with it.
    const rotated = await entra.addSigningKey(true);
    await new Promise((r) => setTimeout(r, 1100));
    fetched = entra.jwksRequests;
    const token = await v2(APP_A, {}, { kid: rotated });
    assert.ok((await azure(token).chat.completions.create({ model: 'gpt-4o', ...chat })).choices.length > 0);
    assert.equal(entra.jwksRequests, fetched + 1);
    // Validated once; the next requests with it use the cache.
    for (let i = 0; i < 3; i++) assert.equal((await raw(token)).status, 200);
    assert.equal(entra.jwksRequests, fetched + 1);
  });

  test('a reload that moves an app to another consumer applies to its next request, cached token or not', async () => {
    const token = await v2(APP_A);
    assert.equal((await raw(token)).status, 200);
    const moved = defaultGatewayConfig(h.sim, (r) => {
      patch(r);
      r.consumers['team-a'].entraAppIds = [];
      r.consumers['team-b'].entraAppIds = [APP_B, APP_A];
    });
    assert.deepEqual(await h.gw.reload(moved), { ok: true, restartNeeded: [] });
    const r = await raw(token);
    assert.equal(r.status, 403);
    assert.equal(r.json().error.code, 'deployment_not_allowed');
    assert.equal(h.gw.runtime.entra!.validator.cached(token)?.appId, APP_A, 'the validated token outlived the reload');
    await h.gw.reload(defaultGatewayConfig(h.sim, patch));
  });

  test('keys still work; a wrong key that is no JWT stays invalid_api_key', async () => {
    assert.equal((await send(h.url, `/openai/deployments/gpt-4o/chat/completions?api-version=${API_VERSION}`, { headers: { 'api-key': KEY_A, 'content-type': 'application/json' }, body: JSON.stringify(chat) })).status, 200);
    const r = await raw('not-a-key-and-not-a-token-0000');
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'invalid_api_key');
  });
});

test("the tenant's keys unreachable before any were fetched: 503 token_validation_unavailable, fast", async () => {
  const g = await startHarness({ patch: (r) => {
    patch(r);
    r.entra.authorityHost = 'https://127.0.0.1:1'; // nothing listens there
  } });
  try {
    const started = Date.now();
    const r = await send(g.url, `/openai/deployments/gpt-4o/chat/completions?api-version=${API_VERSION}`, {
      headers: { authorization: `Bearer ${await v2(APP_A)}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat),
    });
    assert.equal(r.status, 503);
    assert.equal(r.json().error.code, 'token_validation_unavailable');
    assert.ok(Number(r.headers['retry-after']) > 0);
    assert.ok(Date.now() - started < 6000);
  } finally {
    await g.close();
  }
});

test('config: entraAppIds need the entra section, an app belongs to one consumer, audiences are required', async () => {
  const { validateConfig } = await import('../src/config/load.ts');
  const base = {
    endpoints: { e: { url: 'https://x.openai.azure.com', auth: { type: 'api-key', key: 'k' } } },
    deployments: { d: { targets: [{ endpoint: 'e' }] } },
    consumers: { a: { deployments: ['*'], entraAppIds: [APP_A] }, b: { deployments: ['*'], entraAppIds: [APP_A.toUpperCase()] } },
  };
  const r = validateConfig(base);
  assert.equal(r.ok, false);
  const issues = !r.ok ? r.issues : [];
  assert.ok(issues.some((i) => i.path === 'consumers.a.entraAppIds[0]' && /needs the top-level entra/.test(i.message)));
  assert.ok(issues.some((i) => i.path === 'consumers.b.entraAppIds[0]' && /also given to consumer "a"/.test(i.message)));
  const r2 = validateConfig({ ...base, consumers: { a: base.consumers.a }, entra: { tenantId: TENANT, audiences: [] } });
  assert.ok(!r2.ok && r2.issues.some((i) => i.path === 'entra.audiences'));
  const r3 = validateConfig({ ...base, consumers: { a: base.consumers.a }, entra: { tenantId: TENANT, audiences: [AUDIENCE] } });
  assert.ok(r3.ok);
  assert.equal(r3.config.entra!.authorityHost, 'https://login.microsoftonline.com');
  assert.equal(r3.config.entra!.clockSkewSeconds, 60);
});
