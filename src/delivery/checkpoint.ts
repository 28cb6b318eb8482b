// Read positions per file identity, persisted atomically so that a restart resumes where delivery was safe.
//
// A checkpoint is written only with offsets whose records every routed sink buffer has fsynced
// (the pipeline calls `commit` from its ack path, never on read). One writer per source; the file is
// `{ version: 1, files: [FileState…] }`, replaced by temp file + fsync + rename.
//
// A damaged file (empty, cut short, not this format) is quarantined and the source starts as if it knew the files
// but not how far they were read: every file is read again from its start, and the sink buffers drop what they
// already hold or delivered. Losing the position never loses events; only a crash loop would.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';
import { quarantine, unreadableReason, type QuarantineReport } from './quarantine.ts';

/** What is remembered of one file. Identity is the fingerprint (hash of the first `fpLen` bytes of its content). */
export interface FileState {
  fingerprint: string;
  fpLen: number;
  dev: number;
  ino: number;
  /** Bytes of (uncompressed) content known delivered to every sink buffer. */
  offset: number;
  /** The file has been read to its end and will not grow (a rotated backup). */
  done: boolean;
  path: string;
  /** Last time the file was seen in a scan (ms since epoch); old entries of vanished files are dropped. */
  seenAt: number;
}

interface CheckpointFile {
  version: 1;
  files: FileState[];
}

const count = z.number().int().nonnegative();
const checkpointFile = z.object({
  version: z.literal(1),
  files: z.array(z.object({
    fingerprint: z.string(), fpLen: count, dev: z.number(), ino: z.number(), offset: count, done: z.boolean(), path: z.string(), seenAt: z.number(),
  })),
});

export interface CheckpointEvents {
  /** The file was damaged and renamed aside. */
  quarantined?: QuarantineReport;
  /** A save the store started by itself (the first one after a start) failed; the next interval tries again. */
  saveFailed?: (err: Error) => void;
}

/** How long the state of a file that disappeared is kept (its compressed copy may still turn up). */
const FORGET_AFTER_MS = 24 * 3600 * 1000;

export class CheckpointStore {
  readonly path: string;
  private readonly files = new Map<string, FileState>();
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private readonly events: CheckpointEvents;
  /** The file was damaged: not a first start, whatever the (empty) store says. */
  private recovered = false;
  /** Offsets as the file held them at start, by key: the first advance past them is saved at once. */
  private readonly savedOffsets = new Map<string, number>();
  private advancedSinceStart = false;

  private constructor(path: string, events: CheckpointEvents) {
    this.path = path;
    this.events = events;
  }

  static async open(path: string, events: CheckpointEvents = {}): Promise<CheckpointStore> {
    const store = new CheckpointStore(path, events);
    await mkdir(dirname(path), { recursive: true });
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new Error(`checkpoint file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let data: CheckpointFile;
    try {
      const parsed = checkpointFile.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(`not a kaudit checkpoint (${parsed.error.issues[0].path.join('.') || 'top level'}: ${parsed.error.issues[0].message})`);
      data = parsed.data;
    } catch (err) {
      store.recovered = true;
      await quarantine('checkpoint', path, unreadableReason(err), 'every file of the source is read again from its start; the sink buffers drop what they already hold or delivered', events.quarantined ?? (() => {}));
      return store;
    }
    for (const f of data.files) {
      store.files.set(key(f.fingerprint, f.fpLen), f);
      store.savedOffsets.set(key(f.fingerprint, f.fpLen), f.offset);
    }
    return store;
  }

  /**
   * True on a very first start (nothing was ever checkpointed). Not after a damaged checkpoint file was set aside:
   * then the files are known to have been read before, and are read again from their start.
   */
  isEmpty(): boolean {
    return this.files.size === 0 && !this.recovered;
  }

  all(): FileState[] {
    return [...this.files.values()];
  }

  /**
   * Finds the state of a file from the first bytes of its content. States recorded while their file was
   * shorter than the fingerprint length match by prefix: `hashPrefix(n)` hashes the first n bytes.
   */
  find(fingerprint: string, fpLen: number, hashPrefix: (n: number) => string | undefined): FileState | undefined {
    const exact = this.files.get(key(fingerprint, fpLen));
    if (exact) return exact;
    for (const f of this.files.values()) {
      if (f.fpLen < fpLen && hashPrefix(f.fpLen) === f.fingerprint) return f;
    }
    return undefined;
  }

  /** Records (or replaces) a file's state. Re-keys it when its fingerprint grew with the file. */
  put(state: FileState, previous?: FileState): void {
    if (previous && (previous.fingerprint !== state.fingerprint || previous.fpLen !== state.fpLen)) {
      this.files.delete(key(previous.fingerprint, previous.fpLen));
    }
    const k = key(state.fingerprint, state.fpLen);
    this.files.set(k, state);
    this.dirty = true;
    // The first position that moves after a start is saved at once, not one interval later: an agent killed again
    // and again within a second of its start (a crash loop) would otherwise re-read, and resend, everything each time.
    if (!this.advancedSinceStart && state.offset > (this.savedOffsets.get(k) ?? 0)) {
      this.advancedSinceStart = true;
      this.flush().catch((err: Error) => this.events.saveFailed?.(err));
    }
  }

  /** Drops states of files not seen for a day. */
  prune(now: number): void {
    for (const [k, f] of this.files) {
      if (now - f.seenAt > FORGET_AFTER_MS) {
        this.files.delete(k);
        this.dirty = true;
      }
    }
  }

  /** Writes the states if they changed since the last flush. Flushes never overlap. */
  flush(): Promise<void> {
    this.writing = this.writing.catch(() => {}).then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const body: CheckpointFile = { version: 1, files: this.all() };
      try {
        await writeFileAtomic(this.path, JSON.stringify(body));
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    return this.writing;
  }
}

function key(fingerprint: string, fpLen: number): string {
  return `${fpLen}:${fingerprint}`;
}
