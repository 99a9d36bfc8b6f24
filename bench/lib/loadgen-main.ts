// Child-process entry of the load generator: options as JSON in argv[2]; the
// result goes back over IPC ('measuring' when the measured phase starts).
import { runLoad, type LoadOptions } from './loadgen.ts';

const opts = JSON.parse(process.argv[2]) as LoadOptions;
const result = await runLoad(opts);
process.send?.({ type: 'result', result });
