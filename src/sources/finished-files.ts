// Files read to their end, known by identity (device, inode, size, modification time): never opened again.
//
// A directory may hold thousands of finished backups. Each is looked at with one stat when its name first
// appears (at start, against the done files of the checkpoint); after that, a scan that lists the name again
// skips it without a system call, unless the directory watcher saw the name change or a minute has passed
// (a file written to after it looked finished is then read on: its identity no longer matches).
import type { Stats } from 'node:fs';
import type { FileState } from '../delivery/checkpoint.ts';

/** How often a finished file is looked at again, in case a change went unseen by the watcher. */
const RECHECK_MS = 60_000;

interface Known {
  state: FileState;
  identity: string;
  checkedAt: number;
}

function identity(dev: number, ino: number, size: number, mtimeMs: number): string {
  return `${dev}:${ino}:${size}:${mtimeMs}`;
}

/** The identity a state recorded for its file when last seen. */
export function identityOf(s: FileState): string {
  return identity(s.dev, s.ino, s.fileSize, s.mtimeMs);
}

export class FinishedFiles {
  /** Done files of the checkpoint, until the first scan has matched them to names. */
  private fromCheckpoint: Map<string, FileState> | undefined = new Map();
  /** Names listed in the latest scan that are finished files. */
  private readonly byName = new Map<string, Known>();
  /** Names the watcher saw change since they were last looked at. */
  private readonly changed = new Set<string>();
  private lastListed: ReadonlySet<string> | undefined;
  /** Backup names are reused for other files (logrotate's `.1`): a name says nothing, every scan looks. */
  private readonly namesReused: boolean;

  constructor(states: FileState[], opts: { namesReused?: boolean } = {}) {
    for (const s of states) if (s.done) this.fromCheckpoint!.set(identityOf(s), s);
    this.namesReused = opts.namesReused === true;
  }

  /** The watcher saw `name` change. */
  touched(name: string): void {
    if (this.byName.has(name)) this.changed.add(name);
  }

  /** True when `name` is a finished file looked at recently and not changed since: skip it, no system call. */
  skip(name: string, now: number): boolean {
    const k = this.byName.get(name);
    if (this.namesReused || k === undefined || !k.state.done || this.changed.has(name) || now - k.checkedAt >= RECHECK_MS) return false;
    k.state.seenAt = now;
    return true;
  }

  /** From a stat of `name`: true when it is a finished file (then skipped by later scans). */
  recognise(name: string, st: Stats, now: number): boolean {
    this.changed.delete(name);
    const id = identity(st.dev, st.ino, st.size, st.mtimeMs);
    const known = this.byName.get(name);
    const state = known?.identity === id ? known.state : this.fromCheckpoint?.get(id);
    if (state === undefined || !state.done) {
      this.byName.delete(name);
      return false;
    }
    state.seenAt = now;
    this.byName.set(name, { state, identity: id, checkedAt: now });
    return true;
  }

  /** A file just read to its end, every byte durable, listed as `name`: from now on known by its identity. */
  add(name: string, state: FileState, now: number): void {
    this.byName.set(name, { state, identity: identityOf(state), checkedAt: now });
  }

  /** After a scan: names no longer listed are forgotten (a renamed file is looked at once under its new name). */
  endScan(listed: ReadonlySet<string>): void {
    this.fromCheckpoint = undefined;
    // The same listing as last time (the set is reused while the directory does not change): nothing went away.
    if (listed === this.lastListed) return;
    this.lastListed = listed;
    for (const name of this.byName.keys()) {
      if (!listed.has(name)) {
        this.byName.delete(name);
        this.changed.delete(name);
      }
    }
  }
}
