// What authenticating a request costs: a consumer key (hash + lookup), an
// Entra ID token seen before (hash + cache lookup), and a token seen for the
// first time (RS256 signature check with the tenant's cached keys, claims).
// In-process, no HTTP: the auth step alone. The JWKS comes from a local
// server once. Run: node bench/entra-auth.ts [--n 20000]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { KeyIndex } from '../src/auth/consumer-keys.ts';
import { EntraTokenValidator } from '../src/auth/entra-tokens.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '20000' } } });
const N = Number(values.n);
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const server = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;

const validator = new EntraTokenValidator({
  tenantId: TENANT,
  audiences: ['api://aoai-gateway'],
  issuers: undefined,
  jwksUri,
  authorityHost: 'https://login.microsoftonline.com',
  requiredRoles: [],
  clockSkewSeconds: 60,
  jwksCooldownSeconds: 30,
  cacheMaxEntries: N * 2,
});
const sign = (i: number) =>
  new SignJWT({ iss: `https://login.microsoftonline.com/${TENANT}/v2.0`, aud: 'api://aoai-gateway', azp: 'app-1', sub: `s${i}`, ver: '2.0', tid: TENANT })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
const tokens = await Promise.all(Array.from({ length: N }, (_, i) => sign(i)));
await validator.validate(await sign(-1)); // the keys, fetched once

const keys = new KeyIndex({ a: { keys: ['team-a-key-0123456789abcdef'], deployments: ['*'], requireUser: false } });

async function time(label: string, fn: (i: number) => unknown): Promise<void> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  console.log(`| ${label} | ${us.toFixed(2)} |`);
}

console.log(`tokens of ${tokens[0].length} characters, ${N} each\n`);
console.log('| authentication | µs per request |\n|---|---:|');
await time('consumer key (SHA-256, map lookup, constant-time compare)', () => keys.authenticate('team-a-key-0123456789abcdef'));
await time('Entra token, first time (RS256 verify, claims, cache insert)', (i) => validator.validate(tokens[i]));
await time('Entra token, seen before (SHA-256, cache lookup)', (i) => validator.cached(tokens[i]));
server.close();
