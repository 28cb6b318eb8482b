// The files named on a command line: files, directories (their files) and glob patterns, each once, in name order.
import { glob, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every file `args` name, sorted by path (rotated audit files sort in time order, the live file last). A directory
 * gives its files (not its subdirectories); a pattern with * ? or [ ] gives the files it matches. Throws naming the
 * argument that names nothing.
 */
export async function expandFileArgs(args: string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const arg of args) {
    const found: string[] = [];
    if (/[*?[]/.test(arg)) {
      for await (const f of glob(arg)) if ((await stat(f)).isFile()) found.push(f);
    } else {
      const st = await stat(arg).catch(() => undefined);
      if (st?.isDirectory()) {
        for (const e of await readdir(arg, { withFileTypes: true })) if (e.isFile()) found.push(join(arg, e.name));
      } else if (st !== undefined) {
        found.push(arg);
      }
    }
    if (found.length === 0) throw new Error(`${arg}: no such file, directory or matching file`);
    for (const f of found) files.add(f);
  }
  return [...files].sort();
}
