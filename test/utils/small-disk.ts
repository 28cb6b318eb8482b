// A disk that fills up, for disk-full tests: a tmpfs of a given size mounted on a directory (the tests run as root,
// here and in CI), filled and freed with a filler file. Where mounting is refused, a file-size limit on the agent's
// process (prlimit) stands in for it: its writes to a file past the limit fail (EFBIG) until the limit is lifted.
import { execFile } from 'node:child_process';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class SmallDisk {
  readonly dir: string;
  /** null: a real tmpfs; else the file-size limit (bytes) the agent runs under instead. */
  readonly sizeLimit: number | null;

  private constructor(dir: string, sizeLimit: number | null) {
    this.dir = dir;
    this.sizeLimit = sizeLimit;
  }

  /** Mounts a tmpfs of `bytes` on `dir` (created). Rejects, saying why, when mounting is refused. */
  static async mount(dir: string, bytes: number): Promise<SmallDisk> {
    await mkdir(dir, { recursive: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
    } catch (err) {
      throw new Error(`cannot mount a tmpfs on ${dir} (this test needs root and mount): ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
    return new SmallDisk(dir, null);
  }

  /** A tmpfs when it can be mounted, else a plain directory and a file-size limit of `bytes` for the agent. */
  static async forAgent(dir: string, bytes: number): Promise<SmallDisk> {
    try {
      return await SmallDisk.mount(dir, bytes);
    } catch {
      await run('prlimit', ['--version']); // the fallback's own peer: fails the test when it is missing too
      return new SmallDisk(dir, bytes);
    }
  }

  /** The error code a write gets when this disk is full. */
  get fullCode(): string {
    return this.sizeLimit === null ? 'ENOSPC' : 'EFBIG';
  }

  /** Puts an agent just spawned (still loading) under the file-size limit, when that stands in for the tmpfs. */
  async applyTo(agentPid: number): Promise<void> {
    if (this.sizeLimit !== null) await run('prlimit', ['--pid', String(agentPid), `--fsize=${this.sizeLimit}`]);
  }

  /** Bytes still free. */
  async free(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes a filler file that leaves about `leave` bytes free (0: the disk is full). A size limit is full already. */
  async fill(leave = 0): Promise<void> {
    if (this.sizeLimit !== null) return;
    const size = Math.max(0, (await this.free()) - leave);
    try {
      await writeFile(join(this.dir, 'filler'), Buffer.alloc(size), { flag: 'a' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err; // full is what was asked for
    }
  }

  /** The space comes back: the filler is deleted (or the agent's size limit lifted). */
  async release(agentPid?: number): Promise<void> {
    if (this.sizeLimit === null) await rm(join(this.dir, 'filler'), { force: true });
    else if (agentPid !== undefined) await run('prlimit', ['--pid', String(agentPid), '--fsize=unlimited']);
  }

  async unmount(): Promise<void> {
    if (this.sizeLimit === null) await run('umount', ['-l', this.dir]).catch(() => {});
  }
}
