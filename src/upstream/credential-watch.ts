// Starts the Entra credentials of a config's endpoints (their first token is
// fetched before the first request needs it) and logs their failures: one
// line when an episode starts, one when it ends — never a token.
import type { Logger } from 'pino';
import { EntraCredential } from './entra-credential.ts';
import type { Endpoint } from './endpoint.ts';

export function superviseCredentials(endpoints: Iterable<Endpoint>, logger: Logger | undefined): void {
  for (const endpoint of endpoints) {
    const credential = endpoint.credential;
    if (!(credential instanceof EntraCredential)) continue;
    const name = endpoint.name;
    // An endpoint kept across a reload keeps its credential: set, not add, so it logs once.
    credential.onChange = (change) => {
      switch (change.kind) {
        case 'unavailable':
          logger?.error({ endpoint: name, reason: change.reason }, 'entra: no token for this endpoint; its targets are out of rotation until one comes');
          break;
        case 'refresh-failed':
          logger?.warn(
            { endpoint: name, reason: change.reason, tokenExpiresAt: new Date(change.tokenExpiresAt).toISOString() },
            'entra: refreshing the token failed; the current one serves until it expires',
          );
          break;
        case 'recovered':
          logger?.info({ endpoint: name, downMs: change.downMs }, 'entra: token obtained again; the endpoint is back');
          break;
      }
    };
    credential.start();
  }
}
