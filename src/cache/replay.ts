// A cached answer replayed as the stream Azure OpenAI would have sent for
// it: a first event with the prompt's filter results and no choices, per
// choice a role event, its content (or tool calls) and its finish reason,
// the usage event only when the client asked for it
// (`stream_options.include_usage`), then `data: [DONE]`.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The SSE text of a cached chat or legacy completion, or undefined when the body is neither. */
export function replayStream(body: Json, includeUsage: boolean): string | undefined {
  if (!Array.isArray(body.choices) || !body.choices.every(isObject)) return undefined;
  const choices = body.choices as Json[];
  if (body.object === 'chat.completion') return frame(chatEvents(body, choices, includeUsage));
  if (body.object === 'text_completion') return frame(completionEvents(body, choices, includeUsage));
  return undefined;
}

function frame(events: Json[] | undefined): string | undefined {
  if (!events) return undefined;
  let s = '';
  for (const e of events) s += `data: ${JSON.stringify(e)}\n\n`;
  return `${s}data: [DONE]\n\n`;
}

function head(body: Json, object: string, includeUsage: boolean): Json {
  const h: Json = { id: body.id ?? '', object, created: body.created ?? 0, model: body.model ?? '' };
  if (body.system_fingerprint !== undefined) h.system_fingerprint = body.system_fingerprint;
  if (includeUsage) h.usage = null;
  return h;
}

/** Azure's first event: no id, no choices, the prompt's filter results. */
function promptFilterEvent(body: Json): Json[] {
  if (body.prompt_filter_results === undefined) return [];
  return [{ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: body.prompt_filter_results }];
}

function usageEvent(body: Json, object: string, includeUsage: boolean): Json[] {
  if (!includeUsage || !isObject(body.usage)) return [];
  return [{ ...head(body, object, false), choices: [], usage: body.usage }];
}

function chatEvents(body: Json, choices: Json[], includeUsage: boolean): Json[] | undefined {
  const h = head(body, 'chat.completion.chunk', includeUsage);
  const events = promptFilterEvent(body);
  for (const c of choices) {
    const m = c.message;
    if (!isObject(m)) return undefined;
    const index = c.index ?? 0;
    events.push({ ...h, choices: [{ index, delta: { role: m.role ?? 'assistant', content: '' }, finish_reason: null, logprobs: null }] });
    const delta: Json = {};
    if (typeof m.content === 'string' && m.content !== '') delta.content = m.content;
    if (typeof m.refusal === 'string') delta.refusal = m.refusal;
    if (Array.isArray(m.tool_calls)) {
      delta.tool_calls = m.tool_calls.map((t: unknown, i: number) => (isObject(t) ? { index: i, ...t } : t));
    }
    if (m.function_call !== undefined) delta.function_call = m.function_call;
    if (Object.keys(delta).length > 0 || c.logprobs) {
      const choice: Json = { index, delta, finish_reason: null, logprobs: c.logprobs ?? null };
      if (c.content_filter_results !== undefined) choice.content_filter_results = c.content_filter_results;
      events.push({ ...h, choices: [choice] });
    }
    events.push({ ...h, choices: [{ index, delta: {}, finish_reason: c.finish_reason ?? 'stop', logprobs: null }] });
  }
  events.push(...usageEvent(body, 'chat.completion.chunk', includeUsage));
  return events;
}

function completionEvents(body: Json, choices: Json[], includeUsage: boolean): Json[] {
  const h = head(body, 'text_completion', includeUsage);
  delete h.system_fingerprint;
  const events = promptFilterEvent(body);
  for (const c of choices) {
    const index = c.index ?? 0;
    const choice: Json = { index, text: typeof c.text === 'string' ? c.text : '', finish_reason: null, logprobs: c.logprobs ?? null };
    if (c.content_filter_results !== undefined) choice.content_filter_results = c.content_filter_results;
    events.push({ ...h, choices: [choice] });
    events.push({ ...h, choices: [{ index, text: '', finish_reason: c.finish_reason ?? 'stop', logprobs: null }] });
  }
  events.push(...usageEvent(body, 'text_completion', includeUsage));
  return events;
}
