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
//
// What the cycle could not read is reported, never skipped in silence (`ReadProblems`): a live file that is
// missing or unreadable, a backup that is not a regular file or not gzip. A finished backup costs nothing per
// scan (`FinishedFiles`: known by identity, skipped without a system call). Content the checkpoint had not
// read to its end and that no scan finds any more is lost: reported once, with the bytes known unread.
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { constants, readSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import type { CheckpointStore, FileState } from '../delivery/checkpoint.ts';
import type { BlockOrigin } from '../parse/parsers.ts';
import { BackupNames, type BackupNaming, type Backups } from './backup-names.ts';
import { FinishedFiles } from './finished-files.ts';
import { FINGERPRINT_BYTES, bytesOf, fingerprintOf, hashBytes, readGzipHeadFrom, readGzipSizeFrom, readHeadFrom, type Fingerprint, type GzipHead } from './fingerprint.ts';
import { LineSplitter, type SplitOutput } from './lines.ts';
import type { SourcePrecedence } from './precedence.ts';
import { ReadBufferPool } from './read-buffers.ts';
import { ReadProblems, reasonOf, type ReadProblem } from './read-problems.ts';

/** Unread files held open at once (each keeps a pruned backup readable until its turn). */
const MAX_HELD_OPEN = 64;
/** While passes find less than this, the first read of a pass is synchronous and this long (see readAvailable). */
const SYNC_READ_BYTES = 256 * 1024;
/** Below this rate (about 150 audit events a second) passes woken by writes start LOW_RATE_SETTLE_MS apart. */
const LOW_RATE_BYTES_PER_S = 256 * 1024;
const LOW_RATE_SETTLE_MS = 1000;

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
  /** Which parser reads the lines, and what it needs of their file; unset: audit events. */
  origin?: BlockOrigin;
}

/** Hands a chunk to the pipeline; resolves when the pipeline can take another (backpressure). */
export type ChunkConsumer = (chunk: SourceChunk) => Promise<void>;

/** Content that was gone before it was read to its end. */
export interface LostFile {
  /** Where it was last seen. */
  path: string;
  /** Its identity (hash of its first bytes), as in the checkpoint. */
  fingerprint: string;
  /** Content bytes it held when last seen, and how far they were read and durable. */
  size: number;
  offset: number;
  /** Bytes known never read: `size - offset` (more may have been written after it was last seen). */
  unreadBytes: number;
  lastSeenAt: number;
  /** Gone while the agent was not running: what was written to it after `lastSeenAt` is unknown. */
  whileDown: boolean;
}

export interface FileSetEvents {
  bytesRead(n: number): void;
  /** A file with something to read is opened (finished ones are skipped without a word). */
  fileOpened(path: string, offset: number, reason: string): void;
  fileFinished(path: string): void;
  problem(message: string, details: Record<string, unknown>): void;
  /** A path cannot be read: once confirmed (`lastingMs` 0), then again every `repeatWarningMs` while it lasts. */
  cannotRead(p: ReadProblem, lastingMs: number): void;
  /** A path reported by `cannotRead` can be read again (or is gone). */
  readableAgain(p: ReadProblem): void;
  /** Content gone before it was read to its end; reported once (the checkpoint remembers it). */
  lost(l: LostFile): void;
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
  /** Least time from one pass to the next that writes to the live file start (a block of lines, not one pass per write). */
  settleMs?: number;
  /** Where read buffers come from; chunks marked `owned` should be given back to it. */
  buffers?: ReadBufferPool;
  /** How often a problem that lasts is warned about again. */
  repeatWarningMs?: number;
  /** How the writer names its backups (default: the apiserver's `<stem>-<time><ext>`). */
  backupNaming?: BackupNaming;
  /**
   * Read a file whose name is a symbolic link (off by default: the apiserver writes none, and a link planted under
   * its names would have the agent forward and dead-letter another file, /etc/shadow as well as any).
   */
  followSymlinks?: boolean;
  /**
   * The audit log goes first (src/sources/precedence.ts): a `lead` file set says when it is behind its writer, a
   * `follow` one waits before each read while a leader is.
   */
  precedence?: { shared: SourcePrecedence; role: 'lead' | 'follow' };
}

const REPEAT_WARNING_MS = 5 * 60_000;
/** Least time between the starts of two scans that directory changes cause. */
const WATCH_SCAN_GAP_MS = 50;
/** Checkpoints of files gone for a day are dropped; looking for them once a minute is often enough. */
const PRUNE_EVERY_MS = 60_000;

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
  private readonly opts: Required<Omit<FileSetOptions, 'buffers' | 'backupNaming' | 'precedence'>>;
  private readonly precedence: FileSetOptions['precedence'];
  /** How files are opened: read-only, and not through a symbolic link unless `followSymlinks`. */
  private readonly openFlags: number;
  private readonly buffers: ReadBufferPool;
  private readonly store: CheckpointStore;
  private readonly consume: ChunkConsumer;
  private readonly events: FileSetEvents;
  private readonly dir: string;
  private readonly backupNames: BackupNames;
  private readonly tracked: Tracked[] = [];
  private readonly finishedFiles: FinishedFiles;
  private readonly problems: ReadProblems;
  private readonly startedAt = Date.now();
  /** The latest scan could not look at every file (one may hold content the checkpoint misses). */
  private blind = false;
  /** Content not read to its end may have gone: at start, and when a file is forgotten unfinished. */
  private lossCheckDue = true;
  private firstScan = true;
  private prunedAt = 0;
  private readonly startedEmpty: boolean;
  private stopped = false;
  private sleeping: { until: number; timer: NodeJS.Timeout | undefined; resolve: () => void } | undefined;
  private scanStartedAt = 0;
  /** Last time the directory watcher reported a change. */
  private changedAt = -1;
  /** The next pass must scan: a name in the directory changed, a file was not where it was, a problem is unsure. */
  private scanDue = true;
  private lastScanAt = 0;
  /** The files of the last scan, in reading order: a pass that does not scan reads on through them. */
  private order: Tracked[] = [];
  private watcher: FSWatcher | undefined;
  private loop: Promise<void> | undefined;

  constructor(opts: FileSetOptions, store: CheckpointStore, consume: ChunkConsumer, events: FileSetEvents) {
    this.opts = { quietMs: 300, settleMs: 250, repeatWarningMs: REPEAT_WARNING_MS, followSymlinks: false, ...opts };
    this.precedence = opts.precedence;
    this.openFlags = constants.O_RDONLY | (this.opts.followSymlinks ? 0 : constants.O_NOFOLLOW);
    this.buffers = opts.buffers ?? new ReadBufferPool(opts.chunkBytes, 0);
    this.store = store;
    this.consume = consume;
    this.events = events;
    this.dir = dirname(opts.path);
    const ext = extname(opts.path);
    this.backupNames = new BackupNames(basename(opts.path, ext), ext, opts.backupNaming);
    this.startedEmpty = store.isEmpty();
    // logrotate's numbered backups move up a name at each rotation: a finished file's name is soon another file's.
    this.finishedFiles = new FinishedFiles(store.all(), { namesReused: opts.backupNaming === 'any' });
    this.problems = new ReadProblems({ confirmMs: this.opts.quietMs, repeatMs: this.opts.repeatWarningMs }, events);
  }

  start(): void {
    this.watchDirectory();
    this.loop = this.run();
  }

  /**
   * Scans soon after something in the directory changes (polling covers what a watcher misses): one inotify watch
   * on the directory, whose events name the file (a finished file that changes is looked at again). A busy writer
   * changes the live file hundreds of times a second, and a scan lists the directory: scans the watcher causes
   * start at least WATCH_SCAN_GAP_MS apart, and a change during a scan is not missed.
   */
  private watchDirectory(): void {
    if (this.watcher !== undefined || this.stopped) return;
    const liveName = basename(this.opts.path);
    try {
      this.watcher = watch(this.dir, { persistent: false }, (event, name) => {
        if (name) this.finishedFiles.touched(String(name));
        // The live file growing needs a read of it; anything else (a rotation, a backup compressed or pruned) a scan.
        if (event === 'rename' || name !== liveName) this.scanDue = true;
        this.changedAt = Date.now();
        // One event is enough to start a pass: until the pass is done the watch is off (an apiserver writes each
        // event on its own, and each write would otherwise wake this thread), and the pass looks for itself.
        this.unwatchDirectory();
        this.sleepUntil(this.scanStartedAt + (this.scanDue ? WATCH_SCAN_GAP_MS : this.settleMs()));
      });
    } catch {
      return; // no directory yet: the next scan tries again
    }
    this.watcher.on('error', () => {
      // The directory went away: polling covers it, and a scan that finds it again watches it again.
      this.unwatchDirectory();
      this.scanDue = true;
    });
  }

  private unwatchDirectory(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Why the live file cannot be read now (empty when it can), for readiness. */
  liveProblems(): string[] {
    return this.problems.liveProblems();
  }

  /** False while the live file cannot be read. */
  liveReadable(): boolean {
    return this.problems.liveReadable();
  }

  /** Every file that could not be read, and every loss, since the start (`run --once` exits 1 on any). */
  problemsSeen(): string[] {
    return this.problems.seen();
  }

  /** Stops reading; what was handed to the consumer still completes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    if (this.precedence?.role === 'lead') this.precedence.shared.lead(this, false);
    this.unwatchDirectory();
    for (const t of this.tracked) await this.closeHandle(t);
  }

  private wake(): void {
    const s = this.sleeping;
    this.sleeping = undefined;
    clearTimeout(s?.timer);
    s?.resolve();
  }

  /** Sleeps `ms`, or less if the directory changed since the scan began (then `sleepUntil` ends it sooner). */
  private sleep(ms: number): Promise<void> {
    // stop() may have come while the loop awaited something else: its wake-up found no sleeper.
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.sleeping = { until: Infinity, timer: undefined, resolve };
      this.sleepUntil(Date.now() + ms);
      if (this.changedAt >= this.scanStartedAt) this.sleepUntil(this.scanStartedAt + (this.scanDue ? WATCH_SCAN_GAP_MS : this.settleMs()));
    });
  }

  /** Ends the current sleep at `time` if that is sooner than planned. */
  private sleepUntil(time: number): void {
    const s = this.sleeping;
    if (s === undefined || time >= s.until) return;
    clearTimeout(s.timer);
    s.until = time;
    s.timer = setTimeout(() => this.wake(), Math.max(0, time - Date.now()));
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
      const previousStart = this.scanStartedAt;
      this.scanStartedAt = Date.now();
      // What the last pass found, per second since the pass before it: a low rate lets writes settle longer.
      this.lowRate = this.passBytes * 1000 < LOW_RATE_BYTES_PER_S * (this.scanStartedAt - previousStart);
      try {
        // Between scans a pass reads on through the descriptors it holds: a growing live file costs a read, not a
        // listing and an open of the live file. A scan comes when a name changed, and every poll interval for what
        // no event reports.
        if (this.scanDue || this.scanStartedAt - this.lastScanAt >= this.opts.pollMs) {
          this.scanDue = false;
          this.lastScanAt = this.scanStartedAt;
          const { order, unsure } = await this.scan();
          this.order = order;
          if (unsure) {
            // A problem not confirmed yet (a rotation or compression in progress looks like one): look again soon.
            this.scanDue = true;
            waitMs = Math.min(waitMs, this.opts.quietMs);
            pending = true;
          }
        }
        for (const t of this.order) {
          if (this.stopped) break;
          if (t.finished) continue;
          const outcome = await this.readAvailable(t);
          if (outcome === 'stopped') break;
          if (outcome === 'gone') {
            // Moved, deleted or truncated: the next scan finds it under its new name, or as new content.
            this.scanDue = true;
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
      if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = Date.now();
        this.store.prune(this.prunedAt);
      }
      if (!this.stopped && waitMs > 0) {
        // Watch again, then look once: a write that landed while the watch was off has no event to wake us. (A watch
        // that stayed on through the pass saw every write: then there is nothing to look at.)
        const rearmed = this.watcher === undefined;
        this.watchDirectory();
        const untilScan = Math.max(0, this.lastScanAt + this.opts.pollMs - Date.now());
        const moved = rearmed && this.watcher !== undefined && !pending && !this.scanDue && this.liveMovedOn();
        // Let writes settle before the next pass, so that a steady trickle is read in blocks rather than line by line.
        await this.sleep(moved ? Math.max(0, this.scanStartedAt + this.settleMs() - Date.now()) : Math.min(waitMs, untilScan));
      }
    }
  }

  /**
   * The live file has grown since the last read saw its end, or its name now holds another file (a scan is due).
   * One stat of a name, synchronous: cheaper than a round trip through the thread pool.
   */
  private liveMovedOn(): boolean {
    const live = this.order.find((t) => t.live && t.present);
    let st: Stats;
    try {
      st = statSync(this.opts.path);
    } catch {
      if (live !== undefined) this.scanDue = true; // gone since the pass: rotated or deleted
      return live !== undefined;
    }
    if (live === undefined || st.ino !== live.ino || st.dev !== live.dev) {
      this.scanDue = true;
      return true;
    }
    return st.size !== live.size; // the size the last read saw at its end (a held-back half line is not news)
  }

  /**
   * Step 1–3: find and identify the files, return them in reading order; `unsure` while a problem is not
   * confirmed yet.
   */
  private async scan(): Promise<{ order: Tracked[]; unsure: boolean }> {
    for (const t of this.tracked) t.present = false;
    this.problems.beginScan();
    this.blind = false;
    this.watchDirectory();
    // The live file before the listing (see the top of this file): never the other way round.
    const liveThere = await this.identifyPath(this.opts.path, true);
    let backups: Backups = { names: [], set: new Set() };
    let noDirectory = false;
    try {
      backups = this.backupNames.of(await readdir(this.dir));
    } catch (err) {
      const why = reasonOf(err);
      noDirectory = why.reason === 'not_found' || why.reason === 'directory_not_found';
      if (!noDirectory) this.report({ path: this.dir, live: false, ...why });
    }
    if (!liveThere) {
      this.report(noDirectory
        ? { path: this.opts.path, live: true, reason: 'directory_not_found' }
        : { path: this.opts.path, live: true, reason: 'not_found', detail: backups.names.length === 0 ? 'and no backups beside it: the path matches nothing' : undefined });
    }
    const now = Date.now();
    for (const name of backups.names) {
      if (this.finishedFiles.skip(name, now)) continue;
      const path = join(this.dir, name);
      if (!(await this.isFinished(name, path, now))) await this.identifyBackup(path);
    }
    this.firstScan = false;

    // A file neither in the directory nor open cannot be read now; it is forgotten once all that was
    // handed out from it is durable (see the top of this file). One read to its end is known by identity from
    // now on; one that was not may be lost.
    for (let i = this.tracked.length - 1; i >= 0; i--) {
      const t = this.tracked[i];
      if (t.finished && t.state.done && t.present && !t.live && !t.fh) {
        this.tracked.splice(i, 1);
        this.finishedFiles.add(basename(t.path), t.state, now);
      } else if (!t.present && !t.fh && t.state.offset >= t.sentOffset) {
        this.tracked.splice(i, 1);
        if (!t.state.done) this.lossCheckDue = true;
      }
    }
    this.finishedFiles.endScan(backups.set);
    const unsure = this.problems.endScan();
    if (this.lossCheckDue && !unsure && !this.blind) this.accountLosses();

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
    const order = this.tracked
      .filter((t) => !t.finished && (t.present || t.fh))
      .sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? this.backupNames.compare(sortName(a), sortName(b)) : 0));
    return { order, unsure };
  }

  /** Records why a path cannot be read; one that may hide content (not readable at all) makes the scan blind to losses. */
  private report(p: ReadProblem, look?: string): void {
    if (p.reason === 'permission_denied' || p.reason === 'read_error' || p.reason === 'directory_not_found') this.blind = true;
    this.problems.report(p, look);
  }

  /**
   * Content the checkpoint has not read to its end and no file holds any more (a scan that could look at every
   * file found it under no name, and no descriptor is open on it) is gone. Gone while the agent was down, it is a
   * loss whatever is known unread (the writer may have added to it since); gone while the agent ran, only when
   * bytes were left unread. Reported once: the checkpoint remembers when.
   */
  private accountLosses(): void {
    this.lossCheckDue = false;
    const reading = new Set(this.tracked.map((t) => t.state));
    let changed = false;
    for (const f of this.store.all()) {
      if (f.done || f.lostAt !== undefined || reading.has(f)) continue;
      const unreadBytes = Math.max(0, f.size - f.offset);
      const whileDown = f.seenAt < this.startedAt;
      if (unreadBytes === 0 && !whileDown) f.done = true; // everything it held was read
      else {
        f.lostAt = Date.now();
        this.problems.noteLoss(`lost ${f.path} (fingerprint ${f.fingerprint.slice(0, 16)}): ${unreadBytes} bytes never read${whileDown ? ', and whatever was written to it after it was last seen' : ''}`);
        this.events.lost({ path: f.path, fingerprint: f.fingerprint, size: f.size, offset: f.offset, unreadBytes, lastSeenAt: f.seenAt, whileDown });
      }
      this.store.put(f);
      changed = true;
    }
    // Saved at once, so that a restart does not report the same loss again.
    if (changed) this.store.flush().catch((err) => this.events.problem('cannot write checkpoint', { error: String(err) }));
  }

  /** One stat: is the file at `path` one read to its end already (known by identity)? */
  private async isFinished(name: string, path: string, now: number): Promise<boolean> {
    let st: Stats;
    try {
      st = await stat(path);
    } catch {
      return false; // gone or unreadable: identifying it tells which
    }
    return this.finishedFiles.recognise(name, st, now);
  }

  private async identifyBackup(path: string): Promise<void> {
    // A backup compressed since the listing is found under its .gz name (written before the original
    // is removed), so it keeps its place in the reading order.
    if (!(await this.identifyPath(path)) && !path.endsWith('.gz')) await this.identifyPath(`${path}.gz`);
  }

  /**
   * Identifies the file now at `path` through one descriptor; returns false when nothing is there (a path that
   * cannot be read is reported, and counts as there). The descriptor is kept as the file's read handle when the
   * file is still to be read and has none.
   */
  private async identifyPath(path: string, live = false): Promise<boolean> {
    let fh: FileHandle;
    try {
      // Non-blocking, so that a FIFO under a matching name cannot hang the scan.
      fh = await open(path, this.openFlags | constants.O_NONBLOCK);
    } catch (err) {
      const why = reasonOf(err);
      if (why.reason === 'not_found') return false;
      this.report({ path, live, ...why });
      return true;
    }
    let kept = false;
    try {
      const st = await fh.stat();
      const look = `${st.size}:${st.mtimeMs}`;
      if (!st.isFile()) {
        this.report({ path, live, reason: 'not_a_regular_file', detail: kindOf(st) }, look);
        return true;
      }
      if (st.size === 0) return true;
      const gz = path.endsWith('.gz');
      const gzHead = gz ? await this.gzipHead(fh, st) : undefined;
      if (gzHead?.problem !== undefined) {
        // Judged once the file stopped changing: a .gz being written does not decompress yet.
        this.report({ path, live, reason: gzHead.problem, detail: gzHead.detail }, look);
        return true;
      }
      const head = gz ? gzHead?.head : await readHeadFrom(fh);
      if (!head) return true; // a file emptied since the stat is looked at next time
      const t = await this.match(path, st, head, gz, fh);
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
  private async match(path: string, st: Stats, head: Buffer, gz: boolean, fh: FileHandle): Promise<Tracked | undefined> {
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
    return this.adopt(path, st, fp, gz, live, fh);
  }

  /** Decompressed heads of the .gz files being read (finished ones are not looked at again). */
  private readonly gzipHeads = new LRUCache<string, GzipHead>({ max: 2 * MAX_HELD_OPEN });

  /** Compressed files never change: decompress their first bytes once per (inode, size, mtime). */
  private async gzipHead(fh: FileHandle, st: Stats): Promise<GzipHead> {
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    let head = this.gzipHeads.get(key);
    if (head === undefined) {
      head = await readGzipHeadFrom(fh);
      this.gzipHeads.set(key, head);
    }
    return head;
  }

  /**
   * The file as just seen on disk: its size (of a plain file: its content's) and identity, in its state too, which
   * is saved when they change (what a loss would cost, and how a done file is known at the next start).
   */
  private saw(t: Tracked, st: Stats): void {
    if (!t.gz) t.size = st.size;
    t.dev = st.dev;
    t.ino = st.ino;
    t.mtimeMs = st.mtimeMs;
    const s = t.state;
    const changed = s.size !== t.size || s.fileSize !== st.size || s.mtimeMs !== st.mtimeMs || s.dev !== st.dev || s.ino !== st.ino;
    Object.assign(s, { dev: st.dev, ino: st.ino, fileSize: st.size, mtimeMs: st.mtimeMs, size: t.size, seenAt: Date.now() });
    if (changed) this.store.put(s);
  }

  private refresh(t: Tracked, path: string, st: Stats, live: boolean): void {
    t.path = path;
    t.live = live;
    t.present = true;
    this.saw(t, st);
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
  private async adopt(path: string, st: Stats, fp: Fingerprint, gz: boolean, live: boolean, fh: FileHandle): Promise<Tracked> {
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
      fingerprint: fp.hash, fpLen: fp.len, dev: st.dev, ino: st.ino, offset, done: false, size: 0, fileSize: st.size, mtimeMs: st.mtimeMs, path, seenAt: Date.now(),
      key: fp.hash.slice(0, 16),
    };
    state.path = path;
    const finished = saved?.done === true && !live;
    // A .gz holds what its trailer says (known before it is read, for the lag and for what a loss would cost).
    const size = !gz ? st.size : finished ? offset : Math.max(offset, state.size, (await readGzipSizeFrom(fh, st.size)) ?? 0);
    const t: Tracked = {
      fp, state, path, gz, dev: st.dev, ino: st.ino, size, mtimeMs: st.mtimeMs, live,
      present: true, readOffset: offset, sentOffset: offset, splitter: new LineSplitter(offset, this.opts.maxLineBytes), finished,
    };
    this.refresh(t, path, st, live); // a plain file done before but longer now is read on
    this.store.put(state);
    this.tracked.push(t);
    if (!t.finished) this.events.fileOpened(path, offset, reason);
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
      const fh = await open(t.path, this.openFlags);
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

  /** The file still starts with its fingerprint's bytes (one small read from the page cache: synchronous). */
  private headUnchanged(fh: FileHandle, t: Tracked): boolean {
    if (this.headBuffer.length < t.fp.len) this.headBuffer = Buffer.allocUnsafe(t.fp.len);
    const bytesRead = readSync(fh.fd, this.headBuffer, 0, t.fp.len, 0);
    return bytesRead === t.fp.len && this.headBuffer.compare(t.fp.head, 0, t.fp.len, 0, t.fp.len) === 0;
  }

  private headBuffer = Buffer.allocUnsafe(FINGERPRINT_BYTES);
  /** Bytes the last pass over a file read (its first read is small and synchronous while this stays small). */
  private passBytes = 0;
  /** The last pass found less than LOW_RATE_BYTES_PER_S. */
  private lowRate = false;

  /**
   * Least time from one pass to the next that writes start: `settleMs`, or at least LOW_RATE_SETTLE_MS while the
   * rate is low (a few passes a second cost more than the events they carry; the sinks' batches wait their
   * `max_wait` for more records anyway).
   */
  private settleMs(): number {
    return this.lowRate ? Math.max(this.opts.settleMs, LOW_RATE_SETTLE_MS) : this.opts.settleMs;
  }

  /**
   * Reads what is there now, up to the end of the file (or until stopped, or the file cannot be opened). A pass
   * over the live file ends at the first read that does not fill its buffer: that read reached the end as it was,
   * and the watch, armed again after the pass, reports what is written next. While passes find less than
   * SYNC_READ_BYTES, the first read of a pass is that small and synchronous (what a pass finds at ordinary rates,
   * just written, so in the page cache): a thread-pool round trip costs the main thread more than the copy. A file
   * no longer written to is read until a read finds nothing, then stat'ed for its quiet time.
   */
  private async readAvailable(t: Tracked): Promise<'eof' | 'stopped' | 'gone'> {
    if (t.gz) return this.readGzip(t);
    if ((!t.fh || t.fhIno !== t.ino) && !(await this.openHandle(t))) return 'gone';
    const fh = t.fh!;
    // Small only while passes find little: a pass that found more reads in whole chunks from its start.
    let small = this.passBytes < SYNC_READ_BYTES;
    this.passBytes = 0;
    const precedence = this.precedence;
    for (;; small = false) {
      if (precedence?.role === 'follow') await precedence.shared.follow();
      if (this.stopped) return 'stopped';
      const buf = this.buffers.take();
      const want = small ? Math.min(SYNC_READ_BYTES, buf.length) : buf.length;
      const bytesRead = small ? readSync(fh.fd, buf, 0, want, t.readOffset) : (await fh.read(buf, 0, want, t.readOffset)).bytesRead;
      this.passBytes += bytesRead;
      // A read that filled its buffer leaves more waiting: behind until a read comes back short.
      if (precedence?.role === 'lead') precedence.shared.lead(this, bytesRead === want);
      if (bytesRead === 0) {
        this.buffers.give(buf);
        // Size and modification time from one stat taken after the empty read: a write that landed in
        // between shows in the size, so "at the end and quiet since" cannot miss it.
        const st = await fh.stat();
        this.saw(t, st);
        if (st.size > t.readOffset) continue;
        // Shorter than what was read: truncated in place (copytruncate). A scan tells what it holds now.
        if (t.live && st.size < t.readOffset) return 'gone';
        return 'eof';
      }
      // The live file may be truncated (copytruncate) between our stat and this read, and the bytes at
      // our offset then belong to new content: keep the read only if the file still starts as before.
      if (t.live && !this.headUnchanged(fh, t)) return 'gone';
      // On a line boundary, take the whole lines and read the unfinished last one again next time: the
      // block is then the read buffer itself, with no copy to join a held-back tail to the next read.
      const readEnd = t.readOffset + bytesRead;
      const { parts, taken, owned } = t.splitter.pushRead(buf, bytesRead);
      t.readOffset += taken;
      t.size = Math.max(t.size, readEnd);
      t.state.size = t.size;
      this.events.bytesRead(taken);
      await this.emit(t, parts, owned);
      if (bytesRead < want && t.live && t.present) return 'eof';
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
    } catch {
      this.problems.incident({
        path: t.path, live: false, reason: 'damaged_gzip', detail: `at byte ${position} of its content; the lines before it were read`,
      });
    } finally {
      input.destroy();
    }
    t.size = t.readOffset;
    t.state.size = t.size;
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
        fileKey: t.state.key ?? t.fp.hash.slice(0, 16),
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

/** What a path that is not a regular file is, in an operator's words. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  return 'not a file';
}
