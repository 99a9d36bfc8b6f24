// The handler's bridge to Entra consumers (src/auth/entra-consumers.ts): a
// bearer that is no known key is tried as an Entra ID access token when the
// config has an `entra` section. Refusals are OpenAI-shaped 401s that say
// which check failed and never echo the token.
import type { Consumer } from '../auth/consumer-keys.ts';
import { EntraTokenError, UnknownAppError } from '../auth/entra-consumers.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { GatewayError } from './errors.ts';
import type { Exchange } from './exchange.ts';

/** The consumer of a token-shaped bearer; undefined when it is not one (or no entra section), so it was a wrong key. */
export async function entraConsumer(ex: Exchange, runtime: Runtime, bearer: string): Promise<Consumer | undefined> {
  const entra = runtime.entra;
  if (!entra) return undefined;
  try {
    return await entra.authenticate(bearer);
  } catch (err) {
    if (err instanceof UnknownAppError) {
      ex.error = `invalid_token: unknown_app ${err.appId.slice(0, 64)}`;
      throw new GatewayError('invalid_token', err.message);
    }
    if (err instanceof EntraTokenError) {
      ex.error = `invalid_token: ${err.reason}`;
      if (err.reason === 'keys_unavailable') throw new GatewayError('token_validation_unavailable', err.message, { retryAfterMs: 5000 });
      throw new GatewayError('invalid_token', err.message);
    }
    throw err;
  }
}
