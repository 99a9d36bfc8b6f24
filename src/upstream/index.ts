export { Endpoint } from './endpoint.ts';
export type { UpstreamCredential } from './credentials.ts';
