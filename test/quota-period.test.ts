// Quota periods are calendar windows in UTC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { periodWindow } from '../src/limits/quota-period.ts';

const at = (iso: string) => Date.parse(iso);

test('hourly, daily and monthly windows in UTC', () => {
  assert.deepEqual(periodWindow('hourly', at('2026-11-21T13:45:10Z')), { name: '2026-11-21T13', start: at('2026-11-21T13:00:00Z'), endsAt: at('2026-11-21T14:00:00Z') });
  assert.deepEqual(periodWindow('daily', at('2026-11-21T23:59:59Z')), { name: '2026-11-21', start: at('2026-11-21T00:00:00Z'), endsAt: at('2026-11-22T00:00:00Z') });
  assert.deepEqual(periodWindow('monthly', at('2026-12-31T23:00:00Z')), { name: '2026-12', start: at('2026-12-01T00:00:00Z'), endsAt: at('2027-01-01T00:00:00Z') });
  assert.equal(periodWindow('monthly', at('2028-02-29T12:00:00Z')).endsAt, at('2028-03-01T00:00:00Z'));
});

test('weekly windows are ISO weeks: Monday to Monday, named for the year of their Thursday', () => {
  // Saturday 21 November 2026 is in week 47.
  assert.deepEqual(periodWindow('weekly', at('2026-11-21T10:00:00Z')), { name: '2026-W47', start: at('2026-11-16T00:00:00Z'), endsAt: at('2026-11-23T00:00:00Z') });
  // 1 January 2027 (a Friday) still belongs to 2026's week 53.
  assert.equal(periodWindow('weekly', at('2027-01-01T00:00:00Z')).name, '2026-W53');
  // 31 December 2024 (a Tuesday) is in 2025's week 1.
  assert.equal(periodWindow('weekly', at('2024-12-31T00:00:00Z')).name, '2025-W01');
  // A Sunday belongs to the week that started on the Monday before.
  assert.equal(periodWindow('weekly', at('2026-11-22T23:59:59Z')).start, at('2026-11-16T00:00:00Z'));
});
