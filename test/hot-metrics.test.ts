// The hot instruments' producer: what a cumulative reader and a delta reader
// are handed, as the SDK's own instruments would hand it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregationTemporality, DataPointType, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { HotMetrics } from '../src/telemetry/hot-metrics.ts';

test('counters and histograms, cumulative and delta', async () => {
  const hot = new HotMetrics({ name: 'test', version: '1' });
  const c = hot.counter('requests_total', 'requests', ['status']);
  const h = hot.histogram('latency_seconds', 'latency', 's', [0.1, 1], ['deployment']);
  const cumulative = hot.producer(AggregationTemporality.CUMULATIVE);
  const delta = hot.producer(AggregationTemporality.DELTA);
  c.add(1, ['200']);
  c.add(2, ['200']);
  c.add(1, ['429']);
  for (const v of [0.05, 0.1, 0.5, 3]) h.record(v, ['gpt-4o']);

  const metrics = async (p: typeof cumulative) => (await p.collect()).resourceMetrics.scopeMetrics[0].metrics;
  const first = await metrics(cumulative);
  const sum = first[0] as SumMetricData;
  assert.equal(sum.dataPointType, DataPointType.SUM);
  assert.equal(sum.isMonotonic, true);
  assert.deepEqual(sum.dataPoints.map((p) => [p.attributes.status, p.value]), [['200', 3], ['429', 1]]);
  const hist = first[1] as HistogramMetricData;
  assert.deepEqual(hist.dataPoints[0].attributes, { deployment: 'gpt-4o' });
  assert.deepEqual(hist.dataPoints[0].value.buckets, { boundaries: [0.1, 1], counts: [2, 1, 1] }, 'le 0.1 holds 0.1 itself');
  assert.equal(hist.dataPoints[0].value.count, 4);
  assert.ok(Math.abs(hist.dataPoints[0].value.sum! - 3.65) < 1e-9);

  assert.deepEqual(((await metrics(delta))[0] as SumMetricData).dataPoints.map((p) => p.value), [3, 1], 'a first delta is everything so far');
  c.add(5, ['200']);
  h.record(0.2, ['gpt-4o']);
  const next = await metrics(delta);
  assert.deepEqual((next[0] as SumMetricData).dataPoints.map((p) => p.value), [5, 0]);
  assert.deepEqual((next[1] as HistogramMetricData).dataPoints[0].value.buckets.counts, [0, 1, 0]);
  assert.equal((next[1] as HistogramMetricData).aggregationTemporality, AggregationTemporality.DELTA);
  assert.deepEqual(((await metrics(cumulative))[0] as SumMetricData).dataPoints.map((p) => p.value), [8, 1], 'the cumulative reader is not disturbed');
});
