import { MemoryStore } from '../../src/state/memory-store.ts';
import { storeContract } from './store-contract.ts';

storeContract('memory', async () => new MemoryStore());
