// One JSON line per request (pino), written off the request path. Fields are
// chosen, never copied from the request: no header, no body, no key.
import pino, { type Logger, type DestinationStream } from 'pino';

export interface AccessRecord {
  requestId: string;
  method: string;
  path: string;
  consumer: string | undefined;
  deployment: string | undefined;
  endpoint: string | undefined;
  upstreamDeployment: string | undefined;
  status: number;
  attempts: number;
  latencyMs: number;
  ttfbMs: number | undefined;
  stream: boolean;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  totalTokens: number | undefined;
  model: string | undefined;
  error: string | undefined;
  traceId: string;
}

export interface AccessLog {
  write(record: AccessRecord): void;
  flush(): void;
}

/** A pino logger for the gateway's own events (start, stop, warnings). */
export function createLogger(dest: DestinationStream | number = 1, level = 'info'): Logger {
  const stream = typeof dest === 'number' ? pino.destination({ dest, sync: false }) : dest;
  return pino({ base: { service: 'aoai-gateway' }, level, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

export function createAccessLog(logger: Logger): AccessLog {
  const log = logger.child({ kind: 'access' });
  return {
    write(r) {
      log.info(r);
    },
    flush() {
      logger.flush();
    },
  };
}

export const noAccessLog: AccessLog = { write() {}, flush() {} };
