// The simulator's own config: accounts (one port each) holding deployments
// with their limits, latency and standing faults.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { int } from '../config/schema.ts';
import { formatPath } from '../config/load.ts';

const latency = z.strictObject({
  /** time to the first byte */
  baseMs: int(0).default(0),
  /** time per generated token (streams: between chunks) */
  perTokenMs: z.preprocess((v) => (typeof v === 'string' ? Number(v) : v), z.number().min(0)).default(0),
});

const deployment = z.strictObject({
  model: z.string().default('gpt-4o-2024-08-06'),
  kind: z.enum(['chat', 'embeddings']).default('chat'),
  tpm: int(1).optional(),
  /** default: 6 per 1,000 TPM, as for most chat models */
  rpm: int(1).optional(),
  latency: latency.prefault({}),
  /** tokens each completion generates (capped by max_tokens) */
  completionTokens: int(1).default(20),
  /** what a request without max_tokens reserves against TPM */
  defaultMaxTokens: int(1).default(1000),
  /** a fault every request gets, e.g. "status=503" or "status=429;retry-after=5" */
  fault: z.string().optional(),
  /** share of requests that get the fault (default: all) */
  faultRate: z.number().min(0).max(1).default(1),
  embeddingDimensions: int(1, 4096).default(16),
});

const account = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: int(0, 65535).default(0),
  region: z.string().default('eastus'),
  /** api-key values accepted; none: any key */
  keys: z.array(z.string()).default([]),
  /** bearer tokens accepted (Entra); none: any bearer */
  tokens: z.array(z.string()).default([]),
  /** answer the Responses API with x-ratelimit-*-tokens: -1, as Azure has */
  unknownTokensOnResponses: z.boolean().default(true),
  deployments: z.record(z.string(), deployment),
});

export const simulatorConfigSchema = z.strictObject({ accounts: z.record(z.string(), account) });

export type SimulatorConfig = z.input<typeof simulatorConfigSchema>;
export type SimAccountConfig = z.output<typeof account>;
export type SimDeploymentConfig = z.output<typeof deployment>;

export function parseSimulatorConfig(raw: unknown): z.output<typeof simulatorConfigSchema> {
  const r = simulatorConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`);
  throw new Error(`invalid simulator config:\n${lines.join('\n')}`);
}

export function loadSimulatorConfig(path: string): z.output<typeof simulatorConfigSchema> {
  return parseSimulatorConfig(YAML.parse(readFileSync(path, 'utf8')));
}
