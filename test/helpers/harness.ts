// A simulator and a gateway over it, on port 0, for one test file.
import { Writable } from 'node:stream';
import { validateConfig, formatIssues } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Gateway } from '../../src/server/gateway.ts';
import { Simulator, type SimulatorConfig } from '../../src/simulator/index.ts';
import { createLogger } from '../../src/telemetry/access-log.ts';

export const KEY_A = 'team-a-key-0123456789abcdef';
export const KEY_B = 'team-b-key-0123456789abcdef';
export const UPSTREAM_KEY_EAST = 'upstream-secret-east-0001';
export const UPSTREAM_KEY_WEST = 'upstream-secret-west-0001';

/** Collects log lines as parsed JSON objects. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  }
  access(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.kind === 'access');
  }
}

export function defaultSimulator(): SimulatorConfig {
  return {
    accounts: {
      east: {
        region: 'eastus',
        keys: [UPSTREAM_KEY_EAST],
        deployments: {
          'gpt4o-ptu': { completionTokens: 5 },
          'gpt-4o-mini': { completionTokens: 5 },
          embed: { kind: 'embeddings', model: 'text-embedding-3-small' },
          'dall-e-3': {},
          'whisper-1': {},
          tts: {},
        },
      },
      west: {
        region: 'westus',
        keys: [UPSTREAM_KEY_WEST],
        deployments: { 'gpt-4o': { completionTokens: 5 } },
      },
    },
  };
}

/** A gateway config over the default simulator; `patch` edits the raw object before validation. */
export function defaultGatewayConfig(sim: Simulator, patch?: (raw: Record<string, any>) => void): Config {
  const raw: Record<string, any> = {
    listen: { host: '127.0.0.1', port: 0 },
    ledger: { url: 'sqlite::memory:' },
    endpoints: {
      east: { url: sim.account('east').url, auth: { type: 'api-key', key: UPSTREAM_KEY_EAST } },
      west: { url: sim.account('west').url, auth: { type: 'api-key', key: UPSTREAM_KEY_WEST } },
    },
    deployments: {
      'gpt-4o': { targets: [{ endpoint: 'east', deployment: 'gpt4o-ptu' }] },
      'gpt-4o-west': { targets: [{ endpoint: 'west', deployment: 'gpt-4o' }] },
      'gpt-4o-mini': { targets: [{ endpoint: 'east' }] },
      'text-embedding-3-small': { targets: [{ endpoint: 'east', deployment: 'embed' }] },
      'dall-e-3': { targets: [{ endpoint: 'east' }] },
      whisper: { targets: [{ endpoint: 'east', deployment: 'whisper-1' }] },
      tts: { targets: [{ endpoint: 'east' }] },
    },
    consumers: {
      'team-a': { keys: [KEY_A], deployments: ['*'] },
      'team-b': { keys: [KEY_B], deployments: ['gpt-4o-mini'] },
    },
  };
  patch?.(raw);
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(formatIssues(r.issues));
  return r.config;
}

export interface Harness {
  sim: Simulator;
  gw: Gateway;
  url: string;
  log: LogSink;
  close(): Promise<void>;
}

export async function startHarness(opts: {
  simulator?: SimulatorConfig;
  patch?: (raw: Record<string, any>) => void;
} = {}): Promise<Harness> {
  const sim = await Simulator.start(opts.simulator ?? defaultSimulator());
  const log = new LogSink();
  let gw: Gateway;
  try {
    gw = await Gateway.start(defaultGatewayConfig(sim, opts.patch), { logger: createLogger(log), adminPort: 0 });
  } catch (err) {
    await sim.close();
    throw err;
  }
  return {
    sim,
    gw,
    url: gw.url,
    log,
    async close() {
      await gw.close(1000);
      await sim.close();
    },
  };
}

/**
 * One simulated deployment (`east/gpt4o-ptu`, configured by `deployment`)
 * behind the gateway deployment `gpt-4o`, for one consumer (KEY_A).
 */
export function startSingle(
  deployment: NonNullable<SimulatorConfig['accounts'][string]['deployments'][string]>,
  patch?: (raw: Record<string, any>) => void,
): Promise<Harness> {
  return startHarness({
    simulator: { accounts: { east: { deployments: { 'gpt4o-ptu': deployment } }, west: { deployments: {} } } },
    patch: (raw) => {
      raw.deployments = { 'gpt-4o': { targets: [{ endpoint: 'east', deployment: 'gpt4o-ptu' }] } };
      delete raw.consumers['team-b'];
      patch?.(raw);
    },
  });
}

/** Waits until `fn` returns true, polling every 10 ms, up to `ms`. */
export async function eventually(fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function chatBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 5, ...extra });
}
