// What deployment discovery costs, off the request path: one refresh of an
// account (a token from the managed-identity stand-in, the account, every
// page of deployments from the ARM stand-in, over local HTTP), and turning
// two accounts' lists into the running config (select + merge, then the
// runtime compile that a reload does).
//
//   node bench/discovery-refresh.ts [--deployments 200] [--runs 30]
import { parseArgs } from 'node:util';
import { validateConfig, formatIssues } from '../src/config/load.ts';
import { mergeDiscovered, selectTargets } from '../src/discovery/index.ts';
import { ArmClient, ArmTokens, armScope } from '../src/discovery/arm-client.ts';
import { compileRuntime } from '../src/runtime/runtime.ts';
import { ArmStandIn, IDENTITY_HEADER, TokenStandIn } from '../test/helpers/arm-stand-in.ts';

const { values } = parseArgs({ options: { deployments: { type: 'string', default: '200' }, runs: { type: 'string', default: '30' } } });
const n = Number(values.deployments);
const runs = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tokens = await TokenStandIn.start();
const arm = await ArmStandIn.start();
arm.pageSize = 50;
process.env.IDENTITY_ENDPOINT = `${tokens.url}/msi/token`;
process.env.IDENTITY_HEADER = IDENTITY_HEADER;
const models = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'text-embedding-3-small'];
for (const account of ['east', 'west']) {
  arm.account(account, {
    subscription: 's',
    resourceGroup: 'rg',
    endpoint: `https://${account}.openai.azure.com/`,
    deployments: Array.from({ length: n }, (_, i) => ({
      name: `${models[i % models.length]}-${account}-${i}`,
      model: models[i % models.length],
      sku: i % 3 === 0 ? 'ProvisionedManaged' : 'Standard',
      tokensPerMinute: 300_000,
      requestsPer10s: 300,
    })),
  });
}
const raw = {
  endpoints: Object.fromEntries(
    ['east', 'west'].map((a) => [
      a,
      { url: `https://${a}.openai.azure.com`, discovery: { subscriptionId: 's', resourceGroup: 'rg', account: a, armUrl: arm.url, identity: { credential: 'managed-identity' }, include: ['gpt-*', 'o4-*'] } },
    ]),
  ),
  ledger: { url: 'sqlite::memory:' },
};
const r = validateConfig(raw);
if (!r.ok) throw new Error(formatIssues(r.issues));
const config = r.config;
const cfg = config.endpoints.east.discovery!;

const client = new ArmClient();
const idTokens = new ArmTokens({ credential: 'managed-identity' });
const refresh: number[] = [];
let listed = 0;
for (let i = 0; i < runs + 3; i++) {
  const t0 = performance.now();
  const signal = AbortSignal.timeout(10_000);
  const token = await idTokens.get(armScope(cfg.armUrl), signal);
  await client.accountEndpoints(cfg, token, signal);
  const l = await client.listDeployments(cfg, token, signal);
  listed = l.deployments.length;
  if (i >= 3) refresh.push(performance.now() - t0);
}
const lists = new Map<string, Awaited<ReturnType<ArmClient['listDeployments']>>['deployments']>();
for (const a of ['east', 'west']) {
  const c = config.endpoints[a].discovery!;
  const signal = AbortSignal.timeout(10_000);
  lists.set(a, (await client.listDeployments(c, await idTokens.get(armScope(c.armUrl), signal), signal)).deployments);
}
const apply: number[] = [];
const compile: number[] = [];
let targets = 0;
for (let i = 0; i < runs + 3; i++) {
  const t0 = performance.now();
  const found = new Map([...lists].map(([a, l]) => [a, selectTargets(l, config.endpoints[a].discovery!).targets]));
  const merged = mergeDiscovered(config, found);
  const t1 = performance.now();
  const rt = compileRuntime(merged.config);
  const t2 = performance.now();
  targets = merged.added.length;
  await rt.close();
  if (i >= 3) {
    apply.push(t1 - t0);
    compile.push(t2 - t1);
  }
}
console.log(`refresh of one account (${listed} deployments, ${Math.ceil(listed / arm.pageSize)} pages, token + account + pages): median ${median(refresh).toFixed(2)} ms over ${runs}`);
console.log(`select + merge of 2 accounts into ${targets} targets: median ${median(apply).toFixed(2)} ms; compiling that runtime (what the reload adds): median ${median(compile).toFixed(2)} ms`);
await client.close();
await arm.close();
await tokens.close();
