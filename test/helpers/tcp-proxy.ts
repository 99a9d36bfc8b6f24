// A TCP proxy the test can cut and restore: an outage of whatever is behind
// it (PostgreSQL, Redis), as the gateway sees one.
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #target: { host: string; port: number };
  #port = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const p = new TcpProxy(target);
    await p.#listen(0);
    return p;
  }

  get port(): number {
    return this.#port;
  }

  /** Drops every connection and stops listening: what is behind it is gone. */
  async cut(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Listens again on the same port: it is back. */
  async restore(): Promise<void> {
    if (!this.#server) await this.#listen(this.#port);
  }

  close(): Promise<void> {
    return this.cut();
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((c) => this.#pipe(c));
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.#server = server;
        this.#port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  #pipe(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
