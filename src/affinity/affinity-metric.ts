// The counter of affinity decisions: aoai_gateway_affinity_total by
// deployment, endpoint and result (pinned, miss, foreign, unavailable,
// stored, store_failed). Labels come from the config and that fixed set:
// never an object id.
import type { Metrics } from '../telemetry/metrics.ts';

export const AFFINITY_METRIC = 'aoai_gateway_affinity_total';

export function countAffinity(metrics: Metrics, result: string, deployment: string | undefined, endpoint: string | undefined, n = 1): void {
  metrics.add(AFFINITY_METRIC, n, { deployment: deployment ?? '', endpoint: endpoint ?? '', result });
}
