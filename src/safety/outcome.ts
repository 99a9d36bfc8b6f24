// What the content safety check of one request came to: kept on the Exchange
// for its access-log line and, for a refusal, its audit record.

export type SafetyResult = 'passed' | 'blocked' | 'unavailable' | 'failed-open' | 'too-long';

export interface SafetyOutcome {
  readonly result: SafetyResult;
  /** how long the check took, ms */
  readonly ms: number;
  /** the audit record's detail fields for a refusal: categories, severities, attacks, the prompt with recordPrompt */
  readonly audit: Readonly<Record<string, string | number | boolean | undefined>>;
}
