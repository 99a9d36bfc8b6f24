// The config file's shape (DESIGN.md §2), with its defaults. Values that came
// from `${VAR}` references arrive as strings, so numbers and booleans accept
// their string spelling too.
import { z } from 'zod';

const NUMERIC = /^-?\d+(\.\d+)?$/;

const toNumber = (v: unknown) => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v) : v);
const toBoolean = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(toNumber, z.number({ error: 'expected a number' }).int('expected a whole number').min(min).max(max));
const num = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(toNumber, z.number({ error: 'expected a number' }).min(min).max(max));
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

const listen = z.strictObject({
  host: text().default('0.0.0.0'),
  port: int(0, 65535).default(8080),
  maxBodyBytes: int(1024, 1024 ** 3).default(32 * 1024 * 1024),
  /** time a client has to send its whole request (headers and body) */
  requestTimeoutMs: int(1000).default(120_000),
  /** on SIGTERM: how long in-flight requests may take before connections are closed */
  shutdownGraceMs: int(0).default(30_000),
});

const admin = z.strictObject({
  host: text().default('127.0.0.1'),
  port: int(0, 65535).default(8081),
  key: text().optional(),
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

const endpoint = z.strictObject({
  kind: z.enum(['azure', 'openai'], { error: 'kind must be azure or openai' }).default('azure'),
  url: endpointUrl,
  auth: endpointAuth.optional(),
  /** open connections to this endpoint at most */
  maxConnections: int(1, 65_536).default(256),
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

const deployment = z.strictObject({
  strategy: z.enum(STRATEGIES, { error: `strategy must be one of: ${STRATEGIES.join(', ')}` }).default('priority'),
  targets: z.array(target).min(1, 'a deployment needs at least one target'),
  /** what a request without max_tokens is counted at against a target's tpm, as Azure reserves it */
  defaultMaxTokens: int(1).default(1000),
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

export const configSchema = z.strictObject({
  listen: listen.prefault({}),
  admin: admin.prefault({}),
  endpoints: z.record(name('endpoint'), endpoint),
  deployments: z.record(name('deployment'), deployment),
  resilience: resilience.prefault({}),
  consumers: z.record(name('consumer'), consumer).default({}),
  state: state.default({ store: 'memory' }),
  ledger: ledger.prefault({}),
  telemetry: telemetry.prefault({}),
  prices: z.record(nonEmpty(), price).default({}),
});

export type Config = z.infer<typeof configSchema>;
export type EndpointConfig = Config['endpoints'][string];
export type EndpointAuthConfig = NonNullable<EndpointConfig['auth']>;
export type DeploymentConfig = Config['deployments'][string];
export type TargetConfig = DeploymentConfig['targets'][number];
export type ConsumerConfig = Config['consumers'][string];
export type ResilienceConfig = Config['resilience'];
