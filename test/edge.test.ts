// The edge: HTTPS on the data and admin ports (certificates picked up again
// when their files change), and per-consumer client networks with
// X-Forwarded-For believed only from trusted proxies.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import OpenAI from 'openai';
import { Agent, fetch } from 'undici';
import { clientAddress, cidrProblem, NetworkList } from '../src/auth/networks.ts';
import { validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { chatBody, defaultGatewayConfig, eventually, KEY_A, KEY_B, LogSink, startHarness, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { Simulator } from '../src/simulator/index.ts';
import { defaultSimulator } from './helpers/harness.ts';
import { makeTestCert } from './helpers/tls-cert.ts';

const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';
const ADMIN_KEY = 'edge-admin-key-0123456789';

/** The subject CN a new TLS connection to `port` is shown. */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.end();
      resolve(String(Array.isArray(cn) ? cn[0] : cn));
    });
    s.on('error', reject);
  });
}

function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsRequest(url, { ca, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('HTTPS', () => {
  let sim: Simulator;
  let gw: Gateway;
  const log = new LogSink();
  const made = makeTestCert('first');
  const files = { cert: made.certPath, key: made.keyPath };
  before(async () => {
    sim = await Simulator.start(defaultSimulator());
    const config = defaultGatewayConfig(sim, (raw) => {
      raw.listen.tls = { certFile: files.cert, keyFile: files.key };
      raw.admin = { key: ADMIN_KEY, tls: { certFile: files.cert, keyFile: files.key } };
    });
    gw = await Gateway.start(config, { adminPort: 0, logger: createLogger(log) });
  });
  after(async () => {
    await gw.close(100);
    await sim.close();
    made.remove();
  });

  test('the data port speaks HTTPS to the SDK; plain HTTP is not answered', async () => {
    assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(files.cert);
    const client = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0, fetch: fetch as never, // the SDK types fetchOptions with its own undici typings; the object is a real undici Agent
      fetchOptions: { dispatcher: new Agent({ connect: { ca } }) } as never });
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    assert.equal(r.choices[0].finish_reason, 'stop');
    await assert.rejects(send(gw.url.replace('https:', 'http:'), CHAT, { headers: json(KEY_A), body: chatBody() }));
  });

  test('the admin port too', async () => {
    assert.match(gw.admin!.url, /^https:/);
    const r = await httpsGet(`${gw.admin!.url}/admin/api/state`, readFileSync(files.cert), { authorization: `Bearer ${ADMIN_KEY}` });
    assert.equal(r.status, 200);
  });

  test('a renewed certificate written to the same files is served to new connections, without a restart', async () => {
    assert.equal(await servedCn(gw.port), 'first');
    const renewed = makeTestCert('second');
    writeFileSync(files.key, renewed.key);
    writeFileSync(files.cert, renewed.cert);
    renewed.remove();
    let cn = '';
    for (let i = 0; i < 50 && cn !== 'second'; i++) {
      cn = await servedCn(gw.port);
      if (cn !== 'second') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(cn, 'second', 'the data port');
    assert.equal(await servedCn(Number(new URL(gw.admin!.url).port)), 'second', 'and the admin port');
    assert.ok(log.lines.some((l) => String(l.msg).includes('listen.tls: certificate reloaded')));
  });

  test('a broken certificate file is refused and the running one stays', async () => {
    writeFileSync(files.cert, 'not a certificate');
    await eventually(() => log.lines.some((l) => String(l.msg).includes('listen.tls: the new certificate was refused')), 5000);
    assert.equal(await servedCn(gw.port), 'second');
  });

  test('a missing certificate file stops the start with the field named', async () => {
    const config = defaultGatewayConfig(sim, (raw) => (raw.listen.tls = { certFile: `${made.dir}/nothing.pem`, keyFile: files.key }));
    await assert.rejects(Gateway.start(config, { adminPort: false }), /listen\.tls\.certFile: cannot read .*nothing\.pem \(ENOENT\)/);
  });
});

describe('client networks', () => {
  let h: Harness;
  const KEY_OFFICE = 'office-only-key-0123456789';
  const KEY_LOCAL = 'loopback-only-key-0123456789';
  before(async () => {
    h = await startHarness({
      patch: (raw) => {
        raw.listen.trustedProxies = ['127.0.0.1'];
        raw.consumers['office'] = { keys: [KEY_OFFICE], deployments: ['*'], allowedNetworks: ['10.0.0.0/8', '2001:db8::/32'] };
        raw.consumers['local'] = { keys: [KEY_LOCAL], deployments: ['*'], allowedNetworks: ['127.0.0.1'] };
      },
    });
  });
  after(() => h.close());
  const call = (key: string, headers: Record<string, string> = {}) => send(h.url, CHAT, { headers: json(key, headers), body: chatBody() });

  test('a consumer is refused outside its networks (403, audited) and served inside them', async () => {
    const r = await call(KEY_OFFICE);
    assert.equal(r.status, 403);
    assert.equal(r.json().error.code, 'network_not_allowed');
    assert.equal(r.headers['x-gateway-attempts'], '0');
    assert.equal((await call(KEY_LOCAL)).status, 200);
    assert.equal((await call(KEY_A)).status, 200, 'a consumer without allowedNetworks may call from anywhere');
    await h.gw.ledger.flush();
    await eventually(() => h.gw.ledger.pending === 0);
    const audit = await h.gw.ledger.backend.audit(0);
    assert.ok(audit.some((a) => a.kind === 'network_refused' && a.consumer === 'office' && a.clientIp === '127.0.0.1'));
  });

  test('X-Forwarded-For from a trusted proxy names the client: the right-most address the proxies did not add', async () => {
    assert.equal((await call(KEY_OFFICE, { 'x-forwarded-for': '10.1.2.3' })).status, 200);
    assert.equal((await call(KEY_OFFICE, { 'x-forwarded-for': '2001:db8::7' })).status, 200, 'IPv6 too');
    assert.equal((await call(KEY_LOCAL, { 'x-forwarded-for': '10.1.2.3' })).status, 403, 'the client is 10.1.2.3, not the proxy');
    // A client that writes its own X-Forwarded-For cannot pick its address: the proxy appended the real one.
    assert.equal((await call(KEY_OFFICE, { 'x-forwarded-for': '10.9.9.9, 203.0.113.5' })).status, 403);
    await h.gw.ledger.flush();
    await eventually(() => h.gw.ledger.pending === 0);
    const audit = await h.gw.ledger.backend.audit(0);
    assert.ok(audit.some((a) => a.kind === 'network_refused' && a.clientIp === '203.0.113.5'), 'the audit names the real client');
  });

  test('without trusted proxies X-Forwarded-For is ignored', async () => {
    const plain = await startHarness({ patch: (raw) => (raw.consumers['office'] = { keys: [KEY_OFFICE], deployments: ['*'], allowedNetworks: ['10.0.0.0/8'] }) });
    try {
      const r = await send(plain.url, CHAT, { headers: json(KEY_OFFICE, { 'x-forwarded-for': '10.1.2.3' }), body: chatBody() });
      assert.equal(r.status, 403);
    } finally {
      await plain.close();
    }
  });

  test('the address parsing rules', () => {
    const trusted = new NetworkList(['127.0.0.1', '10.0.0.0/8']);
    assert.equal(clientAddress('::ffff:127.0.0.1', {}, trusted), '127.0.0.1', 'IPv4 on a dual-stack socket');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': '198.51.100.1, 10.0.0.5' }, trusted), '198.51.100.1', 'past a chain of trusted proxies');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': '10.0.0.9' }, trusted), '10.0.0.9', 'all trusted: the left-most');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': 'garbage, 10.0.0.5' }, trusted), '10.0.0.5', 'a malformed entry ends the walk');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': '[2001:db8::1]:443' }, trusted), '2001:db8::1');
    assert.equal(clientAddress('127.0.0.1', { 'x-forwarded-for': '198.51.100.1:5678' }, trusted), '198.51.100.1');
    assert.equal(clientAddress('192.0.2.1', { 'x-forwarded-for': '10.0.0.1' }, trusted), '192.0.2.1', 'an untrusted peer is the client');
    assert.equal(cidrProblem('10.0.0.0/8'), undefined);
    assert.match(cidrProblem('10.0.0.0/33')!, /0 to 32/);
    assert.match(cidrProblem('not-an-ip')!, /not an address/);
  });

  test('a bad CIDR in the config is refused by path', () => {
    const r = validateConfig({
      endpoints: { e: { url: 'http://127.0.0.1:1' } },
      deployments: { d: { targets: [{ endpoint: 'e' }] } },
      listen: { trustedProxies: ['10.0.0.0/99'] },
      consumers: { c: { keys: [KEY_B], deployments: ['*'], allowedNetworks: ['office'] } },
    });
    assert.equal(r.ok, false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path);
    assert.ok(paths.includes('listen.trustedProxies[0]'), paths.join());
    assert.ok(paths.includes('consumers.c.allowedNetworks[0]'), paths.join());
  });
});
