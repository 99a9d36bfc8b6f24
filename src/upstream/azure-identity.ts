// Entra ID credentials from @azure/identity, as a config names them: one
// factory for every part that talks to Azure (endpoints, Resource Manager,
// Key Vault). The package is loaded only when a credential is asked for.
import type { TokenCredential } from '@azure/identity';
import type { AzureIdentityConfig } from '../config/schema.ts';

export async function createTokenCredential(cfg: AzureIdentityConfig): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  const { clientId, tenantId, authorityHost } = cfg;
  // Instance discovery asks login.microsoftonline.com about the authority: for a host Entra's
  // public list does not know (Azure Stack, a private cloud, a local stand-in) it can only fail.
  const common = authorityHost ? { authorityHost, ...(KNOWN_AUTHORITIES.has(hostOf(authorityHost)) ? {} : { disableInstanceDiscovery: true }) } : {};
  switch (cfg.credential) {
    case 'managed-identity':
      return clientId ? new identity.ManagedIdentityCredential({ clientId }) : new identity.ManagedIdentityCredential();
    case 'workload-identity':
      // AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID come from the pod's service account.
      return new identity.WorkloadIdentityCredential({ ...common, ...(clientId ? { clientId } : {}), ...(tenantId ? { tenantId } : {}) });
    case 'client-secret':
      return new identity.ClientSecretCredential(tenantId!, clientId!, cfg.clientSecret!, common);
    case 'client-certificate':
      return new identity.ClientCertificateCredential(tenantId!, clientId!, { certificatePath: cfg.certificatePath! }, common);
    case 'azure-cli':
      return new identity.AzureCliCredential(tenantId ? { tenantId } : {});
    default:
      return new identity.DefaultAzureCredential({ ...common, ...(clientId ? { managedIdentityClientId: clientId } : {}), ...(tenantId ? { tenantId } : {}) });
  }
}

/** Entra's own hosts (public and sovereign clouds), which instance discovery knows. */
const KNOWN_AUTHORITIES = new Set([
  'login.microsoftonline.com',
  'login.microsoft.com',
  'login.windows.net',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.de',
]);

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}
