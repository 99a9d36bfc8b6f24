// What the service's answers mean under a policy, and the answer a blocked
// prompt gets: Azure OpenAI's own 400 content_filter body, so clients and
// SDKs that handle Azure's prompt filter handle this one the same way.
import type { AnalyzeResult, Category, ShieldResult } from './client.ts';
import type { SafetyPolicy } from './policy.ts';

/** Azure OpenAI's names for the categories (content_filter_result keys). */
export const AZURE_NAME: Readonly<Record<Category, string>> = { Hate: 'hate', SelfHarm: 'self_harm', Sexual: 'sexual', Violence: 'violence' };

export interface Findings {
  /** the highest severity of each analyzed category over every call */
  readonly severities: Map<Category, number>;
  readonly blocklists: Set<string>;
  /** undefined: Prompt Shields not asked */
  userAttack: boolean | undefined;
  documentAttack: boolean | undefined;
}

export function emptyFindings(): Findings {
  return { severities: new Map(), blocklists: new Set(), userAttack: undefined, documentAttack: undefined };
}

export function addAnalysis(f: Findings, r: AnalyzeResult): void {
  for (const [c, s] of r.severities) f.severities.set(c, Math.max(s, f.severities.get(c) ?? 0));
  for (const b of r.blocklists) f.blocklists.add(b);
}

export function addShield(f: Findings, r: ShieldResult): void {
  f.userAttack = (f.userAttack ?? false) || r.userAttack;
  f.documentAttack = (f.documentAttack ?? false) || r.documentAttack;
}

/** What blocked the prompt, by Azure OpenAI's names (hate, jailbreak, indirect_attack, blocklist…); empty: it passes. */
export function blockedBy(policy: SafetyPolicy, f: Findings): string[] {
  const out: string[] = [];
  for (const [c, threshold] of policy.thresholds) if ((f.severities.get(c) ?? 0) >= threshold) out.push(AZURE_NAME[c]);
  if (f.userAttack) out.push('jailbreak');
  if (f.documentAttack) out.push('indirect_attack');
  if (f.blocklists.size > 0) out.push('blocklist');
  return out;
}

/** Azure's severity words: the four-level scale answers 0, 2, 4, 6; the eight-level one anything from 0 to 7. */
export function severityLabel(severity: number): 'safe' | 'low' | 'medium' | 'high' {
  return severity < 2 ? 'safe' : severity < 4 ? 'low' : severity < 6 ? 'medium' : 'high';
}

export const FILTERED_MESSAGE =
  "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766";

/** Azure OpenAI's 400 for a filtered prompt, with a result for every check the policy made. */
export function contentFilterBody(policy: SafetyPolicy, f: Findings): string {
  const result: Record<string, unknown> = {};
  for (const [c, threshold] of policy.thresholds) {
    const severity = f.severities.get(c) ?? 0;
    result[AZURE_NAME[c]] = { filtered: severity >= threshold, severity: severityLabel(severity) };
  }
  if (f.userAttack !== undefined) result.jailbreak = { filtered: f.userAttack, detected: f.userAttack };
  if (f.documentAttack !== undefined && f.documentAttack) result.indirect_attack = { filtered: true, detected: true };
  if (policy.blocklists.length > 0) {
    result.custom_blocklists = { filtered: f.blocklists.size > 0, details: [...f.blocklists].map((id) => ({ filtered: true, id })) };
  }
  return JSON.stringify({
    error: {
      message: FILTERED_MESSAGE,
      type: null,
      param: 'prompt',
      code: 'content_filter',
      status: 400,
      innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: result },
    },
  });
}
