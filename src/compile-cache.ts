// Caches compiled modules (TypeScript stripped, V8 code) between starts: an agent that restarts (a DaemonSet rollout,
// a crash) is reading again in about half the time. Only in a directory of the user's own (never a shared /tmp,
// where someone else could plant code), and silently off when there is none.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function useCompileCache(): void {
  try {
    // NODE_COMPILE_CACHE, when set, is the operator's choice and Node already honours it.
    if (process.env.NODE_COMPILE_CACHE) return;
    const home = homedir();
    accessSync(home, constants.W_OK);
    const dir = join(home, '.cache', 'kaudit', 'compile');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    enableCompileCache(dir);
  } catch {
    // No writable home: start without the cache.
  }
}
