// What the admin plane may do to a running gateway: read its state, the
// ledger's usage and keys, make and revoke keys, reload, drain. The admin
// server (src/admin) knows only this port, not the gateway.
import type { AdminPort } from '../admin/admin-server.ts';
import { createKey, keyStatus, revokeKey } from '../ledger/keys.ts';
import { summarise } from '../ledger/usage-report.ts';
import { GatewayError } from '../proxy/errors.ts';
import type { Gateway } from './gateway.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function adminPortOf(gw: Gateway): AdminPort {
  const ledger = gw.ledger.backend;
  return {
    state: () => gw.state(),
    activity: () => gw.activity.snapshot(Date.now()),
    usage: async (by, since) => summarise(by, await ledger.usage(by, since), gw.runtime.config.prices),
    keys: async () =>
      (await ledger.keys()).map((k) => ({
        id: k.id,
        consumer: k.consumer,
        prefix: k.prefix,
        createdAt: iso(k.createdAt),
        expiresAt: iso(k.expiresAt),
        status: keyStatus(k),
      })),
    createKey: async (consumer, expiresInSeconds) => {
      if (!gw.runtime.config.consumers[consumer]) {
        throw new GatewayError('invalid_body', `No consumer named "${consumer}" in the config.`, { param: 'consumer' });
      }
      const { key, stored } = await createKey(ledger, consumer, expiresInSeconds === undefined ? undefined : expiresInSeconds * 1000);
      // This gateway takes it at once; the others at their next refresh.
      await gw.refreshKeys();
      return { key, id: stored.id, consumer, prefix: stored.prefix, expiresAt: iso(stored.expiresAt) };
    },
    revokeKey: async (idOrPrefix) => {
      const n = (await revokeKey(ledger, idOrPrefix)).length;
      if (n > 0) await gw.refreshKeys();
      return n;
    },
    reload: () => gw.reload(),
    drain: (id, drained) => gw.router.drain(id, drained),
    metrics: (req, res) => {
      const prometheus = gw.telemetry.prometheus;
      if (!prometheus) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('Prometheus metrics are off (telemetry.prometheus: false)\n');
      }
      prometheus.getMetricsRequestHandler(req, res);
    },
    adminKey: () => gw.runtime.config.admin.key,
  };
}
