// What bench/compare.ts measures side by side: each way to reach the same
// upstream(s), how it is started (pinned), and what a client sends to it.
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { tempFile } from './processes.ts';
import { CHAT_PATH, chatRequest, SIM_KEY } from './sim-process.ts';
import { startPinned, stopAndClean, type Proc } from './compare-proc.ts';
import { CONNECTIONS_PER_PROXY, startHaproxy, startNginx } from './compare-native.ts';
import { PORTKEY_PATH, portkeyConfig, startPortkey } from './compare-portkey.ts';
import { GATEWAY_KEY, gatewayYaml, startGateway, type Features } from './compare-gateway.ts';

export interface Upstreams {
  /** Azure OpenAI-shaped origins holding deployment gpt-4o; the pass-through proxies use the first */
  readonly primary: string;
  readonly secondary: string;
  readonly key: string;
}

/** The simulator with two accounts (the gateway's priority-1 and priority-2 targets, Portkey's two), pinned to `cpus`. */
export async function startSimulatorPair(cpus: string): Promise<{ sim: Proc; up: Upstreams }> {
  writeFileSync(
    tempFile('pair-sim.yaml'),
    `accounts:
  bench: { port: 0, keys: [${SIM_KEY}], deployments: { gpt-4o: { completionTokens: 20 } } }
  bench2: { port: 0, keys: [${SIM_KEY}], deployments: { gpt-4o: { completionTokens: 20 } } }
`,
  );
  const sim = await startPinned('simulator', [process.execPath, 'bin/aoai-gateway.js', 'simulate', '--config', tempFile('pair-sim.yaml')], {
    cpus,
    ready: /bench\s+(http:\/\/\S+)[\s\S]*bench2\s+(http:\/\/\S+)/,
  });
  return { sim, up: { primary: sim.match![1], secondary: sim.match![2], key: SIM_KEY } };
}

export interface Stand {
  readonly otlpUrl: string;
  readonly redisPrefix: string;
  /** this checkout's `serve` takes --workers */
  readonly workersFlag: boolean;
  /** the CPU(s) of the proxy under test */
  readonly proxyCpus: string;
}

export interface Running {
  readonly url: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  body(stream: boolean): string;
  /** the proxy's root process (CPU and RSS are its tree's); none for direct */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface Target {
  readonly id: string;
  readonly name: string;
  /** the gateway runs on both CPUs */
  readonly bothCpus?: boolean;
  /** set when it cannot run here: the row says why */
  na?: string;
  start(up: Upstreams, o: { streams?: boolean; nodeArgs?: string[] }): Promise<Running>;
}

const BARE = fileURLToPath(new URL('../bare-proxy.ts', import.meta.url));

function azure(p: Proc & { url?: string }, url: string, key: string): Running {
  return { url, path: CHAT_PATH, headers: { 'api-key': key, 'content-type': 'application/json' }, body: chatRequest, pid: p.pid, stop: () => stopAndClean(p) };
}

function gateway(id: string, name: string, features: Features, stand: Stand, workers: number): Target {
  const both = workers > 1;
  return {
    id,
    name,
    bothCpus: both,
    na: both && !stand.workersFlag ? 'n/a: --workers not available' : undefined,
    async start(up, o) {
      const yaml = (ledger: string) =>
        gatewayYaml(features, up, { otlpUrl: stand.otlpUrl, redisPrefix: stand.redisPrefix, maxConnections: o.streams ? 2 * CONNECTIONS_PER_PROXY : undefined }, ledger);
      const gw = await startGateway(yaml, { cpus: both ? '0,1' : stand.proxyCpus, workers: stand.workersFlag ? workers : undefined, nodeArgs: o.nodeArgs });
      return azure(gw, gw.url, GATEWAY_KEY);
    },
  };
}

export function targets(stand: Stand): Target[] {
  const cpus = stand.proxyCpus;
  return [
    {
      id: 'direct',
      name: 'simulator, direct',
      async start(up) {
        return { url: up.primary, path: CHAT_PATH, headers: { 'api-key': up.key, 'content-type': 'application/json' }, body: chatRequest, pid: undefined, stop: async () => {} };
      },
    },
    {
      id: 'nginx',
      name: 'nginx',
      async start(up) {
        const p = await startNginx(up.primary, cpus);
        return azure(p, p.url, up.key);
      },
    },
    {
      id: 'haproxy',
      name: 'haproxy',
      async start(up) {
        const p = await startHaproxy(up.primary, cpus);
        return azure(p, p.url, up.key);
      },
    },
    {
      id: 'bare',
      name: 'bare undici proxy',
      async start(up) {
        const p = await startPinned('bare-proxy', [process.execPath, BARE, up.primary, String(CONNECTIONS_PER_PROXY)], { cpus, ready: /listening (http:\/\/\S+)/ });
        return azure(p, p.match![1], up.key);
      },
    },
    {
      id: 'portkey',
      name: 'Portkey gateway',
      async start(up) {
        const p = await startPortkey(cpus);
        return {
          url: p.url,
          path: PORTKEY_PATH,
          headers: { 'x-portkey-config': portkeyConfig([up.primary, up.secondary], up.key), 'content-type': 'application/json' },
          body: (stream) => JSON.stringify({ model: 'gpt-4o', ...(JSON.parse(chatRequest(stream)) as object) }),
          pid: p.pid,
          stop: () => stopAndClean(p),
        };
      },
    },
    gateway('gw-default', 'aoai-gateway, default', 'default', stand, 1),
    gateway('gw-all', 'aoai-gateway, everything on', 'everything', stand, 1),
    gateway('gw-all-2w', 'aoai-gateway, everything on, 2 workers', 'everything', stand, 2),
  ];
}
