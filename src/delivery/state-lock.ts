// One agent per state directory: two agents on one state_dir would both read every file and deliver everything twice.
//
// The lock is a Unix socket, `<state_dir>/kaudit.lock`, on which the holder listens and answers who it is (PID, host,
// start time). Node has no flock, and a PID in a file cannot say whether its holder lives: the PID may have been reused,
// or belong to another PID namespace (a container that is gone, or one still running beside this one in a rolling
// update). A listening socket is held by the kernel for exactly as long as its process lives, whatever namespace the
// process ran in: a connection that is refused means the holder is dead, and its socket file is taken over at once
// (a crash-looping pod is not locked out by its own previous run). Taking over is serialised by an atomic mkdir, so
// that two agents starting together cannot both remove a dead socket and both listen.
import { mkdir, open, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

// Taken as the plain module, as the health endpoint does (see server.ts).
const { createServer, connect } = process.getBuiltinModule('node:net');

const LOCK_NAME = 'kaudit.lock';
/** A takeover mutex older than this was left by an agent killed while taking over (it takes milliseconds). */
const STALE_TAKEOVER_MS = 10_000;
/** How long a start keeps trying while others take the lock over at the same time. */
const TAKE_WITHIN_MS = 15_000;

/** Who holds a state directory, as the holder says. */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** The state directory is held by a live agent: this one must not run (exit code 2). */
export class StateDirInUseError extends Error {
  readonly holder: LockHolder | undefined;

  constructor(dir: string, holder: LockHolder | undefined) {
    const who = holder === undefined ? 'an agent that does not answer' : `pid ${holder.pid} on host ${holder.host}, running since ${holder.since}`;
    super(`state_dir ${dir} is in use by another kaudit (${who}); two agents on one state_dir would deliver every event twice: stop the other one or give this one its own state_dir`);
    this.holder = holder;
  }
}

export class StateLock {
  readonly path: string;
  readonly #server: ReturnType<typeof createServer>;
  readonly #dirHandle: FileHandle;

  private constructor(path: string, server: ReturnType<typeof createServer>, dirHandle: FileHandle) {
    this.path = path;
    this.#server = server;
    this.#dirHandle = dirHandle;
  }

  /** Takes the lock of `dir`, or throws StateDirInUseError naming the live holder. */
  static async take(dir: string): Promise<StateLock> {
    // A socket path is limited to 107 bytes; through the directory's descriptor any state_dir fits.
    const dirHandle = await open(dir, 'r');
    const path = `/proc/self/fd/${dirHandle.fd}/${LOCK_NAME}`;
    const shown = join(dir, LOCK_NAME);
    const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    try {
      for (const until = Date.now() + TAKE_WITHIN_MS; Date.now() < until;) {
        const server = createServer((conn) => conn.end(`${JSON.stringify(me)}\n`));
        const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
          server.once('error', resolve);
          server.listen(path, () => resolve(undefined));
        });
        if (err === undefined) {
          server.unref();
          return new StateLock(shown, server, dirHandle);
        }
        if (err.code !== 'EADDRINUSE') throw new Error(`cannot create the lock ${shown}: ${err.code ?? err.message}`);
        const holder = await ask(path);
        if (holder !== 'dead') throw new StateDirInUseError(dir, holder);
        await takeOver(path, `${join(dir, LOCK_NAME)}.takeover`);
      }
      throw new Error(`cannot take the lock ${shown}: it keeps changing hands`);
    } catch (err) {
      await dirHandle.close();
      throw err;
    }
  }

  /** Releases the lock (the socket file is removed as the server closes). */
  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#dirHandle.close();
  }
}

/** Who listens on the lock socket: its holder, undefined when it accepts but does not answer, 'dead' when nobody listens. */
function ask(path: string): Promise<LockHolder | undefined | 'dead'> {
  return new Promise((resolve) => {
    let text = '';
    const conn = connect(path);
    const timer = setTimeout(() => done(undefined), 2000);
    const done = (answer: LockHolder | undefined | 'dead') => {
      clearTimeout(timer);
      conn.destroy();
      resolve(answer);
    };
    conn.on('data', (d: Buffer) => (text += d.toString()));
    conn.on('end', () => {
      try {
        done(JSON.parse(text) as LockHolder);
      } catch {
        done(undefined);
      }
    });
    // Refused: a socket file nobody listens on, left by a killed agent. Gone meanwhile: free for the next attempt.
    conn.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'dead' : undefined));
  });
}

/** Removes a dead holder's socket file, under a mutex (an atomic mkdir) so that only one starting agent does. */
async function takeOver(path: string, mutex: string): Promise<void> {
  try {
    await mkdir(mutex);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (await stat(mutex).then((s) => s.mtimeMs, () => Date.now()));
    if (age > STALE_TAKEOVER_MS) await rmdir(mutex).catch(() => {});
    await new Promise((r) => setTimeout(r, 50)); // another agent is taking over: see who holds it next time
    return;
  }
  try {
    // Still dead now that this agent alone may act: remove it. (A live holder that took it meanwhile is left alone.)
    if ((await ask(path)) === 'dead') await unlink(path).catch(() => {});
  } finally {
    await rmdir(mutex).catch(() => {});
  }
}
