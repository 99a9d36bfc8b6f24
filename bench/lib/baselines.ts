// What the public samples do, for comparison in bench/capacity.ts: plain
// round-robin that hands an upstream 429 to the client, and round-robin that
// retries a 429 on the next deployment at once, with no memory of it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

export interface Upstream {
  readonly origin: string;
  readonly path: string;
  readonly key: string;
}

export type BaselineKind = 'round-robin, 429 to client' | 'retry on 429, no cooldown';

export async function startBaseline(kind: BaselineKind, upstreams: readonly Upstream[], maxAttempts = 3): Promise<{ url: string; close(): Promise<void> }> {
  const pools = upstreams.map((u) => new Pool(u.origin, { connections: 256 }));
  let next = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const tries = kind === 'round-robin, 429 to client' ? 1 : maxAttempts;
      try {
        for (let attempt = 1; ; attempt++) {
          const i = next++ % upstreams.length;
          const u = upstreams[i];
          const r = await pools[i].request({
            path: u.path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'api-key': u.key },
            body,
          });
          if (r.statusCode === 429 && attempt < tries) {
            await r.body.dump();
            continue;
          }
          const headers: Record<string, string> = { 'content-type': 'application/json', 'x-gateway-endpoint': String(i) };
          for (const h of ['retry-after', 'retry-after-ms']) if (r.headers[h] !== undefined) headers[h] = String(r.headers[h]);
          res.writeHead(r.statusCode, headers);
          res.end(Buffer.from(await r.body.arrayBuffer()));
          return;
        }
      } catch {
        res.writeHead(502).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}
