// Sends the exchange to a target of its deployment and relays the answer.
import { pickPriority } from '../routing/priority.ts';
import type { Target } from '../routing/target.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { describe, runAttempt } from './attempt.ts';
import { GatewayError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { upstreamBody, upstreamHeaders, upstreamPath } from './upstream-request.ts';

const NEVER_HOLD = () => false;

export async function forward(ex: Exchange, runtime: Runtime): Promise<void> {
  const pool = ex.deployment!;
  const target = pickPriority(pool.targets);
  if (!target) throw new GatewayError('no_target_available', `The deployment "${pool.name}" has no target.`);
  const { timeouts } = runtime.config.resilience;

  ex.attempts++;
  const body = upstreamBody(ex, target);
  const headers = upstreamHeaders(ex, body.length);
  await applyCredential(ex, target, headers);
  const outcome = await runAttempt(
    ex,
    target,
    { path: upstreamPath(ex, target), headers, body: body.length > 0 ? body : null },
    { hold: NEVER_HOLD, firstByteMs: timeouts.firstByteMs, idleStreamMs: timeouts.idleStreamMs },
  );
  if (outcome.kind === 'failed') {
    ex.target = target;
    if (outcome.failure === 'timeout') {
      throw new GatewayError('upstream_timeout', `The upstream ${target.id} did not answer in time (${describe(outcome.error)}).`);
    }
    throw new GatewayError('upstream_unreachable', `The upstream ${target.id} could not be reached (${describe(outcome.error)}).`);
  }
}

async function applyCredential(ex: Exchange, target: Target, headers: Record<string, string | string[]>): Promise<void> {
  const pending = target.endpoint.credential.apply(headers as Record<string, string>);
  if (!pending) return;
  try {
    await pending;
  } catch (err) {
    ex.target = target;
    // The identity library's message goes to the log only: it may describe the host's identity setup.
    const gwErr = new GatewayError('upstream_unreachable', `The gateway could not get a credential for endpoint "${target.endpoint.name}".`);
    ex.error = `credential: ${(err as Error).message}`;
    throw gwErr;
  }
}
