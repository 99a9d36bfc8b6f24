// An Azure OpenAI simulator: several accounts, each on its own port.
import { parseSimulatorConfig, type SimulatorConfig } from './config.ts';
import { SimAccount } from './account-server.ts';

export { SimAccount, type ReceivedRequest, type DeploymentStats } from './account-server.ts';
export { loadSimulatorConfig, parseSimulatorConfig, type SimulatorConfig } from './config.ts';
export { parseFault, type Fault } from './faults.ts';

export class Simulator {
  readonly accounts: ReadonlyMap<string, SimAccount>;

  private constructor(accounts: Map<string, SimAccount>) {
    this.accounts = accounts;
  }

  static async start(config: SimulatorConfig): Promise<Simulator> {
    const parsed = parseSimulatorConfig(config);
    const accounts = new Map<string, SimAccount>();
    try {
      for (const [name, cfg] of Object.entries(parsed.accounts)) {
        accounts.set(name, await new SimAccount(name, cfg).listen());
      }
    } catch (err) {
      await Promise.all([...accounts.values()].map((a) => a.close()));
      throw err;
    }
    return new Simulator(accounts);
  }

  account(name: string): SimAccount {
    const a = this.accounts.get(name);
    if (!a) throw new Error(`no simulated account "${name}"`);
    return a;
  }

  reset(): void {
    for (const a of this.accounts.values()) a.reset();
  }

  async close(): Promise<void> {
    await Promise.all([...this.accounts.values()].map((a) => a.close()));
  }
}
