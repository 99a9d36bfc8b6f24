// A real Prometheus (and promtool) for the deployment files' tests: Debian's
// `prometheus` package, unpacked by .ci/run (no service is installed or
// started). Runs on 127.0.0.1 with its data in a temp dir, stopped by close().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = process.env.AOAIGW_PROMETHEUS_DIR ?? '/opt/aoaigw-prometheus';

/** The path of `prometheus` or `promtool`: unpacked by .ci/run, else on PATH. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const unpacked = join(DIR, 'usr/bin', name);
  if (existsSync(unpacked)) return unpacked;
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim();
  throw new Error(`${name} is missing: the deployment files' tests run Debian's Prometheus. Run .ci/run, or: ` +
    `(cd /tmp && apt-get download prometheus && mkdir -p ${DIR} && dpkg-deb -x prometheus_*.deb ${DIR})`);
}

export function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(prometheusBinary('promtool'), args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

export interface PrometheusServer {
  readonly url: string;
  /** an instant query's result vector */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** the loaded rules: each one's health after its last evaluation */
  rules(): Promise<{ name: string; health: string; lastError?: string; lastEvaluation: string }[]>;
  close(): Promise<void>;
}

export async function startPrometheus(configFile: string): Promise<PrometheusServer> {
  const data = mkdtempSync(join(tmpdir(), 'aoaigw-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    prometheusBinary('prometheus'),
    [`--config.file=${configFile}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log = (log + c.toString('utf8')).slice(-8000)));
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await once(proc, 'exit');
      clearTimeout(timer);
    }
    rmSync(data, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`Prometheus did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async rules() {
      const r = await fetch(`${url}/api/v1/rules`);
      const body = (await r.json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] } };
      return body.data.groups.flatMap((g) => g.rules);
    },
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      // any: a vector's samples or a scalar, as Prometheus' HTTP API returns them.
      const body = (await r.json()) as { status: string; error?: string; data: { resultType: string; result: any } };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
      return body.data.resultType === 'vector' ? body.data.result : [{ metric: {}, value: body.data.result }];
    },
    close,
  };
}
