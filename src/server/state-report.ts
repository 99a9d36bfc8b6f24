// What GET /admin/api/state (and the dashboard, and the target-state gauges)
// shows: every deployment and its targets as routing sees them now.
import type { Runtime } from '../runtime/runtime.ts';

export interface TargetReport {
  id: string;
  endpoint: string;
  /** the deployment's name on its endpoint */
  deployment: string;
  priority: number;
  weight: number;
  state: string;
  /** when it is back (epoch ms); null when available, or drained */
  availableAt: number | null;
  cooldownUntil: number | null;
  circuit: 'closed' | 'open' | 'half-open';
  inFlight: number;
  remainingRequests: number | null;
  remainingTokens: number | null;
  tokensThisMinute: number;
  reservedThisMinute: number | null;
  tpm: number | null;
  rpm: number | null;
  latencyMs: number | null;
}

export interface GatewayState {
  time: number;
  inFlight: number;
  stateStore: { kind: string; up: boolean };
  ledger: { up: boolean; pending: number; dropped: number };
  deployments: { name: string; strategy: string; queue: number; targets: TargetReport[] }[];
}

export async function describeState(
  runtime: Runtime,
  extra: { inFlight: number; store: GatewayState['stateStore']; ledger: GatewayState['ledger'] },
): Promise<GatewayState> {
  const now = Date.now();
  const { router } = runtime;
  const deployments: GatewayState['deployments'] = [];
  for (const pool of runtime.deployments.values()) {
    const statuses = await router.status(pool, 0, now);
    deployments.push({
      name: pool.name,
      strategy: pool.strategy,
      queue: router.queue(pool).length,
      targets: statuses.map((s) => {
        const out = s.at > now;
        const state = out ? s.condition : 'available';
        return {
          id: s.target.id,
          endpoint: s.target.endpoint.name,
          deployment: s.target.upstreamName,
          priority: s.target.priority,
          weight: s.target.weight,
          state,
          availableAt: out && Number.isFinite(s.at) ? Math.round(s.at) : null,
          cooldownUntil: state === 'cooling' ? Math.round(s.at) : null,
          circuit: state === 'circuit-open' ? 'open' : state === 'half-open' ? 'half-open' : 'closed',
          inFlight: s.health.inFlight,
          remainingRequests: s.health.lastRemainingRequests ?? null,
          remainingTokens: s.health.lastRemainingTokens ?? null,
          tokensThisMinute: s.health.tokensLastMinute(now),
          reservedThisMinute: s.target.tpm !== undefined && s.headroom !== undefined ? Math.round(s.target.tpm - s.headroom) : null,
          tpm: s.target.tpm ?? null,
          rpm: s.target.rpm ?? null,
          latencyMs: s.health.latencyMs === undefined ? null : Math.round(s.health.latencyMs * 10) / 10,
        };
      }),
    });
  }
  return { time: now, inFlight: extra.inFlight, stateStore: extra.store, ledger: extra.ledger, deployments };
}
