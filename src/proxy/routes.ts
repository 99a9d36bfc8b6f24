// The data-plane routes of DESIGN.md §3. The path is checked here, before
// anything else reads it: an operation path that could climb out of its
// prefix upstream (`..`, encoded dots or slashes, backslashes) is refused.
import { NAME } from '../config/schema.ts';

export type Route =
  /** `/openai/deployments/{deployment}/{operation}`: the deployment is in the path */
  | { readonly kind: 'deployment'; readonly deployment: string; readonly operation: string; readonly query: string }
  /**
   * `/openai/v1/{operation}`, `/v1/{operation}`, `/openai/responses…` and the
   * stored objects' `/openai/{files,batches,assistants,threads,vector_stores}…`:
   * the deployment is the body's `model`, or where the object named lives (src/affinity)
   */
  | { readonly kind: 'body-model'; readonly operation: string; readonly azurePath: string; readonly query: string }
  | { readonly kind: 'models'; readonly id: string | undefined }
  | { readonly kind: 'healthz' }
  | { readonly kind: 'readyz' };

export type RouteResult = Route | { readonly kind: 'invalid'; readonly reason: string } | { readonly kind: 'none' };

const DEPLOYMENTS = '/openai/deployments/';
const V1 = ['/openai/v1/', '/v1/'] as const;
/** Azure's older (api-version) routes that name no deployment in the path. */
const BODY_MODEL_ROOTS = /^\/openai\/(?:responses|files|batches|assistants|threads|vector_stores)(?:\/|$)/;

export function matchRoute(rawUrl: string): RouteResult {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q);

  if (path.startsWith(DEPLOYMENTS)) {
    const rest = path.slice(DEPLOYMENTS.length);
    const slash = rest.indexOf('/');
    const deployment = slash === -1 ? rest : rest.slice(0, slash);
    const operation = slash === -1 ? '' : rest.slice(slash + 1);
    if (!isDeploymentName(deployment)) return { kind: 'invalid', reason: 'invalid deployment name' };
    const bad = unsafePath(operation);
    if (bad) return { kind: 'invalid', reason: bad };
    if (operation === '') return { kind: 'none' };
    return { kind: 'deployment', deployment, operation, query };
  }
  for (const prefix of V1) {
    if (path.startsWith(prefix)) {
      const operation = path.slice(prefix.length);
      const bad = unsafePath(operation);
      if (bad) return { kind: 'invalid', reason: bad };
      if (operation === 'models' || operation.startsWith('models/')) {
        const id = operation.length > 7 ? decodeURIComponent(operation.slice(7)) : undefined;
        return { kind: 'models', id };
      }
      if (operation === '') return { kind: 'none' };
      return { kind: 'body-model', operation, azurePath: `/openai/v1/${operation}`, query };
    }
  }
  if (BODY_MODEL_ROOTS.test(path)) {
    const operation = path.slice('/openai/'.length);
    const bad = unsafePath(operation);
    if (bad) return { kind: 'invalid', reason: bad };
    return { kind: 'body-model', operation, azurePath: path, query };
  }
  if (path === '/healthz') return { kind: 'healthz' };
  if (path === '/readyz') return { kind: 'readyz' };
  return { kind: 'none' };
}

/** Whether a client-given deployment name can be looked up as is (no `..`, no encoding). */
export function isDeploymentName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

/** Why an operation path is unsafe to append to an upstream prefix, or undefined. */
function unsafePath(op: string): string | undefined {
  if (op === '') return undefined;
  if (/%(2e|2f|5c|00)/i.test(op)) return 'encoded dots, slashes and NULs are not allowed in the path';
  if (op.includes('\\')) return 'backslashes are not allowed in the path';
  for (const seg of op.split('/')) {
    if (seg === '.' || seg === '..') return 'dot segments are not allowed in the path';
    if (seg === '' ) return 'empty path segments are not allowed';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(op)) return 'control characters are not allowed in the path';
  return undefined;
}
