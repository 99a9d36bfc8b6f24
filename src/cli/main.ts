// `aoai-gateway <command>`: the CLI of DESIGN.md §6.
import { UsageError } from './args.ts';

type Command = (args: string[]) => Promise<number>;

// Each command's module is loaded when it runs: the gateway's parts are not
// needed to print usage or to run `bench`, and loading them all takes a second.
const serve: Command = async (a) => (await import('./serve.ts')).serve(a);
const check: Command = async (a) => (await import('./check.ts')).check(a);
const simulate: Command = async (a) => (await import('./simulate.ts')).simulate(a);
const keys: Command = async (a) => (await import('./keys.ts')).keys(a);
const usageReport: Command = async (a) => (await import('./usage.ts')).usage(a);
const bench: Command = async (a) => (await import('./bench.ts')).bench(a);
const demo: Command = async (a) => (await import('./demo.ts')).demo(a);

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: serve, summary: 'serve    [--config FILE] [--workers N|auto]   run the gateway (N processes on one port; default: the CPU count with the Redis store, else 1)' },
  check: { run: check, summary: 'check    [--config FILE] [--discover]   validate the config; print the routing plan (--discover: with what Resource Manager lists)' },
  simulate: { run: simulate, summary: 'simulate [--config FILE]        Azure OpenAI simulator (TPM/RPM, 429s, latency, faults)' },
  keys: { run: keys, summary: 'keys     create --consumer NAME [--expires 90d] | list | revoke ID   consumer keys in the ledger' },
  usage: { run: usageReport, summary: 'usage    [--by consumer|deployment|endpoint] [--since 24h] [--json|--csv]' },
  bench: { run: bench, summary: 'bench    --url URL --key KEY …  load test a gateway or an Azure OpenAI endpoint (bench --help)' },
  demo: { run: demo, summary: 'demo     [--port N]             simulator + gateway, no Azure account needed' },
};

export function usage(): string {
  return ['usage: aoai-gateway <command> [options]', '', ...Object.values(COMMANDS).map((c) => `  ${c.summary}`), ''].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`aoai-gateway: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(args);
  } catch (err) {
    process.stderr.write(`aoai-gateway ${name}: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
