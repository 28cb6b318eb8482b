// Read positions per file identity, persisted atomically so that a restart resumes where delivery was safe.
//
// A checkpoint is written only with offsets whose records every routed sink buffer has fsynced
// (the pipeline calls `commit` from its ack path, never on read). One writer per source; the file is
// `{ version: 2, files: [FileState…] }`, replaced by temp file + fsync + rename. Version 1 files (without the
// sizes and modification time) are read as well.
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
  /** Bytes of content the file held when last seen (uncompressed; for a .gz not read yet, from its trailer): what a loss is measured against. */
  size: number;
  /** Size and modification time of the file on disk when last seen: with dev and ino, how a done file is known without opening it. */
  fileSize: number;
  mtimeMs: number;
  /** When the file was found gone before it was read to its end (the loss is reported once). */
  lostAt?: number;
  /**
   * The file's identity in record ids, fixed when it was first seen: the fingerprint of a file first seen shorter
   * than the fingerprint length grows with it, and the ids of its lines must not change with it.
   */
  key?: string;
}

/** Content of a file its checkpoint says was never read: none once it is done or its loss was reported. */
export function unreadBytesOf(f: FileState): number {
  return f.done || f.lostAt !== undefined ? 0 : Math.max(0, f.size - f.offset);
}

const count = z.number().int().nonnegative();
const version1State = z.object({
  fingerprint: z.string(), fpLen: count, dev: z.number(), ino: z.number(), offset: count, done: z.boolean(), path: z.string(), seenAt: z.number(),
});
const checkpointFile = z.discriminatedUnion('version', [
  z.object({ version: z.literal(1), files: z.array(version1State) }),
  z.object({
    version: z.literal(2),
    files: z.array(version1State.extend({ size: count, fileSize: z.number(), mtimeMs: z.number(), lostAt: z.number().optional(), key: z.string().optional() })),
  }),
]);

/** Version 1 had no sizes nor modification time: nothing known unread, and done files are opened once to learn them. */
function fromVersion1(f: z.infer<typeof version1State>): FileState {
  return { ...f, size: f.offset, fileSize: -1, mtimeMs: -1 };
}

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
  /**
   * The done states, serialized once: thousands of finished backups would otherwise be serialized again at every
   * flush while the live file is read. Rebuilt when one of them is put or dropped (their `seenAt`, updated in
   * place by every scan, is saved then: it only ages them out a day after their file is gone).
   */
  private doneJson: string | undefined;
  private readonly inDoneJson = new Set<string>();

  private constructor(path: string, events: CheckpointEvents) {
    this.path = path;
    this.events = events;
  }

  static async open(path: string, events: CheckpointEvents = {}): Promise<CheckpointStore> {
    const store = new CheckpointStore(path, events);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new Error(`checkpoint file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let data: z.infer<typeof checkpointFile>;
    try {
      const parsed = checkpointFile.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(`not a kaudit checkpoint (${parsed.error.issues[0].path.join('.') || 'top level'}: ${parsed.error.issues[0].message})`);
      data = parsed.data;
    } catch (err) {
      store.recovered = true;
      await quarantine('checkpoint', path, unreadableReason(err), 'every file of the source is read again from its start; the sink buffers drop what they already hold or delivered', events.quarantined ?? (() => {}));
      return store;
    }
    const files: FileState[] = data.version === 1 ? data.files.map(fromVersion1) : data.files;
    for (const f of files) {
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
      this.drop(key(previous.fingerprint, previous.fpLen));
    }
    const k = key(state.fingerprint, state.fpLen);
    if (state.done || this.inDoneJson.has(k)) this.doneJson = undefined;
    this.files.set(k, state);
    this.dirty = true;
    // The first position that moves after a start is saved at once, not one interval later: an agent killed again
    // and again within a second of its start (a crash loop) would otherwise re-read, and resend, everything each time.
    if (!this.advancedSinceStart && state.offset > (this.savedOffsets.get(k) ?? 0)) {
      this.advancedSinceStart = true;
      this.flush().catch((err: Error) => this.events.saveFailed?.(err));
    }
  }

  /** Drops states of files not seen for a day: read to their end, or their loss reported (a loss is never forgotten unsaid). */
  prune(now: number): void {
    for (const [k, f] of this.files) {
      if (now - f.seenAt > FORGET_AFTER_MS && (f.done || f.lostAt !== undefined)) this.drop(k);
    }
  }

  private drop(k: string): void {
    if (this.inDoneJson.has(k)) this.doneJson = undefined;
    this.files.delete(k);
    this.dirty = true;
  }

  /** Writes the states if they changed since the last flush. Flushes never overlap. */
  flush(): Promise<void> {
    this.writing = this.writing.catch(() => {}).then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await writeFileAtomic(this.path, this.serialize());
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    return this.writing;
  }

  /** `{ version: 2, files: [FileState…] }`, the done states as serialized before unless one of them changed. */
  private serialize(): string {
    if (this.doneJson === undefined) {
      this.inDoneJson.clear();
      const done: string[] = [];
      for (const [k, f] of this.files) {
        if (!f.done) continue;
        this.inDoneJson.add(k);
        done.push(JSON.stringify(f));
      }
      this.doneJson = done.join(',');
    }
    const parts = this.doneJson === '' ? [] : [this.doneJson];
    for (const f of this.files.values()) if (!f.done) parts.push(JSON.stringify(f));
    return `{"version":2,"files":[${parts.join(',')}]}`;
  }
}

function key(fingerprint: string, fpLen: number): string {
  return `${fpLen}:${fingerprint}`;
}
