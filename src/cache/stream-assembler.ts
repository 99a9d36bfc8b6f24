// Puts a streamed chat or legacy completion back together as the JSON answer
// the same request without `stream` would have got, so a streamed miss fills
// the cache for plain and streamed requests alike. Only what it understands
// is kept: a delta field it does not know (audio, data-source context…), an
// error event, a stream that never said [DONE] or never reported usage, an
// answer larger than the entry bound — and nothing is stored.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

interface ToolCall {
  id?: unknown;
  type?: unknown;
  name?: string;
  args: string;
}

interface ChoiceState {
  role: unknown;
  content: string | undefined;
  refusal: string | undefined;
  tools: ToolCall[] | undefined;
  fn: { name?: string; args: string } | undefined;
  logprobs: { content: unknown[] | undefined; refusal: unknown[] | undefined } | undefined;
  filter: unknown;
  finish: unknown;
}

const CHAT_DELTA = new Set(['role', 'content', 'refusal', 'tool_calls', 'function_call']);

export class StreamAssembler {
  readonly #limit: number;
  #chars = 0;
  #failed = false;
  #done = false;
  #kind: 'chat' | 'text' | undefined;
  readonly #head: Json = {};
  #promptFilter: unknown[] | undefined;
  #usage: unknown;
  readonly #choices = new Map<number, ChoiceState>();

  /** `limit`: characters of generated text (and tool arguments) kept at most */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whole SSE events, as the relay passes them on. */
  push(events: Buffer): void {
    if (this.#failed) return;
    for (const raw of events.toString('utf8').split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (!line.startsWith('data:')) continue;
      const data = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
      if (data === '[DONE]') {
        this.#done = true;
        continue;
      }
      let chunk: unknown;
      try {
        chunk = JSON.parse(data);
      } catch {
        return this.#fail();
      }
      if (!isObject(chunk) || !this.#chunk(chunk)) return this.#fail();
    }
  }

  /** The answer as a JSON body, or undefined when the stream cannot be stored. */
  result(): Json | undefined {
    if (this.#failed || !this.#done || !this.#kind || this.#choices.size === 0 || !isObject(this.#usage)) return undefined;
    const choices: Json[] = [];
    for (const index of [...this.#choices.keys()].sort((a, b) => a - b)) {
      const c = this.#choices.get(index) as ChoiceState;
      if (typeof c.finish !== 'string' || c.finish === 'content_filter') return undefined;
      choices.push(this.#kind === 'chat' ? chatChoice(index, c) : textChoice(index, c));
    }
    const body: Json = {
      choices,
      created: this.#head.created ?? 0,
      id: this.#head.id ?? '',
      model: this.#head.model ?? '',
      object: this.#kind === 'chat' ? 'chat.completion' : 'text_completion',
    };
    if (this.#promptFilter) body.prompt_filter_results = this.#promptFilter;
    if (this.#head.system_fingerprint !== undefined) body.system_fingerprint = this.#head.system_fingerprint;
    body.usage = this.#usage;
    return body;
  }

  #fail(): void {
    this.#failed = true;
    this.#choices.clear();
  }

  #add(s: string): boolean {
    this.#chars += s.length;
    return this.#chars <= this.#limit;
  }

  /** false: not a chunk this assembler can keep */
  #chunk(chunk: Json): boolean {
    if (chunk.error !== undefined) return false;
    if (Array.isArray(chunk.prompt_filter_results)) (this.#promptFilter ??= []).push(...chunk.prompt_filter_results);
    if (isObject(chunk.usage)) this.#usage = chunk.usage;
    if (typeof chunk.id === 'string' && chunk.id !== '') this.#head.id ??= chunk.id;
    if (typeof chunk.created === 'number' && chunk.created !== 0) this.#head.created ??= chunk.created;
    if (typeof chunk.model === 'string' && chunk.model !== '') this.#head.model ??= chunk.model;
    if (chunk.system_fingerprint !== undefined && chunk.system_fingerprint !== null) this.#head.system_fingerprint = chunk.system_fingerprint;
    const kind = chunk.object === 'chat.completion.chunk' ? 'chat' : chunk.object === 'text_completion' ? 'text' : undefined;
    if (!Array.isArray(chunk.choices)) return false;
    if (chunk.choices.length === 0) return true; // Azure's first event, or the usage event
    if (!kind || (this.#kind && this.#kind !== kind)) return false;
    this.#kind = kind;
    for (const c of chunk.choices) {
      if (!isObject(c) || typeof c.index !== 'number') return false;
      let s = this.#choices.get(c.index);
      if (!s) {
        if (this.#choices.size >= 128) return false;
        s = { role: undefined, content: undefined, refusal: undefined, tools: undefined, fn: undefined, logprobs: undefined, filter: undefined, finish: undefined };
        this.#choices.set(c.index, s);
      }
      if (!(kind === 'chat' ? this.#chatChoice(s, c) : this.#textChoice(s, c))) return false;
      if (isObject(c.content_filter_results) && Object.keys(c.content_filter_results).length > 0) s.filter = c.content_filter_results;
      if (c.finish_reason !== null && c.finish_reason !== undefined) s.finish = c.finish_reason;
    }
    return true;
  }

  #chatChoice(s: ChoiceState, c: Json): boolean {
    const d = c.delta;
    if (d === undefined || d === null) return true;
    if (!isObject(d)) return false;
    for (const k of Object.keys(d)) if (!CHAT_DELTA.has(k)) return false;
    if (typeof d.role === 'string') s.role = d.role;
    if (typeof d.content === 'string') {
      if (!this.#add(d.content)) return false;
      s.content = (s.content ?? '') + d.content;
    }
    if (typeof d.refusal === 'string') {
      if (!this.#add(d.refusal)) return false;
      s.refusal = (s.refusal ?? '') + d.refusal;
    }
    if (d.tool_calls !== undefined && d.tool_calls !== null && !this.#toolCalls(s, d.tool_calls)) return false;
    if (d.function_call !== undefined && d.function_call !== null) {
      if (!isObject(d.function_call)) return false;
      s.fn ??= { args: '' };
      if (typeof d.function_call.name === 'string') s.fn.name = d.function_call.name;
      if (typeof d.function_call.arguments === 'string') {
        if (!this.#add(d.function_call.arguments)) return false;
        s.fn.args += d.function_call.arguments;
      }
    }
    const lp = c.logprobs;
    if (lp !== undefined && lp !== null) {
      if (!isObject(lp)) return false;
      s.logprobs ??= { content: undefined, refusal: undefined };
      for (const part of ['content', 'refusal'] as const) {
        const v = lp[part];
        if (v === undefined || v === null) continue;
        if (!Array.isArray(v) || !this.#add(JSON.stringify(v))) return false;
        (s.logprobs[part] ??= []).push(...v);
      }
    }
    return true;
  }

  #toolCalls(s: ChoiceState, calls: unknown): boolean {
    if (!Array.isArray(calls)) return false;
    s.tools ??= [];
    for (const t of calls) {
      if (!isObject(t) || typeof t.index !== 'number' || t.index < 0 || t.index >= 128) return false;
      const call = (s.tools[t.index] ??= { args: '' });
      if (t.id !== undefined && t.id !== null) call.id = t.id;
      if (t.type !== undefined && t.type !== null) call.type = t.type;
      if (t.function !== undefined && t.function !== null) {
        if (!isObject(t.function)) return false;
        if (typeof t.function.name === 'string') call.name = (call.name ?? '') + t.function.name;
        if (typeof t.function.arguments === 'string') {
          if (!this.#add(t.function.arguments)) return false;
          call.args += t.function.arguments;
        }
      }
    }
    return true;
  }

  #textChoice(s: ChoiceState, c: Json): boolean {
    if (c.logprobs !== undefined && c.logprobs !== null) return false;
    if (typeof c.text === 'string') {
      if (!this.#add(c.text)) return false;
      s.content = (s.content ?? '') + c.text;
    }
    return true;
  }
}

function chatChoice(index: number, c: ChoiceState): Json {
  const message: Json = { content: c.content ?? null, refusal: c.refusal ?? null, role: c.role ?? 'assistant' };
  if (c.tools) {
    message.tool_calls = c.tools.filter(Boolean).map((t) => ({ id: t.id, type: t.type ?? 'function', function: { name: t.name ?? '', arguments: t.args } }));
    if (message.content === '') message.content = null;
  }
  if (c.fn) {
    message.function_call = { name: c.fn.name ?? '', arguments: c.fn.args };
    if (message.content === '') message.content = null;
  }
  const choice: Json = { finish_reason: c.finish, index, logprobs: c.logprobs ? { content: c.logprobs.content ?? null, refusal: c.logprobs.refusal ?? null } : null, message };
  if (c.filter !== undefined) choice.content_filter_results = c.filter;
  return choice;
}

function textChoice(index: number, c: ChoiceState): Json {
  const choice: Json = { finish_reason: c.finish, index, logprobs: null, text: c.content ?? '' };
  if (c.filter !== undefined) choice.content_filter_results = c.filter;
  return choice;
}
