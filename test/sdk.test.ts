// The official openai SDK, unchanged, against the gateway: AzureOpenAI on the
// Azure routes and OpenAI on /openai/v1, for every kind of operation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI, toFile } from 'openai';
import { KEY_A, KEY_B, startHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
let azure: AzureOpenAI;
let openai: OpenAI;

before(async () => {
  h = await startHarness();
  azure = new AzureOpenAI({ endpoint: h.url, apiKey: KEY_A, apiVersion: '2024-10-21', maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
});
after(() => h.close());

const messages = [{ role: 'user' as const, content: 'Say hello' }];

describe('AzureOpenAI client (Azure routes, api-key)', () => {
  test('chat completion', async () => {
    const { data, response } = await azure.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, 'lorem ipsum dolor sit amet');
    assert.equal(data.usage?.completion_tokens, 5);
    assert.equal(response.headers.get('x-gateway-endpoint'), 'east');
    assert.equal(response.headers.get('x-gateway-deployment'), 'gpt4o-ptu');
    const seen = h.sim.account('east').received.at(-1)!;
    assert.equal(seen.path, '/openai/deployments/gpt4o-ptu/chat/completions?api-version=2024-10-21');
  });

  test('streamed chat completion, with Azure\'s empty first chunk passed on', async () => {
    const stream = await azure.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.deepEqual(chunks[0].choices, []);
    assert.ok((chunks[0] as unknown as { prompt_filter_results: unknown[] }).prompt_filter_results.length > 0);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'lorem ipsum dolor sit amet');
  });

  test('legacy completions', async () => {
    const r = await azure.completions.create({ model: 'gpt-4o-mini', prompt: 'Once upon', max_tokens: 3 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, 'lorem ipsum dolor');
  });

  test('embeddings (the SDK asks for base64 and decodes it)', async () => {
    const r = await azure.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[0].embedding.length, 16);
    assert.equal(r.usage.prompt_tokens > 0, true);
  });

  test('Responses API (/openai/responses, deployment in the body)', async () => {
    const r = await azure.responses.create({ model: 'gpt-4o', input: 'Say hello' });
    assert.equal(r.output_text, 'lorem ipsum dolor sit amet');
    const seen = h.sim.account('east').received.at(-1)!;
    assert.match(seen.path, /^\/openai\/responses\?api-version=/);
    assert.equal((seen.body as { model: string }).model, 'gpt4o-ptu');
  });

  test('image generation', async () => {
    const r = await azure.images.generate({ model: 'dall-e-3', prompt: 'a cat' });
    assert.equal(r.data?.[0].url, 'https://simulator.invalid/image.png');
  });

  test('audio transcription (multipart upload)', async () => {
    const file = await toFile(Buffer.from('RIFF....WAVEfmt '), 'hello.wav');
    const r = await azure.audio.transcriptions.create({ model: 'whisper', file });
    assert.equal(typeof r.text, 'string');
    const seen = h.sim.account('east').received.at(-1)!;
    assert.equal(seen.path, '/openai/deployments/whisper-1/audio/transcriptions?api-version=2024-10-21');
    assert.match(String(seen.headers['content-type']), /^multipart\/form-data; boundary=/);
  });

  test('text to speech (binary answer)', async () => {
    const r = await azure.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'hello' });
    assert.equal(r.headers.get('content-type'), 'audio/mpeg');
    assert.equal((await r.arrayBuffer()).byteLength, 1024);
  });
});

describe('OpenAI client (baseURL …/openai/v1, Bearer, deployment from model)', () => {
  test('chat completion: model becomes the upstream deployment name', async () => {
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 }).withResponse();
    assert.equal(data.choices[0].message.content, 'lorem ipsum dolor sit amet');
    assert.equal(response.headers.get('x-gateway-deployment'), 'gpt4o-ptu');
    const seen = h.sim.account('east').received.at(-1)!;
    assert.equal(seen.path, '/openai/v1/chat/completions');
    assert.equal((seen.body as { model: string }).model, 'gpt4o-ptu');
    assert.deepEqual((seen.body as { messages: unknown }).messages, messages);
  });

  test('streamed chat completion with usage', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-west',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'lorem ipsum dolor sit amet');
    assert.equal(usage?.completion_tokens, 5);
  });

  test('embeddings', async () => {
    const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    assert.equal(r.data[0].embedding.length, 16);
  });

  test('Responses API, streamed', async () => {
    const stream = await openai.responses.create({ model: 'gpt-4o', input: 'Say hello', stream: true });
    let text = '';
    let completed = false;
    for await (const ev of stream) {
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = true;
    }
    assert.equal(text, 'lorem ipsum dolor sit amet');
    assert.ok(completed);
  });

  test('audio transcription: the multipart model field is rewritten', async () => {
    const file = await toFile(Buffer.from('RIFF....WAVEfmt '), 'hello.wav');
    const r = await openai.audio.transcriptions.create({ model: 'whisper', file });
    assert.equal(typeof r.text, 'string');
    const seen = h.sim.account('east').received.at(-1)!;
    assert.equal(seen.path, '/openai/v1/audio/transcriptions');
    assert.equal(seen.deployment, 'whisper-1');
  });

  test('models.list shows the deployments the key may use', async () => {
    const all = [];
    for await (const m of openai.models.list()) all.push(m.id);
    assert.deepEqual(all.sort(), ['dall-e-3', 'gpt-4o', 'gpt-4o-mini', 'gpt-4o-west', 'text-embedding-3-small', 'tts', 'whisper']);
    const b = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: KEY_B, maxRetries: 0 });
    const onlyB = [];
    for await (const m of b.models.list()) onlyB.push(m.id);
    assert.deepEqual(onlyB, ['gpt-4o-mini']);
    assert.equal((await b.models.retrieve('gpt-4o-mini')).id, 'gpt-4o-mini');
  });

  test('errors surface as the SDK\'s typed errors', async () => {
    const bad = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: 'not-a-valid-key-000000', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o', messages }), OpenAI.AuthenticationError);
    const b = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_B, maxRetries: 0 });
    await assert.rejects(b.chat.completions.create({ model: 'gpt-4o', messages }), OpenAI.PermissionDeniedError);
    await assert.rejects(openai.chat.completions.create({ model: 'no-such', messages }), OpenAI.NotFoundError);
  });
});

test('any other operation under a deployment is forwarded too', async () => {
  const res = await fetch(`${h.url}/openai/deployments/gpt-4o/extensions/chat/completions?api-version=2024-10-21`, {
    method: 'POST',
    headers: { 'api-key': KEY_A, 'content-type': 'application/json' },
    body: '{"messages":[]}',
  });
  // The simulator, like Azure, does not know this operation; what matters is that it was asked.
  assert.equal(res.status, 404);
  assert.equal(res.headers.get('x-gateway-endpoint'), 'east');
  assert.deepEqual(await res.json(), { error: { code: '404', message: 'Resource not found' } });
  assert.equal(h.sim.account('east').received.at(-1)!.path, '/openai/deployments/gpt4o-ptu/extensions/chat/completions?api-version=2024-10-21');
});
