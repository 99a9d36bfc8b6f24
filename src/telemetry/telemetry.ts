// OpenTelemetry for the gateway: one MeterProvider whose metrics are read by
// the Prometheus endpoint on the admin port, and pushed over OTLP and to
// Azure Monitor when configured; a tracer only when something receives
// traces (otherwise spans cost nothing: none are made).
import { hostname } from 'node:os';
import type { Tracer } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { AzureMonitorExporterOptions } from '@azure/monitor-opentelemetry-exporter';
import type { Config } from '../config/schema.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { HotMetrics } from './hot-metrics.ts';

export const SERVICE_VERSION = '0.1.0';

export class Telemetry {
  readonly metrics: GatewayMetrics;
  /** undefined when no exporter takes traces */
  readonly tracer: Tracer | undefined;
  readonly prometheus: PrometheusExporter | undefined;
  readonly #meters: MeterProvider;
  readonly #traces: BasicTracerProvider | undefined;
  /** holds the Azure Monitor exporters (until shut down) */
  #azure: boolean;

  private constructor(meters: MeterProvider, hot: HotMetrics, traces: BasicTracerProvider | undefined, prometheus: PrometheusExporter | undefined, azure: boolean) {
    this.#meters = meters;
    this.#traces = traces;
    this.#azure = azure;
    this.prometheus = prometheus;
    this.metrics = new GatewayMetrics(meters.getMeter('aoai-gateway', SERVICE_VERSION), hot);
    this.tracer = traces?.getTracer('aoai-gateway', SERVICE_VERSION);
  }

  static async create(cfg: Config['telemetry']): Promise<Telemetry> {
    // Replicas and the workers of one replica export apart: each is an instance of the service.
    const resource = resourceFromAttributes({ 'service.name': cfg.serviceName, 'service.version': SERVICE_VERSION, 'service.instance.id': `${hostname()}-${process.pid}` });
    const readers: MetricReader[] = [];
    const spanExporters: SpanExporter[] = [];
    const hot = new HotMetrics({ name: 'aoai-gateway', version: SERVICE_VERSION });
    const prometheus = cfg.prometheus ? new PrometheusExporter({ preventServerStart: true, metricProducers: [hot.producer(AggregationTemporality.CUMULATIVE)] }) : undefined;
    if (prometheus) readers.push(prometheus);
    if (cfg.otlp) {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      const base = cfg.otlp.endpoint.replace(/\/+$/, '');
      if (cfg.otlp.metrics) {
        readers.push(
          pushReader(new OTLPMetricExporter({ url: `${base}/v1/metrics`, headers: cfg.otlp.headers }), cfg.otlp.intervalSeconds, hot),
        );
      }
      if (cfg.otlp.traces) spanExporters.push(new OTLPTraceExporter({ url: `${base}/v1/traces`, headers: cfg.otlp.headers }));
    }
    if (cfg.azureMonitor) {
      // The SDK reports on itself to Microsoft's hosts (statsbeat, SDK stats)
      // unless told not to: the gateway sends only where its config says,
      // so both are off unless the environment turns them on.
      // (APPLICATION_INSIGHTS_NO_STATSBEAT is the switch the exporter reads.)
      process.env.APPLICATION_INSIGHTS_NO_STATSBEAT ??= 'true';
      process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED ??= 'true';
      process.env.APPLICATIONINSIGHTS_SDKSTATS_DISABLED ??= 'true';
      // Loaded only when configured: it brings the Azure SDK's HTTP pipeline.
      const azure = await import('@azure/monitor-opentelemetry-exporter');
      const options = azureExporterOptions(cfg.azureMonitor.connectionString);
      readers.push(
        pushReader(new azure.AzureMonitorMetricExporter(options), cfg.azureMonitor.intervalSeconds, hot),
      );
      spanExporters.push(new azure.AzureMonitorTraceExporter(options));
      azureUsers++;
    }
    const meters = new MeterProvider({ resource, readers });
    const spanProcessors: SpanProcessor[] = spanExporters.map((e) => new BatchSpanProcessor(e, { scheduledDelayMillis: 1000 }));
    // Spans cost CPU per request (mostly encoding them for export): a ratio below 1 records that share of new traces.
    const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.traceSampleRatio) });
    const traces = spanProcessors.length ? new BasicTracerProvider({ resource, spanProcessors, sampler }) : undefined;
    return new Telemetry(meters, hot, traces, prometheus, cfg.azureMonitor !== undefined);
  }

  /** The Prometheus scrape as text (for a primary process merging its workers'), or undefined when Prometheus is off. */
  async prometheusText(): Promise<string | undefined> {
    if (!this.prometheus) return undefined;
    const { resourceMetrics } = await this.prometheus.collect();
    return new PrometheusSerializer().serialize(resourceMetrics);
  }

  /** Pushes what is pending to every exporter. */
  async flush(): Promise<void> {
    await Promise.all([this.#meters.forceFlush(), this.#traces?.forceFlush()]);
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled([this.#meters.shutdown(), this.#traces?.shutdown()]);
    if (!this.#azure) return;
    this.#azure = false;
    if (--azureUsers === 0) await stopAzureBackground();
  }
}

/** A reader that pushes every `seconds`, the hot metrics in the temporality its exporter asks for. */
function pushReader(exporter: PushMetricExporter, seconds: number, hot: HotMetrics): PeriodicExportingMetricReader {
  const temporality = exporter.selectAggregationTemporality?.(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE;
  return new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: seconds * 1000, metricProducers: [hot.producer(temporality)] });
}

/**
 * The Azure Monitor exporters' options. The SDK rewrites an http://
 * IngestionEndpoint to https://; a loopback one (a local stand-in, a
 * forwarding sidecar on the host) is kept as written so telemetry reaches
 * it. Anything else stays on TLS: the instrumentation key never crosses a
 * network in the clear.
 */
export function azureExporterOptions(connectionString: string): AzureMonitorExporterOptions {
  const written = /(?:^|;)\s*IngestionEndpoint\s*=\s*([^;]+)/i.exec(connectionString)?.[1]?.trim();
  let url: URL | undefined;
  try {
    url = written ? new URL(written) : undefined;
  } catch {
    url = undefined; // the SDK reports a malformed connection string itself
  }
  if (url?.protocol !== 'http:' || !isLoopback(url.hostname)) return { connectionString };
  return { connectionString, host: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, allowInsecureConnection: true };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Live Telemetry instances with Azure Monitor exporters: the SDK's process-wide parts stop with the last. */
let azureUsers = 0;

/**
 * Stops what the Azure Monitor SDK runs process-wide and its exporters'
 * shutdown leaves running: the poll of its settings service
 * (settings.sdk.monitor.azure.com, first 5–15 s after an exporter is made,
 * then hourly) and, when on, statsbeat. The package exports neither, so they
 * are reached by file next to its entry point (the same module instances);
 * a version that moved them is left alone.
 */
async function stopAzureBackground(): Promise<void> {
  type Singleton = { getInstance(): { shutdown(): unknown } } | undefined;
  const load = async <T>(path: string): Promise<T | undefined> => {
    try {
      return (await import(new URL(path, import.meta.resolve('@azure/monitor-opentelemetry-exporter')).href)) as T;
    } catch {
      return undefined;
    }
  };
  const settings = await load<{ ConfigurationManager?: Singleton }>('./_configuration/configurationManager.js');
  const statsbeat = await load<{ StatsbeatManager?: Singleton }>('./export/statsbeat/statsbeatManager.js');
  await Promise.allSettled([
    (async () => settings?.ConfigurationManager?.getInstance().shutdown())(),
    (async () => statsbeat?.StatsbeatManager?.getInstance().shutdown())(),
  ]);
}
