// One simulated Azure OpenAI account on its own port: its deployments, their
// TPM/RPM admission, latency, streaming and faults. Tests drive it in-process
// and read what it received; `aoai-gateway simulate` runs several at once.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { findFormField, multipartBoundary } from '../proxy/multipart-fields.ts';
import { declaredMaxTokens, estimatePromptTokens, estimateRequestTokens, generatesTokens } from '../tokens/estimate.ts';
import type { SimAccountConfig, SimDeploymentConfig } from './config.ts';
import { parseFault, type Fault } from './faults.ts';
import { SimObjects } from './objects.ts';
import { RateLimiter } from './rate-limiter.ts';
import * as shapes from './shapes.ts';

const MAX_BODY = 64 * 1024 * 1024;
const LOG_SIZE = 500;

export interface ReceivedRequest {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly deployment: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** the parsed JSON body, if it was JSON */
  readonly body: unknown;
  /** the body's bytes as received */
  readonly raw: Buffer;
  status: number;
}

export interface DeploymentStats {
  requests: number;
  /** answers cut short because the client went away */
  aborted: number;
  ok: number;
  throttled: number;
  faults: number;
  promptTokens: number;
  completionTokens: number;
}

class SimDeployment {
  readonly name: string;
  readonly cfg: SimDeploymentConfig;
  readonly limiter: RateLimiter | undefined;
  fault: Fault | undefined;
  faultRate: number;
  stats: DeploymentStats = newStats();

  constructor(name: string, cfg: SimDeploymentConfig) {
    this.name = name;
    this.cfg = cfg;
    const rpm = cfg.rpm ?? (cfg.tpm ? Math.max(6, Math.floor((cfg.tpm / 1000) * 6)) : undefined);
    this.limiter = cfg.tpm || rpm ? new RateLimiter(cfg.tpm ?? Number.MAX_SAFE_INTEGER, rpm ?? Number.MAX_SAFE_INTEGER) : undefined;
    this.fault = cfg.fault ? parseFault(cfg.fault) : undefined;
    this.faultRate = cfg.faultRate;
  }
}

const newStats = (): DeploymentStats => ({ requests: 0, aborted: 0, ok: 0, throttled: 0, faults: 0, promptTokens: 0, completionTokens: 0 });

type Op = { deployment: string; op: string } | { deployment: undefined; op: string };

export class SimAccount {
  readonly name: string;
  readonly cfg: SimAccountConfig;
  readonly server: Server;
  readonly deployments = new Map<string, SimDeployment>();
  /** files, batches, stored Responses, assistants, threads, vector stores: this account's only */
  readonly objects: SimObjects;
  /** the last requests received, newest last */
  readonly received: ReceivedRequest[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(name: string, cfg: SimAccountConfig) {
    this.name = name;
    this.cfg = cfg;
    for (const [d, dc] of Object.entries(cfg.deployments)) this.deployments.set(d, new SimDeployment(d, dc));
    this.objects = new SimObjects({ answerLine: (body) => this.#answerLine(body), hasDeployment: (d) => this.deployments.has(d) });
    this.server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
      this.#handle(req, res).catch((err: Error) => {
        if (!res.headersSent) this.#json(res, 500, shapes.azureError('InternalServerError', err.message));
        else res.destroy();
      });
    });
    this.server.on('connection', (s) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    return this;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Sets (or with undefined clears) a standing fault on a deployment. */
  setFault(deployment: string, spec: string | undefined, rate = 1): void {
    const d = this.#deployment(deployment);
    d.fault = spec === undefined ? undefined : parseFault(spec);
    d.faultRate = rate;
  }

  stats(deployment: string): DeploymentStats {
    return this.#deployment(deployment).stats;
  }

  /** Clears counters, windows, faults and the request log. */
  reset(): void {
    for (const d of this.deployments.values()) {
      d.stats = newStats();
      d.limiter?.reset();
      d.fault = d.cfg.fault ? parseFault(d.cfg.fault) : undefined;
      d.faultRate = d.cfg.faultRate;
    }
    this.received.length = 0;
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #deployment(name: string): SimDeployment {
    const d = this.deployments.get(name);
    if (!d) throw new Error(`the simulator has no deployment "${name}" on account "${this.name}"`);
    return d;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path.startsWith('/_sim/')) return this.#control(req, res, path);

    if (!this.#authorized(req)) {
      return this.#json(
        res,
        401,
        shapes.azureError(
          '401',
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        ),
      );
    }
    const raw = await readAll(req);
    const contentType = req.headers['content-type'] ?? '';
    let body: Record<string, unknown> = {};
    if (raw.length > 0 && contentType.includes('json')) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        return this.#json(res, 400, shapes.azureError('BadRequest', 'The request body is not valid JSON.'));
      }
    }
    const boundary = multipartBoundary(contentType);
    const formModel = () => {
      const span = boundary ? findFormField(raw, boundary, 'model') : undefined;
      return span ? raw.toString('utf8', span.start, span.end) : undefined;
    };

    const objectRoute = SimObjects.route(path);
    const op = objectRoute ? undefined : routeOf(path, typeof body.model === 'string' ? body.model : formModel());
    const entry: ReceivedRequest = {
      at: Date.now(),
      method: req.method ?? '',
      path: url,
      deployment: op?.deployment,
      headers: { ...req.headers },
      body: raw.length > 0 && contentType.includes('json') ? body : undefined,
      raw,
      status: 0,
    };
    this.received.push(entry);
    if (this.received.length > LOG_SIZE) this.received.shift();
    const respond = (status: number) => (entry.status = status);
    if (objectRoute) return this.#object(req, res, objectRoute, body, raw, contentType, respond);

    if (!op) {
      respond(404);
      return this.#json(res, 404, shapes.azureError('404', 'Resource not found'));
    }
    const dep = op.deployment === undefined ? undefined : this.deployments.get(op.deployment);
    if (!dep) {
      respond(404);
      return this.#json(
        res,
        404,
        shapes.azureError(
          'DeploymentNotFound',
          'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
        ),
      );
    }
    dep.stats.requests++;
    res.once('close', () => {
      if (!res.writableFinished) dep.stats.aborted++;
    });

    const headerFault = req.headers['x-sim-fault'];
    let fault: Fault | undefined;
    try {
      fault = typeof headerFault === 'string' ? parseFault(headerFault) : dep.fault && Math.random() < dep.faultRate ? dep.fault : undefined;
    } catch (err) {
      respond(400);
      return this.#json(res, 400, shapes.azureError('BadRequest', `x-sim-fault: ${(err as Error).message}`));
    }
    if (fault?.firstByteMs) await this.#sleep(fault.firstByteMs);
    if (fault?.hang) {
      dep.stats.faults++;
      return; // never answers; closing the simulator or the client ends it
    }
    if (fault?.resetAfterChunks === 0) {
      dep.stats.faults++;
      req.socket.destroy();
      return;
    }

    const rate = this.#rateHeaders(dep);
    if (fault?.contentFilter) {
      dep.stats.faults++;
      respond(400);
      return this.#json(res, 400, shapes.contentFilterError(), rate());
    }
    if (fault?.status !== undefined) {
      dep.stats.faults++;
      if (fault.status === 429) dep.stats.throttled++;
      respond(fault.status);
      return this.#faultStatus(res, fault, rate());
    }

    const promptTokens = estimatePromptTokens(body);
    const costed = generatesTokens(op.op) || op.op === 'embeddings';
    const cost = costed ? estimateRequestTokens(body, dep.cfg.defaultMaxTokens, generatesTokens(op.op)) : 0;
    const admission = dep.limiter?.admit(cost);
    if (admission && !admission.ok) {
      dep.stats.throttled++;
      respond(429);
      const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
      return this.#json(res, 429, shapes.azureError('429', shapes.rateLimitMessage(admission.reason, seconds)), {
        'retry-after': String(seconds),
        'retry-after-ms': String(Math.ceil(admission.retryAfterMs)),
        'x-ratelimit-reset-requests': String(Math.ceil(admission.resetRequestsMs / 1000)),
        'x-ratelimit-reset-tokens': String(Math.ceil(admission.resetTokensMs / 1000)),
        'x-ratelimit-remaining-requests': String(admission.remainingRequests),
        'x-ratelimit-remaining-tokens': String(admission.remainingTokens),
        'x-ms-region': this.cfg.region,
        'apim-request-id': randomUUID(),
      });
    }
    const headers: Record<string, string> = {
      'x-ratelimit-remaining-requests': String(admission?.remainingRequests ?? 1_000_000),
      'x-ratelimit-remaining-tokens': String(admission?.remainingTokens ?? 100_000_000),
      'x-ms-region': this.cfg.region,
      'apim-request-id': randomUUID(),
    };
    if (op.op === 'responses' && this.cfg.unknownTokensOnResponses) {
      headers['x-ratelimit-limit-tokens'] = '-1';
      headers['x-ratelimit-remaining-tokens'] = '-1';
      headers['x-ratelimit-reset-tokens'] = '0';
    }

    const simTokens = Number(req.headers['x-sim-completion-tokens']);
    const wanted = Number.isInteger(simTokens) && simTokens > 0 ? simTokens : dep.cfg.completionTokens;
    const max = declaredMaxTokens(body, Infinity);
    const gen: shapes.Generation = {
      model: dep.cfg.model,
      promptTokens,
      completionTokens: Math.min(wanted, max),
      finishReason: max < wanted ? 'length' : 'stop',
    };
    const { baseMs, perTokenMs } = dep.cfg.latency;
    const record = (completion: number) => {
      dep.stats.ok++;
      dep.stats.promptTokens += promptTokens;
      dep.stats.completionTokens += completion;
      respond(200);
    };

    // A Response continues one stored on this account, and is stored here (unless store: false).
    const previous = op.op === 'responses' ? body.previous_response_id : undefined;
    if (typeof previous === 'string' && !this.objects.hasResponse(previous)) {
      respond(400);
      return this.#json(res, 400, { error: { message: `Previous response with id '${previous}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' } }, headers);
    }
    const rid = shapes.id('resp_');
    if (op.op === 'responses' && body.store !== false) {
      this.objects.storeResponse(rid, { ...shapes.response(gen, rid), previous_response_id: previous ?? null }, body.input);
    }

    switch (op.op) {
      case 'chat/completions':
      case 'completions':
      case 'responses': {
        const stream = body.stream === true;
        if (!stream) {
          await this.#sleep(baseMs + perTokenMs * gen.completionTokens);
          record(gen.completionTokens);
          const value = op.op === 'chat/completions' ? shapes.chatCompletion(gen) : op.op === 'completions' ? shapes.completion(gen) : { ...shapes.response(gen, rid), previous_response_id: previous ?? null };
          return this.#json(res, 200, value, headers, fault?.resetAfterChunks);
        }
        await this.#sleep(baseMs);
        record(gen.completionTokens);
        const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
        const events: Iterable<[string | undefined, string]> =
          op.op === 'responses'
            ? shapes.responseEvents(gen, rid)
            : mapData(op.op === 'chat/completions' ? shapes.chatCompletionChunks(gen, includeUsage) : shapes.completionChunks(gen, includeUsage));
        return this.#stream(res, headers, events, op.op !== 'responses', perTokenMs, fault?.resetAfterChunks);
      }
      case 'embeddings': {
        await this.#sleep(baseMs);
        const input = body.input;
        const n = Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input.length : 1;
        const dims = typeof body.dimensions === 'number' ? body.dimensions : dep.cfg.embeddingDimensions;
        record(0);
        return this.#json(res, 200, shapes.embeddings(dep.cfg.model, n, dims, body.encoding_format === 'base64', promptTokens), headers);
      }
      case 'images/generations':
        await this.#sleep(baseMs);
        record(0);
        return this.#json(res, 200, shapes.image(body.response_format === 'b64_json'), headers);
      case 'audio/transcriptions':
      case 'audio/translations':
        await this.#sleep(baseMs);
        record(0);
        return this.#json(res, 200, { text: shapes.text(gen.completionTokens) }, headers);
      case 'audio/speech': {
        await this.#sleep(baseMs);
        record(0);
        const audio = Buffer.alloc(1024, 0xff);
        res.writeHead(200, { ...headers, 'content-type': 'audio/mpeg', 'content-length': String(audio.length) });
        return void res.end(audio);
      }
      default:
        dep.stats.requests--;
        respond(404);
        return this.#json(res, 404, shapes.azureError('404', 'Resource not found'), headers);
    }
  }

  /** Files, batches, stored Responses…: no deployment, no rate limit; `x-sim-fault` statuses and hang apply. */
  async #object(
    req: IncomingMessage,
    res: ServerResponse,
    route: NonNullable<ReturnType<typeof SimObjects.route>>,
    body: Record<string, unknown>,
    raw: Buffer,
    contentType: string,
    respond: (status: number) => void,
  ): Promise<void> {
    const headers = { 'x-ms-region': this.cfg.region, 'apim-request-id': randomUUID() };
    const spec = req.headers['x-sim-fault'];
    if (typeof spec === 'string') {
      let fault: Fault;
      try {
        fault = parseFault(spec);
      } catch (err) {
        respond(400);
        return this.#json(res, 400, shapes.azureError('BadRequest', `x-sim-fault: ${(err as Error).message}`));
      }
      if (fault.hang) return;
      if (fault.status !== undefined) {
        respond(fault.status);
        return this.#faultStatus(res, fault, headers);
      }
    }
    const answer = await this.objects.handle(req.method ?? 'GET', route, body, raw, contentType);
    respond(answer.status);
    if (!answer.bytes) return this.#json(res, answer.status, answer.json, headers);
    res.writeHead(answer.status, { ...headers, 'content-type': answer.contentType ?? 'application/octet-stream', 'content-length': String(answer.bytes.length) });
    res.end(answer.bytes);
  }

  /** One line of a batch, answered by the deployment its body's `model` names on this account. */
  #answerLine(body: Record<string, unknown>): { status: number; body: unknown } {
    const dep = typeof body.model === 'string' ? this.deployments.get(body.model) : undefined;
    if (!dep) return { status: 404, body: shapes.azureError('DeploymentNotFound', 'The API deployment for this resource does not exist.') };
    const promptTokens = estimatePromptTokens(body);
    const max = declaredMaxTokens(body, Infinity);
    const want = dep.cfg.completionTokens;
    dep.stats.ok++;
    if (dep.cfg.kind === 'embeddings') return { status: 200, body: shapes.embeddings(dep.cfg.model, 1, dep.cfg.embeddingDimensions, false, promptTokens) };
    return { status: 200, body: shapes.chatCompletion({ model: dep.cfg.model, promptTokens, completionTokens: Math.min(want, max), finishReason: max < want ? 'length' : 'stop' }) };
  }

  #authorized(req: IncomingMessage): boolean {
    const { keys, tokens } = this.cfg;
    const apiKey = req.headers['api-key'];
    if (typeof apiKey === 'string') return keys.length === 0 || keys.includes(apiKey);
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^bearer /i.test(auth)) return tokens.length === 0 || tokens.includes(auth.slice(7).trim());
    return false;
  }

  /** Headers every answer of a deployment carries. */
  #rateHeaders(dep: SimDeployment): () => Record<string, string> {
    return () => {
      const left = dep.limiter?.remaining();
      return {
        'x-ratelimit-remaining-requests': String(left?.requests ?? 1_000_000),
        'x-ratelimit-remaining-tokens': String(left?.tokens ?? 100_000_000),
        'x-ms-region': this.cfg.region,
        'apim-request-id': randomUUID(),
      };
    };
  }

  #faultStatus(res: ServerResponse, fault: Fault, headers: Record<string, string>): void {
    const status = fault.status as number;
    if (status === 429) {
      if (!fault.noRetryHeaders) {
        if (fault.resetTokensS !== undefined) {
          headers['x-rate-limit-reset-tokens'] = String(fault.resetTokensS);
          headers['policy-id'] = 'DeploymentRatelimit-Token';
        }
        if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
        if (fault.retryAfterS !== undefined) {
          headers['retry-after'] = String(fault.retryAfterS);
          headers['retry-after-ms'] ??= String(fault.retryAfterS * 1000);
        }
      }
      const s = fault.retryAfterS ?? Math.ceil((fault.retryAfterMs ?? 1000) / 1000);
      return this.#json(res, 429, shapes.azureError('429', shapes.rateLimitMessage('tokens', s)), headers);
    }
    if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS);
    const message = status >= 500 ? 'The server had an error while processing your request. Sorry about that!' : `Simulated status ${status}.`;
    this.#json(res, status, shapes.azureError(String(status), message), headers);
  }

  #json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}, resetAfterChunks?: number): void {
    const body = Buffer.from(JSON.stringify(value));
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) });
    if (resetAfterChunks !== undefined) {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  }

  async #stream(
    res: ServerResponse,
    headers: Record<string, string>,
    events: Iterable<[string | undefined, string]>,
    done: boolean,
    perTokenMs: number,
    resetAfterChunks: number | undefined,
  ): Promise<void> {
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    let sent = 0;
    let flushed: Promise<void> = Promise.resolve();
    for (const [event, data] of events) {
      if (resetAfterChunks !== undefined && sent >= resetAfterChunks) {
        // Let what was written reach the client first: the fault is a break after N events, not before.
        await flushed;
        res.socket?.destroy();
        return;
      }
      if (res.destroyed) return;
      flushed = new Promise((resolve) => res.write(event ? `event: ${event}\ndata: ${data}\n\n` : `data: ${data}\n\n`, () => resolve()));
      sent++;
      if (perTokenMs > 0) await this.#sleep(perTokenMs);
    }
    res.end(done ? 'data: [DONE]\n\n' : undefined);
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  #control(req: IncomingMessage, res: ServerResponse, path: string): void {
    // /_sim/stats, /_sim/reset, /_sim/deployments/{d}/fault
    const m = /^\/_sim\/deployments\/([^/]+)\/fault$/.exec(path);
    try {
      if (path === '/_sim/stats' && req.method === 'GET') {
        const out: Record<string, DeploymentStats> = {};
        for (const [n, d] of this.deployments) out[n] = d.stats;
        return this.#json(res, 200, out);
      }
      if (path === '/_sim/reset' && req.method === 'POST') {
        this.reset();
        return this.#json(res, 200, { ok: true });
      }
      if (m && req.method === 'DELETE') {
        this.setFault(decodeURIComponent(m[1]), undefined);
        return this.#json(res, 200, { ok: true });
      }
      if (m && req.method === 'PUT') {
        void readAll(req).then((b) => {
          try {
            const { fault, rate } = JSON.parse(b.toString('utf8')) as { fault: string; rate?: number };
            this.setFault(decodeURIComponent(m[1]), fault, rate ?? 1);
            this.#json(res, 200, { ok: true });
          } catch (err) {
            this.#json(res, 400, shapes.azureError('BadRequest', (err as Error).message));
          }
        });
        return;
      }
      this.#json(res, 404, shapes.azureError('404', 'Resource not found'));
    } catch (err) {
      this.#json(res, 400, shapes.azureError('BadRequest', (err as Error).message));
    }
  }
}

function* mapData(it: Iterable<string>): Generator<[undefined, string]> {
  for (const d of it) yield [undefined, d];
}

const DEPLOYMENT_OPS = /^\/openai\/deployments\/([^/]+)\/(.+)$/;
const V1_OPS = /^(?:\/openai)?\/v1\/(.+)$/;

function routeOf(path: string, model: string | undefined): Op | undefined {
  let m = DEPLOYMENT_OPS.exec(path);
  if (m) return { deployment: decodeURIComponent(m[1]), op: m[2] };
  m = V1_OPS.exec(path);
  if (m) return { deployment: model, op: m[1] };
  if (path === '/openai/responses') return { deployment: model, op: 'responses' };
  return undefined;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
