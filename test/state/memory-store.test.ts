import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { storeContract } from './store-contract.ts';

storeContract('memory', async () => new MemoryStore());

test('memory store values are bounded: the oldest go first', async () => {
  const s = new MemoryStore({ maxValueBytes: 1000 });
  for (let i = 0; i < 10; i++) await s.putValue(`k${i}`, 'x'.repeat(98), 60_000, 0);
  assert.equal(await s.getValue('k0', 1), undefined, 'the first ones were forgotten');
  assert.equal(await s.getValue('k9', 1), 'x'.repeat(98));
  await s.putValue('huge', 'x'.repeat(10_000), 60_000, 0);
  assert.equal(await s.getValue('huge', 1), undefined, 'a value over the whole bound is not kept');
  assert.equal(await s.getValue('k9', 1), 'x'.repeat(98), 'and does not push others out');
});
