export { normalizeUsage, type Usage } from './usage.ts';
export { createUsageProbe, type UsageProbe, type UsageResult } from './usage-probe.ts';
