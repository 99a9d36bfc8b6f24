// What the image holds, made without Docker: the files the Dockerfile's
// runtime stage copies, and the production node_modules its deps stage
// installs with the same npm command; then `serve` run from there with the
// Node 24 of this checkout (the image's Node).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { copyFrom, execForm, ROOT, type Stage } from './deploy-files.ts';

export interface ProdInstall {
  readonly dir: string;
  /** the npm command the Dockerfile's deps stage runs */
  readonly npmCommand: string[];
  remove(): void;
}

/** Copies what the runtime stage COPYs (from the context) and runs the deps stage's `npm ci`. */
export function prodInstall(stages: readonly Stage[]): ProdInstall {
  const [deps, runtime] = [stages.at(-2)!, stages.at(-1)!];
  const dir = mkdtempSync(join(tmpdir(), 'aoaigw-image-'));
  const copy = (i: Stage['instructions'][number]) => {
    const words = i.getArguments().map((a) => a.getValue()).filter((w) => !w.startsWith('--'));
    for (const src of words.slice(0, -1)) cpSync(join(ROOT, src), join(dir, src), { recursive: true });
  };
  for (const i of deps.instructions) if (i.getKeyword() === 'COPY') copy(i);
  for (const i of runtime.instructions) {
    if (i.getKeyword() === 'COPY' && copyFrom(i) === undefined) copy(i);
  }
  // The deps stage's RUN, the `npm ci …` part of it (shell form, `&&`-joined).
  const run = deps.instructions.find((i) => i.getKeyword() === 'RUN')!;
  const npm = (run.getArgumentsContent() ?? '').split('&&').map((s) => s.trim().split(/\s+/)).find((w) => w[0] === 'npm' && w[1] === 'ci');
  if (!npm) throw new Error('the deps stage runs no `npm ci`');
  const r = spawnSync(npm[0], npm.slice(1), { cwd: dir, encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`${npm.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return { dir, npmCommand: npm, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Served {
  readonly url: string;
  readonly adminUrl: string;
  readonly proc: ChildProcess;
  /** every line the process wrote, stdout and stderr */
  readonly output: string[];
  /** SIGTERM, then the exit code (or the signal that ended it) */
  stop(ms?: number): Promise<number | string>;
}

/** Runs `<ENTRYPOINT> <args>` in `dir` with `env`, until it logs that it listens. */
export async function serveFrom(dir: string, runtime: Stage, args: string[], env: Record<string, string>): Promise<Served> {
  const entry = runtime.instructions.find((i) => i.getKeyword() === 'ENTRYPOINT')!;
  const [node, ...script] = execForm(entry);
  if (node !== 'node') throw new Error(`the image's ENTRYPOINT starts ${node}, not node`);
  // PATH, HOME and the like; nothing else of this process' environment reaches the child.
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, NODE_ENV: 'production' };
  const proc = spawn(process.execPath, [...script, ...args], { cwd: dir, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const listening = new Promise<{ url: string; admin: string }>((resolve, reject) => {
    for (const stream of [proc.stdout!, proc.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (!line.includes('aoai-gateway listening')) return;
        const j = JSON.parse(line) as { url: string; admin: string };
        resolve({ url: j.url, admin: j.admin });
      });
    }
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening:\n${output.join('\n')}`)));
    setTimeout(() => reject(new Error(`serve did not listen within 20 s:\n${output.join('\n')}`)), 20_000).unref();
  });
  let where: { url: string; admin: string };
  try {
    where = await listening;
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    url: where.url,
    adminUrl: where.admin,
    proc,
    output,
    async stop(ms = 15_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

