// The admin plane (DESIGN.md §5), on its own port, never the data port:
// Prometheus metrics, the admin API (state, usage, keys, reload, drain), its
// OpenAPI description, and the dashboard. Every /admin/api call needs the
// admin key (Authorization: Bearer, or api-key); /metrics too when a key is
// set.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { configuredKeyDigest, hashKey, presentedKey } from '../auth/consumer-keys.ts';
import { parseCliDuration } from '../config/durations.ts';
import type { GroupBy } from '../ledger/records.ts';
import { GatewayError, sendError } from '../proxy/errors.ts';
import { readBody } from '../proxy/request-body.ts';
import { createListener, listen, listenerUrl, watchTls, type Listener, type TlsFiles } from '../server/listener.ts';
import { ADMIN_OPENAPI } from './openapi.ts';

/** What the admin plane asks of the gateway. */
export interface AdminPort {
  state(): Promise<unknown>;
  activity(): unknown;
  usage(by: GroupBy, since: number): Promise<unknown>;
  keys(): Promise<unknown>;
  createKey(consumer: string, expiresInSeconds: number | undefined): Promise<unknown>;
  revokeKey(idOrPrefix: string): Promise<number>;
  reload(): Promise<{ ok: boolean; issues?: unknown; restartNeeded?: string[] }>;
  drain(targetId: string, drained: boolean): Promise<boolean>;
  metrics(req: IncomingMessage, res: ServerResponse): void;
  adminKey(): string | undefined;
}

const MAX_BODY = 64 * 1024;
const DASHBOARD = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');

export class AdminServer {
  readonly server: Listener;
  readonly #tls: TlsFiles | undefined;
  readonly #logger: Logger | undefined;
  #stopTls: (() => void) | undefined;
  readonly #port: AdminPort;

  constructor(port: AdminPort, tls?: TlsFiles, logger?: Logger) {
    this.#port = port;
    this.#tls = tls;
    this.#logger = logger;
    this.server = createListener(tls, 'admin.tls', { requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!(err instanceof GatewayError)) logger?.error({ err: (err as Error)?.message, path: req.url?.split('?')[0] }, 'admin API: a call failed');
        const e = err instanceof GatewayError ? err : new GatewayError('internal_error', 'The admin API failed to handle the request.');
        sendError(res, e, e.code === 'body_too_large' ? { connection: 'close' } : {});
      });
    });
  }

  async listen(port: number, host: string): Promise<void> {
    await listen(this.server, port, host);
    if (this.#tls && 'setSecureContext' in this.server) this.#stopTls = watchTls(this.server, this.#tls, 'admin.tls', this.#logger);
  }

  get url(): string {
    return listenerUrl(this.server);
  }

  close(): Promise<void> {
    this.#stopTls?.();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/') {
      allow(method, 'GET');
      // The page holds no secret; it asks for the admin key and sends it with each call.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'" });
      return void res.end(DASHBOARD);
    }
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      allow(method, 'GET');
      if (this.#port.adminKey() !== undefined) this.#authorize(req);
      return this.#port.metrics(req, res);
    }
    if (!path.startsWith('/admin/api/')) throw new GatewayError('route_not_found', `No route for ${method} ${path}.`);
    this.#authorize(req);
    const route = path.slice('/admin/api/'.length);

    switch (route) {
      case 'openapi.json':
        allow(method, 'GET');
        return json(res, 200, ADMIN_OPENAPI);
      case 'state':
        allow(method, 'GET');
        return json(res, 200, await this.#port.state());
      case 'activity':
        allow(method, 'GET');
        return json(res, 200, await this.#port.activity());
      case 'usage': {
        allow(method, 'GET');
        const by = (url.searchParams.get('by') ?? 'consumer') as GroupBy;
        if (!['consumer', 'deployment', 'endpoint'].includes(by)) throw new GatewayError('invalid_parameter', '"by" is consumer, deployment or endpoint.', { param: 'by' });
        const since = parseSince(url.searchParams.get('since') ?? '24h');
        return json(res, 200, { by, since: new Date(since).toISOString(), rows: await this.#port.usage(by, since) });
      }
      case 'keys': {
        if (allow(method, 'GET', 'POST') === 'GET') return json(res, 200, { keys: await this.#port.keys() });
        const body = await readJson(req);
        if (typeof body.consumer !== 'string' || body.consumer === '') {
          throw new GatewayError('invalid_body', 'Send {"consumer": "<name>", "expiresInSeconds": <optional number>}.', { param: 'consumer' });
        }
        const expires = body.expiresInSeconds;
        if (expires !== undefined && (typeof expires !== 'number' || !(expires > 0) || !Number.isFinite(expires))) {
          throw new GatewayError('invalid_body', '"expiresInSeconds" must be a positive number.', { param: 'expiresInSeconds' });
        }
        return json(res, 201, await this.#port.createKey(body.consumer, expires as number | undefined));
      }
      case 'reload': {
        allow(method, 'POST');
        const r = await this.#port.reload();
        return json(res, r.ok ? 200 : 400, r);
      }
    }
    const revoke = /^keys\/([^/]+?)(\/revoke)?$/.exec(route);
    if (revoke) {
      allow(method, revoke[2] ? 'POST' : 'DELETE');
      const id = decodeURIComponent(revoke[1]);
      const n = await this.#port.revokeKey(id);
      if (n === 0) throw new GatewayError('route_not_found', `No active key with id or prefix "${id}".`);
      return json(res, 200, { revoked: n });
    }
    const drain = /^targets\/([^/]+)\/([^/]+)\/(drain|undrain)$/.exec(route);
    if (drain) {
      allow(method, 'POST');
      const id = `${decodeURIComponent(drain[1])}/${decodeURIComponent(drain[2])}`;
      const drained = drain[3] === 'drain';
      if (!(await this.#port.drain(id, drained))) throw new GatewayError('route_not_found', `No target "${id}".`);
      return json(res, 200, { target: id, drained });
    }
    throw new GatewayError('route_not_found', `No route for ${method} ${path}.`);
  }

  #authorize(req: IncomingMessage): void {
    const expected = this.#port.adminKey();
    if (expected === undefined) throw new GatewayError('admin_disabled', 'The admin API is off: set admin.key in the config.');
    const given = presentedKey(req.headers);
    if (given === undefined) throw new GatewayError('missing_api_key', 'Send the admin key as Authorization: Bearer <key> or api-key.');
    const want = configuredKeyDigest(expected);
    const got = hashKey(given);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new GatewayError('invalid_api_key', 'Incorrect admin key.');
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store' });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req, MAX_BODY);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new GatewayError('invalid_body', 'The body must be a JSON object.');
  return v as Record<string, unknown>;
}

/** Throws 405 unless the method is one of those allowed; returns it. */
function allow(method: string, ...allowed: string[]): string {
  if (!allowed.includes(method)) throw new GatewayError('method_not_allowed', `${method} is not allowed here; use ${allowed.join(' or ')}.`);
  return method;
}

/** A duration back from now (30m, 24h, 7d, 2w), or an ISO time. */
function parseSince(s: string): number {
  if (/^\d+(?:\.\d+)?[smhdw]$/.test(s)) return Date.now() - parseCliDuration(s, 'since');
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new GatewayError('invalid_parameter', '"since" is a duration like 24h or 7d, or an ISO time.', { param: 'since' });
  return t;
}
