export type { Target, DeploymentPool } from './target.ts';
export { Router, type Choice } from './router.ts';
export { TargetHealth, type AttemptResult, type Condition } from './target-health.ts';
export { STRATEGY, type Candidate, type Chooser, type StrategyName } from './strategies/index.ts';
