// Rule files parsed once per content: YAML parsing of the shipped rules costs about 0.2 s on a cold start, in the
// main thread and again in every worker; the parsed form, kept as JSON under its content hash, loads in a few ms.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { userCacheDir } from '../compile-cache.js';

// Loaded only when a file is not in the cache (a worker with a warm cache never loads the YAML library).
const require = createRequire(import.meta.url);
let yaml: typeof import('yaml') | undefined;
let dir: string | null | undefined;

/** The YAML document of a rule text, not cached; throws the YAML library's error when it is not valid YAML. */
export function parseYamlText(text: string): unknown {
  yaml ??= require('yaml') as typeof import('yaml');
  return yaml.parse(text);
}

/** parseYamlText, through the cache of parsed rule files. */
export function parseRuleText(text: string): unknown {
  if (dir === undefined) dir = userCacheDir('rules') ?? null;
  const file = dir === null ? undefined : join(dir, `${createHash('sha256').update(text).digest('hex')}.json`);
  if (file !== undefined) {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      // not cached yet (or damaged): parse and write it again
    }
  }
  const doc = parseYamlText(text);
  if (file !== undefined) {
    try {
      const tmp = `${file}.${process.pid}.${threadId}.tmp`;
      writeFileSync(tmp, JSON.stringify(doc) ?? 'null', { mode: 0o600 });
      renameSync(tmp, file);
      prune(dir!);
    } catch {
      // a read-only or full disk: parse again next time
    }
  }
  return doc;
}

/** Rule files edited many times leave old versions behind: keep the most recently written ones. */
const KEEP = 64;

function prune(cacheDir: string): void {
  const names = readdirSync(cacheDir);
  // Temp files of a write that a kill interrupted.
  const stale = Date.now() - 60_000;
  for (const f of names.filter((n) => n.endsWith('.tmp'))) {
    if (statSync(join(cacheDir, f)).mtimeMs < stale) rmSync(join(cacheDir, f), { force: true });
  }
  const files = names.filter((f) => f.endsWith('.json'));
  if (files.length <= KEEP) return;
  const byAge = files.map((f) => ({ f, t: statSync(join(cacheDir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { f } of byAge.slice(0, files.length - KEEP)) rmSync(join(cacheDir, f), { force: true });
}
