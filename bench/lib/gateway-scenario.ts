// One measured run of a gateway process under a config: throughput and CPU
// per request at the given concurrency, then the median latency at
// concurrency 1. Shared by the benchmarks that compare gateway configs.
import { measure } from './measure.ts';
import { CHAT_PATH, chatRequest, startGatewayProcess } from './sim-process.ts';

export interface GatewayRun {
  rps: number;
  /** the gateway's CPU µs per request */
  cpu: number;
  /** ms at concurrency 1 */
  p50: number;
}

export async function runGateway(
  name: string,
  yaml: string,
  o: { stream: boolean; key: string; concurrency: number; durationMs: number; label: string; round: number; headers?: Record<string, string>; body?: string },
): Promise<GatewayRun> {
  const gw = await startGatewayProcess(name, yaml, 1);
  const opts = (concurrency: number, durationMs: number) => ({
    url: gw.match[1],
    path: CHAT_PATH,
    headers: { 'api-key': o.key, 'content-type': 'application/json', ...o.headers },
    body: o.body ?? chatRequest(o.stream),
    concurrency,
    durationMs,
    warmupMs: 2000,
  });
  const loaded = await measure(opts(o.concurrency, o.durationMs), gw.proc.pid, 0);
  const single = await measure(opts(1, o.durationMs / 2), gw.proc.pid, 0);
  await gw.stop();
  process.stderr.write(
    `round ${o.round + 1} ${o.stream ? 'stream' : 'plain '} ${o.label.padEnd(42)} ${loaded.rps.toFixed(0)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0)} µs/req  p50@1 ${single.p50.toFixed(3)} ms  ${JSON.stringify(loaded.statuses)}\n`,
  );
  return { rps: loaded.rps, cpu: loaded.cpuPerRequestUs!, p50: single.p50 };
}
