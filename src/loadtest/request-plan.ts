// What each request is: path, headers and body per deployment, built once
// (the bodies as bytes) so that sending one allocates next to nothing.
import { estimatePromptTokens } from '../tokens/estimate.ts';
import type { BenchOptions } from './options.ts';

export interface PlannedRequest {
  readonly deployment: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

// Three-letter words and a space: four characters, which is one token both to
// Azure's admission estimate (about four characters a token) and to the
// GPT tokenizers (each is a single token with its leading space).
const WORDS = ('the and for you are can was not but all any one our out day get has him his how man new now old see two way who boy did its let put say she too use ' +
  'big end far few got job key lot may run set sun top war yes yet act add age ago air arm art ask bad bed box car cut dog eat eye fun')
  .split(' ');

const SYSTEM = 'You are a helpful assistant.';
const INSTRUCTION = 'Summarise the notes below.';

/**
 * A chat whose prompt is about `tokens` tokens, as Azure estimates them at
 * admission: a system message and an instruction, then filler words; below
 * that size a single user message of words (at least one: about 8 tokens).
 */
export function chatMessages(tokens: number): { role: string; content: string }[] {
  const full = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: INSTRUCTION },
  ];
  const fullOverhead = estimatePromptTokens({ messages: full });
  if (tokens >= fullOverhead) {
    full[1].content += words(tokens - fullOverhead);
    return full;
  }
  const overhead = estimatePromptTokens({ messages: [{ role: 'user', content: '' }] });
  return [{ role: 'user', content: words(Math.max(1, tokens - overhead)).trimStart() }];
}

function words(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ` ${WORDS[(i * 7) % WORDS.length]}`;
  return s;
}

export function planRequests(o: BenchOptions): PlannedRequest[] {
  const messages = chatMessages(o.promptTokens);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of o.headers) headers[name] = value;
  if (o.key !== undefined) {
    if (o.bearer) headers.authorization = `Bearer ${o.key}`;
    else headers['api-key'] = o.key;
  }
  return o.deployments.map((deployment) => {
    const body: Record<string, unknown> = o.api === 'v1' ? { model: deployment, messages } : { messages };
    body.max_tokens = o.maxTokens;
    if (o.stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    const path =
      o.api === 'v1'
        ? `${o.basePath}/openai/v1/chat/completions`
        : `${o.basePath}/openai/deployments/${encodeURIComponent(deployment)}/chat/completions?api-version=${encodeURIComponent(o.apiVersion)}`;
    const bytes = Buffer.from(JSON.stringify(body));
    return { deployment, path, headers, body: bytes };
  });
}
