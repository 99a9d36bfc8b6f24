// The simulator as its own process, pinned, for benchmarks.
import { writeFileSync } from 'node:fs';
import { startNode, tempFile, type Started } from './processes.ts';

export const SIM_KEY = 'bench-sim-key-0001';

/** Starts `aoai-gateway simulate` with one account `bench` holding deployment `gpt-4o` (no limits). */
export async function startSimulator(cpu: number): Promise<{ url: string; proc: Started }> {
  writeFileSync(tempFile('sim.yaml'), `accounts:\n  bench: { port: 0, keys: [${SIM_KEY}], deployments: { gpt-4o: { completionTokens: 20 } } }\n`);
  const proc = await startNode(['bin/aoai-gateway.js', 'simulate', '--config', tempFile('sim.yaml')], { cpu, ready: /bench\s+(http:\/\/\S+)/ });
  return { url: proc.match[1], proc };
}

/** Starts `aoai-gateway serve` with `yaml` (the URL is read from its first log line). */
export function startGatewayProcess(name: string, yaml: string, cpu: number): Promise<Started> {
  writeFileSync(tempFile(`${name}.yaml`), yaml);
  return startNode(['bin/aoai-gateway.js', 'serve', '--config', tempFile(`${name}.yaml`)], { cpu, ready: /"url":"(http:[^"]+)"/ });
}

export const CHAT_PATH = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';

export function chatRequest(stream: boolean): string {
  return JSON.stringify({
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Write a haiku about load balancers and quota.' },
    ],
    max_tokens: 64,
    temperature: 0.7,
    ...(stream ? { stream: true } : {}),
  });
}
