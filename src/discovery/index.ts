// Deployment discovery through Azure Resource Manager: lists each account's
// deployments, selects and groups them, and joins them to the config.
export { Discovery, type DiscoveryOptions, type DiscoveryReport } from './discovery.ts';
export { mergeDiscovered, type Merged } from './merge.ts';
export { selectTargets, type DiscoveredTarget } from './select.ts';
export { DISCOVERY_METRICS } from './worker.ts';
