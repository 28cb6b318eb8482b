// Files replaced whole and durably (checkpoints, detection state): temp file, fsync, rename, fsync of the directory.
import { closeSync, fsync, openSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

/**
 * Temp file, fsync, rename, fsync of the directory: the file is either the old or the new version. Only the two
 * fsyncs wait in the I/O thread pool: opening, writing (into the page cache: these files are KiB to a few hundred
 * KiB), closing and renaming take microseconds on this thread, less than a thread-pool round trip each.
 */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, data);
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  await syncDir(join(path, '..'));
}

/** fsync of a directory, so that a rename or a new file in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
