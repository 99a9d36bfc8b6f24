export { KeyVaultSecrets } from './keyvault.ts';
export { loadConfigFileWithSecrets } from './load-config.ts';
export { parseKeyVaultRef, type KeyVaultRef } from './references.ts';
