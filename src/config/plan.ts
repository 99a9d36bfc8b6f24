// The routing plan `aoai-gateway check` prints: which deployment names map to
// which targets, in which order, with which share. Never a secret.
import type { Config } from './schema.ts';

export function routingPlan(config: Config): string {
  const out: string[] = [];
  const { listen, admin } = config;
  out.push(`listen ${listen.host}:${listen.port} (body limit ${listen.maxBodyBytes} bytes) · admin ${admin.host}:${admin.port}`, '');

  out.push('endpoints');
  const width = Math.max(...Object.keys(config.endpoints).map((n) => n.length));
  for (const [name, ep] of Object.entries(config.endpoints)) {
    out.push(`  ${name.padEnd(width)}  ${ep.kind.padEnd(6)}  ${ep.url}  auth: ${ep.auth?.type ?? 'none'}`);
  }
  out.push('', 'deployments');
  for (const [name, dep] of Object.entries(config.deployments)) {
    out.push(`  ${name}  (strategy: ${dep.strategy})`);
    const groups = new Map<number, typeof dep.targets>();
    for (const t of dep.targets) groups.set(t.priority, [...(groups.get(t.priority) ?? []), t]);
    const ordered = [...groups.entries()].sort((a, b) => a[0] - b[0]);
    ordered.forEach(([priority, targets], i) => {
      const total = targets.reduce((s, t) => s + t.weight, 0);
      const when = i === 0 ? 'first' : 'when every target above is unavailable';
      out.push(`    priority ${priority} (${when})`);
      for (const t of targets) {
        const share = total > 0 ? `${Math.round((t.weight / total) * 100)}%` : '-';
        const cap = [t.tpm ? `tpm ${t.tpm}` : '', t.rpm ? `rpm ${t.rpm}` : ''].filter(Boolean).join(' ');
        out.push(`      → ${t.endpoint}/${t.deployment ?? name}  weight ${t.weight} (${share})${cap ? `  ${cap}` : ''}`);
      }
    });
  }
  const consumers = Object.entries(config.consumers);
  out.push('', `consumers${consumers.length === 0 ? ': none (every request gets 401)' : ''}`);
  for (const [name, c] of consumers) {
    const limits = c.limits
      ? Object.entries(c.limits)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : 'no limits';
    out.push(`  ${name}  ${c.keys.length} key(s)  deployments: ${c.deployments.join(', ')}  ${limits}`);
  }
  out.push('');
  return out.join('\n');
}
