// What GET /admin/api/state (and the dashboard, and the target-state gauges)
// shows: every deployment and its targets as routing sees them now.
import type { DiscoveryReport } from '../discovery/index.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { CredentialStatus } from '../upstream/credentials.ts';

export interface TargetReport {
  id: string;
  endpoint: string;
  /** the deployment's name on its endpoint */
  deployment: string;
  priority: number;
  weight: number;
  state: string;
  /** why it is out, when routing knows more than the state's name (credential-failed: the token fetch's error) */
  reason: string | null;
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
  /** per endpoint with discovery: its last list, last success and last error */
  discovery: DiscoveryReport[];
  deployments: { name: string; strategy: string; queue: number; targets: TargetReport[] }[];
  /** each endpoint with an Entra credential: its token's state (never the token) */
  credentials: ({ endpoint: string } & CredentialStatus)[];
  /** under `serve --workers`: how many answered */
  workers?: number;
}

export async function describeState(
  runtime: Runtime,
  extra: { inFlight: number; store: GatewayState['stateStore']; ledger: GatewayState['ledger']; discovery?: DiscoveryReport[] },
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
          reason: state === 'credential-failed' ? (s.target.endpoint.credential.status?.().reason ?? null) : null,
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
  const credentials: GatewayState['credentials'] = [];
  for (const e of runtime.endpoints.values()) {
    const status = e.credential.status?.();
    if (status) credentials.push({ endpoint: e.name, ...status });
  }
  return { time: now, inFlight: extra.inFlight, stateStore: extra.store, ledger: extra.ledger, discovery: extra.discovery ?? [], deployments, credentials };
}
