// Record ids that sort by time (UUIDv7): each insert lands at the end of the
// primary-key index instead of at a random place in it.
import { randomFillSync } from 'node:crypto';

const POOL = 4096;
const pool = Buffer.allocUnsafe(POOL);
let offset = POOL;

export function uuidv7(now = Date.now()): string {
  if (offset + 10 > POOL) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(now, 0, 6);
  pool.copy(b, 6, offset, offset + 10);
  offset += 10;
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
