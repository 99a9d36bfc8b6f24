// Token estimates made before a request runs, the way Azure OpenAI admits
// requests: prompt text at about four characters a token plus a small
// overhead per message, and the completion at its declared maximum.

type Json = Record<string, unknown>;

const CHARS_PER_TOKEN = 4;
const PER_MESSAGE = 4;
const PER_REQUEST = 3;
/** what an image part costs at low detail */
const IMAGE_PART = 85;

export function textTokens(s: string): number {
  return Math.ceil(s.length / CHARS_PER_TOKEN);
}

/** Prompt tokens of a chat, completions, embeddings or responses request body. */
export function estimatePromptTokens(body: Json): number {
  if (Array.isArray(body.messages)) return PER_REQUEST + messagesTokens(body.messages);
  if (body.prompt !== undefined) return inputTokens(body.prompt);
  if (body.input !== undefined) {
    let n = inputTokens(body.input);
    if (typeof body.instructions === 'string') n += textTokens(body.instructions);
    return n;
  }
  return 0;
}

/** The completion budget a request declares, else `fallback`. */
export function declaredMaxTokens(body: Json, fallback: number): number {
  const v = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
  return typeof v === 'number' && v >= 0 ? v : fallback;
}

/**
 * Prompt + declared completion, times the choices asked for: what Azure
 * reserves at admission. An operation that generates nothing (embeddings)
 * costs its prompt only.
 */
export function estimateRequestTokens(body: Json, defaultMaxTokens: number, generates = true): number {
  if (!generates) return estimatePromptTokens(body);
  const choices = Math.max(1, num(body.n), num(body.best_of));
  return estimatePromptTokens(body) + declaredMaxTokens(body, defaultMaxTokens) * choices;
}

/** Whether an operation path generates tokens (and so reserves max_tokens). */
export function generatesTokens(operation: string): boolean {
  return operation.endsWith('completions') || operation === 'responses' || operation.endsWith('/responses');
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function messagesTokens(messages: unknown[]): number {
  let n = 0;
  for (const m of messages) {
    n += PER_MESSAGE;
    if (m !== null && typeof m === 'object') n += contentTokens((m as Json).content);
  }
  return n;
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return textTokens(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    if (typeof part === 'string') n += textTokens(part);
    else if (part !== null && typeof part === 'object') {
      const p = part as Json;
      if (typeof p.text === 'string') n += textTokens(p.text);
      else if (p.type === 'image_url' || p.type === 'input_image') n += IMAGE_PART;
    }
  }
  return n;
}

/** `prompt` / `input`: a string, a list of strings, token arrays, or Responses input items. */
function inputTokens(input: unknown): number {
  if (typeof input === 'string') return textTokens(input);
  if (!Array.isArray(input)) return 0;
  let n = 0;
  for (const item of input) {
    if (typeof item === 'string') n += textTokens(item);
    else if (typeof item === 'number') n += 1;
    else if (Array.isArray(item)) n += item.length;
    else if (item !== null && typeof item === 'object') n += PER_MESSAGE + contentTokens((item as Json).content);
  }
  return n;
}
