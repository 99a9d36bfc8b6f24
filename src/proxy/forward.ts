// Sends the exchange to the deployment's targets until one answers: each
// attempt on a different available target, retrying on `retryOn` before any
// byte reached the client, waiting in line (queue.maxWaitMs) when every
// target is out, and otherwise telling the client when to come back.
import type { ResilienceConfig } from '../config/schema.ts';
import type { Choice, None } from '../routing/router.ts';
import type { AttemptResult } from '../routing/target-health.ts';
import type { DeploymentPool, Target } from '../routing/target.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { endAttemptSpan, startAttemptSpan } from '../telemetry/spans.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { describe, relayHeld, runAttempt, type AttemptOutcome, type HeldAnswer } from './attempt.ts';
import { GatewayError } from './errors.ts';
import { ClientGoneError, TotalTimeoutError, type Exchange } from './exchange.ts';
import { upstreamBody, upstreamHeaders, upstreamPath } from './upstream-request.ts';
import { CredentialUnavailableError, describeFailure } from '../upstream/entra-credential.ts';

/** What the last attempt left, when no further attempt is made. */
type Last =
  | { readonly kind: 'held'; readonly target: Target; readonly answer: HeldAnswer }
  | { readonly kind: 'failed'; readonly target: Target; readonly outcome: Extract<AttemptOutcome, { kind: 'failed' }> }
  | undefined;

/** `pool`: the targets to try; the deployment's, unless affinity keeps the request on one endpoint. */
export async function forward(ex: Exchange, runtime: Runtime, telemetry: Telemetry, pool: DeploymentPool = ex.deployment!): Promise<void> {
  const { resilience } = runtime.config;
  const { router } = runtime;
  const retry = retryPolicy(resilience);
  const cost = pool.paced ? ex.estimatedTokens(pool.defaultMaxTokens) : 0;
  const tried = new Set<Target>();
  const queueDeadline = Date.now() + resilience.queue.maxWaitMs;
  let last: Last;

  while (ex.attempts < resilience.maxAttempts) {
    if (ex.abortReason) break;
    const now = Date.now();
    // While others wait in line, a newcomer queues behind them.
    let choice: Choice = router.queue(pool).length > 0 ? await router.outlook(pool, cost, now) : await router.pick(pool, tried, cost, now);
    if (!choice.target && resilience.queue.maxWaitMs > 0) {
      // Wait in line for the first target back; targets tried before may serve again after it.
      const waitStarted = Date.now();
      const waiting = router.queue(pool).wait(
        (t) => router.pick(pool, new Set(), cost, t),
        (c) => c.target && router.finish(c.target, { kind: 'abandoned' }),
        choice,
        queueDeadline,
      );
      ex.onAbort(() => waiting.abort());
      choice = await waiting.choice;
      ex.onAbort(undefined);
      telemetry.metrics.queueWait(pool.name, (Date.now() - waitStarted) / 1000);
      if (ex.abortReason) {
        if (choice.target) router.finish(choice.target, { kind: 'abandoned' });
        break;
      }
      if (choice.target) tried.clear();
    }
    if (!choice.target) {
      // Throttled all round: say when to come back. Otherwise report what the last attempt got.
      if (last === undefined || (last.kind === 'held' && last.answer.status === 429)) {
        if (last) ex.target = last.target;
        return refuse(ex, pool.name, choice, resilience);
      }
      break;
    }

    const { target } = choice;
    tried.add(target);
    ex.attempts++;
    const retryReason = last ? lastOutcome(last) : undefined;
    const span = ex.span && telemetry.tracer
      ? startAttemptSpan(telemetry.tracer, ex.span, { target: target.id, endpoint: target.endpoint.name, deployment: pool.name, attempt: ex.attempts, retryReason })
      : undefined;
    ex.attemptTraceparent = span?.traceparent;
    let outcome: AttemptOutcome;
    try {
      outcome = await send(ex, target, retry.hold, resilience);
    } catch (err) {
      router.finish(target, { kind: 'abandoned' });
      if (span) endAttemptSpan(span.span, 'credential');
      // No token for this endpoint (routing now keeps it out): the next target, at once; nothing was sent.
      if (err instanceof CredentialUnavailableError) {
        ex.attempts--;
        continue;
      }
      throw err;
    }
    router.finish(target, healthResult(outcome));
    if (outcome.kind === 'relayed' && ex.usage) router.health(target).countTokens(ex.usage.totalTokens, Date.now());
    const result = outcomeName(outcome);
    telemetry.metrics.attempt(pool.name, target.endpoint.name, target.id, result, retryReason !== undefined);
    if (span) endAttemptSpan(span.span, result);

    switch (outcome.kind) {
      case 'relayed':
      case 'aborted':
        return;
      case 'held':
        last = { kind: 'held', target, answer: outcome };
        continue;
      case 'failed':
        last = { kind: 'failed', target, outcome };
        if (!retry.on.has(outcome.failure)) break;
        continue;
    }
    break;
  }
  finish(ex, pool.name, last, await router.outlook(pool, cost, Date.now()), resilience);
}

/** Out of attempts (or stopped): the last answer, or what went wrong. */
function finish(ex: Exchange, name: string, last: Last, outlook: None, resilience: ResilienceConfig): void {
  const reason = ex.abortReason;
  if (reason instanceof ClientGoneError) return;
  if (last) ex.target = last.target;
  if (reason instanceof TotalTimeoutError) throw new GatewayError('upstream_timeout', reason.message);
  if (last?.kind === 'failed') {
    const { failure, error } = last.outcome;
    if (failure === 'timeout') {
      throw new GatewayError('upstream_timeout', `The upstream ${last.target.id} did not answer in time (${describe(error)}).`);
    }
    throw new GatewayError('upstream_unreachable', `The upstream ${last.target.id} could not be reached (${describe(error)}).`);
  }
  if (last?.kind === 'held' && last.answer.status !== 429) {
    if (last.answer.body) return relayHeld(ex, last.target, last.answer);
    throw new GatewayError('upstream_error', `The upstream ${last.target.id} answered ${last.answer.status}.`);
  }
  // Every attempt answered 429: say when the first target is back.
  refuse(ex, name, { ...outlook, throttled: true }, resilience);
}

/** No target to send to: 429 when they are throttled, 503 when broken or drained, both with the time to the first one back. */
function refuse(ex: Exchange, name: string, none: None, resilience: ResilienceConfig): void {
  const wait = none.backAt === Infinity ? resilience.cooldown.defaultSeconds * 1000 : Math.max(0, none.backAt - Date.now());
  if (none.throttled) {
    throw new GatewayError('all_targets_throttled', `Every target of "${name}" is rate-limited; retry after ${Math.ceil(wait / 1000)} s.`, {
      retryAfterMs: wait,
    });
  }
  if (none.credential) {
    throw new GatewayError('upstream_credential_unavailable', `No target of "${name}" is available: the gateway has no Entra ID token for their endpoints; retry after ${Math.ceil(wait / 1000)} s.`, {
      retryAfterMs: wait,
    });
  }
  throw new GatewayError('no_target_available', `No target of "${name}" is available (circuits open or drained).`, { retryAfterMs: wait });
}

async function send(ex: Exchange, target: Target, hold: (status: number) => boolean, resilience: ResilienceConfig): Promise<AttemptOutcome> {
  const body = upstreamBody(ex, target);
  const headers = upstreamHeaders(ex, body.length);
  await applyCredential(target, headers);
  const { timeouts } = resilience;
  return runAttempt(
    ex,
    target,
    { path: upstreamPath(ex, target), headers, body: body.length > 0 ? body : null },
    { hold, holdJson: ex.admitted !== undefined || ex.cache?.storing === true || ex.answerTap !== undefined, firstByteMs: timeouts.firstByteMs, idleStreamMs: timeouts.idleStreamMs },
  );
}

/** What an attempt came to, for metrics and spans: its status, connect-error, timeout or aborted. */
function outcomeName(o: AttemptOutcome): string {
  switch (o.kind) {
    case 'relayed':
    case 'held':
      return String(o.status);
    case 'failed':
      return o.failure;
    case 'aborted':
      return 'aborted';
  }
}

/** Why the next attempt is a retry. */
function lastOutcome(last: NonNullable<Last>): string {
  return last.kind === 'held' ? String(last.answer.status) : last.outcome.failure;
}

function healthResult(o: AttemptOutcome): AttemptResult {
  switch (o.kind) {
    case 'relayed':
      return o.broken ? { kind: 'broken' } : { kind: 'response', status: o.status, headers: o.headers, ttfbMs: o.ttfbMs };
    case 'held':
      return { kind: 'response', status: o.status, headers: o.headers, ttfbMs: o.ttfbMs };
    case 'failed':
      return { kind: 'failure' };
    case 'aborted':
      return { kind: 'abandoned' };
  }
}

interface RetryPolicy {
  readonly hold: (status: number) => boolean;
  readonly on: ReadonlySet<string>;
}

const policies = new WeakMap<ResilienceConfig, RetryPolicy>();

function retryPolicy(r: ResilienceConfig): RetryPolicy {
  let p = policies.get(r);
  if (!p) {
    const statuses = new Set(r.retryOn.filter((x): x is number => typeof x === 'number'));
    p = { hold: (s) => statuses.has(s), on: new Set(r.retryOn.map(String)) };
    policies.set(r, p);
  }
  return p;
}

async function applyCredential(target: Target, headers: Record<string, string | string[]>): Promise<void> {
  const pending = target.endpoint.credential.apply(headers as Record<string, string>);
  if (!pending) return;
  try {
    await pending;
  } catch (err) {
    // The identity library's message goes to the admin state and the log only: it may describe the host's identity setup.
    throw err instanceof CredentialUnavailableError ? err : new CredentialUnavailableError(describeFailure(err));
  }
}
