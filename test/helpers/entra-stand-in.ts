// Local stand-ins for Microsoft Entra ID, real HTTP on 127.0.0.1 (port 0):
// - FakeEntra: an authority over TLS (MSAL requires https) with OIDC
//   discovery, the v2.0 token endpoint for client credentials (a client
//   secret, a certificate's signed assertion, or a federated token as
//   workload identity sends it), and the tenant's signing keys (JWKS) for
//   access tokens the test signs itself, as apps calling the gateway hold.
// - ManagedIdentityStandIn: App Service's identity endpoint
//   (IDENTITY_ENDPOINT + IDENTITY_HEADER), what ManagedIdentityCredential calls.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importX509, jwtVerify, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** A server that can be stopped and started again on the same port (an outage, then the way back). */
export abstract class Restartable {
  server: Server;
  port = 0;
  readonly #make: () => Server;

  constructor(make: () => Server) {
    this.#make = make;
    this.server = make();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening: connections are refused until `resume`. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.#make();
  }

  async resume(): Promise<void> {
    await this.listen();
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return this.stop();
  }
}

export interface EntraApp {
  secret?: string;
  /** PEM certificate whose key signs the app's client assertions */
  certificate?: string;
  /** what a workload identity's token file holds */
  federatedToken?: string;
}

export interface IssuedToken {
  readonly clientId: string;
  readonly scope: string;
  readonly token: string;
  readonly how: 'secret' | 'certificate' | 'federated';
}

export class FakeEntra extends Restartable {
  readonly tenant: string;
  readonly apps = new Map<string, EntraApp>();
  readonly issued: IssuedToken[] = [];
  /** every request's method and path, in order */
  readonly requests: string[] = [];
  /** lifetime of the access tokens the token endpoint hands out */
  tokenLifetimeSeconds = 3600;
  /** 'error': the token endpoint answers 503 (the rest still works) */
  mode: 'ok' | 'error' = 'ok';
  /** signing keys of the tenant, newest last; the JWKS lists `published` of them */
  readonly #keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[] = [];
  published = new Set<string>();
  jwksRequests = 0;
  #counter = 0;

  private constructor(tls: { cert: string; key: string }, tenant: string) {
    super(() => createHttpsServer(tls, (req, res) => void this.#handle(req, res)));
    this.tenant = tenant;
  }

  static async start(tls: { cert: string; key: string }, tenant = TENANT): Promise<FakeEntra> {
    const e = new FakeEntra(tls, tenant);
    await e.listen();
    await e.addSigningKey();
    return e;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The v2.0 issuer of this authority (what the gateway accepts by default). */
  get issuer(): string {
    return `${this.url}/${this.tenant}/v2.0`;
  }

  get jwksUri(): string {
    return `${this.url}/${this.tenant}/discovery/v2.0/keys`;
  }

  /** A new signing key, published in the JWKS unless told otherwise. Returns its kid. */
  async addSigningKey(publish = true): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `kid-${this.#keys.length + 1}-${randomUUID().slice(0, 8)}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
    this.#keys.push({ kid, privateKey, jwk });
    if (publish) this.published.add(kid);
    return kid;
  }

  /** An access token as Entra would issue it to an app, signed by `kid` (default: the newest key). */
  async sign(claims: JWTPayload, opts: { kid?: string; expiresInSeconds?: number; key?: CryptoKey } = {}): Promise<string> {
    const k = opts.kid ? this.#keys.find((x) => x.kid === opts.kid)! : this.#keys[this.#keys.length - 1];
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: this.tenant, ver: '2.0', iat: now - 5, nbf: now - 5, exp: now + (opts.expiresInSeconds ?? 600), ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: k.kid })
      .sign(opts.key ?? k.privateKey);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = await readBody(req);
    this.requests.push(`${req.method} ${url.pathname}`);
    const base = `${this.url}/${this.tenant}`;
    if (url.pathname === `/${this.tenant}/v2.0/.well-known/openid-configuration`) {
      return reply(res, 200, {
        issuer: this.issuer,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: this.jwksUri,
        response_types_supported: ['code', 'id_token', 'token'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === `/${this.tenant}/discovery/v2.0/keys`) {
      this.jwksRequests++;
      return reply(res, 200, { keys: this.#keys.filter((k) => this.published.has(k.kid)).map((k) => k.jwk) });
    }
    if (url.pathname === `/${this.tenant}/oauth2/v2.0/token` && req.method === 'POST') return this.#token(res, new URLSearchParams(body), `${base}/oauth2/v2.0/token`);
    return reply(res, 404, { error: 'not_found' });
  }

  async #token(res: ServerResponse, form: URLSearchParams, endpoint: string): Promise<void> {
    if (this.mode === 'error') return reply(res, 503, { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' });
    const clientId = form.get('client_id') ?? '';
    const app = this.apps.get(clientId);
    const invalid = (what: string) => reply(res, 401, { error: 'invalid_client', error_description: `AADSTS7000215: ${what}`, error_codes: [7000215] });
    if (form.get('grant_type') !== 'client_credentials') return reply(res, 400, { error: 'unsupported_grant_type' });
    if (!app) return reply(res, 400, { error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${clientId}' was not found.` });
    let how: IssuedToken['how'];
    const assertion = form.get('client_assertion');
    if (form.has('client_secret')) {
      if (form.get('client_secret') !== app.secret) return invalid('Invalid client secret provided.');
      how = 'secret';
    } else if (assertion && app.federatedToken !== undefined && assertion === app.federatedToken) {
      how = 'federated';
    } else if (assertion && app.certificate) {
      try {
        const header = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString('utf8')) as { alg: string };
        const key = await importX509(app.certificate, header.alg);
        await jwtVerify(assertion, key, { audience: endpoint, issuer: clientId, subject: clientId, clockTolerance: 300 });
      } catch (err) {
        return invalid(`The client assertion is not valid (${(err as Error).message}).`);
      }
      how = 'certificate';
    } else {
      return invalid('No client credential was sent.');
    }
    const token = `entra-at-${++this.#counter}`;
    this.issued.push({ clientId, scope: form.get('scope') ?? '', token, how });
    reply(res, 200, { token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds, ext_expires_in: this.tokenLifetimeSeconds, access_token: token });
  }
}

export const IDENTITY_HEADER = 'identity-header-value-0001';

/** App Service's managed identity endpoint. */
export class ManagedIdentityStandIn extends Restartable {
  readonly issued: { resource: string; token: string }[] = [];
  tokenLifetimeSeconds = 3600;
  /** 'error': answers 400 as App Service does when the identity is not assigned */
  mode: 'ok' | 'error' = 'ok';
  prefix = 'mi-token';
  #counter = 0;

  private constructor() {
    super(() => createHttpServer((req, res) => this.#handle(req, res)));
  }

  static async start(): Promise<ManagedIdentityStandIn> {
    const m = new ManagedIdentityStandIn();
    await m.listen();
    return m;
  }

  /** What the process environment needs for ManagedIdentityCredential to ask this stand-in. */
  get env(): Record<string, string> {
    return { IDENTITY_ENDPOINT: `http://127.0.0.1:${this.port}/msi/token`, IDENTITY_HEADER };
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers['x-identity-header'] !== IDENTITY_HEADER) return reply(res, 401, { error: 'missing identity header' });
    if (this.mode === 'error') return reply(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    const resource = url.searchParams.get('resource') ?? '';
    const token = `${this.prefix}-${++this.#counter}`;
    this.issued.push({ resource, token });
    reply(res, 200, { access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + this.tokenLifetimeSeconds), resource, token_type: 'Bearer' });
  }
}
