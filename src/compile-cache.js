// Caches kept between starts, so that an agent that restarts (a DaemonSet rollout, a crash) is reading again sooner:
// Node's compile cache (TypeScript stripped, V8 code) and the parsed rule files. Only in a directory of the user's
// own (never a shared /tmp, where someone else could plant code or rules), and silently off when there is none.
// Plain JavaScript on purpose: the entry points load it before any TypeScript, so that the TypeScript is loaded
// through the cache (the stripper itself then need not start at all).
import { accessSync, constants, mkdirSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `~/.cache/kaudit/<name>`, created private to the user; undefined when the home directory is not writable.
 * @param {string} name
 * @returns {string | undefined}
 */
export function userCacheDir(name) {
  try {
    const home = homedir();
    accessSync(home, constants.W_OK);
    const dir = join(home, '.cache', 'kaudit', name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

/** Turns on Node's compile cache (NODE_COMPILE_CACHE, when set, is the operator's choice and Node honours it). */
export function useCompileCache() {
  if (process.env.NODE_COMPILE_CACHE) return;
  const dir = userCacheDir('compile');
  if (dir === undefined) return;
  try {
    enableCompileCache(dir);
  } catch {
    // Start without the cache.
  }
}
