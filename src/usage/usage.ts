// Token usage as upstream reports it, normalised over the chat/completions
// shape (prompt_tokens…) and the Responses shape (input_tokens…).

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly cachedTokens: number | undefined;
  readonly reasoningTokens: number | undefined;
}

type Raw = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Raw | undefined => (v !== null && typeof v === 'object' ? (v as Raw) : undefined);

export function normalizeUsage(raw: unknown): Usage | undefined {
  const u = obj(raw);
  if (!u) return undefined;
  const prompt = num(u.prompt_tokens) ?? num(u.input_tokens);
  const completion = num(u.completion_tokens) ?? num(u.output_tokens) ?? 0;
  if (prompt === undefined) return undefined;
  const total = num(u.total_tokens) ?? prompt + completion;
  const inDetails = obj(u.prompt_tokens_details) ?? obj(u.input_tokens_details);
  const outDetails = obj(u.completion_tokens_details) ?? obj(u.output_tokens_details);
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: total,
    cachedTokens: num(inDetails?.cached_tokens),
    reasoningTokens: num(outDetails?.reasoning_tokens),
  };
}
