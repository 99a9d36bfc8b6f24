// Affinity for stateful operations: files, batches, stored Responses,
// assistants, threads and vector stores stay on the endpoint that made them,
// reachable only by the consumer that made them.
export { AFFINITY_METRIC } from './affinity-metric.ts';
export { DEPLOYMENT_HEADER, forwardStored, routeStoredObjects, type AffinityOutcome, type AffinityState } from './route-objects.ts';
export { findHome, rememberHome, type ObjectHome } from './object-map.ts';
export { objectOperation, referencedIds } from './object-refs.ts';
