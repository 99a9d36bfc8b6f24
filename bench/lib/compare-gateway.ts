// aoai-gateway as bench/compare.ts runs it: "default" (what ships, with one
// consumer) and "everything on" (what a production user turns on), each
// started as `aoai-gateway serve` pinned, and whether this checkout's
// `serve` takes --workers.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tempFile } from './processes.ts';
import { startPinned, type Proc } from './compare-proc.ts';

export const GATEWAY_KEY = 'bench-client-key-0001';
export const ADMIN_KEY = 'bench-admin-key-0001';

export type Features = 'default' | 'everything';

export interface GatewayUpstreams {
  /** the first target's origin (and the only one of "default") */
  readonly primary: string;
  /** the second target's origin, priority 2 */
  readonly secondary: string;
  readonly key: string;
}

export interface GatewayOptions {
  /** per endpoint; the default 256 holds 256 concurrent streams */
  readonly maxConnections?: number;
  /** where OTLP traces go (everything on) */
  readonly otlpUrl: string;
  /** Redis key prefix: a run's counters are its own */
  readonly redisPrefix: string;
}

const BIG = { rpm: 100_000_000, tpm: 1_000_000_000, quota: 1_000_000_000_000 };

/**
 * default: key auth, per-consumer RPM/TPM limits counted on the memory store,
 * priority routing over one target, Prometheus metrics, the access log (to
 * the log file), the ledger on SQLite: the shipped defaults.
 * everything: the same on the Redis state store, with a token quota and a
 * concurrency limit, two targets (priority 1 with a known tpm/rpm budget,
 * priority 2 behind it), OTLP traces (10% sampled) and metrics, an admin key.
 * Limits are set far above the load: they are counted, never hit.
 */
export function gatewayYaml(features: Features, up: GatewayUpstreams, o: GatewayOptions, ledgerFile: string): string {
  const conn = o.maxConnections ? `, maxConnections: ${o.maxConnections}` : '';
  const auth = `auth: { type: api-key, key: ${up.key} }`;
  if (features === 'default') {
    return `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
ledger: { url: "sqlite:${ledgerFile}" }
endpoints:
  primary: { url: ${up.primary}, ${auth}${conn} }
deployments:
  gpt-4o: { targets: [ { endpoint: primary } ] }
consumers:
  bench: { keys: [ ${GATEWAY_KEY} ], deployments: [ gpt-4o ], limits: { requestsPerMinute: ${BIG.rpm}, tokensPerMinute: ${BIG.tpm} } }
`;
  }
  return `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, key: ${ADMIN_KEY} }
state: { store: redis, url: "redis://127.0.0.1:6379", prefix: "${o.redisPrefix}" }
ledger: { url: "sqlite:${ledgerFile}" }
telemetry: { prometheus: true, accessLog: true, traceSampleRatio: 0.1, otlp: { endpoint: "${o.otlpUrl}", intervalSeconds: 5 } }
endpoints:
  primary: { url: ${up.primary}, ${auth}${conn} }
  secondary: { url: ${up.secondary}, ${auth}${conn} }
deployments:
  gpt-4o:
    strategy: priority
    targets:
      - { endpoint: primary, deployment: gpt-4o, priority: 1, tpm: ${BIG.tpm}, rpm: ${BIG.rpm} }
      - { endpoint: secondary, deployment: gpt-4o, priority: 2 }
consumers:
  bench:
    keys: [ ${GATEWAY_KEY} ]
    deployments: [ gpt-4o ]
    limits: { requestsPerMinute: ${BIG.rpm}, tokensPerMinute: ${BIG.tpm}, tokenQuota: ${BIG.quota}, tokenQuotaPeriod: monthly, concurrent: 50000 }
`;
}

/** Does `aoai-gateway serve` take --workers here? (It is refused as an unknown option where it does not.) */
export function workersFlagAvailable(): boolean {
  const r = spawnSync(process.execPath, ['bin/aoai-gateway.js', 'serve', '--workers', '1', '--config', tempFile('no-such-config.yaml')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return !/unknown option '--workers'|Unknown option.*workers/i.test(`${r.stdout}${r.stderr}`);
}

let runs = 0;

/** Starts the gateway; `workers` undefined: no --workers flag (a checkout without it). */
export async function startGateway(yaml: (ledgerFile: string) => string, o: { cpus: string; workers: number | undefined; nodeArgs?: string[] }): Promise<Proc & { url: string }> {
  const n = runs++;
  const config = tempFile(`gateway-${n}.yaml`);
  const ledger = tempFile(`gateway-${n}.db`);
  writeFileSync(config, yaml(ledger));
  const args = ['bin/aoai-gateway.js', 'serve', '--no-watch', '--config', config, ...(o.workers === undefined ? [] : ['--workers', String(o.workers)])];
  const p = await startPinned('gateway', [process.execPath, ...(o.nodeArgs ?? []), ...args], {
    cpus: o.cpus,
    ready: /"url":"(http:[^"]+)"[^\n]*"msg":"aoai-gateway listening"/,
    timeoutMs: 30_000,
  });
  return {
    ...p,
    url: p.match![1],
    async stop() {
      await p.stop();
      for (const f of [config, ledger, `${ledger}-wal`, `${ledger}-shm`]) rmSync(f, { force: true });
    },
  };
}
