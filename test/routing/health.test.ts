// A target's health on its own: retry headers, cooldowns that never shorten,
// the circuit's states, passive thresholds and budget pacing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreaker } from '../../src/routing/circuit-breaker.ts';
import { parseDuration, retryDelayMs } from '../../src/routing/retry-headers.ts';
import { healthConfig } from '../../src/routing/router.ts';
import { TargetHealth } from '../../src/routing/target-health.ts';
import type { Target } from '../../src/routing/target.ts';
import { configSchema } from '../../src/config/schema.ts';

const T0 = 1_800_000_000_000;

describe('retry headers, in Azure\'s order', () => {
  test('retry-after-ms first, then retry-after (seconds or date), then reset headers', () => {
    assert.equal(retryDelayMs({ 'retry-after-ms': '1500', 'retry-after': '9' }), 1500);
    assert.equal(retryDelayMs({ 'retry-after': '7' }), 7000);
    assert.equal(retryDelayMs({ 'retry-after': new Date(T0 + 12_000).toUTCString() }, T0), 12_000);
    assert.equal(retryDelayMs({ 'x-ratelimit-reset-requests': '3', 'x-ratelimit-reset-tokens': '20' }), 20_000);
    assert.equal(retryDelayMs({ 'x-rate-limit-reset-tokens': '55' }), 55_000);
    assert.equal(retryDelayMs({ 'x-ratelimit-reset-tokens': '1m30s' }), 90_000);
    assert.equal(retryDelayMs({}), undefined);
    assert.equal(retryDelayMs({ 'retry-after': 'soon' }), undefined);
  });

  test('durations', () => {
    assert.equal(parseDuration('200ms'), 200);
    assert.equal(parseDuration('6m0s'), 360_000);
    assert.equal(parseDuration('1.5'), 1500);
    assert.equal(parseDuration('1h2m3.5s'), 3_723_500);
    assert.equal(parseDuration('5 minutes'), undefined);
  });
});

function health(o: Partial<Target> = {}, resilience: object = {}): TargetHealth {
  const cfg = configSchema.shape.resilience.parse(resilience);
  const t: Target = { id: 'e/d', endpoint: {} as Target['endpoint'], upstreamName: 'd', priority: 1, weight: 1, tpm: undefined, rpm: undefined, smooth: false, ...o };
  return new TargetHealth(t, healthConfig(cfg));
}
const response = (status: number, headers: Record<string, string> = {}) => ({ kind: 'response' as const, status, headers, ttfbMs: 10 });

describe('cooldown', () => {
  test('from the 429\'s headers; a later, shorter one never shortens it', () => {
    const h = health();
    h.reserve(0, T0);
    h.finish(response(429, { 'retry-after-ms': '3000' }), T0);
    assert.deepEqual(h.availability(T0 + 1, 0), { at: T0 + 3000, condition: 'cooling' });
    h.reserve(0, T0);
    h.finish(response(429, { 'retry-after-ms': '500' }), T0 + 100);
    assert.equal(h.availability(T0 + 700, 0).at, T0 + 3000);
    h.reserve(0, T0);
    h.finish(response(429, { 'retry-after': '5' }), T0 + 200);
    assert.equal(h.availability(T0 + 700, 0).at, T0 + 5200, 'a longer one extends it');
    assert.equal(h.availability(T0 + 5200, 0).condition, 'available');
  });

  test('the default when a 429 says nothing; capped by maxSeconds', () => {
    const h = health({}, { cooldown: { defaultSeconds: 2, maxSeconds: 60 } });
    h.reserve(0, T0);
    h.finish(response(429), T0);
    assert.equal(h.availability(T0, 0).at, T0 + 2000);
    const q = health({}, { cooldown: { defaultSeconds: 2, maxSeconds: 60 } });
    q.reserve(0, T0);
    q.finish(response(429, { 'retry-after': '86400' }), T0);
    assert.equal(q.availability(T0, 0).at, T0 + 60_000);
  });
});

describe('circuit breaker', () => {
  const cfg = { threshold: 3, percent: false, minimumCalls: 1, windowMs: 10_000, tripMs: 30_000, acceptRetryAfter: true };

  test('opens after N failures in the window, half-opens for one trial, closes on success', () => {
    const b = new CircuitBreaker(cfg);
    b.record(true, T0);
    b.record(true, T0 + 1000);
    b.record(false, T0 + 1500);
    assert.equal(b.state(T0 + 2000), 'closed');
    b.record(true, T0 + 2000);
    assert.equal(b.state(T0 + 2000), 'open');
    assert.equal(b.availableAt(T0 + 2000), T0 + 32_000);
    assert.equal(b.state(T0 + 32_000), 'half-open');
    b.onSend(T0 + 32_000);
    assert.equal(b.availableAt(T0 + 32_001), Infinity, 'one trial at a time');
    b.record(false, T0 + 32_100);
    assert.equal(b.state(T0 + 32_100), 'closed');
  });

  test('a failed trial opens it again; an abandoned trial frees the slot', () => {
    const b = new CircuitBreaker({ ...cfg, threshold: 1 });
    b.record(true, T0);
    b.onSend(T0 + 30_000);
    b.onAbandon();
    assert.equal(b.availableAt(T0 + 30_000), T0 + 30_000);
    b.onSend(T0 + 30_000);
    b.record(true, T0 + 30_500);
    assert.equal(b.state(T0 + 31_000), 'open');
    assert.equal(b.availableAt(T0 + 31_000), T0 + 60_500);
  });

  test('failures outside the window do not count', () => {
    const b = new CircuitBreaker(cfg);
    b.record(true, T0);
    b.record(true, T0 + 5000);
    b.record(true, T0 + 10_001);
    assert.equal(b.state(T0 + 10_001), 'closed');
  });

  test('a percentage with a minimum of calls', () => {
    const b = new CircuitBreaker({ ...cfg, threshold: 50, percent: true, minimumCalls: 4 });
    b.record(true, T0);
    b.record(true, T0 + 1);
    assert.equal(b.state(T0 + 2), 'closed', 'too few calls to judge');
    b.record(false, T0 + 2);
    b.record(true, T0 + 3);
    assert.equal(b.state(T0 + 4), 'open', '3 of 4 failed');
  });

  test('open for the upstream\'s Retry-After when acceptRetryAfter', () => {
    const b = new CircuitBreaker({ ...cfg, threshold: 1 });
    b.record(true, T0, 7000);
    assert.equal(b.availableAt(T0), T0 + 7000);
    const c = new CircuitBreaker({ ...cfg, threshold: 1, acceptRetryAfter: false });
    c.record(true, T0, 7000);
    assert.equal(c.availableAt(T0), T0 + 30_000);
  });
});

describe('passive thresholds and pacing', () => {
  test('remaining-requests below the threshold takes the target out until its reset; -1 means unknown', () => {
    const h = health();
    h.reserve(0, T0);
    h.finish(response(200, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '4' }), T0);
    assert.deepEqual(h.availability(T0 + 1, 0), { at: T0 + 4000, condition: 'passive' });
    const u = health();
    u.reserve(0, T0);
    u.finish(response(200, { 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-remaining-requests': '5' }), T0);
    assert.equal(u.availability(T0, 0).condition, 'available');
    assert.equal(u.lastRemainingTokens, undefined);
  });

  test('a target with a declared budget is paced by the gateway\'s count, not taken out by a low remaining-tokens', () => {
    const h = health({ tpm: 1000 });
    h.reserve(300, T0);
    h.finish(response(200, { 'x-ratelimit-remaining-tokens': '700' }), T0);
    assert.equal(h.availability(T0 + 1, 300).condition, 'available');
    assert.equal(h.headroom(T0 + 1), 700);
  });

  test('a target that spills to a lower group spreads its budget evenly: at most tpm/6 in any 10 s', () => {
    const h = health({ tpm: 6000, smooth: true });
    h.reserve(900, T0);
    assert.equal(h.availability(T0 + 1, 100).condition, 'available');
    assert.deepEqual(h.availability(T0 + 1, 101), { at: T0 + 10_000, condition: 'over-budget' });
    const burst = health({ tpm: 6000 });
    burst.reserve(900, T0);
    assert.equal(burst.availability(T0 + 1, 5000).condition, 'available', 'without it, the whole minute at once');
  });

  test('a declared budget is not exceeded: the request that does not fit waits for the window', () => {
    const h = health({ tpm: 1000, rpm: 600 });
    h.reserve(600, T0);
    h.finish(response(200), T0);
    assert.equal(h.availability(T0 + 10, 400).condition, 'available');
    const over = h.availability(T0 + 10, 401);
    assert.equal(over.condition, 'over-budget');
    assert.equal(over.at, T0 + 60_500, 'back when the first reservation leaves the minute (plus the margin)');
    assert.equal(h.headroom(T0 + 10), 400);
  });
});
