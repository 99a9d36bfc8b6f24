// Azure Resource Manager, as discovery reads it: an account's deployments
// (every page) and the account's own endpoint, with a bearer token for ARM.
// Bounded everywhere: one deadline for a whole refresh, a size limit per
// response, a page limit, and nextLinks only to ARM's own origin (the token
// goes nowhere else).
import type { AccessToken, TokenCredential } from '@azure/identity';
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { AzureIdentityConfig, DiscoveryConfig } from '../config/schema.ts';
import { createTokenCredential } from '../upstream/azure-identity.ts';

/** What a failed refresh was; also the `outcome` label of the refresh counter. */
export type DiscoveryErrorCode = 'token' | 'http' | 'timeout' | 'body' | 'bounds';

export class DiscoveryError extends Error {
  readonly code: DiscoveryErrorCode;
  constructor(code: DiscoveryErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** One deployment as ARM lists it, reduced to what discovery uses. */
export interface ArmDeployment {
  name: string;
  model: string | undefined;
  modelVersion: string | undefined;
  sku: string | undefined;
  provisioningState: string | undefined;
  /** per minute, from properties.rateLimits */
  tpm: number | undefined;
  rpm: number | undefined;
}

export interface ArmListing {
  deployments: ArmDeployment[];
  /** list entries that were not the shape of a deployment */
  malformed: number;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const MAX_PAGES = 50;
const MAX_DEPLOYMENTS = 2000;
/** a token is used until this long before it expires */
const TOKEN_MARGIN_MS = 5 * 60_000;
const MAX_MESSAGE = 300;

const rateLimit = z.object({ key: z.string(), renewalPeriod: z.number().positive(), count: z.number().nonnegative() });
const armDeployment = z.object({
  name: z.string().min(1),
  properties: z
    .object({
      model: z.object({ name: z.string().optional(), version: z.string().optional() }).optional(),
      provisioningState: z.string().optional(),
      rateLimits: z.array(z.unknown()).optional(),
    })
    .optional(),
  sku: z.object({ name: z.string().optional() }).optional(),
});
const page = z.object({ value: z.array(z.unknown()), nextLink: z.string().nullish() });
const account = z.object({
  properties: z.object({ endpoint: z.string().optional(), endpoints: z.record(z.string(), z.string()).optional() }).optional(),
});

/** Entra tokens for one identity, kept until shortly before they expire (Azure CLI's credential keeps none itself). */
export class ArmTokens {
  readonly #identity: AzureIdentityConfig;
  #credential: Promise<TokenCredential> | undefined;
  #token: AccessToken | undefined;
  #scope = '';

  constructor(identity: AzureIdentityConfig) {
    this.#identity = identity;
  }

  async get(scope: string, signal: AbortSignal): Promise<string> {
    const now = Date.now();
    if (this.#token && this.#scope === scope && this.#token.expiresOnTimestamp - TOKEN_MARGIN_MS > now) return this.#token.token;
    try {
      this.#credential ??= createTokenCredential(this.#identity);
      const token = await (await this.#credential).getToken(scope, { abortSignal: signal });
      if (!token) throw new Error('the credential returned no token');
      this.#token = token;
      this.#scope = scope;
      return token.token;
    } catch (err) {
      if (signal.aborted) throw new DiscoveryError('timeout', 'timed out getting a token for Resource Manager');
      throw new DiscoveryError('token', `no token for Resource Manager: ${clip((err as Error).message)}`);
    }
  }
}

/** The scope of Resource Manager at `armUrl`: its origin + /.default (https://management.azure.com/.default in the public cloud). */
export function armScope(armUrl: string): string {
  return `${new URL(armUrl).origin}/.default`;
}

export class ArmClient {
  readonly #agent = new Agent({ connections: 4, keepAliveTimeout: 4_000 });

  /** Every deployment of the account, following nextLink. */
  async listDeployments(cfg: DiscoveryConfig, token: string, signal: AbortSignal): Promise<ArmListing> {
    const base = new URL(cfg.armUrl);
    let url: URL | undefined = new URL(`${accountPath(cfg)}/deployments`, base);
    url.searchParams.set('api-version', cfg.apiVersion);
    const deployments: ArmDeployment[] = [];
    let malformed = 0;
    for (let pages = 0; url; pages++) {
      if (pages === MAX_PAGES) throw new DiscoveryError('bounds', `more than ${MAX_PAGES} pages of deployments`);
      const body = page.safeParse(await this.#get(url, token, signal));
      if (!body.success) throw new DiscoveryError('body', 'the deployment list is not {"value":[…]}');
      for (const raw of body.data.value) {
        const d = armDeployment.safeParse(raw);
        if (!d.success) {
          malformed++;
          continue;
        }
        deployments.push(reduce(d.data));
      }
      if (deployments.length > MAX_DEPLOYMENTS) throw new DiscoveryError('bounds', `more than ${MAX_DEPLOYMENTS} deployments`);
      url = body.data.nextLink ? sameOrigin(body.data.nextLink, base) : undefined;
    }
    return { deployments, malformed };
  }

  /** The account's data-plane URLs (properties.endpoint and properties.endpoints). */
  async accountEndpoints(cfg: DiscoveryConfig, token: string, signal: AbortSignal): Promise<string[]> {
    const url = new URL(accountPath(cfg), cfg.armUrl);
    url.searchParams.set('api-version', cfg.apiVersion);
    const body = account.safeParse(await this.#get(url, token, signal));
    if (!body.success) throw new DiscoveryError('body', 'the account is not the shape of a Cognitive Services account');
    const p = body.data.properties;
    return [p?.endpoint, ...Object.values(p?.endpoints ?? {})].filter((e): e is string => typeof e === 'string');
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  async #get(url: URL, token: string, signal: AbortSignal): Promise<unknown> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        dispatcher: this.#agent,
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw new DiscoveryError('timeout', 'Resource Manager did not answer in time');
      throw new DiscoveryError('http', `Resource Manager cannot be reached: ${clip((err as Error).message)}`);
    }
    const text = await readBounded(res.body, signal);
    if (res.statusCode !== 200) {
      throw new DiscoveryError('http', `Resource Manager answered ${res.statusCode}${armErrorText(text)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new DiscoveryError('body', 'Resource Manager answered with malformed JSON');
    }
  }
}

function accountPath(cfg: DiscoveryConfig): string {
  const seg = encodeURIComponent;
  return `/subscriptions/${seg(cfg.subscriptionId)}/resourceGroups/${seg(cfg.resourceGroup)}/providers/Microsoft.CognitiveServices/accounts/${seg(cfg.account)}`;
}

function reduce(d: z.output<typeof armDeployment>): ArmDeployment {
  let tpm: number | undefined;
  let rpm: number | undefined;
  for (const raw of d.properties?.rateLimits ?? []) {
    const r = rateLimit.safeParse(raw);
    if (!r.success) continue;
    // ARM gives a count per renewal period (requests per 10 s, tokens per 60 s): per minute is what targets take.
    const perMinute = Math.floor((r.data.count * 60) / r.data.renewalPeriod);
    if (perMinute < 1) continue;
    if (r.data.key === 'token') tpm = perMinute;
    else if (r.data.key === 'request') rpm = perMinute;
  }
  return {
    name: d.name,
    model: d.properties?.model?.name,
    modelVersion: d.properties?.model?.version,
    sku: d.sku?.name,
    provisioningState: d.properties?.provisioningState,
    tpm,
    rpm,
  };
}

function sameOrigin(link: string, base: URL): URL {
  let next: URL;
  try {
    next = new URL(link, base);
  } catch {
    throw new DiscoveryError('body', 'nextLink is not a URL');
  }
  if (next.origin !== base.origin) throw new DiscoveryError('body', `nextLink leaves Resource Manager (${next.origin}); not followed`);
  return next;
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown }, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        body.destroy();
        throw new DiscoveryError('bounds', `a Resource Manager response over ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof DiscoveryError) throw err;
    if (signal.aborted) throw new DiscoveryError('timeout', 'Resource Manager did not finish its answer in time');
    throw new DiscoveryError('http', `the answer from Resource Manager broke off: ${clip((err as Error).message)}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** ARM's `{"error":{"code","message"}}`, shortened: it names the missing role or the unknown account. */
function armErrorText(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === 'string') return ` ${e.code}${typeof e.message === 'string' ? `: ${clip(e.message)}` : ''}`;
  } catch {
    // not JSON: the status says enough
  }
  return '';
}

function clip(s: string): string {
  const line = s.split('\n')[0] ?? '';
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}
