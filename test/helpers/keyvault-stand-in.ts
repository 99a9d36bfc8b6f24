// A local stand-in for Azure Key Vault's secrets API over TLS (the client
// requires https), with its challenge-based auth: a request without a valid
// bearer gets 401 and `WWW-Authenticate: Bearer authorization="…",
// resource="https://vault.azure.net"`, the client gets a token for that
// resource and asks again. Vaults are path prefixes: https://127.0.0.1:<port>/<vault>.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { randomUUID } from 'node:crypto';
import { Restartable, TENANT } from './entra-stand-in.ts';

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export class KeyVaultStandIn extends Restartable {
  /** `vault/name` → versions, newest last */
  readonly #secrets = new Map<string, { version: string; value: string }[]>();
  /** which bearer tokens the vault takes */
  accepts: (token: string) => boolean = () => true;
  /** secret reads answered (200 or 404), by `vault/name` */
  readonly reads: string[] = [];
  challenges = 0;

  private constructor(tls: { cert: string; key: string }) {
    super(() => createServer(tls, (req, res) => this.#handle(req, res)));
  }

  static async start(tls: { cert: string; key: string }): Promise<KeyVaultStandIn> {
    const kv = new KeyVaultStandIn(tls);
    await kv.listen();
    return kv;
  }

  /** The config's secrets.keyvault.vaultUrl for this stand-in. */
  get vaultUrl(): string {
    return `https://127.0.0.1:${this.port}/{vault}`;
  }

  /** Sets a new current version of a secret; returns the version id. */
  set(vault: string, name: string, value: string): string {
    const version = randomUUID().replaceAll('-', '');
    const list = this.#secrets.get(`${vault}/${name}`) ?? [];
    list.push({ version, value });
    this.#secrets.set(`${vault}/${name}`, list);
    return version;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const url = new URL(req.url ?? '/', `https://127.0.0.1:${this.port}`);
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ') || !this.accepts(auth.slice(7))) {
      this.challenges++;
      return reply(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`,
      });
    }
    const m = /^\/([^/]+)\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m || !url.searchParams.get('api-version')) return reply(res, 400, { error: { code: 'BadParameter', message: 'unsupported request' } });
    const [, vault, name, version] = m;
    const id = `${vault}/${name}`;
    this.reads.push(id);
    const versions = this.#secrets.get(id) ?? [];
    const found = version ? versions.find((v) => v.version === version) : versions.at(-1);
    if (!found) return reply(res, 404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` } });
    reply(res, 200, {
      value: found.value,
      // The client parses the id as {vault origin}/secrets/{name}/{version}: one vault per origin, as in Azure.
      id: `https://127.0.0.1:${this.port}/secrets/${name}/${found.version}`,
      attributes: { enabled: true, created: 1_700_000_000, updated: 1_700_000_000, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
      tags: {},
    });
  }
}
