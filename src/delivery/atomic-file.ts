// Files replaced whole and durably (checkpoints, detection state): temp file, fsync, rename, fsync of the directory.
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Temp file, fsync, rename, fsync of the directory: the file is either the old or the new version. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(join(path, '..'));
}

/** fsync of a directory, so that a rename or a new file in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
