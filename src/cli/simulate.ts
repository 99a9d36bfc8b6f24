import { loadSimulatorConfig, Simulator, type SimulatorConfig } from '../simulator/index.ts';
import { parse, untilSignal } from './args.ts';
import { demoSimulatorConfig } from './demo-setup.ts';

export async function simulate(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' } });
  const config: SimulatorConfig = opts.config ? loadSimulatorConfig(opts.config) : demoSimulatorConfig(9100);
  const sim = await Simulator.start(config);
  process.stdout.write('Azure OpenAI simulator\n');
  for (const [name, account] of sim.accounts) {
    const keys = account.cfg.keys.length ? `api-key ${account.cfg.keys.join(' | ')}` : 'any api-key';
    process.stdout.write(`  ${name.padEnd(10)} ${account.url}  (${account.cfg.region}, ${keys})\n`);
    for (const [d, dep] of account.deployments) {
      const limits = dep.limiter ? `tpm ${dep.cfg.tpm ?? '-'} · ${dep.limiter.requestsPerWindow} requests / 10 s` : 'no limits';
      process.stdout.write(`      ${d.padEnd(28)} ${dep.cfg.model}  ${limits}\n`);
    }
  }
  process.stdout.write('Faults per request: header x-sim-fault (e.g. "status=429;retry-after=5"). Ctrl-C stops.\n');
  await untilSignal();
  await sim.close();
  return 0;
}
