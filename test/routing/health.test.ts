// Retry headers, what one process observes of a target (cooldown asked for,
// passive thresholds, latency, probes), and a target's limits. The shared
// state itself (cooldowns, circuits, budgets) is tested by the store contract.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { breakerSpec, targetLimits } from '../../src/routing/limits.ts';
import { parseDuration, retryDelayMs } from '../../src/routing/retry-headers.ts';
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
  const t = { id: 'e/d', endpoint: {} as Target['endpoint'], upstreamName: 'd', priority: 1, weight: 1, tpm: undefined, rpm: undefined, ...o } as Target;
  return new TargetHealth(t, {
    cooldownDefaultMs: cfg.cooldown.defaultSeconds * 1000,
    cooldownMaxMs: cfg.cooldown.maxSeconds * 1000,
    remainingRequestsBelow: cfg.passiveHealth.remainingRequestsBelow,
    remainingTokensBelow: cfg.passiveHealth.remainingTokensBelow,
  });
}
const response = (status: number, headers: Record<string, string> = {}) => ({ kind: 'response' as const, status, headers, ttfbMs: 10 });

describe('what one process observes of a target', () => {
  test('a 429 asks for the cooldown its headers say, else the default, at most the maximum', () => {
    const h = health({}, { cooldown: { defaultSeconds: 2, maxSeconds: 60 } });
    assert.equal(h.observe(response(429, { 'retry-after-ms': '3000' }), T0), 3000);
    assert.equal(h.observe(response(429), T0), 2000);
    assert.equal(h.observe(response(429, { 'retry-after': '86400' }), T0), 60_000);
    assert.equal(h.observe(response(200), T0), undefined);
  });

  test('remaining-requests below the threshold takes the target out until its reset; -1 means unknown', () => {
    const h = health();
    h.observe(response(200, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '4' }), T0);
    assert.deepEqual(h.localAvailability(), { at: T0 + 4000, condition: 'passive' });
    h.observe(response(200, { 'x-ratelimit-remaining-requests': '3' }), T0 + 10);
    assert.ok(h.localAvailability().at <= T0, 'a later answer with room brings it back');
    const u = health();
    u.observe(response(200, { 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-remaining-requests': '5' }), T0);
    assert.ok(u.localAvailability().at <= T0);
    assert.equal(u.lastRemainingTokens, undefined);
  });

  test('a target with a declared budget is paced by the gateway\'s count, not taken out by a low remaining-tokens', () => {
    const h = health({ tpm: 1000 });
    h.observe(response(200, { 'x-ratelimit-remaining-tokens': '700' }), T0);
    assert.ok(h.localAvailability().at <= T0);
    assert.equal(h.lastRemainingTokens, 700);
  });

  test('time to first byte as a moving average; 429s and 5xx do not count', () => {
    const h = health();
    h.observe({ ...response(200), ttfbMs: 100 }, T0);
    h.observe({ ...response(200), ttfbMs: 200 }, T0);
    assert.equal(h.latencyMs, 130);
    h.observe({ ...response(503), ttfbMs: 1 }, T0);
    h.observe({ ...response(429), ttfbMs: 1 }, T0);
    assert.equal(h.latencyMs, 130);
  });

  test('probes: a failure takes it out for an interval; a 400 shows it alive', () => {
    const h = health();
    h.probed(undefined, 60_000, T0);
    assert.deepEqual(h.localAvailability(), { at: T0 + 60_000, condition: 'probe-failed' });
    h.probed({ status: 400, headers: {} }, 60_000, T0 + 1);
    assert.ok(h.localAvailability().at <= T0 + 1);
  });
});

describe('a target\'s limits in the state store', () => {
  const t = configSchema.shape.deployments.parse({ d: { targets: [{ endpoint: 'e', tpm: 60_000, rpm: 360 }] } }).d.targets[0];
  const breaker = breakerSpec(configSchema.shape.resilience.parse({}));
  test('tokens over a minute plus a margin, requests over 10 s plus a margin', () => {
    const l = targetLimits('e/d', t, breaker, false);
    assert.deepEqual(l.tokens, { capacity: 60_000, windowMs: 60_500 });
    assert.deepEqual(l.requests, { capacity: 60, windowMs: 10_500 });
    assert.equal(l.evenly, undefined);
  });
  test('a target that spills to a lower group spreads its tokens evenly', () => {
    assert.deepEqual(targetLimits('e/d', t, breaker, true).evenly, { capacity: 10_000, windowMs: 10_000 });
  });
});
