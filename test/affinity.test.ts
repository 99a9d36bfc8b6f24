// Stored objects stay on the account that made them: a Responses
// conversation continues where its previous response is, a batch runs where
// its input file is, whatever the deployment's strategy would have chosen;
// every replica on one Redis knows where; another consumer cannot reach a
// team's objects; an affine call never fails over to an account that does
// not have the object. Driven by the official openai SDK.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI, NotFoundError, BadRequestError, RateLimitError, toFile } from 'openai';
import { validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator, type SimulatorConfig } from '../src/simulator/index.ts';
import { createLogger } from '../src/telemetry/access-log.ts';
import { defaultGatewayConfig, KEY_A, KEY_B, LogSink, startHarness, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { parsePrometheus, value } from './helpers/prometheus.ts';

const REDIS_URL = process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ADMIN_KEY = 'affinity-admin-key-0123456789';

/** Two accounts with the chat deployment under different names, and a batch deployment on each. */
function simulator(): SimulatorConfig {
  return {
    accounts: {
      east: { keys: [UPSTREAM_KEY_EAST], deployments: { 'gpt4o-east': { completionTokens: 5 }, 'gpt-4o-batch': { completionTokens: 3 } } },
      west: { keys: [UPSTREAM_KEY_WEST], deployments: { 'gpt4o-west': { completionTokens: 5 }, 'gpt-4o-batch': { completionTokens: 3 } } },
    },
  };
}

/** `gpt-4o` alternates between the accounts (round-robin); new objects without a deployment go to east. */
// `any`: the raw config object before validation, as the harness's patch hook takes it.
function patch(raw: Record<string, any>): void {
  raw.admin = { key: ADMIN_KEY };
  raw.deployments = {
    'gpt-4o': {
      strategy: 'round-robin',
      targets: [
        { endpoint: 'east', deployment: 'gpt4o-east' },
        { endpoint: 'west', deployment: 'gpt4o-west' },
      ],
    },
    'west-batch': { targets: [{ endpoint: 'west', deployment: 'gpt-4o-batch' }] },
  };
  raw.affinity = { defaultEndpoint: 'east' };
  raw.consumers = {
    'team-a': { keys: [KEY_A], deployments: ['*'] },
    'team-b': { keys: [KEY_B], deployments: ['gpt-4o'] },
  };
}

const sdk = (url: string, key = KEY_A, headers: Record<string, string> = {}) =>
  new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: key, maxRetries: 0, defaultHeaders: headers });
const azureSdk = (url: string, key = KEY_A) => new AzureOpenAI({ endpoint: url, apiKey: key, apiVersion: '2025-04-01-preview', maxRetries: 0 });

/** The requests an account received that carry `text` in their path or body. */
function receivedWith(h: { sim: Simulator }, account: string, text: string): number {
  return h.sim.account(account).received.filter((r) => r.path.includes(text) || r.raw.includes(text)).length;
}

const batchLines = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/chat/completions', body: { model: 'gpt-4o-batch', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 10 } }),
  ).join('\n');

async function waitForBatch(client: OpenAI, id: string) {
  for (let i = 0; i < 100; i++) {
    const b = await client.batches.retrieve(id);
    if (b.status === 'completed') return b;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the batch did not complete');
}

describe('affinity on one gateway', () => {
  let h: Harness;
  let openai: OpenAI;
  before(async () => {
    h = await startHarness({ simulator: simulator(), patch });
    openai = sdk(h.url);
  });
  after(() => h.close());

  test('a Responses conversation stays on the account that holds its previous response; retrieve, input items and delete too', async () => {
    // Round-robin: two new conversations start on the two accounts.
    const starts = await Promise.all([1, 2].map(() => openai.responses.create({ model: 'gpt-4o', input: 'Hello' }).withResponse()));
    const homes = starts.map((s) => s.response.headers.get('x-gateway-endpoint'));
    assert.deepEqual([...homes].sort(), ['east', 'west']);

    for (const [i, start] of starts.entries()) {
      const home = homes[i]!;
      let previous = start.data.id;
      for (let turn = 0; turn < 4; turn++) {
        const { data, response } = await openai.responses.create({ model: 'gpt-4o', input: `turn ${turn}`, previous_response_id: previous }).withResponse();
        assert.equal(response.headers.get('x-gateway-endpoint'), home, `turn ${turn} of the conversation started on ${home}`);
        assert.equal(response.headers.get('x-gateway-deployment'), `gpt4o-${home}`, 'model is the deployment name on that account');
        assert.equal(data.output_text, 'lorem ipsum dolor sit amet');
        const seen = h.sim.account(home).received.at(-1)!;
        assert.equal((seen.body as { model: string }).model, `gpt4o-${home}`);
        assert.equal((seen.body as { previous_response_id: string }).previous_response_id, previous);
        previous = data.id;
      }
      const other = home === 'east' ? 'west' : 'east';
      assert.equal(receivedWith(h, other, previous), 0, 'the other account never saw the conversation');

      const { data: got, response } = await openai.responses.retrieve(previous).withResponse();
      assert.equal(got.id, previous);
      assert.equal(response.headers.get('x-gateway-endpoint'), home);
      assert.equal(response.headers.get('x-gateway-deployment'), null, 'a call that names no deployment reports none');
      const items = await openai.responses.inputItems.list(previous);
      assert.equal(items.data.length, 1);
      await openai.responses.delete(previous);
      await assert.rejects(openai.responses.retrieve(previous), (e: unknown) => e instanceof NotFoundError, 'deleted on its account: Azure says 404');
      assert.equal(receivedWith(h, other, previous), 0);
    }
  });

  test('the older Azure routes (/openai/responses?api-version=) and a streamed turn keep the conversation in place too', async () => {
    const azure = azureSdk(h.url);
    const { data: first, response } = await azure.responses.create({ model: 'gpt-4o', input: 'Hello' }).withResponse();
    const home = response.headers.get('x-gateway-endpoint')!;
    const stream = await azure.responses.create({ model: 'gpt-4o', input: 'more', previous_response_id: first.id, stream: true });
    let streamedId = '';
    for await (const ev of stream) if (ev.type === 'response.created') streamedId = ev.response.id;
    assert.match(streamedId, /^resp_/);
    assert.match(h.sim.account(home).received.at(-1)!.path, /^\/openai\/responses\?api-version=2025-04-01-preview$/);
    // The streamed response's id was recorded from its response.created event.
    for (let i = 0; i < 3; i++) {
      const next = await azure.responses.create({ model: 'gpt-4o', input: 'and more', previous_response_id: streamedId }).withResponse();
      assert.equal(next.response.headers.get('x-gateway-endpoint'), home);
      streamedId = next.data.id;
    }
    const got = await azure.responses.retrieve(streamedId).withResponse();
    assert.equal(got.response.headers.get('x-gateway-endpoint'), home);
  });

  test('file upload → batch (input_file_id) → retrieve until completed → output file content, on the file\'s account', async () => {
    const azure = azureSdk(h.url);
    const file = await azure.files.create({ file: await toFile(Buffer.from(batchLines(3)), 'questions.jsonl'), purpose: 'batch' });
    assert.match(file.id, /^file-/);
    assert.equal(receivedWith(h, 'east', 'questions.jsonl'), 1, 'a file naming no deployment goes to affinity.defaultEndpoint');
    assert.equal(h.sim.account('east').received.at(-1)!.path, '/openai/files?api-version=2025-04-01-preview');

    // Azure's documented spelling; the SDK's type knows only OpenAI's /v1/… ones.
    const batch = await azure.batches.create({ input_file_id: file.id, endpoint: '/chat/completions' as '/v1/chat/completions', completion_window: '24h' });
    assert.equal(batch.status, 'validating');
    const done = await waitForBatch(azure, batch.id);
    assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
    const content = await (await azure.files.content(done.output_file_id!)).text();
    const lines = content.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.custom_id), ['req-0', 'req-1', 'req-2']);
    assert.equal(lines[0].response.status_code, 200);
    assert.equal(lines[0].response.body.choices[0].message.content, 'lorem ipsum dolor');
    const meta = await azure.files.retrieve(done.output_file_id!);
    assert.equal(meta.purpose, 'batch_output');
    for (const id of [file.id, batch.id, done.output_file_id!]) assert.equal(receivedWith(h, 'west', id), 0, `${id} never went west`);
  });

  test('a creation can name its deployment (x-gateway-deployment): the file lands on that target, and the batch follows the file', async () => {
    const west = sdk(h.url, KEY_A, { 'x-gateway-deployment': 'west-batch' });
    const { data: file, response } = await west.files.create({ file: await toFile(Buffer.from(batchLines(2)), 'west.jsonl'), purpose: 'batch' }).withResponse();
    assert.equal(response.headers.get('x-gateway-endpoint'), 'west');
    assert.equal(h.sim.account('west').received.at(-1)!.headers['x-gateway-deployment'], undefined, 'the header is the gateway\'s, not sent upstream');
    // Without the header: the batch goes where its input file is, not to the default endpoint.
    const { data: batch, response: r2 } = await openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).withResponse();
    assert.equal(r2.headers.get('x-gateway-endpoint'), 'west');
    const done = await waitForBatch(openai, batch.id);
    const content = await (await openai.files.content(done.output_file_id!)).text();
    assert.equal(content.trim().split('\n').length, 2);
    assert.equal(receivedWith(h, 'east', file.id), 0);
  });

  test('assistants, threads, runs and vector stores work together on the default endpoint; objects of two accounts cannot be mixed', async () => {
    const file = await openai.files.create({ file: await toFile(Buffer.from('notes'), 'notes.txt'), purpose: 'assistants' });
    const store = await openai.vectorStores.create({ name: 'kb', file_ids: [file.id] });
    // `model` names the pool; the assistant goes to its target on the default endpoint, with the vector store.
    const { data: assistant, response } = await openai.beta.assistants
      .create({ model: 'gpt-4o', name: 'helper', tool_resources: { file_search: { vector_store_ids: [store.id] } } })
      .withResponse();
    assert.equal(response.headers.get('x-gateway-endpoint'), 'east');
    assert.equal((h.sim.account('east').received.at(-1)!.body as { model: string }).model, 'gpt4o-east');
    const thread = await openai.beta.threads.create({ messages: [{ role: 'user', content: 'What do my notes say?' }] });
    await openai.beta.threads.messages.create(thread.id, { role: 'user', content: 'Briefly.' });
    const run = await openai.beta.threads.runs.create(thread.id, { assistant_id: assistant.id });
    assert.equal(run.status, 'completed');
    assert.equal((await openai.beta.threads.runs.retrieve(run.id, { thread_id: thread.id })).id, run.id);
    const messages = await openai.beta.threads.messages.list(thread.id);
    assert.equal(messages.data.length, 3);
    assert.equal((await openai.vectorStores.files.list(store.id)).data[0].id, file.id);
    for (const id of [file.id, store.id, assistant.id, thread.id]) assert.equal(receivedWith(h, 'west', id), 0);

    const westFile = await sdk(h.url, KEY_A, { 'x-gateway-deployment': 'west-batch' }).files.create({ file: await toFile(Buffer.from('x'), 'w.txt'), purpose: 'assistants' });
    await assert.rejects(openai.vectorStores.create({ file_ids: [file.id, westFile.id] }), (e: unknown) => {
      assert.ok(e instanceof BadRequestError);
      assert.equal(e.code, 'objects_on_different_endpoints');
      return true;
    });
  });

  test('an unknown id is a 404 (in the path) or a 400 (in the body), in OpenAI\'s shape, and nothing is sent upstream', async () => {
    const before = h.sim.account('east').received.length + h.sim.account('west').received.length;
    await assert.rejects(openai.files.retrieve('file-neverseen'), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.code, 'object_not_found');
      assert.match(e.message, /file-neverseen/);
      return true;
    });
    await assert.rejects(openai.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: 'resp_neverseen' }), (e: unknown) => {
      assert.ok(e instanceof BadRequestError);
      assert.equal(e.code, 'unknown_object_reference');
      assert.equal(e.param, 'previous_response_id');
      return true;
    });
    await assert.rejects(openai.batches.create({ input_file_id: 'file-neverseen', endpoint: '/v1/chat/completions', completion_window: '24h' }), BadRequestError);
    const bad = await send(h.url, '/openai/v1/files/bad%20id', { headers: json(KEY_A) });
    assert.equal(bad.status, 404);
    assert.match(bad.json().error.message, /not an object id/, 'what cannot be an id is not looked up');
    assert.equal(h.sim.account('east').received.length + h.sim.account('west').received.length, before);
  });

  test('another consumer cannot reach a team\'s objects, and its lists show only its own', async () => {
    const file = await openai.files.create({ file: await toFile(Buffer.from('{}'), 'team-a-secret.jsonl'), purpose: 'batch' });
    const resp = await openai.responses.create({ model: 'gpt-4o', input: 'secret' });
    const teamB = sdk(h.url, KEY_B);
    const seenBefore = receivedWith(h, 'east', file.id) + receivedWith(h, 'west', file.id);
    await assert.rejects(teamB.files.retrieve(file.id), (e: unknown) => e instanceof NotFoundError && e.code === 'object_not_found');
    await assert.rejects(teamB.files.content(file.id), NotFoundError);
    await assert.rejects(teamB.files.delete(file.id), NotFoundError);
    await assert.rejects(teamB.responses.retrieve(resp.id), NotFoundError);
    await assert.rejects(teamB.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: resp.id }), BadRequestError);
    assert.equal(receivedWith(h, 'east', file.id) + receivedWith(h, 'west', file.id), seenBefore, 'no request of team-b reached upstream');

    const mine = await teamB.files.create({ file: await toFile(Buffer.from('{}'), 'team-b.jsonl'), purpose: 'batch' });
    const listB = (await teamB.files.list()).data.map((f) => f.id);
    assert.ok(listB.includes(mine.id));
    assert.ok(!listB.includes(file.id), 'team-a\'s file is not in team-b\'s list');
    const listA = (await openai.files.list()).data.map((f) => f.id);
    assert.ok(listA.includes(file.id) && !listA.includes(mine.id));
    // team-a's file is still there for team-a
    assert.equal((await openai.files.retrieve(file.id)).filename, 'team-a-secret.jsonl');
  });

  test('the access log says how each was routed, never with a key; the metrics count it', async () => {
    const lines = h.log.access();
    const byAffinity = (a: string) => lines.filter((l) => l.affinity === a);
    assert.ok(byAffinity('pinned').length >= 10);
    assert.ok(byAffinity('new').some((l) => l.objectsStored === 1 && l.endpoint === 'east'));
    assert.ok(byAffinity('miss').some((l) => l.status === 404));
    assert.ok(byAffinity('foreign').some((l) => l.consumer === 'team-b' && l.status === 404));
    assert.ok(byAffinity('list').length >= 2);
    assert.ok(lines.filter((l) => l.affinity === undefined).every((l) => !String(l.path).includes('/files')), 'every object route is marked');
    for (const raw of h.log.raw) for (const secret of [KEY_A, KEY_B, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST]) assert.ok(!raw.includes(secret));

    const r = await send(h.gw.admin!.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const all = parsePrometheus(r.text);
    assert.ok((value(all, 'aoai_gateway_affinity_total', { result: 'pinned', deployment: 'gpt-4o', endpoint: 'east' }) ?? 0) >= 4);
    assert.ok((value(all, 'aoai_gateway_affinity_total', { result: 'pinned', endpoint: 'west' }) ?? 0) >= 4);
    assert.ok((value(all, 'aoai_gateway_affinity_total', { result: 'stored' }) ?? 0) >= 10);
    assert.ok((value(all, 'aoai_gateway_affinity_total', { result: 'miss' }) ?? 0) >= 3);
    assert.ok((value(all, 'aoai_gateway_affinity_total', { result: 'foreign' }) ?? 0) >= 5);
    assert.ok(!r.text.includes('file-') && !r.text.includes('resp_'), 'no object id is a label value');
  });
});

describe('affinity when the owning endpoint is out', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ simulator: simulator(), patch });
  });
  after(() => h.close());

  test('a turn whose previous response is on a cooling account is refused with the reason, never sent to the other', async () => {
    const openai = sdk(h.url);
    // Find a conversation that lives on east.
    let first;
    for (;;) {
      first = await openai.responses.create({ model: 'gpt-4o', input: 'Hello' }).withResponse();
      if (first.response.headers.get('x-gateway-endpoint') === 'east') break;
    }
    const previous = first.data.id;
    h.sim.account('east').setFault('gpt4o-east', 'status=429;retry-after=30');
    await assert.rejects(openai.responses.create({ model: 'gpt-4o', input: 'next', previous_response_id: previous }), (e: unknown) => {
      assert.ok(e instanceof RateLimitError);
      assert.equal(e.code, 'all_targets_throttled');
      assert.match(e.message, /stored on endpoint "east".*not sent to another endpoint/);
      assert.ok(Number(e.headers?.get('retry-after')) > 20);
      return true;
    });
    assert.equal(receivedWith(h, 'west', previous), 0);
    // Now east is known to cool: refused at once, with no upstream attempt.
    const again = await send(h.url, '/openai/v1/responses', { headers: json(KEY_A), body: JSON.stringify({ model: 'gpt-4o', input: 'x', previous_response_id: previous }) });
    assert.equal(again.status, 429);
    assert.equal(again.headers['x-gateway-attempts'], '0');
    // A new conversation is not pinned: it fails over to west as usual.
    const fresh = await openai.responses.create({ model: 'gpt-4o', input: 'new' }).withResponse();
    assert.equal(fresh.response.headers.get('x-gateway-endpoint'), 'west');
    assert.equal(receivedWith(h, 'west', previous), 0);
  });

  test('a file download from a failing account passes the account\'s 5xx on and tries no other account', async () => {
    const openai = sdk(h.url);
    const file = await openai.files.create({ file: await toFile(Buffer.from('{}'), 'f.jsonl'), purpose: 'batch' });
    const westBefore = h.sim.account('west').received.length;
    const r = await send(h.url, `/openai/v1/files/${file.id}`, { headers: { ...json(KEY_A), 'x-sim-fault': 'status=503' } });
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-gateway-endpoint'], 'east');
    assert.equal(r.headers['x-gateway-attempts'], '1');
    assert.equal(h.sim.account('west').received.length, westBefore);
    // The chat deployment's cooldown on east does not shut out file calls there: they have a target of their own.
    assert.equal((await openai.files.retrieve(file.id)).id, file.id);
  });
});

describe('affinity: config and consumers', () => {
  test('affinity.defaultEndpoint must name an endpoint', () => {
    const r = validateConfig({
      endpoints: { east: { url: 'https://east.example' } },
      deployments: { d: { targets: [{ endpoint: 'east' }] } },
      affinity: { defaultEndpoint: 'eats', ttlSeconds: 10 },
    });
    assert.equal(r.ok, false);
    const issues = r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(issues.includes('affinity.defaultEndpoint: no endpoint named "eats" (did you mean "east"?)'), issues.join('\n'));
    assert.ok(issues.some((i) => i.startsWith('affinity.ttlSeconds:')));
  });

  test('without a default endpoint, a creation naming no deployment needs the header, unless the key reaches one endpoint only; requireUser applies to generations only', async () => {
    const h = await startHarness({
      simulator: simulator(),
      patch: (raw) => {
        patch(raw);
        delete raw.affinity;
        raw.consumers['team-b'] = { keys: [KEY_B], deployments: ['west-batch'], requireUser: true };
      },
    });
    try {
      const upload = () => toFile(Buffer.from('{}'), 'f.jsonl');
      await assert.rejects(sdk(h.url).files.create({ file: await upload(), purpose: 'batch' }), (e: unknown) => {
        assert.ok(e instanceof BadRequestError);
        assert.equal(e.code, 'endpoint_required');
        assert.match(e.message, /x-gateway-deployment/);
        return true;
      });
      const withHeader = await sdk(h.url, KEY_A, { 'x-gateway-deployment': 'west-batch' }).files.create({ file: await upload(), purpose: 'batch' }).withResponse();
      assert.equal(withHeader.response.headers.get('x-gateway-endpoint'), 'west');
      // team-b reaches west only: its files go there; no "user" is needed to upload or read one.
      const teamB = sdk(h.url, KEY_B);
      const { data: file, response } = await teamB.files.create({ file: await upload(), purpose: 'batch' }).withResponse();
      assert.equal(response.headers.get('x-gateway-endpoint'), 'west');
      assert.equal((await teamB.files.retrieve(file.id)).id, file.id);
      await assert.rejects(teamB.responses.create({ model: 'west-batch', input: 'x' }), (e: unknown) => e instanceof BadRequestError && e.code === 'user_required');

      // A reload that takes the endpoint away from the consumer's deployments takes its objects there away too.
      const next = defaultGatewayConfig(h.sim, (raw) => {
        patch(raw);
        raw.consumers['team-b'] = { keys: [KEY_B], deployments: ['gpt-4o'] };
        raw.deployments['gpt-4o'].targets = [{ endpoint: 'east', deployment: 'gpt4o-east' }];
      });
      assert.equal((await h.gw.reload(next)).ok, true);
      await assert.rejects(teamB.files.retrieve(file.id), (e: unknown) => e instanceof OpenAI.PermissionDeniedError && e.code === 'endpoint_not_allowed');
    } finally {
      await h.close();
    }
  });
});

describe('affinity across two gateways on one Redis', () => {
  let sim: Simulator;
  const gws: Gateway[] = [];
  before(async () => {
    sim = await Simulator.start(simulator());
    const prefix = `aoaigw-affinity-${process.pid}-${Date.now()}:`;
    for (let i = 0; i < 2; i++) {
      const config = defaultGatewayConfig(sim, (raw) => {
        patch(raw);
        raw.state = { store: 'redis', url: REDIS_URL, prefix };
      });
      gws.push(await Gateway.start(config, { logger: createLogger(new LogSink()), adminPort: false }));
    }
  });
  after(async () => {
    for (const g of gws) await g.close(1000);
    await sim.close();
  });

  test('an object made through one replica is found through the other', async () => {
    const [one, two] = gws.map((g) => sdk(g.url));
    const start = await one.responses.create({ model: 'gpt-4o', input: 'Hello' }).withResponse();
    const home = start.response.headers.get('x-gateway-endpoint');
    let previous = start.data.id;
    for (let turn = 0; turn < 6; turn++) {
      const client = turn % 2 === 0 ? two : one;
      const next = await client.responses.create({ model: 'gpt-4o', input: `turn ${turn}`, previous_response_id: previous }).withResponse();
      assert.equal(next.response.headers.get('x-gateway-endpoint'), home, `turn ${turn}`);
      previous = next.data.id;
    }
    const file = await one.files.create({ file: await toFile(Buffer.from(batchLines(1)), 'shared.jsonl'), purpose: 'batch' });
    assert.equal((await two.files.retrieve(file.id)).filename, 'shared.jsonl');
    const batch = await two.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForBatch(one, batch.id);
    assert.match(await (await two.files.content(done.output_file_id!)).text(), /"custom_id":"req-0"/);
    // Isolation holds across replicas too.
    await assert.rejects(sdk(gws[1].url, KEY_B).files.retrieve(file.id), NotFoundError);
  });
});
