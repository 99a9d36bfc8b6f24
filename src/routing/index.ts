export type { Target, DeploymentPool } from './target.ts';
export { pickPriority } from './priority.ts';
