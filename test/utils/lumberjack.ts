// Test writer that appends audit lines and rotates them exactly as kube-apiserver's lumberjack logger does.
import {
  closeSync,
  constants,
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/*
 * What gopkg.in/natefinch/lumberjack.v2 (the apiserver's --audit-log-* writer) does, step by step:
 *  1. Each event is one Write of the whole line, so lines never straddle files.
 *  2. If size + len(line) > maxSize: rename the live file to `<name>-<UTC YYYY-MM-DDTHH-MM-SS.mmm>.<ext>`,
 *     create a fresh live file (O_TRUNC, mode copied from the old one), then write.
 *     If the live file no longer exists (deleted while open), nothing is renamed.
 *  3. After each rotation a background "mill" (one at a time, extra requests coalesced) lists the
 *     backups newest first, removes those past maxBackups (a backup and its .gz count once), and
 *     gzips the rest into `<backup>.gz` written in place, then removes the uncompressed backup.
 * The first write also starts a mill; on an existing live file it appends, rotating first if
 * size + len(line) >= maxSize.
 */

export interface LumberjackOptions {
  dir: string;
  /** Live file is `<dir>/<name>.<ext>`. */
  name?: string;
  ext?: string;
  /** Bytes. A write that would take the live file past this rotates first (the apiserver's unit is MiB). */
  maxSize: number;
  /** Backups kept; 0 keeps all (lumberjack's default). */
  maxBackups?: number;
  compress?: boolean;
  /** fsync after every write. */
  fsync?: boolean;
  /** `rename` (lumberjack) or `copytruncate` (logrotate style: copy to the backup name, truncate in place). */
  mode?: 'rename' | 'copytruncate';
  /** Mode of a new live file when none exists (lumberjack: 0600). */
  fileMode?: number;
  /** Clock for backup names, epoch ms. */
  now?: () => number;
}

/** Where one live-file generation's bytes are now. */
export type SegmentState = 'live' | 'backup' | 'compressed' | 'removed' | 'deleted';

export interface Segment {
  /** 0, 1, 2, … in creation order. */
  index: number;
  path: string;
  state: SegmentState;
  /** auditIDs written to this generation, in order. */
  ids: string[];
  lines: number;
  bytes: number;
}

export interface WrittenLine {
  /** The line's auditID, if it has one. */
  id: string | undefined;
  segment: number;
  /** Byte offset of the line in its generation. */
  offset: number;
  length: number;
}

const AUDIT_ID = /"auditID":"([^"\\]*)"/;

/** `<dir>/<name>-<UTC time>.<ext>` as lumberjack names backups (LocalTime false, as the apiserver runs it). */
export function backupName(dir: string, name: string, ext: string, epochMs: number): string {
  const stamp = new Date(epochMs).toISOString().slice(0, 23).replaceAll(':', '-');
  return join(dir, `${name}-${stamp}.${ext}`);
}

/** Matches a backup file name (optionally `.gz`) and captures its timestamp. */
export function backupPattern(name = 'kubernetes', ext = 'audit'): RegExp {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc(name)}-(\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}\\.\\d{3})${esc(`.${ext}`)}(\\.gz)?$`);
}

export class LumberjackWriter {
  readonly dir: string;
  readonly name: string;
  readonly ext: string;
  readonly livePath: string;
  readonly options: Readonly<Required<Omit<LumberjackOptions, 'now'>>> & { now: () => number };

  private fd = -1;
  private size = 0;
  private firstWrite = true;
  /** lumberjack's openExistingOrNew: the first write to a file it found rotates on >=, not >. */
  private liveExisted = false;
  private lastStamp = 0;
  private readonly segs: Segment[] = [];
  private readonly written: WrittenLine[] = [];
  private readonly pattern: RegExp;
  private mill: Promise<void> = Promise.resolve();
  private millQueued = false;
  private readonly millErrors: unknown[] = [];
  private closed = false;

  private constructor(opts: LumberjackOptions) {
    this.options = {
      name: 'kubernetes',
      ext: 'audit',
      maxBackups: 0,
      compress: false,
      fsync: false,
      mode: 'rename',
      fileMode: 0o600,
      now: Date.now,
      ...opts,
    };
    this.dir = opts.dir;
    this.name = this.options.name;
    this.ext = this.options.ext;
    this.livePath = join(this.dir, `${this.name}.${this.ext}`);
    this.pattern = backupPattern(this.name, this.ext);
  }

  /** Opens (appending to) the live file, creating the directory and file if needed. */
  static async open(opts: LumberjackOptions): Promise<LumberjackWriter> {
    if (!(opts.maxSize > 0)) throw new Error('maxSize must be > 0');
    const w = new LumberjackWriter(opts);
    mkdirSync(w.dir, { recursive: true });
    w.liveExisted = existsSync(w.livePath);
    w.fd = openSync(w.livePath, 'a', w.options.fileMode);
    w.size = fstatSync(w.fd).size;
    w.segs.push({ index: 0, path: w.livePath, state: 'live', ids: [], lines: 0, bytes: w.size });
    return w;
  }

  /** Appends one line (a newline is added when missing), rotating first when it would not fit. */
  async write(line: string | Uint8Array): Promise<void> {
    this.writeLineSync(toLine(line));
  }

  /** Appends many lines with the same rotation points as one write per line, in fewer syscalls. */
  async writeMany(lines: Iterable<string | Uint8Array>): Promise<void> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = (): void => {
      if (pendingBytes === 0) return;
      this.writeFully(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for (const l of lines) {
      const buf = toLine(l);
      this.checkLength(buf);
      if (this.needsRotation(this.size + pendingBytes, buf.length)) {
        flush();
        this.rotateSync();
      }
      this.record(buf, this.size + pendingBytes);
      pending.push(buf);
      pendingBytes += buf.length;
      if (pendingBytes >= 1 << 20) {
        flush();
      }
    }
    flush();
  }

  /** Writes bytes as one Write call without adding a newline (a torn or partial line); the same size check applies. */
  async writeRaw(bytes: string | Uint8Array): Promise<void> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.checkLength(buf);
    if (this.needsRotation(this.size, buf.length)) this.rotateSync();
    this.segs[this.segs.length - 1].bytes += buf.length;
    this.writeFully(buf);
  }

  /** Rotates now, as lumberjack's Rotate() (or a SIGHUP-style reopen) does. */
  async rotate(): Promise<void> {
    this.rotateSync();
  }

  /**
   * Unlinks the live file while its descriptor stays open: later writes go to the deleted file
   * until the next rotation, which then finds nothing to rename and just creates a new live file.
   */
  async unlinkLive(): Promise<void> {
    unlinkSync(this.livePath);
    this.current().state = 'deleted';
  }

  /** Delete-while-open in one step: unlink, append `lines` to the open (deleted) file, then create a new live file. */
  async deleteWhileOpen(lines: Iterable<string | Uint8Array> = []): Promise<void> {
    await this.unlinkLive();
    await this.writeMany(lines);
    this.rotateSync();
  }

  /** Every auditID written, in write order (lines without one are skipped). */
  writtenIds(): string[] {
    const out: string[] = [];
    for (const w of this.written) if (w.id !== undefined) out.push(w.id);
    return out;
  }

  /** Every line written: its id, generation and offset. */
  lines(): readonly WrittenLine[] {
    return this.written;
  }

  /** Every live-file generation, oldest first, with where its bytes are now. */
  segments(): readonly Segment[] {
    return this.segs;
  }

  /** auditIDs whose bytes are still in some file (live, backup or .gz), i.e. not pruned and not deleted. */
  retainedIds(): string[] {
    const out: string[] = [];
    for (const s of this.segs) if (s.state !== 'removed' && s.state !== 'deleted') out.push(...s.ids);
    return out;
  }

  /** Backup files in the directory (`.gz` included), oldest first, as full paths. */
  async backups(): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((n) => this.pattern.test(n));
    return names.sort().map((n) => join(this.dir, n));
  }

  /** Resolves when background pruning and compression have caught up; throws if any failed. */
  async settled(): Promise<void> {
    for (;;) {
      const m = this.mill;
      await m;
      if (m === this.mill) break;
    }
    if (this.millErrors.length > 0) throw this.millErrors[0];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
    closeSync(this.fd);
  }

  // ---- internals ----------------------------------------------------------------------------

  private current(): Segment {
    return this.segs[this.segs.length - 1];
  }

  private checkLength(buf: Buffer): void {
    if (buf.length > this.options.maxSize) {
      throw new Error(`write length ${buf.length} exceeds maximum file size ${this.options.maxSize}`);
    }
  }

  private needsRotation(size: number, len: number): boolean {
    if (this.firstWrite) {
      // openExistingOrNew also starts a mill, which compresses or prunes backups left by a previous run.
      this.firstWrite = false;
      this.requestMill();
      if (this.liveExisted) return size + len >= this.options.maxSize;
    }
    return size + len > this.options.maxSize;
  }

  private writeLineSync(buf: Buffer): void {
    this.checkLength(buf);
    if (this.needsRotation(this.size, buf.length)) this.rotateSync();
    this.record(buf, this.size);
    this.writeFully(buf);
  }

  private record(buf: Buffer, offset: number): void {
    const seg = this.current();
    const head = buf.toString('latin1', 0, Math.min(buf.length, 256));
    const m = AUDIT_ID.exec(head) ?? AUDIT_ID.exec(buf.toString('utf8'));
    const id = m?.[1];
    this.written.push({ id, segment: seg.index, offset, length: buf.length });
    if (id !== undefined) seg.ids.push(id);
    seg.lines++;
    seg.bytes += buf.length;
  }

  private writeFully(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.size += buf.length;
    if (this.options.fsync) fsyncSync(this.fd);
  }

  /** Backup name for a rotation now, strictly later than the previous one even within one ms. */
  private nextBackupPath(): string {
    const stamp = Math.max(this.options.now(), this.lastStamp + 1);
    this.lastStamp = stamp;
    return backupName(this.dir, this.name, this.ext, stamp);
  }

  private rotateSync(): void {
    if (this.closed) throw new Error('writer is closed');
    const seg = this.current();
    if (this.options.mode === 'copytruncate' && seg.state === 'live') {
      const backup = this.nextBackupPath();
      copyFileSync(this.livePath, backup);
      ftruncateSync(this.fd, 0); // O_APPEND keeps later writes at the new end, offset 0
      seg.path = backup;
      seg.state = 'backup';
    } else {
      closeSync(this.fd);
      let mode = this.options.fileMode;
      let exists = true;
      try {
        mode = statSync(this.livePath).mode & 0o7777;
      } catch {
        exists = false; // deleted while open: nothing to rename
      }
      if (exists) {
        const backup = this.nextBackupPath();
        renameSync(this.livePath, backup);
        seg.path = backup;
        seg.state = 'backup';
      }
      // O_TRUNC as lumberjack; O_APPEND so a later copytruncate cannot leave a hole.
      this.fd = openSync(this.livePath, constants.O_CREAT | constants.O_TRUNC | constants.O_WRONLY | constants.O_APPEND, mode);
    }
    this.size = 0;
    this.segs.push({ index: this.segs.length, path: this.livePath, state: 'live', ids: [], lines: 0, bytes: 0 });
    this.requestMill();
  }

  /** lumberjack's millCh has room for one request; further ones are dropped while it is pending. */
  private requestMill(): void {
    if (this.options.maxBackups === 0 && !this.options.compress) return;
    if (this.millQueued) return;
    this.millQueued = true;
    this.mill = this.mill.then(async () => {
      this.millQueued = false;
      try {
        await this.millRunOnce();
      } catch (err) {
        this.millErrors.push(err);
      }
    });
  }

  private async millRunOnce(): Promise<void> {
    // Newest first, by the time in the name.
    const files = (await readdir(this.dir))
      .map((n) => ({ n, m: this.pattern.exec(n) }))
      .filter((f): f is { n: string; m: RegExpExecArray } => f.m !== null)
      .sort((a, b) => (a.m[1] < b.m[1] ? 1 : a.m[1] > b.m[1] ? -1 : 0))
      .map((f) => f.n);
    let keep = files;
    const remove: string[] = [];
    const max = this.options.maxBackups;
    if (max > 0 && max < files.length) {
      const preserved = new Set<string>();
      keep = [];
      for (const f of files) {
        preserved.add(f.endsWith('.gz') ? f.slice(0, -3) : f);
        if (preserved.size > max) remove.push(f);
        else keep.push(f);
      }
    }
    for (const f of remove) {
      const p = join(this.dir, f);
      await rm(p, { force: true });
      this.markSegment(p.endsWith('.gz') ? p.slice(0, -3) : p, 'removed');
    }
    if (this.options.compress) {
      for (const f of keep) {
        if (f.endsWith('.gz')) continue;
        await this.compressFile(join(this.dir, f));
      }
    }
  }

  /** lumberjack's compressLogFile: gzip straight into `<src>.gz` (partial while it runs), then remove src. */
  private async compressFile(src: string): Promise<void> {
    const dst = `${src}.gz`;
    const { mode } = await stat(src);
    try {
      await pipeline(createReadStream(src), createGzip(), createWriteStream(dst, { mode: mode & 0o7777 }));
    } catch (err) {
      await rm(dst, { force: true });
      throw err;
    }
    await unlink(src);
    const seg = this.segs.find((s) => s.path === src && s.state === 'backup');
    if (seg) {
      seg.path = dst;
      seg.state = 'compressed';
    }
  }

  private markSegment(backupPath: string, state: SegmentState): void {
    for (const s of this.segs) {
      if ((s.path === backupPath || s.path === `${backupPath}.gz`) && (s.state === 'backup' || s.state === 'compressed')) {
        s.state = state;
      }
    }
  }
}

function toLine(line: string | Uint8Array): Buffer {
  if (typeof line === 'string') return Buffer.from(line.endsWith('\n') ? line : `${line}\n`);
  const buf = Buffer.from(line.buffer, line.byteOffset, line.byteLength);
  return buf.length > 0 && buf[buf.length - 1] === 10 ? buf : Buffer.concat([buf, Buffer.from('\n')]);
}
