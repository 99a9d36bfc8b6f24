// Spans, when a tracer is configured: one per request (server) and one per
// upstream attempt (client), in the caller's W3C trace when it sent one. The
// attempt's span is the parent upstream sees in its traceparent.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent, type TraceContext } from './trace-context.ts';

export type { Span } from '@opentelemetry/api';

/** Starts the request's span; returns it with the trace context the request now carries. */
export function startRequestSpan(tracer: Tracer, method: string, path: string, traceparent: string | undefined): { span: Span; trace: TraceContext } {
  const parent = parseTraceparent(traceparent);
  const ctx = parent
    ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parseInt(parent.flags, 16), isRemote: true })
    : ROOT_CONTEXT;
  const span = tracer.startSpan(`${method} ${path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path } }, ctx);
  return { span, trace: contextOf(span) };
}

/** Starts an attempt's span under the request's; its traceparent goes upstream. */
export function startAttemptSpan(
  tracer: Tracer,
  request: Span,
  attrs: { target: string; endpoint: string; deployment: string; attempt: number; retryReason: string | undefined },
): { span: Span; traceparent: string } {
  const span = tracer.startSpan(
    `attempt ${attrs.target}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'aoai.target': attrs.target,
        'aoai.endpoint': attrs.endpoint,
        'gen_ai.request.model': attrs.deployment,
        'aoai.attempt': attrs.attempt,
        ...(attrs.retryReason ? { 'aoai.retry_reason': attrs.retryReason } : {}),
      },
    },
    trace.setSpan(ROOT_CONTEXT, request),
  );
  const sc = span.spanContext();
  return { span, traceparent: formatTraceparent(sc.traceId, sc.spanId, flagsOf(sc.traceFlags)) };
}

/** Ends an attempt's span with what came of it: a status, or connect-error / timeout. */
export function endAttemptSpan(span: Span, outcome: string): void {
  if (/^\d+$/.test(outcome)) {
    const status = Number(outcome);
    span.setAttribute('http.response.status_code', status);
    if (status >= 500 || status === 429) span.setStatus({ code: SpanStatusCode.ERROR });
  } else {
    span.setAttribute('error.type', outcome);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

export function endRequestSpan(span: Span, status: number, attrs: Record<string, string | number | undefined>): void {
  span.setAttribute('http.response.status_code', status);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) span.setAttribute(k, v);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** The span's own flags: sampled or not is the sampler's decision, not only the caller's. */
function contextOf(span: Span): TraceContext {
  const sc = span.spanContext();
  const flags = flagsOf(sc.traceFlags);
  return { traceId: sc.traceId, spanId: sc.spanId, flags, traceparent: formatTraceparent(sc.traceId, sc.spanId, flags) };
}

function flagsOf(traceFlags: number): string {
  return traceFlags.toString(16).padStart(2, '0');
}
