// Parse worker thread entry, plain JavaScript: it turns on the compile cache before the worker's TypeScript
// loads, so that a warm start loads the stripped code from the cache and the type stripper (~12 MB resident in
// each thread that starts it) is never loaded.
import { useCompileCache } from '../compile-cache.js';

useCompileCache();
await import('./worker.ts');
