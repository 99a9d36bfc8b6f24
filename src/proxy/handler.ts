// The data-plane pipeline: route → authenticate → read body → resolve the
// deployment → forward → log. Each step either fills the Exchange or throws a
// GatewayError, which becomes an OpenAI-shaped answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mayUse, presentedKey } from '../auth/consumer-keys.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import { ClientGoneError, Exchange, TotalTimeoutError } from './exchange.ts';
import { GatewayError, sendError } from './errors.ts';
import { forward } from './forward.ts';
import { JsonShapeError, scanJsonFields, stringField } from './json-fields.ts';
import { findFormField, multipartBoundary } from './multipart-fields.ts';
import { readBody } from './request-body.ts';
import { isDeploymentName, matchRoute, type Route } from './routes.ts';

export interface HandlerDeps {
  /** the config snapshot a new request starts on */
  runtime(): Runtime;
  /** false while starting or shutting down: /readyz answers 503 */
  ready(): boolean;
  accessLog: AccessLog;
  /** called when an exchange starts and when it has closed, for graceful shutdown */
  track(delta: 1 | -1): void;
}

export function createRequestHandler(deps: HandlerDeps) {
  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const ex = new Exchange(req, res);
    const runtime = deps.runtime();
    deps.track(1);
    const timer = setTimeout(
      () => ex.abort(new TotalTimeoutError(runtime.config.resilience.timeouts.totalMs)),
      runtime.config.resilience.timeouts.totalMs,
    );
    timer.unref();
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) {
        if (ex.status === 0) ex.status = 499;
        ex.abort(new ClientGoneError());
      }
      deps.accessLog.write(accessRecord(ex));
      deps.track(-1);
    });
    handle(ex, runtime, deps).catch((err: unknown) => fail(ex, err));
  };
}

async function handle(ex: Exchange, runtime: Runtime, deps: HandlerDeps): Promise<void> {
  const { req, res } = ex;
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
      return deps.ready() ? sendJson(ex, 200, { status: 'ready' }) : sendJson(ex, 503, { status: 'not ready' });
  }
  const route: Route = matched;
  ex.route = route;

  const key = presentedKey(req.headers);
  if (key === undefined) {
    throw new GatewayError('missing_api_key', 'No API key: send it as the api-key header or as Authorization: Bearer <key>.');
  }
  const consumer = runtime.keys.authenticate(key);
  if (!consumer) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
  ex.consumer = consumer;

  if (route.kind === 'models') return listModels(ex, runtime, route.id);

  if (route.kind === 'deployment') resolveDeployment(ex, runtime, route.deployment);

  ex.body = await readBody(req, runtime.config.listen.maxBodyBytes);
  readBodyFields(ex);

  if (route.kind === 'body-model') {
    const model = ex.json
      ? stringField(ex.body, ex.json, 'model')
      : ex.boundary
        ? formFieldValue(ex)
        : undefined;
    if (model === undefined || model === '') {
      throw new GatewayError('model_required', 'This route needs a "model" field naming a deployment.', { param: 'model' });
    }
    if (!isDeploymentName(model)) {
      throw new GatewayError('invalid_deployment_name', 'The "model" field is not a valid deployment name.', { param: 'model' });
    }
    resolveDeployment(ex, runtime, model);
  }

  if (consumer.requireUser && !ex.user) {
    throw new GatewayError('user_required', 'This key requires a "user" field in the request body.', { param: 'user' });
  }
  await forward(ex, runtime);
}

function resolveDeployment(ex: Exchange, runtime: Runtime, name: string): void {
  const deployment = runtime.deployments.get(name);
  if (!deployment) throw new GatewayError('deployment_not_found', `The deployment "${name}" does not exist.`);
  if (!mayUse(ex.consumer!, name)) {
    throw new GatewayError('deployment_not_allowed', `This key may not use the deployment "${name}".`);
  }
  ex.deployment = deployment;
}

function readBodyFields(ex: Exchange): void {
  const contentType = ex.req.headers['content-type'];
  if (ex.body.length === 0) return;
  if (contentType === undefined || contentType.includes('json')) {
    try {
      ex.json = scanJsonFields(ex.body);
    } catch (err) {
      if (!(err instanceof JsonShapeError)) throw err;
      // A deployment route forwards what it got: upstream judges the body.
      if (ex.route?.kind === 'body-model') {
        throw new GatewayError('invalid_body', `The request body is not a JSON object: ${err.message}.`);
      }
      return;
    }
    const stream = ex.json.fields.get('stream');
    ex.stream = stream !== undefined && ex.body[stream.start] === 0x74; /* true */
    const user = stringField(ex.body, ex.json, 'user');
    if (user) ex.user = user;
    return;
  }
  ex.boundary = multipartBoundary(contentType);
}

function formFieldValue(ex: Exchange): string | undefined {
  const span = findFormField(ex.body, ex.boundary!, 'model');
  return span ? ex.body.toString('utf8', span.start, span.end).trim() : undefined;
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

function fail(ex: Exchange, err: unknown): void {
  if (ex.res.destroyed) return;
  const gwErr =
    err instanceof GatewayError ? err : new GatewayError('internal_error', 'The gateway failed to handle the request.');
  if (!(err instanceof GatewayError)) ex.error = `internal: ${(err as Error)?.message ?? String(err)}`;
  else ex.error ??= gwErr.code;
  if (ex.res.headersSent) {
    ex.res.destroy();
    return;
  }
  ex.status = gwErr.status;
  sendError(ex.res, gwErr, ex.gatewayHeaders());
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}

function accessRecord(ex: Exchange) {
  const now = performance.now();
  return {
    requestId: ex.requestId,
    method: ex.req.method ?? '',
    path: pathOf(ex.req.url).slice(0, 256),
    consumer: ex.consumer?.name,
    deployment: ex.deployment?.name,
    endpoint: ex.target?.endpoint.name,
    upstreamDeployment: ex.target?.upstreamName,
    status: ex.status,
    attempts: ex.attempts,
    latencyMs: round(now - ex.started),
    ttfbMs: ex.ttfbMs === undefined ? undefined : round(ex.ttfbMs),
    stream: ex.stream,
    promptTokens: ex.usage?.promptTokens,
    completionTokens: ex.usage?.completionTokens,
    totalTokens: ex.usage?.totalTokens,
    model: ex.model,
    error: ex.error,
    traceId: ex.trace.traceId,
  };
}

const round = (ms: number) => Math.round(ms * 100) / 100;
