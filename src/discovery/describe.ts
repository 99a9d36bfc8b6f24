// What `aoai-gateway check --discover` prints about discovery: per endpoint,
// what Resource Manager listed, what joins which deployment, what was left
// out and why. Never a token.
import type { DiscoveryReport } from './discovery.ts';
import type { Merged } from './merge.ts';

export function describeDiscovery(reports: readonly DiscoveryReport[], added: Merged['added']): string {
  const out: string[] = ['discovery'];
  if (reports.length === 0) out.push('  no endpoint has discovery');
  for (const r of reports) {
    if (r.failing) {
      out.push(`  ${r.endpoint} (account ${r.account}): FAILED ${r.lastError?.code}: ${r.lastError?.message}`);
      continue;
    }
    out.push(`  ${r.endpoint} (account ${r.account}): ${r.listed} listed, ${r.targets.length} taken${r.urlMatches === false ? '  (warning: the account\'s endpoint is not this endpoint\'s url)' : ''}`);
    for (const a of added.filter((x) => x.target.startsWith(`${r.endpoint}/`))) {
      const t = r.targets.find((x) => `${r.endpoint}/${x.upstream}` === a.target);
      const cap = [t?.tpm ? `tpm ${t.tpm}` : '', t?.rpm ? `rpm ${t.rpm}` : ''].filter(Boolean).join(' ');
      out.push(`    + ${a.target} → ${a.deployment}${a.created ? ' (new)' : ''}  priority ${a.priority}  ${t?.sku ?? ''}${cap ? `  ${cap}` : ''}`);
    }
    for (const t of r.targets.filter((x) => !added.some((a) => a.target === `${r.endpoint}/${x.upstream}`))) {
      out.push(`    = ${r.endpoint}/${t.upstream} → ${t.deployment}  (already written in the config)`);
    }
    for (const s of r.skipped) out.push(`    - ${s.name}: ${s.reason}`);
  }
  out.push('');
  return out.join('\n');
}
