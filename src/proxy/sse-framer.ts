// Cuts an SSE byte stream at event boundaries. The relay writes every
// complete event the moment it arrives and holds back only an unfinished
// one, which no client could have dispatched yet anyway. Whole events are
// what let a broken stream end with a clean error event and let the gateway
// drop an event the client did not ask for.

/** An unfinished event longer than this is passed on as it is. */
const MAX_HELD = 1024 * 1024;

export class SseFramer {
  #held: Buffer | undefined;

  /** The complete events in what has arrived so far (possibly empty). */
  push(chunk: Buffer): Buffer {
    // The usual case: the upstream wrote whole events, so the chunk ends on a boundary.
    const n = chunk.length;
    if (!this.#held && n >= 2 && chunk[n - 1] === 0x0a && (chunk[n - 2] === 0x0a || (chunk[n - 2] === 0x0d && chunk[n - 3] === 0x0a))) {
      return chunk;
    }
    const data = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = undefined;
    const end = Math.max(data.lastIndexOf('\n\n'), data.lastIndexOf('\n\r\n'));
    const cut = end === -1 ? 0 : data[end + 1] === 0x0a ? end + 2 : end + 3;
    if (cut === data.length) return data;
    if (data.length - cut > MAX_HELD) return data;
    this.#held = data.subarray(cut);
    return data.subarray(0, cut);
  }

  /** Bytes of an event that never finished. */
  rest(): Buffer | undefined {
    const r = this.#held;
    this.#held = undefined;
    return r;
  }
}

/** An SSE event that OpenAI's SDKs raise as an APIError. */
export function sseErrorEvent(code: string, message: string): string {
  const data = JSON.stringify({ error: { message, type: 'server_error', code, param: null } });
  return `event: error\ndata: ${data}\n\n`;
}

export const USAGE_OBJECT = Buffer.from('"usage":{');
const NO_CHOICES = Buffer.from('"choices":[]');

/**
 * Whole events without the usage chunk the gateway asked for on the
 * client's behalf (`choices: []` with a usage object). Call it only on
 * events that hold a usage object.
 */
export function withoutUsageEvent(events: Buffer): Buffer {
  const kept: Buffer[] = [];
  let start = 0;
  while (start < events.length) {
    let end = events.indexOf('\n\n', start);
    end = end === -1 ? events.length : end + 2;
    const event = events.subarray(start, end);
    if (!(event.indexOf(USAGE_OBJECT) !== -1 && event.indexOf(NO_CHOICES) !== -1)) kept.push(event);
    start = end;
  }
  return Buffer.concat(kept);
}
