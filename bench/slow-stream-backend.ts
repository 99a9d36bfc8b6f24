// A slow Azure OpenAI-shaped streaming backend for bench/compare.ts: every
// chat completion request (any path, any key) is answered with an SSE
// stream of `--chunks` chunks, one every `--interval-ms`, each carrying its
// send time (`performance.timeOrigin + performance.now()`, ms) in its
// content as `@<time>@`, so that a client on the same machine computes the
// relay latency of every chunk as arrival − send. With
// stream_options.include_usage it ends with the usage chunk, as Azure does.
//
//   node bench/slow-stream-backend.ts [--chunks 40] [--interval-ms 500]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { chunks: { type: 'string', default: '40' }, 'interval-ms': { type: 'string', default: '500' } } });
const CHUNKS = Number(values.chunks);
const INTERVAL_MS = Number(values['interval-ms']);
if (!Number.isInteger(CHUNKS) || CHUNKS < 1 || CHUNKS > 10_000 || !(INTERVAL_MS >= 1 && INTERVAL_MS <= 60_000)) {
  process.stderr.write('--chunks takes 1…10000, --interval-ms 1…60000\n');
  process.exit(2);
}
const MAX_BODY = 64 * 1024;
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

const chunk = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-slow',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4o-2024-08-06',
    system_fingerprint: 'fp_slow',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null, content_filter_results: {} }],
  })}\n\n`;
const FIRST = `data: ${JSON.stringify({ id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] })}\n\n`;
const USAGE = `data: ${JSON.stringify({
  id: 'chatcmpl-slow',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'gpt-4o-2024-08-06',
  choices: [],
  usage: { prompt_tokens: 20, completion_tokens: CHUNKS, total_tokens: 20 + CHUNKS },
})}\n\n`;

function stream(res: ServerResponse, includeUsage: boolean): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-ratelimit-remaining-requests': '1000000',
    'x-ratelimit-remaining-tokens': '100000000',
  });
  res.write(FIRST);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    if (res.destroyed) return;
    if (sent === CHUNKS) {
      res.end(`${chunk({}, 'stop')}${includeUsage ? USAGE : ''}data: [DONE]\n\n`);
      return;
    }
    sent++;
    res.write(chunk(sent === 1 ? { role: 'assistant', content: `@${now()}@` } : { content: `@${now()}@` }, null));
    timer = setTimeout(next, INTERVAL_MS);
  };
  timer = setTimeout(next, INTERVAL_MS);
  res.on('close', () => clearTimeout(timer));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) {
      res.writeHead(413).end();
      req.destroy();
    } else parts.push(c);
  });
  req.on('end', () => {
    let body: { stream?: boolean; stream_options?: { include_usage?: boolean } };
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"BadRequest","message":"the body is not JSON"}}');
      return;
    }
    if (body.stream !== true) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"BadRequest","message":"this backend only streams"}}');
      return;
    }
    stream(res, body.stream_options?.include_usage === true);
  });
}

const server = createServer({ keepAliveTimeout: 60_000 }, handle);
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`slow-stream backend http://127.0.0.1:${(server.address() as AddressInfo).port} (${CHUNKS} chunks, ${INTERVAL_MS} ms apart)\n`);
});
