// One digest of several files' content: how reloaders notice a change. Polled, because a ConfigMap update swaps a
// symlink (`..data`) that file-change events on the file itself miss.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export async function contentDigest(files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(await readFile(f)).update('\0');
  return h.digest('hex');
}
