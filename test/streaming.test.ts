// Streams pass event by event: the client has each event before the upstream
// has even written the next one.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { KEY_A } from './helpers/harness.ts';

let upstream: ReturnType<typeof createServer>;
let gw: Gateway;
let pending: ServerResponse | undefined;
let arrived: () => void;
let upstreamSaw: { path?: string; apiKey?: string } = {};

before(async () => {
  // An upstream whose pace the test controls: it writes one event, then waits.
  upstream = createServer((req, res) => {
    upstreamSaw = { path: req.url, apiKey: req.headers['api-key'] as string };
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"id":"","choices":[],"prompt_filter_results":[]}\n\n');
    pending = res;
    arrived();
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const r = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    ledger: { url: 'sqlite::memory:' },
    endpoints: { up: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, auth: { type: 'api-key', key: 'upstream-key-0001' } } },
    deployments: { 'gpt-4o': { targets: [{ endpoint: 'up' }] } },
    consumers: { a: { keys: [KEY_A], deployments: ['*'] } },
  });
  assert.ok(r.ok);
  gw = await Gateway.start(r.config, { adminPort: 0 });
});
after(async () => {
  await gw.close(100);
  upstream.close();
});

test('the first event reaches the client before the upstream sends the second', async () => {
  const upstreamStarted = new Promise<void>((r) => (arrived = r));
  const req = request(`${gw.url}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`, {
    method: 'POST',
    headers: { 'api-key': KEY_A, 'content-type': 'application/json' },
  });
  req.end('{"stream":true,"messages":[{"role":"user","content":"hi"}]}');
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  await upstreamStarted;

  const received: string[] = [];
  let notify: () => void = () => {};
  res.on('data', (c: Buffer) => {
    received.push(c.toString());
    notify();
  });
  const next = () => new Promise<void>((r) => (notify = r));

  // Only one event has been written upstream; it must already be here.
  if (received.length === 0) await next();
  assert.equal(received.join(''), 'data: {"id":"","choices":[],"prompt_filter_results":[]}\n\n');

  const second = next();
  pending!.write('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');
  await second;
  assert.equal(received.at(-1), 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');

  // An event split across two writes is passed on once it is whole.
  const third = next();
  pending!.write('data: {"choices":[{"delta":');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(received.length, 2);
  pending!.write('{"content":"!"}}]}\n\n');
  await third;
  assert.equal(received.at(-1), 'data: {"choices":[{"delta":{"content":"!"}}]}\n\n');

  pending!.end('data: [DONE]\n\n');
  await once(res, 'end');
  assert.equal(received.at(-1), 'data: [DONE]\n\n');
  assert.equal(upstreamSaw.apiKey, 'upstream-key-0001');
});
