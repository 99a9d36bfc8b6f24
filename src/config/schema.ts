// The config file's shape (DESIGN.md §2), with its defaults. Values that came
// from `${VAR}` references arrive as strings, so numbers and booleans accept
// their string spelling too.
import { cidrProblem } from '../auth/networks.ts';
import { z } from 'zod';

const NUMERIC = /^-?\d+(\.\d+)?$/;

const toNumber = (v: unknown) => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v) : v);
const toBoolean = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(toNumber, z.number({ error: 'expected a number' }).int('expected a whole number').min(min, `at least ${min}`).max(max, `at most ${max}`));
const num = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(toNumber, z.number({ error: 'expected a number' }).min(min, `at least ${min}`).max(max, `at most ${max}`));
const bool = () => z.preprocess(toBoolean, z.boolean({ error: 'expected true or false' }));
const text = () => z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string({ error: 'expected a string' }));
const nonEmpty = () => text().pipe(z.string().min(1, 'must not be empty'));

export const STRATEGIES = [
  'priority',
  'round-robin',
  'weighted-round-robin',
  'random',
  'least-requests',
  'power-of-two',
  'latency',
  'capacity',
] as const;

/** A name that can be a URL path segment as is: what the gateway checks client deployment names against. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const name = (what: string) =>
  nonEmpty().refine((s) => NAME.test(s) && !s.includes('..'), {
    message: `${what} names use letters, digits, ".", "_" and "-" (at most 128, no "..")`,
  });

const cidr = () =>
  nonEmpty().superRefine((v, ctx) => {
    const problem = cidrProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const tls = z.strictObject({ certFile: nonEmpty(), keyFile: nonEmpty() });

const listen = z.strictObject({
  host: text().default('0.0.0.0'),
  port: int(0, 65535).default(8080),
  maxBodyBytes: int(1024, 1024 ** 3).default(32 * 1024 * 1024),
  /** client connections open at once; more are closed as they arrive (each also needs a file descriptor: see ulimit -n) */
  maxConnections: int(1, 1_000_000).default(16_384),
  /** time a client has to send its whole request (headers and body) */
  requestTimeoutMs: int(1000).default(120_000),
  /** on SIGTERM: how long in-flight requests may take before connections are closed */
  shutdownGraceMs: int(0).default(30_000),
  /** HTTPS: PEM files, picked up again when they change */
  tls: tls.optional(),
  /** proxies whose X-Forwarded-For is believed (addresses or CIDRs); no one's by default */
  trustedProxies: z.array(cidr()).default([]),
});

const admin = z.strictObject({
  host: text().default('127.0.0.1'),
  port: int(0, 65535).default(8081),
  key: text().optional(),
  tls: tls.optional(),
});

/**
 * How the gateway gets Entra ID tokens (for endpoints, and for Azure's
 * control plane: Resource Manager, Key Vault). `credential` names one kind
 * of @azure/identity credential; `default` is DefaultAzureCredential's chain
 * (environment, workload identity, managed identity, Azure CLI…).
 */
export const azureIdentityFields = {
  credential: z.enum(['default', 'managed-identity', 'workload-identity', 'client-secret', 'client-certificate', 'azure-cli']).default('default'),
  /** a user-assigned managed identity, or the app registration */
  clientId: text().optional(),
  tenantId: text().optional(),
  /** with credential: client-secret */
  clientSecret: text().optional(),
  /** with credential: client-certificate: a PEM file with the certificate and its private key */
  certificatePath: text().optional(),
  /** Entra's host, e.g. https://login.microsoftonline.us for Azure Government */
  authorityHost: text().optional(),
};
export const azureIdentity = z.strictObject(azureIdentityFields);
export type AzureIdentityConfig = z.output<typeof azureIdentity>;

const endpointAuth = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('api-key'), key: nonEmpty() }),
    z.strictObject({ type: z.literal('bearer'), token: nonEmpty() }),
    z.strictObject({
      type: z.literal('entra'),
      ...azureIdentityFields,
      scope: text().default('https://cognitiveservices.azure.com/.default'),
    }),
    z.strictObject({ type: z.literal('none') }),
  ],
  { error: 'auth.type must be one of: api-key, entra, bearer, none' },
);

const endpointUrl = nonEmpty().superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a URL; write https://<account>.openai.azure.com` });
    return;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: 'the URL must start with https:// (or http:// for a local server)' });
  }
  if (u.username || u.password) {
    ctx.addIssue({ code: 'custom', message: 'put credentials in auth, not in the URL' });
  }
  if (u.search || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'the URL must not have a query string or fragment' });
  }
});

/** A naming rule: a regular expression whose named group `deployment` is the gateway deployment's name. */
const namingRule = z.strictObject({
  pattern: nonEmpty().superRefine((s, ctx) => {
    try {
      if (!new RegExp(s).source.includes('(?<deployment>')) ctx.addIssue({ code: 'custom', message: 'the pattern needs a named group (?<deployment>…)' });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
    }
  }),
});

/** Deployments listed through Azure Resource Manager (src/discovery) and joined to the config's. */
const discovery = z.strictObject({
  subscriptionId: nonEmpty(),
  resourceGroup: nonEmpty(),
  /** the Azure OpenAI (Cognitive Services) account's resource name */
  account: nonEmpty(),
  /** who asks Resource Manager; default: the endpoint's entra auth, else DefaultAzureCredential's chain */
  identity: z.strictObject(azureIdentityFields).optional(),
  /** Resource Manager's base URL (sovereign clouds differ, e.g. https://management.usgovcloudapi.net) */
  armUrl: endpointUrl.default('https://management.azure.com'),
  apiVersion: nonEmpty().default('2024-10-01'),
  /** glob patterns ("gpt-4o*") matched against the deployment's name or its model's name */
  include: z.array(nonEmpty()).min(1).max(100).default(['*']),
  exclude: z.array(nonEmpty()).max(100).default([]),
  /** the gateway deployment a discovered one joins: its model's name, its own name, or a naming rule */
  groupBy: z.union([z.enum(['model', 'name']), namingRule], { error: 'groupBy is model, name or { pattern: "…(?<deployment>…)…" }' }).default('model'),
  refreshSeconds: num(1, 86_400).default(300),
  /** per Resource Manager call */
  timeoutMs: int(100, 120_000).default(10_000),
  /** target priority by SKU name; `default` for the others (PTU first) */
  priority: z
    .record(nonEmpty(), int(0, 1000))
    .default({ ProvisionedManaged: 1, GlobalProvisionedManaged: 1, DataZoneProvisionedManaged: 1, default: 2 }),
  /** take tpm/rpm from the deployment's rateLimits (budget pacing) */
  capacity: bool().default(true),
  /** the strategy of gateway deployments that discovery creates */
  strategy: z.enum(STRATEGIES, { error: `strategy must be one of: ${STRATEGIES.join(', ')}` }).default('priority'),
});
export type DiscoveryConfig = z.output<typeof discovery>;

const endpoint = z.strictObject({
  kind: z.enum(['azure', 'openai'], { error: 'kind must be azure or openai' }).default('azure'),
  url: endpointUrl,
  auth: endpointAuth.optional(),
  /** open connections to this endpoint at most */
  maxConnections: int(1, 65_536).default(256),
  discovery: discovery.optional(),
});

const target = z.strictObject({
  endpoint: nonEmpty(),
  /** the deployment's name on that endpoint; default: the gateway deployment's own name */
  deployment: name('deployment').optional(),
  priority: int(0, 1000).default(1),
  weight: num(0, 1_000_000).default(1),
  tpm: int(1).optional(),
  rpm: int(1).optional(),
});

/** The response cache for a deployment's deterministic requests (src/cache). */
const deploymentCache = z.strictObject({
  ttlSeconds: num(1, 30 * 86_400).default(300),
  /** consumer: each consumer reads only the answers made for it; shared: every consumer of the deployment */
  scope: z.enum(['consumer', 'shared'], { error: 'cache.scope is consumer or shared' }).default('consumer'),
  /** larger answers are not stored; at most 1 MiB, what the relay holds of a JSON answer */
  maxEntryBytes: int(1024, 1024 * 1024).default(1024 * 1024),
});

/** What Azure AI Content Safety checks a prompt for, per deployment or consumer (src/safety); both apply: the stricter wins. */
const contentSafetyPolicy = z.strictObject({
  /** block at or above this severity (1–7; the four-level scale answers 0, 2, 4, 6); a category left out is not checked */
  categories: z.strictObject({ Hate: int(1, 7).optional(), SelfHarm: int(1, 7).optional(), Sexual: int(1, 7).optional(), Violence: int(1, 7).optional() }).default({}),
  /** Prompt Shields: block user prompt attacks (jailbreaks) and attacks hidden in tool results */
  promptShields: bool().default(false),
  /** the service's custom blocklists; any match blocks */
  blocklists: z.array(nonEmpty()).max(10).default([]),
});

const deployment = z.strictObject({
  strategy: z.enum(STRATEGIES, { error: `strategy must be one of: ${STRATEGIES.join(', ')}` }).default('priority'),
  targets: z.array(target).min(1, 'a deployment needs at least one target'),
  /** what a request without max_tokens is counted at against a target's tpm, as Azure reserves it */
  defaultMaxTokens: int(1).default(1000),
  /** `true` for the defaults */
  cache: z.preprocess((v) => (v === true || v === 'true' ? {} : v === false || v === 'false' ? undefined : v), deploymentCache.optional()),
  contentSafety: contentSafetyPolicy.optional(),
});

const statusRange = text().refine((s) => /^[1-5]\d\d(-[1-5]\d\d)?$/.test(s), {
  message: 'write a status or a range such as "500-599"',
});

const retryOnEntry = z.union(
  [int(100, 599), z.literal('connect-error'), z.literal('timeout')],
  { error: 'retryOn entries are status codes, "connect-error" or "timeout"' },
);

const failures = z.union([
  int(1),
  text().refine((s) => /^\d{1,3}(\.\d+)?%$/.test(s) && parseFloat(s) > 0 && parseFloat(s) <= 100, {
    message: 'failures is a count (5) or a percentage ("50%")',
  }),
]);

const resilience = z.strictObject({
  maxAttempts: int(1, 20).default(3),
  retryOn: z.array(retryOnEntry).default([429, 500, 502, 503, 504, 'connect-error', 'timeout']),
  cooldown: z
    .strictObject({ defaultSeconds: num(0).default(10), maxSeconds: num(0).default(300) })
    .prefault({}),
  circuitBreaker: z
    .strictObject({
      failures: failures.default(5),
      /** with a percentage: calls needed in the window before it can trip */
      minimumCalls: int(1).default(10),
      windowSeconds: num(0.1).default(10),
      statusRanges: z.array(statusRange).default(['500-599']),
      tripSeconds: num(0).default(30),
      acceptRetryAfter: bool().default(true),
    })
    .prefault({}),
  passiveHealth: z
    .strictObject({ remainingRequestsBelow: int(0).default(1), remainingTokensBelow: int(0).default(1000) })
    .prefault({}),
  activeHealth: z
    .strictObject({ intervalSeconds: num(1).default(60), timeoutMs: int(1).default(30_000) })
    .optional(),
  timeouts: z
    .strictObject({
      connectMs: int(1).default(5000),
      firstByteMs: int(1).default(120_000),
      idleStreamMs: int(1).default(60_000),
      totalMs: int(1).default(600_000),
    })
    .prefault({}),
  queue: z.strictObject({ maxWaitMs: int(0).default(0), maxQueued: int(0).default(1000) }).prefault({}),
});

const limits = z.strictObject({
  requestsPerMinute: int(1).optional(),
  tokensPerMinute: int(1).optional(),
  tokenQuota: int(1).optional(),
  tokenQuotaPeriod: z
    .enum(['hourly', 'daily', 'weekly', 'monthly'], { error: 'tokenQuotaPeriod is hourly, daily, weekly or monthly' })
    .default('monthly'),
  concurrent: int(1).optional(),
  /** what the per-minute and concurrency limits count under: the consumer, each end user (body "user"), each client IP, or each value of a header */
  counter: text()
    .refine((s) => ['consumer', 'user', 'ip'].includes(s) || /^header:[A-Za-z0-9-]{1,64}$/.test(s), {
      message: 'counter is consumer, user, ip or header:<name>',
    })
    .default('consumer'),
});

const consumer = z.strictObject({
  keys: z.array(nonEmpty()).default([]),
  deployments: z.array(nonEmpty()).min(1, 'list the deployments this consumer may use, or "*"'),
  limits: limits.optional(),
  requireUser: bool().default(false),
  /** only from these client networks (addresses or CIDRs); any when absent */
  allowedNetworks: z.array(cidr()).min(1).optional(),
  /** Entra apps (their appid / azp) whose access tokens authenticate as this consumer; needs the top-level entra section */
  entraAppIds: z.array(nonEmpty()).max(1000).optional(),
  contentSafety: contentSafetyPolicy.optional(),
});

const state = z.discriminatedUnion(
  'store',
  [
    z.strictObject({ store: z.literal('memory') }),
    z.strictObject({
      store: z.literal('redis'),
      url: nonEmpty().default('redis://127.0.0.1:6379'),
      /** keeps several gateways' keys apart in one Redis */
      prefix: text().default('aoaigw:'),
      /** while Redis cannot be reached: serve on local state (true) or refuse with 503 (false) */
      failOpen: bool().default(true),
    }),
  ],
  { error: 'state.store is memory or redis' },
);

/** Stored objects (files, batches, Responses, threads…) live on the account that made them: see src/affinity. */
const affinity = z.strictObject({
  /** how long the gateway remembers which endpoint holds an object (default 30 days; refreshed as it is used) */
  ttlSeconds: int(60, 10 * 365 * 86_400).default(2_592_000),
  /** where a creation that names no deployment (a file upload, a thread) goes, and lists; see the README */
  defaultEndpoint: name('endpoint').optional(),
});

/** The Azure AI Content Safety resource that prompts are checked with (src/safety). */
const contentSafety = z.strictObject({
  endpoint: endpointUrl,
  auth: z.discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('api-key'), key: nonEmpty() }),
      z.strictObject({ type: z.literal('entra'), ...azureIdentityFields, scope: text().default('https://cognitiveservices.azure.com/.default') }),
    ],
    { error: 'contentSafety.auth.type is api-key or entra' },
  ),
  apiVersion: nonEmpty().default('2024-09-01'),
  outputType: z.enum(['FourSeverityLevels', 'EightSeverityLevels'], { error: 'outputType is FourSeverityLevels or EightSeverityLevels' }).default('FourSeverityLevels'),
  /** the whole check of one request (its calls run in parallel) */
  timeoutMs: int(10, 60_000).default(2000),
  /** the service failed or was too slow: forward anyway (true) or refuse with 503 (false) */
  failOpen: bool().default(false),
  /** keep the checked text in the audit record of a blocked prompt */
  recordPrompt: bool().default(false),
  /** characters checked per request, in calls of 10,000; beyond it, overMaxChars decides */
  maxChars: int(1, 1_000_000).default(50_000),
  /** a prompt longer than maxChars: check its newest maxChars characters, or refuse it (400) */
  overMaxChars: z.enum(['check-last', 'refuse'], { error: 'overMaxChars is check-last or refuse' }).default('check-last'),
  maxConnections: int(1, 4096).default(64),
});
export type ContentSafetyConfig = z.output<typeof contentSafety>;
export type ContentSafetyPolicyConfig = z.output<typeof contentSafetyPolicy>;

const ledger = z.strictObject({
  url: nonEmpty()
    .refine((s) => /^(sqlite:|postgres(ql)?:\/\/)/.test(s), { message: 'write sqlite:<file> or postgres://…' })
    .default('sqlite:./data/aoai-gateway.db'),
  /** records held while the database is away; past this, new ones are dropped (and counted) */
  maxPendingRecords: int(100).default(100_000),
  /** how often keys created or revoked with the CLI are picked up */
  keysRefreshSeconds: num(0.1).default(2),
});

/** Prices per million tokens, by gateway deployment or model name, for the usage report's cost column. */
const price = z.strictObject({ input: num(0), output: num(0), cachedInput: num(0).optional() });

const telemetry = z.strictObject({
  /** /metrics on the admin port */
  prometheus: bool().default(true),
  /** OTLP/HTTP export of metrics and traces, e.g. to an OpenTelemetry Collector */
  otlp: z
    .strictObject({
      endpoint: nonEmpty(),
      headers: z.record(z.string(), text()).default({}),
      intervalSeconds: num(1).default(15),
      metrics: bool().default(true),
      traces: bool().default(true),
    })
    .optional(),
  /** Azure Monitor / Application Insights */
  azureMonitor: z.strictObject({ connectionString: nonEmpty(), intervalSeconds: num(1).default(60) }).optional(),
  accessLog: bool().default(true),
  serviceName: text().default('aoai-gateway'),
  /** share of new traces recorded (0–1); a client's traceparent decides for its own */
  traceSampleRatio: num(0, 1).default(1),
});

/** Apps calling with Entra ID access tokens (src/auth/entra): whose tokens are accepted, as API Management's validate-azure-ad-token checks them. */
const entraConsumers = z.strictObject({
  tenantId: nonEmpty(),
  /** the token's aud must be one of these: the gateway's app ID URI (api://…) or its client id */
  audiences: z.array(nonEmpty()).min(1, 'list the audiences tokens must be issued for').max(20),
  /** default: {authorityHost}/{tenantId}/v2.0 and https://sts.windows.net/{tenantId}/ (v1 tokens) */
  issuers: z.array(nonEmpty()).min(1).max(20).optional(),
  /** the tenant's signing keys; default: the jwks_uri of the tenant's OpenID configuration */
  jwksUri: endpointUrl.optional(),
  authorityHost: endpointUrl.default('https://login.microsoftonline.com'),
  /** every one of these app roles must be in the token's roles */
  requiredRoles: z.array(nonEmpty()).max(20).default([]),
  clockSkewSeconds: int(0, 600).default(60),
  /** the keys are fetched again for an unknown kid at most this often */
  jwksCooldownSeconds: num(0, 3600).default(30),
  /** validated tokens kept (by hash, until they expire) */
  cacheMaxEntries: int(0, 1_000_000).default(10_000),
});
export type EntraConsumersConfig = z.output<typeof entraConsumers>;

/** Where `${keyvault:vault/secret}` references are read (src/secrets): the vault's URL and who asks. */
export const keyVault = z.strictObject({
  ...azureIdentityFields,
  /** `{vault}` is the reference's vault name; another cloud: https://{vault}.vault.usgovcloudapi.net */
  vaultUrl: nonEmpty()
    .refine((s) => s.startsWith('https://'), { message: 'Key Vault is reached over https: write https://{vault}.vault.azure.net' })
    .default('https://{vault}.vault.azure.net'),
  /** how often referenced secrets are read again; a change is applied like a reload */
  refreshSeconds: num(1, 86_400).default(300),
  /** per secret read (retries included) */
  timeoutMs: int(100, 120_000).default(10_000),
  /** for a vault behind a custom domain, whose challenge names another resource */
  disableChallengeResourceVerification: bool().default(false),
});
export type KeyVaultConfig = z.output<typeof keyVault>;

export const configSchema = z.strictObject({
  listen: listen.prefault({}),
  admin: admin.prefault({}),
  endpoints: z.record(name('endpoint'), endpoint),
  /** may stay empty when an endpoint discovers its deployments */
  deployments: z.record(name('deployment'), deployment).default({}),
  resilience: resilience.prefault({}),
  consumers: z.record(name('consumer'), consumer).default({}),
  state: state.default({ store: 'memory' }),
  affinity: affinity.prefault({}),
  ledger: ledger.prefault({}),
  telemetry: telemetry.prefault({}),
  prices: z.record(nonEmpty(), price).default({}),
  /** what the in-memory response cache holds at most (with state.store: redis, Redis holds the entries) */
  cache: z.strictObject({ maxMemoryBytes: int(1024 * 1024).default(128 * 1024 * 1024) }).prefault({}),
  contentSafety: contentSafety.optional(),
  entra: entraConsumers.optional(),
  secrets: z.strictObject({ keyvault: keyVault.optional() }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type EndpointConfig = Config['endpoints'][string];
export type EndpointAuthConfig = NonNullable<EndpointConfig['auth']>;
export type DeploymentConfig = Config['deployments'][string];
export type TargetConfig = DeploymentConfig['targets'][number];
export type ConsumerConfig = Config['consumers'][string];
export type ResilienceConfig = Config['resilience'];
export type AffinityConfig = Config['affinity'];
