// Reads `usage` (and the model upstream reports) out of a response body as it
// streams past, without holding the body: a JSON answer keeps only its head
// and tail, an SSE stream looks only at events that carry a usage object.
import { normalizeUsage, type Usage } from './usage.ts';

const HEAD_BYTES = 4096;
const TAIL_BYTES = 64 * 1024;
const USAGE_OBJECT = Buffer.from('"usage":{');

export interface UsageResult {
  readonly usage: Usage | undefined;
  readonly model: string | undefined;
}

export interface UsageProbe {
  /** `hasUsage`: the caller has looked, and the chunk holds a usage object (SSE only) */
  push(chunk: Buffer, hasUsage?: boolean): void;
  result(): UsageResult;
}

export function createUsageProbe(contentType: string | undefined): UsageProbe | undefined {
  if (!contentType) return undefined;
  if (contentType.startsWith('text/event-stream')) return new SseUsageProbe();
  if (contentType.startsWith('application/json')) return new JsonUsageProbe();
  return undefined;
}

class JsonUsageProbe implements UsageProbe {
  #head = '';
  #tail: Buffer[] = [];
  #tailBytes = 0;

  push(chunk: Buffer): void {
    if (this.#head.length < HEAD_BYTES) this.#head += chunk.toString('latin1', 0, HEAD_BYTES - this.#head.length);
    this.#tail.push(chunk);
    this.#tailBytes += chunk.length;
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0].length >= TAIL_BYTES) {
      this.#tailBytes -= (this.#tail.shift() as Buffer).length;
    }
  }

  result(): UsageResult {
    const tail = this.#tail.length === 1 ? this.#tail[0] : Buffer.concat(this.#tail);
    const at = tail.lastIndexOf(USAGE_OBJECT);
    const raw = at === -1 ? undefined : balancedObject(tail, at + USAGE_OBJECT.length - 1);
    const model = /"model"\s*:\s*"([^"\\]{1,200})"/.exec(this.#head)?.[1];
    return { usage: normalizeUsage(raw), model };
  }
}

/** Fed whole SSE events (see SseFramer): only lines that carry a usage object are parsed. */
class SseUsageProbe implements UsageProbe {
  #usage: Usage | undefined;
  #model: string | undefined;

  push(events: Buffer, hasUsage = events.indexOf(USAGE_OBJECT) !== -1): void {
    if (this.#model === undefined) {
      this.#model = /"model"\s*:\s*"([^"\\]{1,200})"/.exec(events.toString('latin1', 0, HEAD_BYTES))?.[1];
    }
    if (!hasUsage) return;
    for (const line of events.toString('utf8').split('\n')) {
      if (!line.startsWith('data:') || !line.includes('"usage":{')) continue;
      try {
        const event = JSON.parse(line.slice(5)) as { usage?: unknown; response?: { usage?: unknown } };
        const usage = normalizeUsage(event.usage ?? event.response?.usage);
        if (usage) this.#usage = usage;
      } catch {
        // not JSON: not the gateway's to judge; the client gets the bytes as they are
      }
    }
  }

  result(): UsageResult {
    return { usage: this.#usage, model: this.#model };
  }
}

/** Parses the JSON object starting at `open` (a `{`), or undefined. */
function balancedObject(buf: Buffer, open: number): unknown {
  let depth = 0;
  for (let i = open; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x22) {
      for (i++; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++;
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) {
      try {
        return JSON.parse(buf.toString('utf8', open, i + 1));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
