// Consumers that are Entra apps: a bearer that is no known key but looks
// like a JWT is validated (entra-tokens.ts) and its app id (appid / azp)
// mapped to the consumer that lists it in `entraAppIds`. The validator — its
// keys and its cache of validated tokens — outlives reloads that leave the
// `entra` section as it was; the app-to-consumer map is the new config's.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.ts';
import type { Consumer, KeyIndex } from './consumer-keys.ts';
import { EntraTokenValidator, looksLikeJwt } from './entra-tokens.ts';

export { EntraTokenError, looksLikeJwt } from './entra-tokens.ts';
export type { TokenFailure } from './entra-tokens.ts';

/** A valid token of an app no consumer lists. */
export class UnknownAppError extends Error {
  readonly code = 'ENTRA_UNKNOWN_APP';
  /** the app's client id (not a secret: it is in every token the app sends) */
  readonly appId: string;
  constructor(appId: string) {
    super('The Entra ID application of this token is not a consumer of this gateway.');
    this.appId = appId;
  }
}

export class EntraConsumers {
  readonly validator: EntraTokenValidator;
  readonly #byApp: ReadonlyMap<string, Consumer>;

  constructor(validator: EntraTokenValidator, byApp: ReadonlyMap<string, Consumer>) {
    this.validator = validator;
    this.#byApp = byApp;
  }

  /**
   * The consumer a token authenticates, or undefined when the bearer is not
   * token-shaped (then it was a wrong key). Synchronous for a token seen
   * before; throws EntraTokenError or UnknownAppError for a bad one.
   */
  authenticate(bearer: string, now = Date.now()): Consumer | Promise<Consumer> | undefined {
    if (!looksLikeJwt(bearer)) return undefined;
    const hit = this.validator.cached(bearer, now);
    if (hit) return this.#consumer(hit.appId);
    return this.validator.validate(bearer, now).then((v) => this.#consumer(v.appId));
  }

  #consumer(appId: string): Consumer {
    const c = this.#byApp.get(appId.toLowerCase());
    if (!c) throw new UnknownAppError(appId);
    return c;
  }
}

/** The entra consumers of a config (undefined without an `entra` section), keeping `previous`'s validator when its settings are the same. */
export function compileEntraConsumers(config: Config, keys: KeyIndex, previous: EntraConsumers | undefined): EntraConsumers | undefined {
  const cfg = config.entra;
  if (!cfg) return undefined;
  const validator = previous && isDeepStrictEqual(previous.validator.cfg, cfg) ? previous.validator : new EntraTokenValidator(cfg);
  const byApp = new Map<string, Consumer>();
  for (const [name, c] of Object.entries(config.consumers)) {
    const consumer = keys.consumers.get(name);
    if (!consumer) continue;
    for (const app of c.entraAppIds ?? []) byApp.set(app.toLowerCase(), consumer);
  }
  return new EntraConsumers(validator, byApp);
}
