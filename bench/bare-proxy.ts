// The comparison: a bare pass-through proxy on undici, as one would write it
// in a few lines — no auth, no routing, no logging.
// `node bench/bare-proxy.ts <upstream-origin> [connections]` prints its URL;
// bench/compare.ts gives it thousands of connections for its slow streams,
// which the default 256 would queue.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

const connections = Number(process.argv[3] ?? 256);
if (!process.argv[2] || !Number.isInteger(connections) || connections < 1) {
  process.stderr.write('usage: bare-proxy.ts <upstream-origin> [connections]\n');
  process.exit(2);
}
const pool = new Pool(process.argv[2], { connections });
const HOP = ['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade'];

const server = createServer(async (req, res) => {
  try {
    const headers = { ...req.headers };
    for (const h of HOP) delete headers[h];
    const up = await pool.request({ path: req.url ?? '/', method: req.method as 'POST', headers, body: req });
    for (const h of HOP) delete up.headers[h];
    res.writeHead(up.statusCode, up.headers as Record<string, string>);
    await pipeline(up.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  }
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
