// A small real file system for disk-full tests: a tmpfs of a given size mounted on a directory (the tests run as
// root, here and in CI), filled and freed by the test with a filler file.
import { execFile } from 'node:child_process';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class SmallDisk {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Mounts a tmpfs of `bytes` on `dir` (created). Rejects, saying why, when mounting is refused. */
  static async mount(dir: string, bytes: number): Promise<SmallDisk> {
    await mkdir(dir, { recursive: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
    } catch (err) {
      throw new Error(`cannot mount a tmpfs on ${dir} (this test needs root and mount): ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
    return new SmallDisk(dir);
  }

  /** Bytes still free. */
  async free(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes a filler file that leaves about `leave` bytes free (0: the disk is full). */
  async fill(leave = 0): Promise<void> {
    const size = Math.max(0, (await this.free()) - leave);
    try {
      await writeFile(join(this.dir, 'filler'), Buffer.alloc(size), { flag: 'a' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err; // full is what was asked for
    }
  }

  /** Deletes the filler: the space comes back. */
  async release(): Promise<void> {
    await rm(join(this.dir, 'filler'), { force: true });
  }

  /** Grows the file system to `bytes` (space comes back without deleting anything). */
  async grow(bytes: number): Promise<void> {
    await run('mount', ['-o', `remount,size=${bytes}`, this.dir]);
  }

  async unmount(): Promise<void> {
    await run('umount', ['-l', this.dir]).catch(() => {});
  }
}
