// The flags of `aoai-gateway bench`, parsed and checked: every bad or
// conflicting value is a UsageError with one line saying what to write.
import { UsageError, parse } from '../cli/args.ts';

export type Api = 'azure' | 'v1';

export type Load = { readonly kind: 'concurrency'; readonly concurrency: number } | { readonly kind: 'rate'; readonly perSecond: number; readonly maxOutstanding: number };
export type Stop = { readonly kind: 'duration'; readonly ms: number } | { readonly kind: 'requests'; readonly count: number };

export interface BenchOptions {
  /** origin, e.g. http://127.0.0.1:8080 */
  readonly origin: string;
  /** a path prefix the URL carried (an API Management API's path), without the trailing slash */
  readonly basePath: string;
  /** never printed; undefined: no credentials are sent */
  readonly key: string | undefined;
  readonly bearer: boolean;
  readonly deployments: readonly string[];
  readonly api: Api;
  readonly apiVersion: string;
  readonly load: Load;
  readonly stop: Stop;
  readonly warmupMs: number;
  readonly stream: boolean;
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** extra request headers, names lower-cased */
  readonly headers: readonly (readonly [string, string])[];
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly html: string | undefined;
  readonly quiet: boolean;
}

export const BENCH_FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
  bearer: { type: 'boolean' },
  deployment: { type: 'string', multiple: true },
  api: { type: 'string', default: 'azure' },
  'api-version': { type: 'string', default: '2024-10-21' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  'max-outstanding': { type: 'string' },
  duration: { type: 'string' },
  requests: { type: 'string' },
  warmup: { type: 'string', default: '0s' },
  stream: { type: 'boolean' },
  'prompt-tokens': { type: 'string', default: '100' },
  'max-tokens': { type: 'string', default: '100' },
  header: { type: 'string', multiple: true },
  timeout: { type: 'string', default: '120s' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const BENCH_HELP = `usage: aoai-gateway bench --url URL --deployment NAME[,NAME…] [options]

  --url URL              the gateway, or an Azure OpenAI resource (https://NAME.openai.azure.com)
  --key KEY              sent as api-key (better: set $AOAIGW_BENCH_KEY, out of shell history)
  --bearer               send the key as Authorization: Bearer instead
  --deployment a,b       deployments to call, round-robin (repeatable)
  --api azure|v1         /openai/deployments/{d}/chat/completions (default) or /openai/v1/chat/completions
  --api-version V        default 2024-10-21 (azure API only)
  --concurrency N        closed loop: N requests always in flight (default 10)
  --rate R               open loop: R requests a second, whatever the answers take
  --max-outstanding N    open loop: at most N in flight; arrivals beyond are dropped and counted (default 10000)
  --duration 30s | --requests N   how long (default 30s) or how many requests
  --warmup 5s            run this long first, not counted
  --stream               stream the answers (time to first byte = first content chunk)
  --prompt-tokens N      prompt size, about N tokens (default 100)
  --max-tokens N         max_tokens of each request (default 100)
  --header 'k: v'        an extra request header (repeatable)
  --timeout 120s         per request, to its last byte
  --json                 the summary as JSON on stdout (no table)
  --html FILE            a self-contained HTML report with charts
  --quiet                no progress line
`;

const MAX_DURATION_MS = 24 * 3_600_000;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** set by the tool itself: a --header for them would make a wrong request */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);

export function parseBenchOptions(args: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions | 'help' {
  const o = parse(args, BENCH_FLAGS);
  if (o.help) return 'help';
  if (!o.url) throw new UsageError('--url is required: the gateway or the Azure OpenAI resource, e.g. --url http://127.0.0.1:8080');
  const { origin, basePath } = parseUrl(o.url);

  const deployments = (o.deployment ?? []).flatMap((d) => d.split(',')).map((d) => d.trim());
  if (deployments.length === 0 || deployments.some((d) => d === '')) throw new UsageError('--deployment: name one or more deployments, e.g. --deployment gpt-4o or --deployment gpt-4o,gpt-4o-mini');
  if (deployments.length > 100) throw new UsageError('--deployment: at most 100 deployments');
  for (const d of deployments) if (/[/?#\s]/.test(d)) throw new UsageError(`--deployment: "${d}" is not a deployment name`);

  if (o.api !== 'azure' && o.api !== 'v1') throw new UsageError(`--api: azure or v1 (got "${o.api}")`);
  if (!/^[A-Za-z0-9.-]{1,64}$/.test(o['api-version'])) throw new UsageError(`--api-version: write a version such as 2024-10-21 (got "${o['api-version']}")`);

  if (o.concurrency !== undefined && o.rate !== undefined) throw new UsageError('--concurrency and --rate exclude each other: a closed loop (N in flight) or an open loop (R a second)');
  if (o['max-outstanding'] !== undefined && o.rate === undefined) throw new UsageError('--max-outstanding bounds the open loop: use it with --rate');
  const load: Load =
    o.rate !== undefined
      ? { kind: 'rate', perSecond: number(o.rate, '--rate', { min: 0, max: 100_000, exclusiveMin: true }), maxOutstanding: integer(o['max-outstanding'] ?? '10000', '--max-outstanding', 1, 100_000) }
      : { kind: 'concurrency', concurrency: integer(o.concurrency ?? '10', '--concurrency', 1, 10_000) };

  if (o.duration !== undefined && o.requests !== undefined) throw new UsageError('--duration and --requests exclude each other: run for a time or for a number of requests');
  const stop: Stop =
    o.requests !== undefined
      ? { kind: 'requests', count: integer(o.requests, '--requests', 1, 1_000_000_000) }
      : { kind: 'duration', ms: duration(o.duration ?? '30s', '--duration', 1, MAX_DURATION_MS) };

  const headers = (o.header ?? []).map(parseHeader);
  const envKey = env.AOAIGW_BENCH_KEY;
  const key = o.key ?? (envKey === undefined || envKey === '' ? undefined : envKey);
  if (o.key === '') throw new UsageError('--key is empty (or leave it out and set $AOAIGW_BENCH_KEY)');
  if (key !== undefined && /[\r\n]/.test(key)) throw new UsageError('the key holds a line break');
  if (o.bearer && key === undefined) throw new UsageError('--bearer sends the key as a bearer token: give --key or set $AOAIGW_BENCH_KEY');
  if (o.html !== undefined && o.html.trim() === '') throw new UsageError('--html needs a file name');

  return {
    origin,
    basePath,
    key,
    bearer: o.bearer === true,
    deployments,
    api: o.api,
    apiVersion: o['api-version'],
    load,
    stop,
    warmupMs: duration(o.warmup, '--warmup', 0, MAX_DURATION_MS),
    stream: o.stream === true,
    promptTokens: integer(o['prompt-tokens'], '--prompt-tokens', 1, 1_000_000),
    maxTokens: integer(o['max-tokens'], '--max-tokens', 1, 1_000_000),
    headers,
    timeoutMs: duration(o.timeout, '--timeout', 1, 3_600_000),
    json: o.json === true,
    html: o.html,
    quiet: o.quiet === true,
  };
}

function parseUrl(raw: string): { origin: string; basePath: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url: not a URL: "${raw}" (write e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url: http or https only (got ${u.protocol.replace(/:$/, '')})`);
  // Credentials in the URL would end up in reports and the process list.
  if (u.username || u.password) throw new UsageError('--url: no credentials in the URL; use --key or $AOAIGW_BENCH_KEY');
  if (u.search || u.hash) throw new UsageError('--url: no query or fragment; the tool builds the path (--api, --api-version)');
  return { origin: u.origin, basePath: u.pathname.replace(/\/+$/, '') };
}

function parseHeader(raw: string): [string, string] {
  const i = raw.indexOf(':');
  const name = (i === -1 ? raw : raw.slice(0, i)).trim().toLowerCase();
  if (i === -1 || !HEADER_NAME.test(name)) throw new UsageError(`--header: write 'name: value' (got "${raw.slice(0, 40)}")`);
  const value = raw.slice(i + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value holds a line break`);
  if (RESERVED_HEADERS.has(name)) throw new UsageError(`--header ${name}: set by the tool itself`);
  return [name, value];
}

function number(s: string, flag: string, b: { min: number; max: number; exclusiveMin?: boolean }): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(s) ? Number(s) : NaN;
  const low = b.exclusiveMin ? n <= b.min : n < b.min;
  if (!Number.isFinite(n) || low || n > b.max) throw new UsageError(`${flag}: a number ${b.exclusiveMin ? 'above' : 'from'} ${b.min} up to ${b.max} (got "${s}")`);
  return n;
}

function integer(s: string, flag: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: a whole number from ${min} to ${max} (got "${s}")`);
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "2m", "1h"; a bare number is seconds. */
export function duration(s: string, flag: string, minMs: number, maxMs: number): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(s);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] ?? 's'] : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: write a duration like 500ms, 30s, 2m or 1h (got "${s}")`);
  if (ms < minMs || ms > maxMs) throw new UsageError(`${flag}: from ${formatMs(minMs)} to ${formatMs(maxMs)} (got "${s}")`);
  return Math.round(ms);
}

function formatMs(ms: number): string {
  return ms >= 3_600_000 && ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
