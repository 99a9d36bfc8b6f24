// The Portkey gateway (`@portkey-ai/gateway`, installed by bench/compare.ts
// into bench/.portkey) as the suite starts it: its own node entry
// (build/start-server.js, which serves its Hono app with @hono/node-server)
// on a free port, without its UI. It checks that @hono/node-server is the
// pinned 1.13.5 (streaming breaks on newer ones) and prints its URL.
//
//   node bench/portkey-main.ts
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PORTKEY_DIR = fileURLToPath(new URL('./.portkey/', import.meta.url));
const HONO_NODE_SERVER = '1.13.5';

const entry = `${PORTKEY_DIR}node_modules/@portkey-ai/gateway/build/start-server.js`;
/** The @hono/node-server that Node resolves from `from`: the nearest node_modules up the tree. */
function resolvedVersion(from: string): string | undefined {
  for (let dir = dirname(from); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = `${dir}/node_modules/@hono/node-server/package.json`;
    if (existsSync(pkg)) return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  }
  return undefined;
}
const version = existsSync(entry) ? resolvedVersion(entry) : undefined;
if (version === undefined) {
  process.stderr.write(`Portkey is not installed under ${PORTKEY_DIR}: run bench/compare.ts, which installs it\n`);
  process.exit(1);
}
if (version !== HONO_NODE_SERVER) {
  process.stderr.write(`Portkey would run on @hono/node-server ${version}, not the pinned ${HONO_NODE_SERVER}: remove ${PORTKEY_DIR} and run bench/compare.ts again\n`);
  process.exit(1);
}

const port = await new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const p = (s.address() as AddressInfo).port;
    s.close(() => resolve(p));
  });
});
// start-server.js reads its port and --headless from argv, and serves on import
process.argv.push(`--port=${port}`, '--headless');
await import(entry);
process.stdout.write(`\nportkey listening http://127.0.0.1:${port} (@hono/node-server ${version})\n`);
