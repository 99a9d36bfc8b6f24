// Local stand-ins for what discovery talks to: Azure Resource Manager (an
// account's deployments, in pages with nextLink, and the account itself)
// and an App Service managed-identity token endpoint (what @azure/identity's
// ManagedIdentityCredential calls when IDENTITY_ENDPOINT/IDENTITY_HEADER are
// set). Real HTTP on 127.0.0.1, port 0.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const ARM_API_VERSION = '2024-10-01';
export const IDENTITY_HEADER = 'identity-header-secret-0001';

export interface ArmDeploymentSpec {
  name: string;
  model: string;
  sku?: string;
  version?: string;
  provisioningState?: string;
  /** rateLimits as ARM lists them */
  tokensPerMinute?: number;
  requestsPer10s?: number;
}

export type ArmMode = 'ok' | 'error-500' | 'malformed' | 'hang';

interface Account {
  subscription: string;
  resourceGroup: string;
  /** the data-plane URL the account reports (properties.endpoint) */
  endpoint: string;
  deployments: ArmDeploymentSpec[];
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The token endpoint: hands out `token` for any resource, to callers with the identity header. */
export class TokenStandIn {
  readonly server: Server;
  url = '';
  token = 'arm-token-0001';
  /** false: refuses every token */
  working = true;
  readonly resources: string[] = [];

  private constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(): Promise<TokenStandIn> {
    const t = new TokenStandIn();
    t.url = await listen(t.server);
    return t;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers['x-identity-header'] !== IDENTITY_HEADER) return reply(res, 401, { error: 'missing identity header' });
    // 400, as App Service answers when the identity is not assigned (a 500 would be retried for seconds first).
    if (!this.working) return reply(res, 400, { error: 'invalid_request', error_description: 'the identity is not assigned' });
    const resource = url.searchParams.get('resource') ?? '';
    this.resources.push(resource);
    // Short-lived, so that every refresh asks again (and a broken endpoint shows at once).
    reply(res, 200, { access_token: this.token, expires_on: String(Math.floor(Date.now() / 1000) + 120), resource, token_type: 'Bearer' });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Resource Manager for a few Cognitive Services accounts. */
export class ArmStandIn {
  readonly server: Server;
  url = '';
  readonly accounts = new Map<string, Account>();
  mode: ArmMode = 'ok';
  pageSize = 2;
  /** where nextLink points; default: this server */
  nextLinkBase: string | undefined;
  /** the bearer token it accepts */
  token = 'arm-token-0001';
  readonly received: { path: string; query: string; authorization: string | undefined }[] = [];

  private constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(): Promise<ArmStandIn> {
    const a = new ArmStandIn();
    a.url = await listen(a.server);
    return a;
  }

  account(name: string, account: Account): void {
    this.accounts.set(name.toLowerCase(), account);
  }

  deployments(name: string): ArmDeploymentSpec[] {
    return this.accounts.get(name.toLowerCase())!.deployments;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.received.push({ path: url.pathname, query: url.search, authorization: req.headers.authorization });
    if (this.mode === 'hang') return; // never answers: the caller's timeout must end it
    if (this.mode === 'error-500') return reply(res, 500, { error: { code: 'InternalServerError', message: 'Encountered internal server error.' } });
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return reply(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } });
    }
    if (url.searchParams.get('api-version') !== ARM_API_VERSION) {
      return reply(res, 400, { error: { code: 'InvalidApiVersionParameter', message: `The api-version '${url.searchParams.get('api-version')}' is invalid.` } });
    }
    if (this.mode === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"value":[{"name":"gpt-4o-ptu",');
    }
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)(\/deployments)?$/i.exec(url.pathname);
    const acct = m ? this.accounts.get(decodeURIComponent(m[3]).toLowerCase()) : undefined;
    if (!m || !acct || acct.subscription !== m[1] || acct.resourceGroup !== m[2]) {
      return reply(res, 404, { error: { code: 'ResourceNotFound', message: 'The Resource was not found.' } });
    }
    const id = `/subscriptions/${m[1]}/resourceGroups/${m[2]}/providers/Microsoft.CognitiveServices/accounts/${m[3]}`;
    if (!m[4]) {
      return reply(res, 200, { id, name: m[3], kind: 'OpenAI', properties: { endpoint: acct.endpoint, provisioningState: 'Succeeded' } });
    }
    const skip = Number(url.searchParams.get('$skipToken') ?? '0');
    const slice = acct.deployments.slice(skip, skip + this.pageSize);
    const more = skip + this.pageSize < acct.deployments.length;
    reply(res, 200, {
      value: slice.map((d) => ({
        id: `${id}/deployments/${d.name}`,
        type: 'Microsoft.CognitiveServices/accounts/deployments',
        name: d.name,
        sku: { name: d.sku ?? 'Standard', capacity: 10 },
        properties: {
          model: { format: 'OpenAI', name: d.model, version: d.version ?? '2024-08-06' },
          provisioningState: d.provisioningState ?? 'Succeeded',
          rateLimits: [
            ...(d.requestsPer10s ? [{ key: 'request', renewalPeriod: 10, count: d.requestsPer10s }] : []),
            ...(d.tokensPerMinute ? [{ key: 'token', renewalPeriod: 60, count: d.tokensPerMinute }] : []),
          ],
          versionUpgradeOption: 'OnceNewDefaultVersionAvailable',
        },
      })),
      ...(more ? { nextLink: `${this.nextLinkBase ?? this.url}${url.pathname}?api-version=${ARM_API_VERSION}&$skipToken=${skip + this.pageSize}` } : {}),
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
