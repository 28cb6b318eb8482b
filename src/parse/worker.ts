// Worker thread entry: the compile cache first, then the processing loop (see src/cli/main.ts for why).
import { useCompileCache } from '../compile-cache.ts';

useCompileCache();
await import('./worker-loop.ts');
