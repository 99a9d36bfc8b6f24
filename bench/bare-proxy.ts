// The comparison: a bare pass-through proxy on undici, as one would write it
// in a few lines — no auth, no routing, no logging. `node bench/bare-proxy.ts
// <upstream-origin>` prints its URL.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

const pool = new Pool(process.argv[2], { connections: 256 });
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
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
