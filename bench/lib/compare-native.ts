// nginx and haproxy as pass-through proxies for bench/compare.ts: installed
// from Debian packages when absent, run in the foreground from configs in a
// temp dir, one worker (nginx worker_processes 1; haproxy nbthread 1), with
// keep-alive to the upstream, nothing buffered, and an access log each, as
// the gateway has one.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tempFile } from './processes.ts';
import { FD_LIMIT, freePort, startPinned, type Proc } from './compare-proc.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`]).status === 0;

/** Installs the packages with apt-get (as root, or through sudo -n); the reason when it cannot. */
export function ensureNative(): { nginx?: string; haproxy?: string } {
  const missing = [has('nginx') ? undefined : 'nginx-light', has('haproxy') ? undefined : 'haproxy'].filter((x): x is string => x !== undefined);
  if (missing.length) {
    process.stderr.write(`installing ${missing.join(' ')} with apt-get…\n`);
    const root = process.getuid?.() === 0;
    const run = (args: string[]) =>
      spawnSync(root ? args[0] : 'sudo', root ? args.slice(1) : ['-n', ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    let r = run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing]);
    if (r.status !== 0) {
      run(['apt-get', 'update']);
      r = run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing]);
    }
  }
  const why = (cmd: string) => (has(cmd) ? undefined : `n/a: ${cmd} is not installed and apt-get could not install it`);
  return { nginx: why('nginx'), haproxy: why('haproxy') };
}

const bin = (cmd: string) => (spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || `/usr/sbin/${cmd}`);

/** Most concurrent client connections one proxy process can hold: each proxied one holds two sockets. */
// (with 200 to spare, 9,900 streams ran the proxies out of descriptors here: nginx and aoai-gateway reset some)
export const CONNECTIONS_PER_PROXY = Math.floor((FD_LIMIT - 2000) / 2);

let n = 0;

export async function startNginx(upstream: string, cpus: string): Promise<Proc & { url: string }> {
  const dir = tempFile(`nginx-${n++}`);
  for (const d of ['', '/tmp']) mkdirSync(`${dir}${d}`, { recursive: true });
  const port = await freePort();
  const up = new URL(upstream);
  writeFileSync(
    `${dir}/nginx.conf`,
    `worker_processes 1;
worker_rlimit_nofile ${FD_LIMIT};
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections ${FD_LIMIT - 100}; }
http {
  access_log ${dir}/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
  upstream backend {
    server ${up.hostname}:${up.port};
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
`,
  );
  const p = await startPinned('nginx', [bin('nginx'), '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], { cpus, port });
  return withDir(p, dir, port);
}

export async function startHaproxy(upstream: string, cpus: string): Promise<Proc & { url: string }> {
  const dir = tempFile(`haproxy-${n++}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const up = new URL(upstream);
  writeFileSync(
    `${dir}/haproxy.cfg`,
    `global
  nbthread 1
  maxconn ${CONNECTIONS_PER_PROXY}
  log stdout format raw local0
defaults
  mode http
  maxconn ${CONNECTIONS_PER_PROXY}
  log global
  option httplog
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  http-reuse always
  # SSE: send each chunk as it comes (no MSG_MORE, no Nagle), as nginx does with proxy_buffering off
  option http-no-delay
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server upstream ${up.hostname}:${up.port}
`,
  );
  // -db: stay in the foreground; the access log goes to stdout, which is the log file
  const p = await startPinned('haproxy', [bin('haproxy'), '-db', '-f', `${dir}/haproxy.cfg`], { cpus, port });
  return withDir(p, dir, port);
}

/** Stopping also removes the temp dir (its access log). */
function withDir(p: Proc, dir: string, port: number): Proc & { url: string } {
  return {
    ...p,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
