// What the demo runs: three simulated Azure accounts (a PTU deployment and
// two pay-as-you-go ones behind it, plus embeddings) and a gateway over them.
import type { SimulatorConfig } from '../simulator/index.ts';

export const DEMO_KEY = 'demo-key-aoai-gateway-0001';
/** The demo's admin key: the dashboard and the admin API on the admin port. */
export const DEMO_ADMIN_KEY = 'demo-admin-key-aoai-gateway-0001';

const latency = { baseMs: 150, perTokenMs: 20 };

/** `basePort` 0 lets the system pick each account's port. */
export function demoSimulatorConfig(basePort: number): SimulatorConfig {
  const port = (i: number) => (basePort === 0 ? 0 : basePort + i);
  return {
    accounts: {
      eastus: {
        port: port(1),
        region: 'eastus',
        keys: ['sim-key-eastus-0001'],
        deployments: {
          'gpt-4o-ptu': { tpm: 30_000, latency, completionTokens: 30, defaultMaxTokens: 500 },
          'text-embedding-3-small': { kind: 'embeddings', model: 'text-embedding-3-small', tpm: 100_000, latency: { baseMs: 20, perTokenMs: 0 } },
        },
      },
      swedencentral: {
        port: port(2),
        region: 'swedencentral',
        keys: ['sim-key-sweden-0001'],
        deployments: { 'gpt-4o': { tpm: 20_000, latency, completionTokens: 30, defaultMaxTokens: 500 } },
      },
      westus: {
        port: port(3),
        region: 'westus',
        keys: ['sim-key-westus-0001'],
        deployments: { 'gpt-4o-payg': { tpm: 20_000, latency, completionTokens: 30, defaultMaxTokens: 500 } },
      },
    },
  };
}

/** The gateway config over the simulator's accounts. */
export function demoGatewayConfig(urls: { eastus: string; swedencentral: string; westus: string }, port: number, adminPort = port === 0 ? 0 : port + 1) {
  return {
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, key: DEMO_ADMIN_KEY },
    endpoints: {
      eastus: { url: urls.eastus, auth: { type: 'api-key', key: 'sim-key-eastus-0001' } },
      swedencentral: { url: urls.swedencentral, auth: { type: 'api-key', key: 'sim-key-sweden-0001' } },
      westus: { url: urls.westus, auth: { type: 'api-key', key: 'sim-key-westus-0001' } },
    },
    deployments: {
      'gpt-4o': {
        targets: [
          { endpoint: 'eastus', deployment: 'gpt-4o-ptu', priority: 1, tpm: 30_000 },
          { endpoint: 'swedencentral', deployment: 'gpt-4o', priority: 2, weight: 1 },
          { endpoint: 'westus', deployment: 'gpt-4o-payg', priority: 2, weight: 1 },
        ],
      },
      'text-embedding-3-small': { targets: [{ endpoint: 'eastus' }] },
    },
    consumers: { demo: { keys: [DEMO_KEY], deployments: ['*'] } },
  };
}
