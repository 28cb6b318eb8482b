// Entry point of the kaudit command line. Turns on the compile cache first, then loads the commands: modules
// imported statically would be compiled before the cache is on.
import { setFlagsFromString } from 'node:v8';
import { useCompileCache } from '../compile-cache.ts';

// A small young generation (4 MB semi-spaces instead of V8's 16): the hot path keeps few objects alive, so peak RSS
// drops by about 25 MB at the same throughput. Applies to this thread as it resizes and to every worker started
// later. An explicit --max-semi-space-size (command line or NODE_OPTIONS) wins.
if (![...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--max-semi-space-size'))) {
  setFlagsFromString('--max-semi-space-size=4');
}
useCompileCache();
await import('./cli.ts');
