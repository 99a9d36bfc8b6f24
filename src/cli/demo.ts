import { formatIssues, validateConfig } from '../config/load.ts';
import { Gateway } from '../server/gateway.ts';
import { Simulator } from '../simulator/index.ts';
import { createLogger, flushLogsSync } from '../telemetry/access-log.ts';
import { parse, untilSignal } from './args.ts';
import { DEMO_ADMIN_KEY, DEMO_KEY, demoGatewayConfig, demoSimulatorConfig } from './demo-setup.ts';

export async function demo(args: string[]): Promise<number> {
  const opts = parse(args, { port: { type: 'string', short: 'p' } });
  const wanted = opts.port === undefined ? 8080 : Number(opts.port);
  const sim = await Simulator.start(demoSimulatorConfig(0));
  const urls = {
    eastus: sim.account('eastus').url,
    swedencentral: sim.account('swedencentral').url,
    westus: sim.account('westus').url,
  };
  const loaded = validateConfig(demoGatewayConfig(urls, wanted));
  if (!loaded.ok) throw new Error(`demo config: ${formatIssues(loaded.issues)}`);
  const logger = createLogger();
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(loaded.config, { logger });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || opts.port !== undefined) throw err;
    // A port is taken (another demo?): let the system pick both.
    gateway = await Gateway.start(loaded.config, { logger, port: 0, adminPort: 0 });
  }
  process.stdout.write(banner(gateway.url, gateway.admin!.url, sim));
  await untilSignal();
  await gateway.close(5_000);
  await sim.close();
  flushLogsSync();
  return 0;
}

function banner(url: string, admin: string, sim: Simulator): string {
  const accounts = [...sim.accounts].map(([n, a]) => `    ${n.padEnd(14)} ${a.url}  ${[...a.deployments.keys()].join(', ')}`);
  return `
aoai-gateway demo: a simulated Azure OpenAI estate behind one gateway. No Azure account needed.

  gateway   ${url}
  key       ${DEMO_KEY}
  deployments  gpt-4o (PTU first, then two pay-as-you-go accounts), text-embedding-3-small

  dashboard ${admin}/#key=${DEMO_ADMIN_KEY}
  admin API ${admin}/admin/api/state   (Authorization: Bearer ${DEMO_ADMIN_KEY}; metrics at ${admin}/metrics)

  simulated accounts:
${accounts.join('\n')}

Try it with curl:

  curl -s '${url}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21' \\
    -H 'api-key: ${DEMO_KEY}' -H 'content-type: application/json' \\
    -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":20}' -i

  curl -sN '${url}/openai/v1/chat/completions' -H 'authorization: Bearer ${DEMO_KEY}' \\
    -H 'content-type: application/json' \\
    -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

With the official SDKs:

  # Python: pip install openai
  from openai import AzureOpenAI
  client = AzureOpenAI(azure_endpoint="${url}", api_key="${DEMO_KEY}", api_version="2024-10-21")
  print(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello"}]).choices[0].message.content)

  // Node: npm i openai
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: '${url}/openai/v1', apiKey: '${DEMO_KEY}' });
  const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] });
  console.log(r.choices[0].message.content);

The response headers x-gateway-endpoint and x-gateway-deployment tell which deployment served it.

Load it (6 a second fill the PTU and spill over; 20 a second fill the estate and get 429s), and watch the dashboard:

  AOAIGW_BENCH_KEY=${DEMO_KEY} npx aoai-gateway bench --url ${url} --deployment gpt-4o --rate 6 --duration 60s --stream

Access log lines follow below. Ctrl-C stops.

`;
}
