// Content safety: prompts checked with Azure AI Content Safety (category
// severities, blocklists, Prompt Shields) before they are forwarded.
export { ContentSafetyGuard, type GuardOptions } from './guard.ts';
export type { SafetyOutcome, SafetyResult } from './outcome.ts';
