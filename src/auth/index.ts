export { KeyIndex, hashKey, formatKeyHash, presentedKey, mayUse, type Consumer } from './consumer-keys.ts';
