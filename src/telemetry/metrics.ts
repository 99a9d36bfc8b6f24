// What modules outside telemetry count about themselves (the ledger, the
// state store). One small interface, so they do not depend on the exporter;
// GatewayMetrics implements it over OpenTelemetry.

export type Labels = Readonly<Record<string, string>>;

export interface Metrics {
  /** a counter goes up by `n` */
  add(name: string, n: number, labels?: Labels): void;
  /** a gauge is set to `v` */
  set(name: string, v: number, labels?: Labels): void;
}
