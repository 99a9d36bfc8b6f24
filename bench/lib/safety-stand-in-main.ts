// The Content Safety stand-in of the tests as its own process, for
// bench/content-safety-cost.ts: it answers at once (no model behind it).
import { ContentSafetyStandIn } from '../../test/helpers/content-safety-stand-in.ts';

const cs = await ContentSafetyStandIn.start();
// a benchmark sends hundreds of thousands of requests: keep none of them
cs.record = false;
process.stdout.write(`content-safety ${cs.url}\n`);
