// Bodies as Azure OpenAI writes them: chat completions (with its content
// filter annotations), legacy completions, embeddings, Responses, images,
// audio, and the error bodies of 401/404/429/400 content_filter/5xx.
import { randomBytes } from 'node:crypto';

const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do', 'eiusmod', 'tempor'];

const SAFE = { filtered: false, severity: 'safe' } as const;
export const CONTENT_FILTER_RESULTS = { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
export const PROMPT_FILTER_RESULTS = [{ prompt_index: 0, content_filter_results: CONTENT_FILTER_RESULTS }];

export function id(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('base64url')}`;
}

/** The i-th generated token's text. */
export function token(i: number): string {
  return (i === 0 ? '' : ' ') + WORDS[i % WORDS.length];
}

export function text(tokens: number): string {
  let s = '';
  for (let i = 0; i < tokens; i++) s += token(i);
  return s;
}

export interface Generation {
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** 'length' when max_tokens cut the answer */
  readonly finishReason: 'stop' | 'length';
}

export function usage(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: g.completionTokens,
    total_tokens: g.promptTokens + g.completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

export function chatCompletion(g: Generation) {
  return {
    choices: [
      {
        content_filter_results: CONTENT_FILTER_RESULTS,
        finish_reason: g.finishReason,
        index: 0,
        logprobs: null,
        message: { content: text(g.completionTokens), refusal: null, role: 'assistant' },
      },
    ],
    created: Math.floor(Date.now() / 1000),
    id: id('chatcmpl-'),
    model: g.model,
    object: 'chat.completion',
    prompt_filter_results: PROMPT_FILTER_RESULTS,
    system_fingerprint: 'fp_sim',
    usage: usage(g),
  };
}

/** The events of a streamed chat completion, as `data:` payloads (without `[DONE]`). */
export function* chatCompletionChunks(g: Generation, includeUsage: boolean): Generator<string> {
  const created = Math.floor(Date.now() / 1000);
  const cid = id('chatcmpl-');
  // Azure's first event: no id, no choices, only the prompt's filter results.
  yield JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS });
  const chunk = (delta: object, finish: string | null, filter: object) =>
    JSON.stringify({
      choices: [{ content_filter_results: filter, delta, finish_reason: finish, index: 0, logprobs: null }],
      created,
      id: cid,
      model: g.model,
      object: 'chat.completion.chunk',
      system_fingerprint: 'fp_sim',
      ...(includeUsage ? { usage: null } : {}),
    });
  yield chunk({ content: '', refusal: null, role: 'assistant' }, null, {});
  for (let i = 0; i < g.completionTokens; i++) yield chunk({ content: token(i) }, null, CONTENT_FILTER_RESULTS);
  yield chunk({}, g.finishReason, {});
  if (includeUsage) {
    yield JSON.stringify({
      choices: [],
      created,
      id: cid,
      model: g.model,
      object: 'chat.completion.chunk',
      system_fingerprint: 'fp_sim',
      usage: usage(g),
    });
  }
}

export function completion(g: Generation) {
  return {
    choices: [{ content_filter_results: CONTENT_FILTER_RESULTS, finish_reason: g.finishReason, index: 0, logprobs: null, text: text(g.completionTokens) }],
    created: Math.floor(Date.now() / 1000),
    id: id('cmpl-'),
    model: g.model,
    object: 'text_completion',
    prompt_filter_results: PROMPT_FILTER_RESULTS,
    usage: usage(g),
  };
}

export function* completionChunks(g: Generation, includeUsage: boolean): Generator<string> {
  const created = Math.floor(Date.now() / 1000);
  const cid = id('cmpl-');
  yield JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS });
  for (let i = 0; i < g.completionTokens; i++) {
    const last = i === g.completionTokens - 1;
    yield JSON.stringify({
      choices: [{ content_filter_results: CONTENT_FILTER_RESULTS, finish_reason: last ? g.finishReason : null, index: 0, logprobs: null, text: token(i) }],
      created,
      id: cid,
      model: g.model,
      object: 'text_completion',
    });
  }
  if (includeUsage) yield JSON.stringify({ choices: [], created, id: cid, model: g.model, object: 'text_completion', usage: usage(g) });
}

export function embeddings(model: string, inputs: number, dimensions: number, base64: boolean, promptTokens: number) {
  const data = [];
  for (let i = 0; i < inputs; i++) {
    const v = new Float32Array(dimensions);
    for (let d = 0; d < dimensions; d++) v[d] = Math.sin(i + d) / Math.sqrt(dimensions);
    data.push({
      object: 'embedding',
      index: i,
      embedding: base64 ? Buffer.from(v.buffer).toString('base64') : Array.from(v),
    });
  }
  return { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
}

function responseObject(g: Generation, rid: string, status: 'in_progress' | 'completed', withOutput: boolean) {
  const usageBlock = {
    input_tokens: g.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: g.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: g.promptTokens + g.completionTokens,
  };
  return {
    id: rid,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: g.model,
    output: withOutput
      ? [
          {
            type: 'message',
            id: `msg_${rid.slice(5)}`,
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: text(g.completionTokens), annotations: [] }],
          },
        ]
      : [],
    usage: status === 'completed' ? usageBlock : null,
  };
}

/** A completed Response; `rid` is its id (kept by the account when stored). */
export function response(g: Generation, rid = id('resp_')) {
  return responseObject(g, rid, 'completed', true);
}

/** The events of a streamed Response as [event name, data] pairs. */
export function* responseEvents(g: Generation, rid = id('resp_')): Generator<[string, string]> {
  let seq = 0;
  const ev = (type: string, rest: object): [string, string] => [type, JSON.stringify({ type, sequence_number: seq++, ...rest })];
  yield ev('response.created', { response: responseObject(g, rid, 'in_progress', false) });
  const itemId = `msg_${rid.slice(5)}`;
  for (let i = 0; i < g.completionTokens; i++) {
    yield ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: token(i) });
  }
  yield ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text: text(g.completionTokens) });
  yield ev('response.completed', { response: responseObject(g, rid, 'completed', true) });
}

export function image(b64: boolean) {
  // A 1x1 transparent PNG.
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
  return {
    created: Math.floor(Date.now() / 1000),
    data: [b64 ? { b64_json: png, revised_prompt: 'a simulated image' } : { url: 'https://simulator.invalid/image.png', revised_prompt: 'a simulated image' }],
  };
}

export function azureError(code: string, message: string, extra: object = {}) {
  return { error: { code, message, ...extra } };
}

export function rateLimitMessage(reason: 'tokens' | 'requests', retryAfterS: number): string {
  const what = reason === 'tokens' ? 'token rate limit' : 'call rate limit';
  return (
    `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded ${what} ` +
    `of your current OpenAI S0 pricing tier. Please retry after ${retryAfterS} seconds. ` +
    'Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.'
  );
}

export function contentFilterError() {
  return azureError(
    'content_filter',
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    {
      param: 'prompt',
      status: 400,
      innererror: {
        code: 'ResponsibleAIPolicyViolation',
        content_filter_result: { ...CONTENT_FILTER_RESULTS, violence: { filtered: true, severity: 'high' } },
      },
    },
  );
}
