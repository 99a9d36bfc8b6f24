// The Prometheus scrape of `serve --workers`: the workers' scrapes made one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePrometheus } from '../src/telemetry/prometheus-merge.ts';

const scrape = (inFlight: number, up: number, remaining: number, requests: number, bucket: number) => `# HELP aoai_gateway_requests_in_flight Requests being served now
# TYPE aoai_gateway_requests_in_flight gauge
aoai_gateway_requests_in_flight ${inFlight}
# TYPE aoai_gateway_state_store_up gauge
aoai_gateway_state_store_up ${up}
# TYPE reverseproxy_azure_openai_remaining_tokens gauge
reverseproxy_azure_openai_remaining_tokens{target="east/gpt-4o"} ${remaining}
# TYPE aoai_gateway_requests_total counter
aoai_gateway_requests_total{consumer="a",status="200"} ${requests}
# TYPE aoai_gateway_request_duration_seconds histogram
aoai_gateway_request_duration_seconds_bucket{le="0.1"} ${bucket}
aoai_gateway_request_duration_seconds_count ${bucket}
`;

test('counters and histograms add up; gauges add, or take the cautious value', () => {
  const merged = mergePrometheus([scrape(3, 1, 9000, 10, 4), scrape(2, 0, 7000, 5, 6)]);
  const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"=.]/g, '\\$&')} (\\S+)$`, 'm').exec(merged)?.[1]);
  assert.equal(value('aoai_gateway_requests_in_flight'), 5);
  assert.equal(value('aoai_gateway_state_store_up'), 0, 'up only where every worker is up');
  assert.equal(value('reverseproxy_azure_openai_remaining_tokens{target="east/gpt-4o"}'), 7000);
  assert.equal(value('aoai_gateway_requests_total{consumer="a",status="200"}'), 15);
  assert.equal(value('aoai_gateway_request_duration_seconds_bucket{le="0.1"}'), 10);
  assert.equal(value('aoai_gateway_request_duration_seconds_count'), 10);
  assert.equal(merged.match(/^# TYPE aoai_gateway_requests_total counter$/gm)?.length, 1, 'each family once');
  assert.equal(merged.match(/^# HELP /gm)?.length, 1);
});

test('a series only one worker has is kept as it is', () => {
  const merged = mergePrometheus(['# TYPE c counter\nc{x="1"} 2\n', '# TYPE c counter\nc{x="2"} 3\n']);
  assert.match(merged, /^c\{x="1"\} 2$/m);
  assert.match(merged, /^c\{x="2"\} 3$/m);
});
