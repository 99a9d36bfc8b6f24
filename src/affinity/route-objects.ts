// Where a request about stored objects goes. An object lives on the account
// that made it, so a request that names one (in its path or its body) goes to
// that endpoint and to no other — not on a retry, not when it is down — and
// only for the consumer that made it. A creation that names no object goes
// where its deployment's router sends it, or, naming no deployment either,
// to `affinity.defaultEndpoint`. See the README's "Stored objects".
import type { Runtime } from '../runtime/runtime.ts';
import { GatewayError } from '../proxy/errors.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { forward } from '../proxy/forward.ts';
import { bodyModel } from '../proxy/request-fields.ts';
import { isDeploymentName } from '../proxy/routes.ts';
import type { DeploymentPool } from '../routing/target.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { countAffinity } from './affinity-metric.ts';
import { findHome, rememberHome, type ObjectHome } from './object-map.ts';
import { OBJECT_ID, objectOperation, referencedIds, type ObjectOperation, type ObjectRef } from './object-refs.ts';
import { ObjectTap } from './object-tap.ts';
import { endpointPool, poolOn, reachable } from './pools.ts';

/**
 * How the endpoint was chosen, for the access log and the metric:
 * `pinned` (where the object named lives), `new` (a creation: its
 * deployment's choice, or the default endpoint), `list`, and the refusals
 * `miss` (an id the gateway does not know) and `foreign` (another
 * consumer's object) — both answered as "not found".
 */
export type AffinityOutcome = 'pinned' | 'new' | 'list' | 'miss' | 'foreign';

export interface AffinityState {
  outcome: AffinityOutcome;
  /** the endpoint it is kept on, when the gateway chose one */
  endpoint: string | undefined;
  /** the targets it may go to; undefined: the whole deployment's */
  pool: DeploymentPool | undefined;
  /** the id that pinned it */
  ref: string | undefined;
  /** object ids the answer made and the gateway recorded */
  stored: number;
  /** whether it generates tokens (a Responses create, a run): requireUser applies */
  readonly generates: boolean;
}

/** The request header naming the deployment a creation without `model` goes by. */
export const DEPLOYMENT_HEADER = 'x-gateway-deployment';

/**
 * For a body-model route about stored objects: chooses where it goes
 * (ex.affinity, ex.deployment via `resolve`) and sets the tap that records
 * what the answer creates. False when the route is not about stored objects.
 */
export async function routeStoredObjects(ex: Exchange, runtime: Runtime, metrics: Metrics, resolve: (deployment: string) => void): Promise<boolean> {
  const route = ex.route;
  if (route?.kind !== 'body-model') return false;
  const op = objectOperation(route.operation);
  if (!op) return false;
  const method = ex.req.method ?? 'GET';
  const model = bodyModel(ex);
  if (model !== undefined && model !== '') {
    if (!isDeploymentName(model)) throw new GatewayError('invalid_deployment_name', 'The "model" field is not a valid deployment name.', { param: 'model' });
    resolve(model);
  } else if (op.collection === 'responses' && op.pathId === undefined && method === 'POST') {
    throw new GatewayError('model_required', 'This route needs a "model" field naming a deployment.', { param: 'model' });
  }
  const state: AffinityState = {
    outcome: 'new',
    endpoint: undefined,
    pool: undefined,
    ref: undefined,
    stored: 0,
    generates: method === 'POST' && ((op.collection === 'responses' && op.pathId === undefined) || /(^|\/)runs$/.test(op.operation)),
  };
  ex.affinity = state;
  const refs = referencedIds(op, ex);
  if (refs.length > 0) await pin(ex, runtime, refs, state, metrics);
  else place(ex, runtime, op, state, method, resolve);
  if (method === 'POST' || method === 'GET') ex.answerTap = new ObjectTap(ex, op, runtime.router.store, runtime.config.affinity.ttlSeconds * 1000, metrics);
  return true;
}

/** Sends the request to its pool; a pinned one that its endpoint cannot take now is refused, never sent elsewhere. */
export async function forwardStored(ex: Exchange, runtime: Runtime, telemetry: Telemetry): Promise<void> {
  const state = ex.affinity!;
  try {
    await forward(ex, runtime, telemetry, state.pool);
  } catch (err) {
    if (state.outcome !== 'pinned' || !(err instanceof GatewayError) || (err.code !== 'all_targets_throttled' && err.code !== 'no_target_available')) throw err;
    count(telemetry.metrics, ex, state.endpoint, 'unavailable');
    const seconds = Math.ceil((err.retryAfterMs ?? 0) / 1000);
    const why = err.code === 'all_targets_throttled' ? 'is rate-limited' : 'cannot take requests now (circuit open or drained)';
    throw new GatewayError(
      err.code,
      `"${state.ref}" is stored on endpoint "${state.endpoint}", which ${why}; the request is not sent to another endpoint, which does not have it. Retry after ${seconds} s.`,
      { retryAfterMs: err.retryAfterMs },
    );
  }
}

/** Keeps the request on the endpoint of the objects it names, for the consumer that made them. */
async function pin(ex: Exchange, runtime: Runtime, refs: readonly ObjectRef[], state: AffinityState, metrics: Metrics): Promise<void> {
  const consumer = ex.consumer!;
  const now = Date.now();
  for (const r of refs) if (!OBJECT_ID.test(r.id)) throw notFound(r, 'is not an object id');
  const homes = await Promise.all(refs.map((r) => findHome(runtime.router.store, r.id, now)));
  let endpoint: string | undefined;
  for (let i = 0; i < refs.length; i++) {
    const home = homes[i];
    if (!home || home.consumer !== consumer.name || !runtime.endpoints.has(home.endpoint)) {
      state.outcome = home && home.consumer !== consumer.name ? 'foreign' : 'miss';
      count(metrics, ex, '', state.outcome);
      // Another consumer's object is answered like an unknown one: its existence is not told.
      throw notFound(refs[i], 'is not known to this gateway for this key');
    }
    if (endpoint !== undefined && home.endpoint !== endpoint) {
      throw new GatewayError('objects_on_different_endpoints', `"${refs[0].id}" and "${refs[i].id}" are stored on different endpoints and cannot be used in one request.`, {
        param: refs[i].param === 'path' ? undefined : refs[i].param,
      });
    }
    endpoint = home.endpoint;
  }
  const where = endpoint!;
  if (!reachable(runtime, consumer).has(where)) {
    throw new GatewayError('endpoint_not_allowed', `"${refs[0].id}" is stored on endpoint "${where}", which none of this key's deployments reaches any more.`);
  }
  state.outcome = 'pinned';
  state.endpoint = where;
  state.ref = refs[0].id;
  if (ex.deployment) {
    const pool = poolOn(runtime, ex.deployment, where);
    if (!pool) {
      throw new GatewayError('deployment_not_on_endpoint', `"${refs[0].id}" is stored on endpoint "${where}", where the deployment "${ex.deployment.name}" has no target; name a deployment that has one there.`, {
        param: 'model',
      });
    }
    state.pool = pool;
  } else state.pool = endpointPool(runtime, where);
  const made = homes[0]?.deployment;
  count(metrics, ex, where, 'pinned', ex.deployment?.name ?? (made !== undefined && runtime.deployments.has(made) ? made : undefined));
  refresh(ex, runtime, refs, homes as ObjectHome[], now);
}

/**
 * A creation or a list that names no object. With a deployment: a Responses
 * conversation starts wherever the router sends it; an assistant goes to the
 * deployment's targets on the default endpoint when it has some there, so
 * that the threads, files and vector stores made with it (which name no
 * deployment, and go there too) can be used together. Without one: the
 * deployment named by the x-gateway-deployment header, else the default
 * endpoint, else the only endpoint the consumer reaches.
 */
function place(ex: Exchange, runtime: Runtime, op: ObjectOperation, state: AffinityState, method: string, resolve: (deployment: string) => void): void {
  if (method === 'GET') state.outcome = 'list';
  const preferred = runtime.config.affinity.defaultEndpoint;
  if (ex.deployment) {
    const pool = op.collection !== 'responses' && preferred !== undefined ? poolOn(runtime, ex.deployment, preferred) : undefined;
    if (pool) {
      state.endpoint = preferred;
      state.pool = pool;
    }
    return;
  }
  const named = ex.req.headers[DEPLOYMENT_HEADER];
  if (typeof named === 'string' && named !== '') {
    if (!isDeploymentName(named)) throw new GatewayError('invalid_deployment_name', `The ${DEPLOYMENT_HEADER} header is not a valid deployment name.`, { param: DEPLOYMENT_HEADER });
    resolve(named);
    return;
  }
  const reach = reachable(runtime, ex.consumer!);
  const endpoint = preferred !== undefined && reach.has(preferred) ? preferred : reach.size === 1 ? reach.values().next().value : undefined;
  if (endpoint === undefined) {
    throw new GatewayError(
      'endpoint_required',
      `This request names no deployment, so the gateway cannot tell which endpoint should hold the object: send the header ${DEPLOYMENT_HEADER}: <deployment>, or configure affinity.defaultEndpoint.`,
    );
  }
  state.endpoint = endpoint;
  state.pool = endpointPool(runtime, endpoint);
}

/** Objects in use stay known: an entry older than a tenth of its time to live is written again (off the request path). */
function refresh(ex: Exchange, runtime: Runtime, refs: readonly ObjectRef[], homes: readonly ObjectHome[], now: number): void {
  const ttlMs = runtime.config.affinity.ttlSeconds * 1000;
  for (let i = 0; i < refs.length; i++) {
    if (now - homes[i].at > ttlMs / 10) void rememberHome(runtime.router.store, refs[i].id, homes[i], ttlMs, now).catch(() => {});
  }
}

function notFound(ref: ObjectRef, why: string): GatewayError {
  if (ref.param === 'path') return new GatewayError('object_not_found', `No object "${ref.id.slice(0, 300)}": it ${why}.`);
  return new GatewayError('unknown_object_reference', `The "${ref.param}" "${ref.id.slice(0, 300)}" ${why}.`, { param: ref.param });
}

function count(metrics: Metrics, ex: Exchange, endpoint: string | undefined, result: string, deployment = ex.deployment?.name): void {
  countAffinity(metrics, result, deployment, endpoint);
}
