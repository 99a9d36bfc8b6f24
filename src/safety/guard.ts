// The content safety check on the request path: for a request whose
// deployment or consumer has a contentSafety policy, its prompt text goes to
// Azure AI Content Safety — text:analyze and Prompt Shields, every call in
// parallel, the whole bounded by timeoutMs — before anything is forwarded.
// A blocked prompt gets Azure OpenAI's 400 content_filter; a service that
// fails or is slow either refuses the request (503, the default) or lets it
// through (failOpen), logged and counted either way. Requests without a
// policy cost one map lookup and await nothing.
import type { TokenCredential } from '@azure/identity';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Config, ContentSafetyConfig } from '../config/schema.ts';
import { GatewayError } from '../proxy/errors.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { findFormField } from '../proxy/multipart-fields.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { GatewayMetrics } from '../telemetry/gateway-metrics.ts';
import { ContentSafetyClient, SafetyServiceError, type FailureReason } from './client.ts';
import type { SafetyOutcome, SafetyResult } from './outcome.ts';
import { PolicyIndex, type SafetyPolicy } from './policy.ts';
import { chunks, formPieces, joined, newest, promptPieces, shieldCalls, totalChars, type Piece } from './prompt-text.ts';
import { addAnalysis, addShield, AZURE_NAME, blockedBy, contentFilterBody, emptyFindings, FILTERED_MESSAGE, type Findings } from './verdict.ts';

export type SafetyMetrics = Pick<GatewayMetrics, 'contentSafetyCheck' | 'contentBlocked' | 'contentSafetyError'>;

export interface GuardOptions {
  metrics: SafetyMetrics;
  logger?: Logger;
  /** for auth: entra, instead of the one the config names (tests) */
  credential?: TokenCredential;
}

/** How long a client is told to wait after a fail-closed refusal. */
const RETRY_AFTER_MS = 2000;
/** One log line per failure reason and action at most this often; the others are counted in the next. */
const LOG_EVERY_MS = 10_000;

const DESCRIBE: Record<FailureReason, string> = {
  timeout: 'the service did not answer in time',
  unreachable: 'the service could not be reached',
  throttled: 'the service is throttling the gateway',
  rejected: "the service refused the gateway's credentials",
  bad_request: "the service refused the gateway's request",
  server_error: 'the service failed',
  bad_response: 'the service answered something unexpected',
  credential: 'the gateway could not get a token for the service',
};

export class ContentSafetyGuard {
  readonly #opts: GuardOptions;
  readonly #policies = new WeakMap<Config, PolicyIndex>();
  #client: ContentSafetyClient | undefined;
  #clientCfg: ContentSafetyConfig | undefined;
  readonly #logged = new Map<string, { at: number; skipped: number }>();

  constructor(opts: GuardOptions) {
    this.#opts = opts;
  }

  /** Checks the request's prompt if a policy applies: undefined (nothing to wait for) when none does. Throws a GatewayError to refuse. */
  check(ex: Exchange, runtime: Runtime): Promise<void> | undefined {
    const service = runtime.config.contentSafety;
    if (!service || !ex.consumer) return undefined;
    let index = this.#policies.get(runtime.config);
    if (!index) this.#policies.set(runtime.config, (index = new PolicyIndex(runtime.config)));
    if (index.empty) return undefined;
    const policy = index.policyFor(ex.consumer.name, ex.deployment?.name ?? '');
    return policy ? this.#check(ex, service, policy) : undefined;
  }

  async close(): Promise<void> {
    await this.#client?.close();
    this.#client = undefined;
  }

  async #check(ex: Exchange, service: ContentSafetyConfig, policy: SafetyPolicy): Promise<void> {
    const started = performance.now();
    let pieces = readPieces(ex);
    if (pieces.length === 0) return;
    const total = totalChars(pieces);
    if (total > service.maxChars) {
      if (service.overMaxChars === 'refuse') {
        this.#outcome(ex, 'too-long', started, { blocked: 'too_long', checkedChars: 0, promptChars: total });
        this.#opts.metrics.contentBlocked(ex.consumer!.name, ex.deployment?.name ?? '', 'too_long');
        throw new GatewayError('content_safety_text_too_long', `The prompt has ${total} characters; the content safety check takes at most ${service.maxChars}.`, { param: 'prompt' });
      }
      pieces = newest(pieces, service.maxChars);
    }
    const analyzed = policy.thresholds.size > 0 || policy.blocklists.length > 0 ? chunks(joined(pieces)) : [];
    const shields = policy.promptShields ? shieldCalls(pieces) : [];
    if (analyzed.length === 0 && shields.length === 0) return;

    const client = this.#clientFor(service);
    const categories = [...policy.thresholds.keys()];
    const findings = emptyFindings();
    // One deadline for every call of the check. A client that leaves does not cut
    // them short (they are bounded anyway, and forwarding stops on the exchange's
    // abort): a controller and a timer of our own per check measured dearer.
    const signal = AbortSignal.timeout(service.timeoutMs);
    try {
      await Promise.all([
        ...analyzed.map((text) => client.analyze(text, categories, policy.blocklists, signal).then((r) => addAnalysis(findings, r))),
        ...shields.map((c) => client.shield(c.userPrompt, c.documents, signal).then((r) => addShield(findings, r))),
      ]);
    } catch (err) {
      if (ex.abortReason) return;
      if (!(err instanceof SafetyServiceError)) throw err;
      return this.#failed(ex, service, err, started);
    }

    const blocked = blockedBy(policy, findings);
    if (blocked.length === 0) {
      this.#outcome(ex, 'passed', started, {});
      return;
    }
    this.#outcome(ex, 'blocked', started, auditDetail(ex, policy, findings, blocked, pieces, total, service.recordPrompt));
    for (const category of blocked) this.#opts.metrics.contentBlocked(ex.consumer!.name, ex.deployment?.name ?? '', category);
    throw new GatewayError('content_filter', FILTERED_MESSAGE, { param: 'prompt', body: contentFilterBody(policy, findings) });
  }

  #failed(ex: Exchange, service: ContentSafetyConfig, err: SafetyServiceError, started: number): void {
    const action = service.failOpen ? 'forwarded' : 'refused';
    this.#opts.metrics.contentSafetyError(err.reason, action);
    this.#log(err, action);
    if (service.failOpen) {
      this.#outcome(ex, 'failed-open', started, {});
      return;
    }
    this.#outcome(ex, 'unavailable', started, { safetyError: err.reason });
    throw new GatewayError('content_safety_unavailable', `The content safety check could not be made: ${DESCRIBE[err.reason]}. Retry shortly.`, { retryAfterMs: RETRY_AFTER_MS });
  }

  #outcome(ex: Exchange, result: SafetyResult, started: number, audit: SafetyOutcome['audit']): void {
    const ms = performance.now() - started;
    ex.safety = { result, ms, audit };
    this.#opts.metrics.contentSafetyCheck(ms / 1000, result);
  }

  #log(err: SafetyServiceError, action: 'forwarded' | 'refused'): void {
    const logger = this.#opts.logger;
    if (!logger) return;
    const now = Date.now();
    const key = `${err.reason} ${action}`;
    const last = this.#logged.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.skipped++;
      return;
    }
    this.#logged.set(key, { at: now, skipped: 0 });
    logger.warn(
      { reason: err.reason, status: err.status, action, skippedSinceLastLine: last?.skipped ?? 0 },
      `content safety: ${err.message}; ${action === 'forwarded' ? 'requests are forwarded unchecked (failOpen)' : 'requests are refused with 503 (failOpen: false)'}`,
    );
  }

  /** One client per service config: a reload that changes it gets a new one; the old one closes when its calls are done. */
  #clientFor(service: ContentSafetyConfig): ContentSafetyClient {
    if (this.#client && service !== this.#clientCfg) {
      if (isDeepStrictEqual(service, this.#clientCfg)) this.#clientCfg = service;
      else {
        void this.#client.close().catch(() => {});
        this.#client = undefined;
      }
    }
    if (!this.#client) {
      this.#client = new ContentSafetyClient(service, { credential: this.#opts.credential });
      this.#clientCfg = service;
    }
    return this.#client;
  }
}

/** The prompt's text: from the parsed JSON body, or a form's prompt field. A JSON body that cannot be read is refused: unread text would go unchecked. */
function readPieces(ex: Exchange): Piece[] {
  if (ex.boundary) {
    const span = findFormField(ex.body, ex.boundary, 'prompt');
    return formPieces(span ? ex.body.toString('utf8', span.start, span.end) : undefined);
  }
  if (ex.body.length === 0) return [];
  const body = ex.bodyObject();
  if (!body) throw new GatewayError('invalid_body', 'The request body is not a JSON object, so its content safety check cannot read it.');
  return promptPieces(body);
}

function auditDetail(ex: Exchange, policy: SafetyPolicy, f: Findings, blocked: string[], pieces: Piece[], total: number, recordPrompt: boolean): SafetyOutcome['audit'] {
  const detail: Record<string, string | number | boolean | undefined> = { blocked: blocked.join(','), user: ex.user?.slice(0, 256) };
  for (const c of policy.thresholds.keys()) detail[AZURE_NAME[c]] = f.severities.get(c) ?? 0;
  if (f.userAttack !== undefined) detail.jailbreak = f.userAttack;
  if (f.documentAttack !== undefined) detail.indirect_attack = f.documentAttack;
  if (f.blocklists.size > 0) detail.blocklists = [...f.blocklists].join(',');
  detail.promptChars = total;
  detail.checkedChars = totalChars(pieces);
  if (recordPrompt) detail.prompt = joined(pieces);
  return detail;
}
