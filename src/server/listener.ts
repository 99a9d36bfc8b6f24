// The sockets of the data and admin ports: HTTP, or HTTPS from PEM
// certificate and key files, read at
// start and read again when either changes (a renewed certificate, a
// cert-manager Secret update) without a restart. A broken pair is refused
// and the running one stays.
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server as HttpServer, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttps, type Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export type Listener = HttpServer | HttpsServer;
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class TlsFileError extends Error {
  readonly code = 'TLS_FILES';
}

/** Reads and checks a certificate and its key; `at` names them in the error (e.g. listen.tls). */
export function readTls(files: TlsFiles, at: string): { cert: Buffer; key: Buffer } {
  const read = (path: string, field: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsFileError(`${at}.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
    }
  };
  const pair = { cert: read(files.certFile, 'certFile'), key: read(files.keyFile, 'keyFile') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new TlsFileError(`${at}: the certificate and key do not make a TLS context (${(err as Error).message})`);
  }
  return pair;
}

/** An HTTP server, or an HTTPS one when `tls` is given. */
export function createListener(tls: TlsFiles | undefined, at: string, opts: ServerOptions, handler: Handler): Listener {
  if (!tls) return createHttp(opts, handler);
  return createHttps({ ...opts, ...readTls(tls, at), minVersion: 'TLSv1.2' }, handler);
}

/** Swaps in the files' new contents when they change; returns the function that stops watching. */
export function watchTls(server: HttpsServer, tls: TlsFiles, at: string, logger: Logger | undefined): () => void {
  let timer: NodeJS.Timeout | undefined;
  const changed = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    // A renewal writes two files: take them once both are written.
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        server.setSecureContext({ ...readTls(tls, at), minVersion: 'TLSv1.2' });
        logger?.info({ certFile: tls.certFile }, `${at}: certificate reloaded`);
      } catch (err) {
        logger?.error({ err: (err as Error).message }, `${at}: the new certificate was refused; the running one stays`);
      }
    }, 300);
    timer.unref();
  };
  for (const f of [tls.certFile, tls.keyFile]) watchFile(f, { interval: 1000, persistent: false }, changed);
  return () => {
    clearTimeout(timer);
    for (const f of [tls.certFile, tls.keyFile]) unwatchFile(f, changed);
  };
}

export function listenerUrl(server: Listener): string {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('the server is not listening on a port');
  const host = a.family === 'IPv6' ? `[${a.address === '::' ? '::1' : a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
  return `${'setSecureContext' in server ? 'https' : 'http'}://${host}:${a.port}`;
}

/** `reusePort`: several processes listen on the port and the kernel spreads connections over them (Linux). */
export function listen(server: Listener, port: number, host: string, reusePort = false): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ...(reusePort ? { reusePort: true, exclusive: true } : {}) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
