// The admin API, described for clients and tools (served at /admin/api/openapi.json).

const error = { $ref: '#/components/schemas/Error' };
const errors = {
  '401': { description: 'No admin key, or a wrong one', content: { 'application/json': { schema: error } } },
  '403': { description: 'The admin API is off (no admin.key in the config)', content: { 'application/json': { schema: error } } },
};
const ok = (description: string, schema: object = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });

export const ADMIN_OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'aoai-gateway admin API', version: '1' },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }, { apiKey: [] }],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'The admin key (admin.key)' },
      apiKey: { type: 'apiKey', in: 'header', name: 'api-key', description: 'The admin key (admin.key)' },
    },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: { message: { type: 'string' }, type: { type: 'string' }, code: { type: 'string' }, param: { type: ['string', 'null'] } },
          },
        },
      },
      Target: {
        type: 'object',
        properties: {
          id: { type: 'string', description: 'endpoint/deployment' },
          endpoint: { type: 'string' },
          deployment: { type: 'string', description: 'the deployment name on its endpoint' },
          priority: { type: 'integer' },
          weight: { type: 'number' },
          state: { type: 'string', enum: ['available', 'cooling', 'circuit-open', 'half-open', 'over-budget', 'passive', 'probe-failed', 'credential-failed', 'drained'] },
          reason: { type: ['string', 'null'], description: 'with credential-failed: why no Entra ID token could be had (never the token)' },
          availableAt: { type: ['integer', 'null'], description: 'when it is back (epoch ms); null when available or drained' },
          cooldownUntil: { type: ['integer', 'null'] },
          circuit: { type: 'string', enum: ['closed', 'open', 'half-open'] },
          inFlight: { type: 'integer', description: 'in this replica' },
          remainingRequests: { type: ['integer', 'null'], description: 'last x-ratelimit-remaining-requests' },
          remainingTokens: { type: ['integer', 'null'], description: 'last x-ratelimit-remaining-tokens' },
          tokensThisMinute: { type: 'integer', description: 'tokens this replica saw it serve in the last minute' },
          reservedThisMinute: { type: ['integer', 'null'], description: 'tokens reserved against its declared tpm (all replicas)' },
          tpm: { type: ['integer', 'null'] },
          rpm: { type: ['integer', 'null'] },
          latencyMs: { type: ['number', 'null'], description: 'moving average of time to first byte' },
        },
      },
    },
  },
  paths: {
    '/admin/api/state': { get: { summary: 'Every deployment and its targets, as routing sees them now', responses: { '200': ok('State'), ...errors } } },
    '/admin/api/activity': { get: { summary: 'Requests and tokens over the last 15 minutes, top consumers, recent refusals (this replica)', responses: { '200': ok('Activity'), ...errors } } },
    '/admin/api/usage': {
      get: {
        summary: 'Usage from the ledger',
        parameters: [
          { name: 'by', in: 'query', schema: { type: 'string', enum: ['consumer', 'deployment', 'endpoint'], default: 'consumer' } },
          { name: 'since', in: 'query', schema: { type: 'string', default: '24h' }, description: 'a duration (30m, 24h, 7d, 2w) or an ISO time' },
        ],
        responses: { '200': ok('Usage rows'), '400': ok('A bad parameter', error), ...errors },
      },
    },
    '/admin/api/keys': {
      get: { summary: 'Keys kept in the ledger (never the keys themselves)', responses: { '200': ok('Keys'), ...errors } },
      post: {
        summary: 'Create a key for a consumer the config defines; the key is in this answer only',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['consumer'], properties: { consumer: { type: 'string' }, expiresInSeconds: { type: 'number' } } } } },
        },
        responses: { '201': ok('The new key'), '400': ok('Unknown consumer or bad body', error), ...errors },
      },
    },
    '/admin/api/keys/{id}': {
      delete: { summary: 'Revoke a key by id or prefix', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': ok('Revoked'), '404': ok('No such active key', error), ...errors } },
    },
    '/admin/api/keys/{id}/revoke': {
      post: { summary: 'Revoke a key by id or prefix', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': ok('Revoked'), '404': ok('No such active key', error), ...errors } },
    },
    '/admin/api/reload': {
      post: { summary: 'Read the config file again and swap it in; an invalid one is refused and the running config stays', responses: { '200': ok('Reloaded'), '400': ok('The problems, by path'), ...errors } },
    },
    '/admin/api/targets/{endpoint}/{deployment}/drain': {
      post: {
        summary: 'Take a target out of rotation (on every replica sharing the state store)',
        parameters: [
          { name: 'endpoint', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'deployment', in: 'path', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': ok('Drained'), '404': ok('No such target', error), ...errors },
      },
    },
    '/admin/api/targets/{endpoint}/{deployment}/undrain': {
      post: {
        summary: 'Put a drained target back',
        parameters: [
          { name: 'endpoint', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'deployment', in: 'path', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': ok('Undrained'), '404': ok('No such target', error), ...errors },
      },
    },
    '/admin/api/openapi.json': { get: { summary: 'This description', responses: { '200': ok('OpenAPI') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (needs the admin key when one is set)', responses: { '200': { description: 'text/plain exposition' } } } },
  },
} as const;
