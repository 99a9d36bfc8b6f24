// Cross-checks of the Entra consumer and Key Vault settings: what the schema
// cannot see alone. Runs on the unvalidated tree, like load.ts's crossCheck.
import type { Issue } from './interpolate.ts';

type Loose = Record<string, unknown>;
const rec = (v: unknown): Loose => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {});

export function checkEntraConsumers(root: Loose, checkIdentity: (cfg: Loose, at: string) => Issue[]): Issue[] {
  const issues: Issue[] = [];
  const owner = new Map<string, string>();
  for (const [name, raw] of Object.entries(rec(root.consumers))) {
    const apps = rec(raw).entraAppIds;
    if (!Array.isArray(apps)) continue;
    apps.forEach((app, i) => {
      if (typeof app !== 'string') return;
      const at = `consumers.${name}.entraAppIds[${i}]`;
      if (root.entra === undefined) issues.push({ path: at, message: 'needs the top-level entra: { tenantId, audiences } that says whose tokens are accepted' });
      const other = owner.get(app.toLowerCase());
      if (other !== undefined && other !== name) issues.push({ path: at, message: `the same app is also given to consumer "${other}"` });
      owner.set(app.toLowerCase(), name);
    });
  }
  const kv = rec(rec(root.secrets).keyvault);
  if (Object.keys(kv).length > 0) issues.push(...checkIdentity(kv, 'secrets.keyvault'));
  return issues;
}
