export type { Target, DeploymentPool } from './target.ts';
export { Router, type Choice, type None, type Condition, type TargetStatus } from './router.ts';
export { TargetHealth, type AttemptResult } from './target-health.ts';
export { STRATEGY, type Candidate, type Chooser, type StrategyName } from './strategies/index.ts';
export { targetLimits, breakerSpec } from './limits.ts';
