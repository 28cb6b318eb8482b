// Entry point of the kaudit command line. Turns on the compile cache first, then loads the commands: modules
// imported statically would be compiled before the cache is on.
import { useCompileCache } from '../compile-cache.ts';

useCompileCache();
await import('./cli.ts');
