// The data-plane pipeline: route → authenticate → read body → resolve the
// deployment → consumer limits → forward; then log, settle and record. Each
// step either fills the Exchange or throws a GatewayError, which becomes an
// OpenAI-shaped answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forwardStored, routeStoredObjects } from '../affinity/index.ts';
import { mayUse, presentedKey } from '../auth/consumer-keys.ts';
import { clientAddress } from '../auth/networks.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { ConsumerLimiter } from '../limits/consumer-limiter.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { StoreUnavailableError } from '../state/fallback-store.ts';
import type { Activity } from '../admin/activity.ts';
import type { ResponseCache } from '../cache/index.ts';
import type { ContentSafetyGuard } from '../safety/index.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import { endRequestSpan, startRequestSpan } from '../telemetry/spans.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { GatewayError, sendError } from './errors.ts';
import { accessRecord, auditRecord, pathOf, usageRecord } from './exchange-records.ts';
import { ClientGoneError, Exchange, TotalTimeoutError } from './exchange.ts';
import { forward } from './forward.ts';
import { entraConsumer } from './entra-auth.ts';
import { readBody } from './request-body.ts';
import { bodyModel, readBodyFields, requestStreamUsage } from './request-fields.ts';
import { isDeploymentName, matchRoute, type Route } from './routes.ts';

export interface HandlerDeps {
  /** the config snapshot a new request starts on */
  runtime(): Runtime;
  telemetry: Telemetry;
  activity: Activity;
  /** false while shutting down or while a fail-closed state store is away: /readyz answers 503 */
  ready(): Promise<boolean>;
  accessLog: AccessLog;
  limiter: ConsumerLimiter;
  cache: ResponseCache;
  /** checks prompts under a contentSafety policy before they are forwarded */
  contentSafety: ContentSafetyGuard;
  ledger: Ledger | undefined;
  /** called when an exchange starts and when it has closed, for graceful shutdown */
  track(delta: 1 | -1): void;
}

export function createRequestHandler(deps: HandlerDeps) {
  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const ex = new Exchange(req, res);
    const runtime = deps.runtime();
    ex.clientIp = clientAddress(req.socket.remoteAddress, req.headers, runtime.trustedProxies);
    deps.track(1);
    const tracer = deps.telemetry.tracer;
    if (tracer) {
      const t = header(req.headers.traceparent);
      const started = startRequestSpan(tracer, req.method ?? 'GET', pathOf(req.url), t);
      ex.span = started.span;
      ex.trace = started.trace;
    }
    const { totalMs } = runtime.config.resilience.timeouts;
    const timer = setTimeout(() => ex.abort(new TotalTimeoutError(totalMs)), totalMs);
    timer.unref();
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) {
        if (ex.status === 0) ex.status = 499;
        ex.abort(new ClientGoneError());
      }
      finished(ex, deps);
      deps.track(-1);
    });
    handle(ex, runtime, deps).catch((err: unknown) => fail(ex, err, deps));
  };
}

async function handle(ex: Exchange, runtime: Runtime, deps: HandlerDeps): Promise<void> {
  const { req } = ex;
  const matched = matchRoute(req.url ?? '/');
  switch (matched.kind) {
    case 'none':
      throw new GatewayError('route_not_found', `No route for ${req.method} ${pathOf(req.url)}.`);
    case 'invalid':
      throw new GatewayError(
        matched.reason === 'invalid deployment name' ? 'invalid_deployment_name' : 'invalid_path',
        `Invalid request path: ${matched.reason}.`,
      );
    case 'healthz':
      return sendJson(ex, 200, { status: 'ok' });
    case 'readyz':
      return (await deps.ready()) ? sendJson(ex, 200, { status: 'ready' }) : sendJson(ex, 503, { status: 'not ready' });
  }
  const route: Route = matched;
  ex.route = route;

  const key = presentedKey(req.headers);
  if (key === undefined) {
    throw new GatewayError('missing_api_key', 'No API key: send it as the api-key header or as Authorization: Bearer <key>.');
  }
  // A key first (a hash and a lookup); an Entra ID token only when it is none.
  const consumer = runtime.keys.authenticate(key) ?? (await entraConsumer(ex, runtime, key));
  if (!consumer) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
  ex.consumer = consumer;
  if (consumer.networks && !consumer.networks.has(ex.clientIp)) {
    throw new GatewayError('network_not_allowed', 'This key may not be used from this network.');
  }

  if (route.kind === 'models') return listModels(ex, runtime, route.id);

  if (route.kind === 'deployment') resolveDeployment(ex, runtime, route.deployment);

  ex.body = await readBody(req, runtime.config.listen.maxBodyBytes);
  readBodyFields(ex);

  // Files, batches, stored Responses…: where the object lives decides (src/affinity).
  const stored = route.kind === 'body-model' && (await routeStoredObjects(ex, runtime, deps.telemetry.metrics, (name) => resolveDeployment(ex, runtime, name)));
  if (route.kind === 'body-model' && !stored) {
    const model = bodyModel(ex);
    if (model === undefined || model === '') {
      throw new GatewayError('model_required', 'This route needs a "model" field naming a deployment.', { param: 'model' });
    }
    if (!isDeploymentName(model)) {
      throw new GatewayError('invalid_deployment_name', 'The "model" field is not a valid deployment name.', { param: 'model' });
    }
    resolveDeployment(ex, runtime, model);
  }

  if (consumer.requireUser && !ex.user && ex.affinity?.generates !== false) {
    throw new GatewayError('user_required', 'This key requires a "user" field in the request body.', { param: 'user' });
  }
  await admit(ex, deps.limiter);
  // After admission (limits apply), before the cache: a policy holds for cached answers too.
  const screening = deps.contentSafety.check(ex, runtime);
  if (screening) await screening;
  // After admission (limits apply to hits too), before the body is changed for upstream.
  const cache = ex.deployment?.cache; // none for a stored object's call that names no deployment
  if (cache && (await deps.cache.answer(ex, cache, runtime.config.cache))) return;
  requestStreamUsage(ex);
  await (ex.affinity ? forwardStored(ex, runtime, deps.telemetry) : forward(ex, runtime, deps.telemetry));
  if (ex.cache?.storing) deps.cache.keep(ex, runtime.config.cache);
}

/** Holds the consumer to its limits: 429 with the exact time to come back, or 403 when its quota is spent. */
async function admit(ex: Exchange, limiter: ConsumerLimiter): Promise<void> {
  const now = Date.now();
  const limits = limiter.limitsFor(
    {
      consumer: ex.consumer!,
      user: ex.user,
      clientIp: ex.clientIp,
      header: (name) => {
        const v = ex.req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      },
    },
    now,
  );
  if (!limits) return;
  const admitted = await limiter.admit(limits, ex.estimatedTokens(ex.deployment?.defaultMaxTokens ?? 1000), now);
  ex.admitted = admitted;
  const r = admitted.result;
  if (r.ok) return;
  switch (r.reason) {
    case 'quota':
      throw new GatewayError('quota_exceeded', `The token quota of this key (${limits.quota?.limit} tokens, ${limits.quota?.period}) is spent.`);
    case 'concurrent':
      throw new GatewayError('concurrency_limit_exceeded', `Too many requests at once for this key (limit ${limits.concurrent}).`, { retryAfterMs: 1000 });
    default: {
      const what = r.reason === 'tokens' ? `${limits.tpm} tokens per minute` : `${limits.rpm} requests per minute`;
      throw new GatewayError('rate_limit_exceeded', `Rate limit of ${what} reached for this key; retry after ${Math.ceil((r.retryAfterMs ?? 0) / 1000)} s.`, {
        retryAfterMs: r.retryAfterMs,
      });
    }
  }
}

function resolveDeployment(ex: Exchange, runtime: Runtime, name: string): void {
  const deployment = runtime.deployments.get(name);
  if (!deployment) throw new GatewayError('deployment_not_found', `The deployment "${name}" does not exist.`);
  ex.deployment = deployment;
  ex.span?.updateName(`${ex.req.method} ${name}`);
  if (!mayUse(ex.consumer!, name)) {
    throw new GatewayError('deployment_not_allowed', `This key may not use the deployment "${name}".`);
  }
}

function listModels(ex: Exchange, runtime: Runtime, id: string | undefined): void {
  const consumer = ex.consumer!;
  const names = [...runtime.deployments.keys()].filter((n) => mayUse(consumer, n));
  const model = (n: string) => ({ id: n, object: 'model', created: 0, owned_by: 'aoai-gateway' });
  if (id === undefined) return sendJson(ex, 200, { object: 'list', data: names.map(model) });
  if (!names.includes(id)) throw new GatewayError('deployment_not_found', `The deployment "${id}" does not exist.`);
  sendJson(ex, 200, model(id));
}

function sendJson(ex: Exchange, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  ex.status = status;
  ex.res.writeHead(status, {
    ...ex.gatewayHeaders(),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  });
  ex.res.end(body);
}

function fail(ex: Exchange, err: unknown, deps: HandlerDeps): void {
  let gwErr: GatewayError;
  if (err instanceof GatewayError) gwErr = err;
  else if (err instanceof StoreUnavailableError) gwErr = new GatewayError('state_store_unavailable', 'The gateway cannot reach its shared state; retry shortly.', { retryAfterMs: 1000 });
  else {
    gwErr = new GatewayError('internal_error', 'The gateway failed to handle the request.');
    ex.error = `internal: ${(err as Error)?.message ?? String(err)}`;
  }
  ex.error ??= gwErr.code;
  const audit = auditRecord(ex, gwErr.code, { retryAfterMs: gwErr.retryAfterMs, reason: ex.admitted?.result.reason });
  if (audit) {
    deps.ledger?.audit(audit);
    deps.telemetry.metrics.refusal(ex.consumer?.name, audit.kind);
    deps.activity.refusal({ time: audit.time, consumer: audit.consumer, deployment: ex.deployment?.name, status: gwErr.status, reason: audit.kind });
  }
  if (ex.res.destroyed) return;
  if (ex.res.headersSent) {
    ex.res.destroy();
    return;
  }
  ex.status = gwErr.status;
  sendError(ex.res, gwErr, ex.gatewayHeaders());
}

/** The exchange closed: settle its limits, log it, record it, count it. */
function finished(ex: Exchange, deps: HandlerDeps): void {
  const now = performance.now();
  const charged = ex.chargedTokens();
  if (ex.admitted) deps.limiter.settle(ex.admitted, charged, Date.now());
  deps.accessLog.write(accessRecord(ex, now));
  const usage = usageRecord(ex, now);
  if (usage) deps.ledger?.usage(usage);
  if (ex.route?.kind === 'healthz' || ex.route?.kind === 'readyz') return;
  const seconds = (now - ex.started) / 1000;
  const endpoint = ex.target?.endpoint.name;
  deps.telemetry.metrics.request({
    consumer: ex.consumer?.name,
    deployment: ex.deployment?.name,
    endpoint,
    status: ex.status,
    seconds,
    ttfbSeconds: ex.ttfbMs === undefined ? undefined : ex.ttfbMs / 1000,
    operation: operationName(ex.route),
    inputTokens: ex.usage?.promptTokens,
    outputTokens: ex.usage?.completionTokens,
  });
  deps.activity.record(Date.now(), ex.consumer?.name, ex.status, charged);
  if (ex.span) {
    endRequestSpan(ex.span, ex.status, {
      'aoai.consumer': ex.consumer?.name,
      'gen_ai.request.model': ex.deployment?.name,
      'gen_ai.response.model': ex.model,
      'gen_ai.usage.input_tokens': ex.usage?.promptTokens,
      'gen_ai.usage.output_tokens': ex.usage?.completionTokens,
      'aoai.attempts': ex.attempts,
      'aoai.endpoint': endpoint,
      // the code only: the message after it (internal, credential) is for the log
      'error.type': ex.error?.split(':', 1)[0],
    });
  }
}

/** The GenAI operation name of a route, from a fixed set (metric labels stay bounded). */
function operationName(route: Route | undefined): string | undefined {
  if (!route || !('operation' in route)) return undefined;
  const op = route.operation;
  if (op.endsWith('chat/completions')) return 'chat';
  if (op === 'completions') return 'text_completion';
  if (op === 'embeddings') return 'embeddings';
  if (op === 'responses' || op.startsWith('responses/')) return 'responses';
  if (op.startsWith('images/')) return 'image_generation';
  if (op.startsWith('audio/')) return 'audio';
  return 'other';
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
