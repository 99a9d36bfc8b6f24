// The gateway's metrics, as OpenTelemetry instruments: rendered for
// Prometheus on the admin port and exported over OTLP or to Azure Monitor
// when configured. Every label value comes from the config or a fixed set
// (statuses, reasons, states): no request id, no user text.
import type { BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { HotMetrics } from './hot-metrics.ts';
import type { Labels, Metrics } from './metrics.ts';

/** Seconds: from 5 ms to two minutes, for request durations and time to first byte. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** The OpenTelemetry GenAI conventions' buckets for gen_ai.client.token.usage. */
const TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

export interface RequestObservation {
  readonly consumer: string | undefined;
  readonly deployment: string | undefined;
  readonly endpoint: string | undefined;
  readonly status: number;
  readonly seconds: number;
  readonly ttfbSeconds: number | undefined;
  /** chat, text_completion, embeddings… (GenAI operation name) */
  readonly operation: string | undefined;
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
}

/** What the gauges read when a scrape or an export asks for them. */
export interface Snapshot {
  inFlight: number;
  queues: { deployment: string; length: number }[];
  targets: {
    deployment: string;
    target: string;
    endpoint: string;
    upstreamDeployment: string;
    state: string;
    remainingRequests: number | undefined;
    remainingTokens: number | undefined;
  }[];
}

export const TARGET_STATES = ['available', 'cooling', 'circuit-open', 'half-open', 'over-budget', 'passive', 'probe-failed', 'credential-failed', 'drained'] as const;

const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export class GatewayMetrics implements Metrics {
  readonly #meter: Meter;
  readonly #requests;
  readonly #duration;
  readonly #ttfb;
  readonly #tokens;
  readonly #attempts;
  readonly #refusals;
  readonly #cooldowns;
  readonly #queueWait;
  readonly #safetyCheck;
  readonly #contentBlocked;
  readonly #safetyErrors;
  /** counters and gauges other modules name themselves (ledger, state store) */
  readonly #counters = new Map<string, ReturnType<Meter['createCounter']>>();
  readonly #gauges = new Map<string, Map<string, { labels: Labels; value: number }>>();
  #snapshot: (() => Promise<Snapshot>) | undefined;

  constructor(meter: Meter, hot: HotMetrics) {
    this.#meter = meter;
    // What every request updates: aggregated by HotMetrics, not by the SDK (see hot-metrics.ts).
    const where = ['consumer', 'deployment', 'endpoint'];
    this.#requests = hot.counter('aoai_gateway_requests_total', 'Requests answered, by consumer, deployment, endpoint and status', [...where, 'status']);
    this.#duration = hot.histogram('aoai_gateway_request_duration_seconds', 'Time from the request to the last byte of the answer', 's', SECONDS, [...where, 'status_class']);
    this.#ttfb = hot.histogram('aoai_gateway_time_to_first_byte_seconds', 'Time from the request to the first byte of the upstream answer', 's', SECONDS, ['deployment', 'endpoint']);
    this.#tokens = hot.histogram('gen_ai.client.token.usage', 'Tokens per request, input and output (OpenTelemetry GenAI conventions)', '{token}', TOKENS, [
      ...where,
      'gen_ai.system',
      'gen_ai.operation.name',
      'gen_ai.request.model',
      'gen_ai.token.type',
    ]);
    this.#attempts = hot.counter('aoai_gateway_upstream_attempts_total', 'Upstream attempts, by target and outcome (status, connect-error, timeout), and whether it was a retry', [
      'deployment',
      'endpoint',
      'target',
      'outcome',
      'retry',
    ]);
    this.#refusals = meter.createCounter('aoai_gateway_refusals_total', { description: 'Requests the gateway refused, by consumer and reason' });
    this.#cooldowns = meter.createCounter('aoai_gateway_cooldowns_total', { description: 'Cooldowns a 429 put a target into' });
    this.#queueWait = meter.createHistogram('aoai_gateway_queue_wait_seconds', {
      description: 'Time a request waited in line for a target',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS },
    });
    this.#safetyCheck = meter.createHistogram('aoai_gateway_content_safety_check_seconds', {
      description: 'Time the content safety check of a prompt took, by result (passed, blocked, unavailable, failed-open)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
    });
    this.#contentBlocked = meter.createCounter('aoai_gateway_content_blocked_total', {
      description: 'Prompts the content safety check blocked, by consumer, deployment and category (hate, self_harm, sexual, violence, jailbreak, indirect_attack, blocklist, too_long)',
    });
    this.#safetyErrors = meter.createCounter('aoai_gateway_content_safety_errors_total', {
      description: 'Content safety checks the service failed, by reason and what the gateway did (refused, forwarded)',
    });
    this.#observeState();
  }

  /** Where the gauges of in-flight requests, queues and target states read from. */
  observe(snapshot: () => Promise<Snapshot>): void {
    this.#snapshot = snapshot;
  }

  request(o: RequestObservation): void {
    const consumer = o.consumer ?? '';
    const deployment = o.deployment ?? '';
    const endpoint = o.endpoint ?? '';
    this.#requests.add(1, [consumer, deployment, endpoint, String(o.status)]);
    this.#duration.record(o.seconds, [consumer, deployment, endpoint, STATUS_CLASS[Math.floor(o.status / 100)] ?? `${Math.floor(o.status / 100)}xx`]);
    if (o.ttfbSeconds !== undefined) this.#ttfb.record(o.ttfbSeconds, [deployment, endpoint]);
    const operation = o.operation ?? '';
    if (o.inputTokens !== undefined) this.#tokens.record(o.inputTokens, [consumer, deployment, endpoint, 'az.ai.openai', operation, deployment, 'input']);
    if (o.outputTokens !== undefined) this.#tokens.record(o.outputTokens, [consumer, deployment, endpoint, 'az.ai.openai', operation, deployment, 'output']);
  }

  attempt(deployment: string, endpoint: string, target: string, outcome: string, retry: boolean): void {
    this.#attempts.add(1, [deployment, endpoint, target, outcome, retry ? 'true' : 'false']);
  }

  refusal(consumer: string | undefined, reason: string): void {
    this.#refusals.add(1, { consumer: consumer ?? '', reason });
  }

  cooldown(target: string, endpoint: string): void {
    this.#cooldowns.add(1, { target, endpoint });
  }

  queueWait(deployment: string, seconds: number): void {
    this.#queueWait.record(seconds, { deployment });
  }

  contentSafetyCheck(seconds: number, result: string): void {
    this.#safetyCheck.record(seconds, { result });
  }

  contentBlocked(consumer: string, deployment: string, category: string): void {
    this.#contentBlocked.add(1, { consumer, deployment, category });
  }

  contentSafetyError(reason: string, action: 'refused' | 'forwarded'): void {
    this.#safetyErrors.add(1, { reason, action });
  }

  add(name: string, n: number, labels: Labels = {}): void {
    let c = this.#counters.get(name);
    if (!c) this.#counters.set(name, (c = this.#meter.createCounter(name)));
    c.add(n, labels);
  }

  set(name: string, v: number, labels: Labels = {}): void {
    let series = this.#gauges.get(name);
    if (!series) {
      series = new Map();
      this.#gauges.set(name, series);
      const values = series;
      this.#meter.createObservableGauge(name).addCallback((r) => {
        for (const s of values.values()) r.observe(s.value, s.labels);
      });
    }
    series.set(JSON.stringify(labels), { labels, value: v });
  }

  /** A gauge's last value, as the next scrape or export will read it (for tests). */
  value(name: string, labels: Labels = {}): number | undefined {
    return this.#gauges.get(name)?.get(JSON.stringify(labels))?.value;
  }

  #observeState(): void {
    const m = this.#meter;
    const inFlight = m.createObservableGauge('aoai_gateway_requests_in_flight', { description: 'Requests being served now' });
    const queue = m.createObservableGauge('aoai_gateway_queue_length', { description: 'Requests waiting in line for a target, by deployment' });
    const state = m.createObservableGauge('aoai_gateway_target_state', {
      description: 'Each target\'s state: 1 for the state it is in (available, cooling, circuit-open, half-open, over-budget, passive, probe-failed, credential-failed, drained)',
    });
    const remainingRequests = m.createObservableGauge('reverseproxy_azure_openai_remaining_requests', {
      description: 'x-ratelimit-remaining-requests last reported by a deployment',
    });
    const remainingTokens = m.createObservableGauge('reverseproxy_azure_openai_remaining_tokens', {
      description: 'x-ratelimit-remaining-tokens last reported by a deployment',
    });
    m.addBatchObservableCallback(
      async (r) => {
        if (!this.#snapshot) return;
        const s = await this.#snapshot();
        r.observe(inFlight, s.inFlight);
        for (const q of s.queues) r.observe(queue, q.length, { deployment: q.deployment });
        for (const t of s.targets) {
          for (const st of TARGET_STATES) r.observe(state, st === t.state ? 1 : 0, { deployment: t.deployment, target: t.target, endpoint: t.endpoint, state: st });
          observeRemaining(r, remainingRequests, t.remainingRequests, t);
          observeRemaining(r, remainingTokens, t.remainingTokens, t);
        }
      },
      [inFlight, queue, state, remainingRequests, remainingTokens],
    );
  }
}

function observeRemaining(r: BatchObservableResult, gauge: Observable, value: number | undefined, t: Snapshot['targets'][number]): void {
  if (value !== undefined) r.observe(gauge, value, { account_name: t.endpoint, deployment_name: t.upstreamDeployment });
}
