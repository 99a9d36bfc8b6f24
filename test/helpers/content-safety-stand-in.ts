// A local stand-in for Azure AI Content Safety (text:analyze and
// text:shieldPrompt, api-version 2024-09-01), on port 0. It checks the key
// (or a bearer token), the api-version and the service's input limits, and
// answers by markers in the text: `violence:6`, `hate:4`, `selfharm:2`,
// `sexual:6` give that category that severity; "DAN mode" or "ignore all
// previous instructions" is an attack; `blocked-term` matches every
// blocklist asked for. `mode` makes it fail: error (500), throttle (429),
// hang (never answers), garbage (not JSON); `delayMs` slows every answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SAFETY_KEY = 'content-safety-key-0123456789abcdef';
const API_VERSION = '2024-09-01';
const LIMIT = 10_000;
const ATTACK = /DAN mode|ignore all previous instructions/i;
const MARKER = /\b(hate|selfharm|sexual|violence):([0-7])\b/gi;
const NAMES: Record<string, string> = { hate: 'Hate', selfharm: 'SelfHarm', sexual: 'Sexual', violence: 'Violence' };

export interface Received {
  readonly operation: 'analyze' | 'shieldPrompt' | string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: any;
}

export class ContentSafetyStandIn {
  readonly received: Received[] = [];
  mode: 'ok' | 'error' | 'throttle' | 'hang' | 'garbage' = 'ok';
  delayMs = 0;
  /** keep what it received (a benchmark turns this off) */
  record = true;
  /** accepted as Authorization: Bearer <token> instead of the key */
  bearer: string | undefined;
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<ContentSafetyStandIn> {
    const server = createServer();
    const s = new ContentSafetyStandIn(server);
    server.on('request', (req, res) => s.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  of(operation: 'analyze' | 'shieldPrompt'): Received[] {
    return this.received.filter((r) => r.operation === operation);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const operation = /\/contentsafety\/text:(analyze|shieldPrompt)$/.exec(url.pathname)?.[1] ?? url.pathname;
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return error(res, 400, 'InvalidRequestBody', 'The request body is not valid JSON.');
      }
      if (this.record) this.received.push({ operation, url: req.url ?? '', headers: req.headers, body });
      const authorized = req.headers['ocp-apim-subscription-key'] === SAFETY_KEY || (this.bearer !== undefined && req.headers.authorization === `Bearer ${this.bearer}`);
      if (!authorized) return error(res, 401, '401', 'Access denied due to invalid subscription key or wrong API endpoint.');
      if (url.searchParams.get('api-version') !== API_VERSION) return error(res, 404, 'ApiVersionUnsupported', 'Unsupported api-version.');
      if (this.mode === 'hang') return;
      const answer = () => {
        if (this.mode === 'error') return error(res, 500, 'InternalServerError', 'Something went wrong.');
        if (this.mode === 'throttle') return error(res, 429, '429', 'Rate limit is exceeded.');
        if (this.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
        if (operation === 'analyze') return this.#analyze(res, body);
        if (operation === 'shieldPrompt') return this.#shield(res, body);
        error(res, 404, 'NotFound', 'Resource not found.');
      };
      if (this.delayMs > 0) setTimeout(answer, this.delayMs);
      else answer();
    });
  }

  #analyze(res: ServerResponse, body: any): void {
    if (typeof body.text !== 'string' || body.text.length === 0) return error(res, 400, 'InvalidRequestBody', 'text is required.');
    if (body.text.length > LIMIT) return error(res, 400, 'InvalidRequestBody', `text is over ${LIMIT} characters.`);
    const four = (body.outputType ?? 'FourSeverityLevels') === 'FourSeverityLevels';
    const severity: Record<string, number> = {};
    for (const m of body.text.matchAll(MARKER)) {
      const name = NAMES[m[1].toLowerCase()];
      let s = Number(m[2]);
      if (four) s -= s % 2;
      severity[name] = Math.max(severity[name] ?? 0, s);
    }
    const categories: string[] = body.categories ?? ['Hate', 'SelfHarm', 'Sexual', 'Violence'];
    const blocklistsMatch = (body.blocklistNames ?? [])
      .filter(() => body.text.includes('blocked-term'))
      .map((name: string) => ({ blocklistName: name, blocklistItemId: 'item-1', blocklistItemText: 'blocked-term' }));
    json(res, 200, { blocklistsMatch, categoriesAnalysis: categories.map((category) => ({ category, severity: severity[category] ?? 0 })) });
  }

  #shield(res: ServerResponse, body: any): void {
    const docs: string[] = body.documents ?? [];
    if (body.userPrompt !== undefined && (typeof body.userPrompt !== 'string' || body.userPrompt.length > LIMIT)) return error(res, 400, 'InvalidRequestBody', 'userPrompt is invalid.');
    if (docs.length > 5 || docs.reduce((n, d) => n + d.length, 0) > LIMIT) return error(res, 400, 'InvalidRequestBody', 'documents are over the limit.');
    const out: Record<string, unknown> = { documentsAnalysis: docs.map((d) => ({ attackDetected: ATTACK.test(d) })) };
    if (body.userPrompt !== undefined) out.userPromptAnalysis = { attackDetected: ATTACK.test(body.userPrompt) };
    json(res, 200, out);
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}
