// The Portkey gateway for bench/compare.ts: installed at the first run into
// the gitignored bench/.portkey (with @hono/node-server pinned to 1.13.5 by
// an npm override: its streaming breaks on newer ones), started with
// bench/portkey-main.ts, and configured per request, as its self-hosted
// users do, with an `x-portkey-config` header: load balancing over the
// same Azure OpenAI targets, provider azure-openai, custom_host pointing at
// them (its Azure provider then calls {custom_host}/deployments/{id}/chat/completions?api-version=…).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPinned, type Proc } from './compare-proc.ts';

export const PORTKEY_VERSION = '1.15.2';
const HONO_NODE_SERVER = '1.13.5';
const DIR = fileURLToPath(new URL('../.portkey/', import.meta.url));
const MAIN = fileURLToPath(new URL('../portkey-main.ts', import.meta.url));

const manifest = {
  name: 'aoaigw-bench-portkey',
  private: true,
  description: 'installed by bench/compare.ts; not part of aoai-gateway',
  dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION, '@hono/node-server': HONO_NODE_SERVER },
  overrides: { '@hono/node-server': HONO_NODE_SERVER },
};

/** Installs Portkey when it is not there yet; the reason when it cannot. */
export function ensurePortkey(): string | undefined {
  const installed = `${DIR}node_modules/@portkey-ai/gateway/package.json`;
  const same = existsSync(`${DIR}package.json`) && readFileSync(`${DIR}package.json`, 'utf8') === JSON.stringify(manifest, null, 2);
  if (same && existsSync(installed)) return undefined;
  process.stderr.write(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${DIR} (npm)…\n`);
  mkdirSync(DIR, { recursive: true });
  writeFileSync(`${DIR}package.json`, JSON.stringify(manifest, null, 2));
  const r = spawnSync('npm', ['install', '--prefix', DIR, '--no-audit', '--no-fund', '--no-package-lock'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(installed)) {
    const last = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').slice(-1)[0] ?? '';
    return `n/a: npm could not install @portkey-ai/gateway (${last.slice(0, 120)})`;
  }
  return undefined;
}

export async function startPortkey(cpus: string): Promise<Proc & { url: string }> {
  const p = await startPinned('portkey', [process.execPath, MAIN], { cpus, ready: /portkey listening (http:\/\/\S+)/, env: { NODE_ENV: 'production' }, timeoutMs: 30_000 });
  return { ...p, url: p.match![1] };
}

/** The config header: every target an azure-openai deployment `gpt-4o` at `origin`, equal weights. */
export function portkeyConfig(origins: readonly string[], key: string): string {
  return JSON.stringify({
    strategy: { mode: 'loadbalance' },
    targets: origins.map((origin, i) => ({
      provider: 'azure-openai',
      api_key: key,
      resource_name: `bench${i}`,
      deployment_id: 'gpt-4o',
      api_version: '2024-10-21',
      custom_host: `${origin}/openai`,
      weight: 1,
    })),
  });
}

export const PORTKEY_PATH = '/v1/chat/completions';
