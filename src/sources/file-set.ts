// Tails one log file and its rotated backups as one ordered stream, tracking files by content identity.
//
// The tail cycle (see docs/delivery.md):
// 1. Scan: look at the live file first, then list the directory for its backups (`<stem>-<anything><ext>[.gz]`).
// 2. Identify each: same device+inode and same first bytes as a tracked file → that file (renamed or
//    not); otherwise its fingerprint (first 1 KiB of content, decompressed for .gz) finds it among
//    tracked files or checkpoints (a copytruncate copy, a gzipped backup), or it is new.
// 3. Order: backups by name, then files still open but gone from the directory (deleted while being
//    read), then the live file. Read the first unfinished one; a file other than the live one is
//    finished at end of file once it has been quiet (not modified) for `quietMs`.
// 4. Each chunk of whole lines goes to the consumer; its `onDurable` moves the file's checkpoint.
//
// A scan is not atomic: the writer rotates, compresses and prunes while it runs. Two rules make every
// scan a consistent view, whatever lands between its steps:
// - Live file first, then the listing. A rotation renames the live file before it creates the next one,
//   so a file that was live before we looked at the live name is in the listing under its backup name
//   (plain or .gz), and a file seen as live that is rotated before the listing is there too: every backup
//   listed is older than the file seen as live, or that file is listed as well (and a listed name then
//   overrides the earlier look at the live name). The other way round, a backup made between the listing
//   and the look at the live name would be missing from the scan while its successor is read as live.
// - One descriptor per look: a name is opened once, and its device+inode, size, first bytes and (for a
//   file not read yet) the handle held for reading all come from that descriptor, so they describe the
//   same file even when the name moves to another one between two calls.
// And a tracked file that can no longer be reached (gone from the listing, no descriptor) is forgotten
// only once everything handed out from it is durable: if its content turns up again (a compressed copy,
// a copy by copytruncate) it goes on from where reading stopped, not from an older checkpoint.
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { watch, type FSWatcher } from 'chokidar';
import type { CheckpointStore, FileState } from '../delivery/checkpoint.ts';
import { FINGERPRINT_BYTES, bytesOf, fingerprintOf, hashBytes, readGzipHeadFrom, readHeadFrom, type Fingerprint } from './fingerprint.ts';
import { LineSplitter, type SplitOutput } from './lines.ts';
import { ReadBufferPool } from './read-buffers.ts';

/** Unread files held open at once (each keeps a pruned backup readable until its turn). */
const MAX_HELD_OPEN = 64;

export interface SourceChunk {
  source: string;
  /** Identity of the file (a fingerprint), stable across renames and compression. */
  fileKey: string;
  path: string;
  kind: 'lines' | 'oversize';
  /** Content offset of data[0] in the file. */
  offset: number;
  data: Buffer;
  /** Offset the file's checkpoint may move to once this chunk is durable in every routed buffer. */
  commitOffset: number;
  /** `data` is the only view of its memory, so it may be transferred to another thread (and back). */
  owned: boolean;
  /** Called by the pipeline, in chunk order, once every routed sink buffer holds the chunk's records. */
  onDurable(): void;
}

/** Hands a chunk to the pipeline; resolves when the pipeline can take another (backpressure). */
export type ChunkConsumer = (chunk: SourceChunk) => Promise<void>;

export interface FileSetEvents {
  bytesRead(n: number): void;
  fileOpened(path: string, offset: number, reason: string): void;
  fileFinished(path: string): void;
  problem(message: string, details: Record<string, unknown>): void;
}

export interface FileSetOptions {
  source: string;
  path: string;
  readFrom: 'head' | 'tail';
  maxLineBytes: number;
  chunkBytes: number;
  pollMs: number;
  /** A file that is no longer the live file is finished once unmodified this long. */
  quietMs?: number;
  /** Where read buffers come from; chunks marked `owned` should be given back to it. */
  buffers?: ReadBufferPool;
}

interface Tracked {
  fp: Fingerprint;
  state: FileState;
  path: string;
  gz: boolean;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  live: boolean;
  /** Seen in the latest scan under `path`. */
  present: boolean;
  readOffset: number;
  /** End of the last chunk handed to the consumer (durable once `state.offset` reaches it). */
  sentOffset: number;
  splitter: LineSplitter;
  fh?: FileHandle;
  fhIno?: number;
  finished: boolean;
}

export class FileSet {
  private readonly opts: Required<Omit<FileSetOptions, 'buffers'>>;
  private readonly buffers: ReadBufferPool;
  private readonly store: CheckpointStore;
  private readonly consume: ChunkConsumer;
  private readonly events: FileSetEvents;
  private readonly dir: string;
  private readonly stem: string;
  private readonly ext: string;
  private readonly tracked: Tracked[] = [];
  private firstScan = true;
  private readonly startedEmpty: boolean;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private watcher: FSWatcher | undefined;
  private loop: Promise<void> | undefined;

  constructor(opts: FileSetOptions, store: CheckpointStore, consume: ChunkConsumer, events: FileSetEvents) {
    this.opts = { quietMs: 300, ...opts };
    this.buffers = opts.buffers ?? new ReadBufferPool(opts.chunkBytes, 0);
    this.store = store;
    this.consume = consume;
    this.events = events;
    this.dir = dirname(opts.path);
    this.ext = extname(opts.path);
    this.stem = basename(opts.path, this.ext);
    this.startedEmpty = store.isEmpty();
  }

  start(): void {
    this.watcher = watch(this.dir, { depth: 0, ignoreInitial: true, persistent: false });
    this.watcher.on('all', () => this.wake());
    // A missing directory is normal before the apiserver first writes: polling covers it.
    this.watcher.on('error', () => {});
    this.loop = this.run();
  }

  /** Stops reading; what was handed to the consumer still completes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    await this.watcher?.close();
    for (const t of this.tracked) await this.closeHandle(t);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake(), ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Bytes between what was read and what is checkpointed, per file (for the lag metric). */
  lag(): Array<{ path: string; bytes: number }> {
    return this.tracked.map((t) => ({ path: t.path, bytes: Math.max(0, t.size - t.state.offset) }));
  }

  private idleWaiters: Array<() => void> = [];

  /**
   * Resolves once a pass has read every file to its end (used by `run --once`: what the files held when it read
   * them; a file rotated away but not yet quiet is waited for).
   */
  caughtUp(): Promise<void> {
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let waitMs = this.opts.pollMs;
      let pending = false;
      try {
        const order = await this.scan();
        for (const t of order) {
          if (this.stopped) break;
          if (t.finished) continue;
          const outcome = await this.readAvailable(t);
          if (outcome === 'stopped') break;
          if (outcome === 'gone') {
            // Moved or deleted before it could be opened: the next scan finds it under its new name.
            waitMs = 0;
            pending = true;
            break;
          }
          if (t.live && t.present) break; // wait for the writer
          if (Date.now() - t.mtimeMs >= this.opts.quietMs) {
            await this.finish(t);
            continue;
          }
          // A file just rotated away or deleted may still receive its last writes: look again soon.
          waitMs = Math.min(waitMs, this.opts.quietMs);
          pending = true;
          break;
        }
      } catch (err) {
        this.events.problem('file scan failed', { path: this.opts.path, error: String(err) });
        pending = true;
      }
      if (!pending && this.idleWaiters.length > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
      this.store.prune(Date.now());
      if (!this.stopped && waitMs > 0) await this.sleep(waitMs);
    }
  }

  private isBackup(name: string): boolean {
    const plain = name.endsWith('.gz') ? name.slice(0, -3) : name;
    return plain.startsWith(`${this.stem}-`) && plain.endsWith(this.ext) && plain.length > this.stem.length + 1 + this.ext.length;
  }

  /** Step 1–3: find and identify the files, return them in reading order. */
  private async scan(): Promise<Tracked[]> {
    for (const t of this.tracked) t.present = false;
    // The live file before the listing (see the top of this file): never the other way round.
    await this.identifyPath(this.opts.path);
    let names: string[] = [];
    try {
      names = (await readdir(this.dir)).filter((n) => this.isBackup(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Plain names first, so that a backup and its .gz copy (same content) resolve to the plain file.
    names.sort((a, b) => Number(a.endsWith('.gz')) - Number(b.endsWith('.gz')) || a.localeCompare(b));
    for (const name of names) await this.identifyBackup(join(this.dir, name));
    this.firstScan = false;

    // A file neither in the directory nor open cannot be read now; it is forgotten once all that was
    // handed out from it is durable (see the top of this file).
    for (let i = this.tracked.length - 1; i >= 0; i--) {
      const t = this.tracked[i];
      if (!t.present && !t.fh && t.state.offset >= t.sentOffset) this.tracked.splice(i, 1);
    }
    // Hold every unread file open: a backup pruned (deleted) by the writer before its turn stays readable.
    let open = 0;
    for (const t of this.tracked) {
      if (t.finished || !t.present) continue;
      if (!t.fh && open < MAX_HELD_OPEN) await this.openHandle(t);
      if (t.fh) open += 1;
    }
    // Backups by name (their names carry the rotation time), then a deleted former live file, then the live file.
    const sortName = (t: Tracked) => (t.path.endsWith('.gz') ? t.path.slice(0, -3) : t.path);
    const rank = (t: Tracked) => (t.live && t.present ? 2 : sortName(t) === this.opts.path ? 1 : 0);
    return this.tracked
      .filter((t) => !t.finished && (t.present || t.fh))
      .sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? sortName(a).localeCompare(sortName(b)) : 0));
  }

  private async identifyBackup(path: string): Promise<void> {
    // A backup compressed since the listing is found under its .gz name (written before the original
    // is removed), so it keeps its place in the reading order.
    if (!(await this.identifyPath(path)) && !path.endsWith('.gz')) await this.identifyPath(`${path}.gz`);
  }

  /**
   * Identifies the file now at `path` through one descriptor; returns false when nothing is there. The
   * descriptor is kept as the file's read handle when the file is still to be read and has none.
   */
  private async identifyPath(path: string): Promise<boolean> {
    let fh: FileHandle;
    try {
      // Non-blocking, so that a FIFO under a matching name cannot hang the scan.
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return false;
    }
    let kept = false;
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size === 0) return true;
      const gz = path.endsWith('.gz');
      const head = gz ? await this.gzipHead(fh, st) : await readHeadFrom(fh);
      if (!head) return true; // an undecodable .gz stays unreadable; a file emptied since the stat is looked at next time
      const t = await this.match(path, st, head, gz);
      if (t && !t.finished && !t.fh && this.tracked.filter((o) => o.fh).length < MAX_HELD_OPEN) {
        t.fh = fh;
        t.fhIno = st.ino;
        kept = true;
      }
      return true;
    } finally {
      if (!kept) await fh.close().catch(() => {});
    }
  }

  /**
   * Finds (or starts) the tracked file for this content at `path`, and records where it was seen. Returns it
   * when it is now bound to the inode in `st`, or undefined when this name is only a copy of a file read elsewhere.
   */
  private async match(path: string, st: Stats, head: Buffer, gz: boolean): Promise<Tracked | undefined> {
    const live = path === this.opts.path;
    let other: Tracked | undefined;
    if (!gz) {
      const same = this.tracked.find((t) => !t.gz && t.dev === st.dev && t.ino === st.ino);
      if (same) {
        if (head.length >= same.fp.len && hashBytes(head.subarray(0, same.fp.len)) === same.fp.hash) {
          this.refresh(same, path, st, live);
          if (head.length > same.fp.len) this.regrowFingerprint(same, head);
          return same;
        }
        // Same inode, other content: truncated and rewritten in place (same name), or the inode of a
        // deleted file reused by a new one (the usual case after a backup is compressed and removed).
        if (same.path === path && st.size < same.readOffset) {
          this.events.problem('file was truncated; reading it again from the start', { path });
        }
        await this.unbind(same);
        other = same;
      }
    }

    const fp = fingerprintOf(head);
    const known = this.tracked.find((t) => t !== other && sharesPrefix(t.fp, fp));
    if (known) {
      // Already seen under a backup name in this listing: this name is a copy beside it (a .gz beside its
      // original). Seen only as the live file, it has been rotated since: the backup name wins.
      if (known.present && !known.live) return undefined;
      if (gz && !known.gz && known.fh) {
        // Still reading the original through its open descriptor; it sorts where its compressed copy is.
        known.present = true;
        known.live = false;
        known.path = path;
        return undefined;
      }
      await this.closeHandle(known);
      known.gz = gz;
      this.refresh(known, path, st, live);
      if (head.length > known.fp.len) this.regrowFingerprint(known, head);
      return known;
    }
    return this.adopt(path, st, fp, gz, live);
  }

  private readonly gzipHeads = new Map<string, Buffer | undefined>();

  /** Compressed files never change: decompress their first bytes once per (inode, size, mtime). */
  private async gzipHead(fh: FileHandle, st: Stats): Promise<Buffer | undefined> {
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.gzipHeads.has(key)) return this.gzipHeads.get(key);
    const head = await readGzipHeadFrom(fh);
    if (this.gzipHeads.size > 1000) this.gzipHeads.clear();
    this.gzipHeads.set(key, head);
    return head;
  }

  private refresh(t: Tracked, path: string, st: Stats, live: boolean): void {
    t.path = path;
    t.live = live;
    t.present = true;
    if (!t.gz) t.size = st.size;
    t.dev = st.dev;
    t.ino = st.ino;
    t.mtimeMs = st.mtimeMs;
    t.state.seenAt = Date.now();
    if (!t.gz && st.size > t.readOffset && t.finished) {
      // Written to after it looked finished (quiet for a while): read on, and a restart must too.
      t.finished = false;
      if (t.state.done) {
        t.state.done = false;
        this.store.put(t.state);
      }
    }
  }

  /** The file was shorter than the fingerprint length when first seen and has grown since. */
  private regrowFingerprint(t: Tracked, head: Buffer): void {
    const previous = { ...t.state };
    t.fp = fingerprintOf(head.subarray(0, Math.min(head.length, FINGERPRINT_BYTES)));
    t.state.fingerprint = t.fp.hash;
    t.state.fpLen = t.fp.len;
    this.store.put(t.state, previous);
  }

  /** Starts tracking a file not tracked in memory: from its checkpoint, or from the start (or end). */
  private adopt(path: string, st: Stats, fp: Fingerprint, gz: boolean, live: boolean): Tracked {
    const saved = this.store.find(fp.hash, fp.len, (n) => (n <= fp.head.length ? hashBytes(fp.head.subarray(0, n)) : undefined));
    let offset = 0;
    let reason = 'new file';
    if (saved) {
      offset = saved.offset;
      reason = 'resumed from checkpoint';
    } else if (this.firstScan && this.startedEmpty && this.opts.readFrom === 'tail' && !gz) {
      offset = st.size;
      reason = 'first start, reading from the end';
    }
    // The saved state object is reused: chunks still in flight from an earlier reader of this content
    // keep moving the same offset forward.
    const state: FileState = saved ?? {
      fingerprint: fp.hash, fpLen: fp.len, dev: st.dev, ino: st.ino, offset, done: false, path, seenAt: Date.now(),
    };
    Object.assign(state, { dev: st.dev, ino: st.ino, path, seenAt: Date.now() });
    this.store.put(state);
    const t: Tracked = {
      fp, state, path, gz, dev: st.dev, ino: st.ino, size: gz ? offset : st.size, mtimeMs: st.mtimeMs, live,
      present: true, readOffset: offset, sentOffset: offset, splitter: new LineSplitter(offset, this.opts.maxLineBytes),
      finished: saved?.done === true && !live,
    };
    this.tracked.push(t);
    this.events.fileOpened(path, offset, reason);
    return t;
  }

  /**
   * The inode no longer holds this content: stop reading through it. The content stays tracked (it may
   * turn up under another name, a copytruncate copy) until it is forgotten like any file out of reach.
   */
  private async unbind(t: Tracked): Promise<void> {
    await this.closeHandle(t);
    t.dev = -1;
    t.ino = -1;
    t.present = false;
    t.live = false;
  }

  private async closeHandle(t: Tracked): Promise<void> {
    const fh = t.fh;
    t.fh = undefined;
    t.fhIno = undefined;
    await fh?.close().catch(() => {});
  }

  /** Opens the file at its current path, making sure the descriptor is the inode identified. */
  private async openHandle(t: Tracked): Promise<boolean> {
    await this.closeHandle(t);
    try {
      const fh = await open(t.path, 'r');
      const st = await fh.stat();
      if (st.ino !== t.ino || st.dev !== t.dev) {
        await fh.close();
        return false;
      }
      t.fh = fh;
      t.fhIno = st.ino;
      return true;
    } catch {
      return false; // gone: the next scan decides
    }
  }

  private async headUnchanged(fh: FileHandle, t: Tracked): Promise<boolean> {
    const head = Buffer.allocUnsafe(t.fp.len);
    const { bytesRead } = await fh.read(head, 0, t.fp.len, 0);
    return bytesRead === t.fp.len && head.equals(t.fp.head.subarray(0, t.fp.len));
  }

  /** Reads what is there now, up to the end of the file (or until stopped, or the file cannot be opened). */
  private async readAvailable(t: Tracked): Promise<'eof' | 'stopped' | 'gone'> {
    if (t.gz) return this.readGzip(t);
    if ((!t.fh || t.fhIno !== t.ino) && !(await this.openHandle(t))) return 'gone';
    const fh = t.fh!;
    for (;;) {
      if (this.stopped) return 'stopped';
      const buf = this.buffers.take();
      const { bytesRead } = await fh.read(buf, 0, buf.length, t.readOffset);
      if (bytesRead === 0) {
        // Size and modification time from one stat taken after the empty read: a write that landed in
        // between shows in the size, so "at the end and quiet since" cannot miss it.
        const st = await fh.stat();
        t.size = st.size;
        t.mtimeMs = st.mtimeMs;
        if (st.size > t.readOffset) continue;
        return 'eof';
      }
      // The live file may be truncated (copytruncate) between our stat and this read, and the bytes at
      // our offset then belong to new content: keep the read only if the file still starts as before.
      if (t.live && !(await this.headUnchanged(fh, t))) return 'gone';
      // On a line boundary, take the whole lines and read the unfinished last one again next time: the
      // block is then the read buffer itself, with no copy to join a held-back tail to the next read.
      const { parts, taken, owned } = t.splitter.pushRead(buf, bytesRead);
      t.readOffset += taken;
      t.size = Math.max(t.size, t.readOffset);
      this.events.bytesRead(taken);
      await this.emit(t, parts, owned);
    }
  }

  /** A compressed backup is read in one pass (it never changes); the checkpoint is a decompressed offset. */
  private async readGzip(t: Tracked): Promise<'eof' | 'stopped' | 'gone'> {
    if ((!t.fh || t.fhIno !== t.ino) && !(await this.openHandle(t))) return 'gone';
    const input = bytesOf(t.fh!, 256 * 1024);
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    input.on('error', (err) => gunzip.destroy(err));
    input.pipe(gunzip);
    let position = 0;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        if (this.stopped) {
          input.destroy();
          return 'stopped';
        }
        const end = position + chunk.length;
        if (end > t.readOffset) {
          const part = chunk.subarray(Math.max(0, t.readOffset - position));
          t.readOffset = end;
          this.events.bytesRead(part.length);
          await this.emit(t, t.splitter.push(Buffer.from(part)));
        }
        position = end;
      }
    } catch (err) {
      this.events.problem('compressed file is damaged; keeping the lines read before the damage', {
        path: t.path, offset: position, error: (err as Error).message,
      });
    } finally {
      input.destroy();
    }
    t.size = t.readOffset;
    t.mtimeMs = 0;
    t.live = false;
    return 'eof';
  }

  private async finish(t: Tracked): Promise<void> {
    await this.emit(t, t.splitter.flush());
    t.finished = true;
    await this.closeHandle(t);
    this.markDoneIfDurable(t);
    this.events.fileFinished(t.path);
  }

  /** A finished file whose every byte is durable is marked done, so a restart does not even open it. */
  private markDoneIfDurable(t: Tracked): void {
    if (t.finished && !t.state.done && t.state.offset >= t.readOffset) {
      t.state.done = true;
      this.store.put(t.state);
    }
  }

  /** `owned`: the single part is the only view of its read buffer (see LineSplitter.pushRead). */
  private async emit(t: Tracked, parts: SplitOutput[], owned = false): Promise<void> {
    for (const part of parts) {
      const commitOffset = part.kind === 'lines'
        ? part.offset + part.data.length
        : part.length >= 0 ? part.offset + part.length + 1 : part.offset;
      t.sentOffset = Math.max(t.sentOffset, commitOffset);
      await this.consume({
        source: this.opts.source,
        fileKey: t.fp.hash.slice(0, 16),
        path: t.path,
        kind: part.kind,
        offset: part.offset,
        data: part.data,
        commitOffset,
        owned,
        onDurable: () => {
          if (commitOffset > t.state.offset) {
            t.state.offset = commitOffset;
            this.store.put(t.state);
          }
          this.markDoneIfDurable(t);
        },
      });
    }
  }
}

/** Two fingerprints name the same content when the shorter one's bytes begin the longer one. */
function sharesPrefix(a: Fingerprint, b: Fingerprint): boolean {
  const n = Math.min(a.len, b.len);
  return n > 0 && a.head.subarray(0, n).equals(b.head.subarray(0, n));
}
