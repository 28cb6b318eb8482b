// The per-sink disk buffer: records appended durably (group commit), read in batches, released on ack.
//
// Invariants:
// 1. Segment files `<seq>.seg` are append-only and bounded by `segmentBytes`; only the writer creates
//    them and only the acknowledger deletes them.
// 2. Every record carries a CRC-32 of its body. `append` resolves only after the bytes are fsynced,
//    so whatever a caller was told is in the buffer survives kill -9. Appends are committed in groups: one write
//    and one fsync for everything that arrived within `commitWindowMs` of the previous commit's start.
// 3. `ack.json` holds the position below which every record was acknowledged by the backend. It is
//    written after the acks it records (within `ackFlushInterval`), never ahead of them; after a restart
//    everything from there on is sent again (at least once; duplicates possible). A damaged or lost one is recovered
//    over the leading records whose keys are in `acked.keys` (written before the position, after the acks they name).
// 4. A segment is deleted only when every record in it is acknowledged and the writer has moved on.
// 5. A torn or corrupt record (an unclean stop during a write, a damaged disk) is skipped and counted;
//    it never stops the reader. The writer always starts a fresh segment after a restart, so a torn
//    tail is never appended to. Checksums are verified on segments left by an earlier run (where a
//    tear can be); records this process wrote and fsynced itself are read back without the check.
// 7. The last few MiB appended are also kept in memory (two reused slabs, see recent.ts), so a sink that
//    keeps up reads them without touching the disk; the file stays the source of truth. A slab is reused
//    only when every record in it is acknowledged: records handed to a sink stay valid until their ack.
// 6. Bytes on disk are capped at `maxBytes`; when full, `block` makes appends wait for acks and
//    `drop_newest` refuses the records (the caller counts them).
// 8. After a restart the sources re-read from their checkpoints, which trail the buffer by up to a
//    checkpoint interval: raw-log records identical (id and bytes) to one of the last ones an earlier run
//    wrote, or to one of the last ones acknowledged (acked-keys.ts), are already here or delivered and are
//    not appended again (they stay "in the buffer" for the caller). Alarm records are never skipped (an
//    update carries the id of the alarm it updates).
// 9. A write that fails (disk full, I/O error) is cut back off the segment and tried again every second; the
//    appends wait meanwhile (the sources stop reading: their files still hold the events), and the buffer
//    reports the problem (`writeProblem`). Nothing an append was not told is durable is ever relied on.
// 10. The backlog — records appended and not yet acknowledged, inherited from an earlier run included — is
//    counted apart from the bytes on disk (acknowledged records stay on disk until their segment is deleted).
//    Each record carries the time it was appended, so the age of the oldest one is known after a restart too.
import { crc32 } from 'node:zlib';
import { constants, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutRecord, RecordKind } from './record.ts';
import { RecentSlabs } from './recent.ts';
import { syncDir } from './atomic-file.ts';
import { AckedKeys, contentKey, idHash } from './acked-keys.ts';
import { quarantine, unreadableReason, type QuarantineReport } from './quarantine.ts';

const MAGIC = 0x4b415232; // "KAR2"
const HEADER = 17; // magic u32, body length u32, crc u32, kind u8, append time u32 (seconds since the epoch)
/** Records written before the append time was added ("KAR1", no time): still read, so an upgrade loses nothing. */
const MAGIC_V1 = 0x4b415231;
const HEADER_V1 = 13;
/** How long a write that failed (disk full, I/O error) waits before it is tried again. */
const WRITE_RETRY_MS = 1000;
/** Least time between two log lines saying the buffer still cannot be written. */
const PROBLEM_LOG_MS = 30_000;
const KINDS: RecordKind[] = ['log', 'alarm'];
/** Recently appended bytes kept in memory for readers that keep up with the writer: two slabs of this size. */
const RECENT_SLAB_BYTES = 4 * 1024 * 1024;
/** Appends are encoded into one reused buffer (when they do not go to a slab) up to this size. */
const SCRATCH_MAX_BYTES = 16 * 1024 * 1024;
/** How much of the tail an earlier run wrote is read at start for the ids of records already buffered. */
const RESTART_TAIL_BYTES = 64 * 1024 * 1024;
/**
 * Default least time between the starts of two commits. The pipeline queues a block's records without waiting for
 * the block before to be durable, so blocks read close together (a burst, full speed) share one fsync; after a quiet
 * spell a block is committed at once, so at ordinary rates nothing waits.
 */
const COMMIT_WINDOW_MS = 20;

export interface BufferOptions {
  maxBytes: number;
  segmentBytes: number;
  whenFull: 'block' | 'drop_newest';
  /** Least time between two writes of the ack position (ms). Lower: fewer duplicates after a crash. */
  ackFlushInterval?: number;
  /** Told when a damaged ack position is set aside at start. */
  quarantined?: QuarantineReport;
  /**
   * Least time from the start of one commit (write + fsync) to the start of the next (ms): appends that arrive
   * meanwhile wait and share the next one. An append after a quiet spell is committed at once.
   */
  commitWindowMs?: number;
}

export interface BufferPosition {
  segment: number;
  offset: number;
}

export interface BufferBatch {
  records: OutRecord[];
  bytes: number;
  /** Position just past the last record of the batch. */
  end: BufferPosition;
}

export interface BufferStats {
  bytesOnDisk: number;
  segments: number;
  corruptRecords: number;
  skippedBytes: number;
  /** Re-read raw-log records that were not appended because an earlier run had already buffered or delivered them. */
  alreadyBuffered: number;
  /** Failed writes, by error code (ENOSPC, EIO, …). */
  writeErrors: ReadonlyMap<string, number>;
  /** Commits since start: writes made durable, each one fsync for a group of appends. */
  commits: number;
}

/** What is waiting to be delivered: appended (in this run or an earlier one) and not yet acknowledged. */
export interface BufferBacklog {
  records: number;
  /** Bytes of those records on disk (as stored, headers included). */
  bytes: number;
  /** Age of the oldest of them, 0 when there is none. */
  oldestAgeSeconds: number;
}

/** A problem the buffer reports instead of throwing (torn records after an unclean stop, a full disk). */
export type BufferWarning = (message: string, details: Record<string, unknown>, level?: 'warn' | 'info') => void;

interface Pending {
  records: readonly OutRecord[];
  /** Encoded size, counted in `queuedBytes` until the group it goes out in is on disk. */
  size: number;
  resolve: (result: 'ok') => void;
  reject: (err: Error) => void;
}

interface Outstanding {
  end: BufferPosition;
  acked: boolean;
  records: number;
}

/** From this position on, records were appended at `time` (ms) or later. */
interface TimeMark extends BufferPosition {
  time: number;
}

/** Why writes fail at the moment, and since when. */
interface WriteProblem {
  code: string;
  since: number;
  loggedAt: number;
}

export class DiskBuffer {
  readonly dir: string;
  private readonly opts: Required<Omit<BufferOptions, 'quarantined'>>;
  private readonly quarantined: QuarantineReport;
  private readonly warn: BufferWarning;

  /** Sizes of the segments on disk, by sequence number, oldest first. */
  private readonly segments = new Map<number, number>();
  private writeSeq = 0;
  /** First segment written by this process; older ones may end in a torn record. */
  private firstOwnSeq = 0;
  /** The segment being written; opened (created) by the first write to it. */
  private writeHandle: FileHandle | undefined;
  private readonly recent = new RecentSlabs(RECENT_SLAB_BYTES);
  private scratch: Buffer | undefined;
  private bytesOnDisk = 0;

  private readPos: BufferPosition = { segment: 0, offset: 0 };
  private readHandle: { seq: number; fh: FileHandle } | undefined;
  private ackPos: BufferPosition = { segment: 0, offset: 0 };
  private ackDirty = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly outstanding: Outstanding[] = [];

  private pending: Pending[] = [];
  /** Bytes accepted by append() and not yet written (queued or in the group being written). */
  private queuedBytes = 0;
  private writing = false;
  private closed = false;
  private dataWaiters: Array<() => void> = [];
  private spaceWaiters: Array<() => void> = [];
  private readChain: Promise<unknown> = Promise.resolve();

  private corruptRecords = 0;
  private skippedBytes = 0;
  private readonly sourceNames = new SourceNames();
  /**
   * Raw-log records at the end of what an earlier run wrote, and the last ones acknowledged, by content key;
   * dropped once re-reading has passed them.
   */
  private inheritedIds: Set<string> | undefined;
  private alreadyBuffered = 0;
  /** Payload bytes of raw-log records appended since start that were not known. */
  private unknownSinceStart = 0;
  private ackedKeys: AckedKeys | undefined;

  /** Records appended and not yet acknowledged (or skipped as corrupt). */
  private backlogRecords = 0;
  /** Where the backlog's records were appended when, oldest first; few (see markTime). */
  private marks: TimeMark[] = [];

  private failing: WriteProblem | undefined;
  private readonly writeErrors = new Map<string, number>();
  private wakeRetry: (() => void) | undefined;
  private closing = false;

  private constructor(dir: string, opts: BufferOptions, warn: BufferWarning) {
    this.dir = dir;
    // Segments small against the cap, so acknowledged data is released well before the cap is reached.
    const segmentBytes = Math.min(opts.segmentBytes, Math.max(Math.floor(opts.maxBytes / 8), 64 * 1024));
    const { quarantined, ...sizes } = opts;
    this.opts = { ackFlushInterval: 500, commitWindowMs: COMMIT_WINDOW_MS, ...sizes, segmentBytes };
    this.quarantined = quarantined ?? (() => {});
    this.warn = warn;
  }

  static async open(dir: string, opts: BufferOptions, warn: BufferWarning = () => {}): Promise<DiskBuffer> {
    const buf = new DiskBuffer(dir, opts, warn);
    await buf.init();
    return buf;
  }

  private async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
    }
    const seqs = (await readdir(this.dir))
      .map((n) => /^(\d{10})\.seg$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    // The keys of the records acknowledged last: told apart from those of records merely buffered, they also tell how far
    // a damaged ack position can be recovered.
    const delivered = new Set<string>();
    this.ackedKeys = await AckedKeys.open(join(this.dir, 'acked.keys'), (key) => delivered.add(key));
    const saved = await this.loadAck();
    this.ackPos = saved ?? { segment: seqs[0] ?? 1, offset: 0 };
    for (const seq of seqs) {
      if (seq < this.ackPos.segment) {
        await rm(this.segmentPath(seq), { force: true });
        continue;
      }
      const { size } = await stat(this.segmentPath(seq));
      this.segments.set(seq, size);
      this.bytesOnDisk += size;
    }
    // Never append to a segment written before this start: its tail may be torn. The new one is created by the first
    // write, so that a start on a full disk does not fail.
    this.writeSeq = Math.max(this.ackPos.segment, ...seqs, 0) + 1;
    this.firstOwnSeq = this.writeSeq;
    this.segments.set(this.writeSeq, 0);
    const inherited = new Set<string>();
    await this.walkInherited(seqs.filter((seq) => this.segments.has(seq)), inherited, saved === undefined ? delivered : undefined);
    this.readPos = { ...this.ackPos };
    if (!this.segments.has(this.readPos.segment)) this.readPos = { segment: this.firstSegment(), offset: 0 };
    for (const key of delivered) inherited.add(key);
    if (inherited.size > 0) this.inheritedIds = inherited;
    await this.releaseSegments(); // segments acknowledged before the last stop
  }

  /**
   * Walks the segments an earlier run left: counts the records not yet acknowledged and notes when they were
   * appended (the backlog), and collects the content keys of the raw-log records in the last RESTART_TAIL_BYTES
   * (records re-read from the sources that are already here).
   *
   * With `delivered` (the ack position was lost or damaged), the ack position is recovered on the way: it moves over
   * the leading records whose keys say they were acknowledged (keys are saved before the position, never ahead of
   * the acks), up to the first record not known to be delivered, which is sent again with everything after it.
   */
  private async walkInherited(seqs: number[], keys: Set<string>, delivered?: Set<string>): Promise<void> {
    let budget = RESTART_TAIL_BYTES;
    const tail = new Set<number>();
    for (const seq of [...seqs].reverse()) {
      if (budget <= 0) break;
      tail.add(seq);
      budget -= this.segments.get(seq) ?? 0;
    }
    let recovering = delivered !== undefined && delivered.size > 0;
    let recovered = 0;
    for (const seq of seqs) {
      const path = this.segmentPath(seq);
      const [data, { mtimeMs }] = await Promise.all([readFile(path), stat(path)]);
      // Only whole segments are walked (records are found from the start); a huge one costs its read once.
      let pos = 0;
      for (; data.length - pos >= HEADER_V1;) {
        const headerLen = headerLength(data, pos);
        const bodyLen = data.readUInt32BE(pos + 4);
        const end = pos + headerLen + bodyLen;
        if (headerLen === 0 || end > data.length) break;
        if (recovering) {
          const crc = data.readUInt32BE(pos + 8);
          const known = crc32(data.subarray(pos + headerLen, end)) === crc &&
            delivered!.has(contentKey(crc, bodyLen, idHash(data, pos + headerLen + 2, data.readUInt16BE(pos + headerLen))));
          if (known) {
            this.ackPos = { segment: seq, offset: end };
            recovered += 1;
          } else {
            recovering = false;
          }
        }
        if (seq === this.ackPos.segment && this.ackPos.offset > pos && this.ackPos.offset < end) {
          // An ack position inside a record is damaged: from that record on is sent again.
          this.warn('buffer ack position falls inside a record; sending again from the start of that record', { dir: this.dir, segment: path, offset: this.ackPos.offset });
          this.ackPos = { segment: seq, offset: pos };
        }
        if (!isBefore({ segment: seq, offset: pos }, this.ackPos)) {
          this.backlogRecords += 1;
          this.markTime(seq, pos, headerLen === HEADER ? data.readUInt32BE(pos + 13) * 1000 : mtimeMs);
        }
        if (tail.has(seq) && data[pos + 12] === 0 && crc32(data.subarray(pos + headerLen, end)) === data.readUInt32BE(pos + 8)) {
          const idLen = data.readUInt16BE(pos + headerLen);
          keys.add(contentKey(data.readUInt32BE(pos + 8), bodyLen, idHash(data, pos + headerLen + 2, idLen)));
        }
        pos = end;
      }
      // A torn or damaged stretch is not walked over: what follows it is not known to be delivered.
      if (pos < data.length) recovering = false;
    }
    if (recovered > 0) {
      this.warn('buffer ack position recovered from the keys of the records acknowledged last; sending again from there', {
        dir: this.dir, recoveredRecords: recovered, segment: this.segmentPath(this.ackPos.segment), offset: this.ackPos.offset,
      }, 'info');
    }
  }

  /**
   * Raw-log records an earlier run already wrote or delivered (see invariant 8) are left out. Re-reading may start
   * before what is known (a checkpoint that was lost: the files are read from their start), so the keys are kept
   * until re-reading has passed them: an append of raw-log records none of which is known, after some were, or
   * after RESTART_TAIL_BYTES were appended without any being known (bounding how long the keys take memory).
   */
  private withoutInherited(records: readonly OutRecord[]): readonly OutRecord[] {
    const known = this.inheritedIds;
    if (known === undefined) return records;
    let logs = 0;
    const kept = records.filter((r) => {
      if (r.kind !== 'log') return true;
      logs += 1;
      if (!known.has(keyOfNew(r))) {
        this.unknownSinceStart += r.payload.length;
        return true;
      }
      return false;
    });
    const skipped = records.length - kept.length;
    this.alreadyBuffered += skipped;
    if (logs > 0 && skipped === 0 && (this.alreadyBuffered > 0 || this.unknownSinceStart > RESTART_TAIL_BYTES)) this.inheritedIds = undefined;
    return kept;
  }

  /** The saved ack position, or undefined when there is none to trust (missing, unreadable, damaged). */
  private async loadAck(): Promise<BufferPosition | undefined> {
    const path = join(this.dir, 'ack.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.warn('buffer ack file cannot be read; re-sending the buffer from the first record not known to be delivered', { path, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
      return undefined;
    }
    let reason: string;
    try {
      const data = JSON.parse(text) as { version?: unknown; segment?: unknown; offset?: unknown } | null;
      const { version, segment, offset } = data ?? {};
      if (version === 1 && isCount(segment) && segment < 1e10 && isCount(offset)) return { segment, offset };
      reason = 'not a kaudit ack position';
    } catch (err) {
      reason = unreadableReason(err);
    }
    await quarantine('buffer_ack', path, reason, 'the buffer is sent again from the first record not known to be delivered (acked.keys)', this.quarantined);
    return undefined;
  }

  private segmentPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(10, '0')}.seg`);
  }

  private firstSegment(): number {
    let first = this.writeSeq;
    for (const seq of this.segments.keys()) first = Math.min(first, seq);
    return first;
  }

  /**
   * Creates the segment being written (its directory entry made durable too). Each commit is a write and an
   * fdatasync (measured: opening it O_DSYNC cost ~25 % of full-speed throughput on large commits).
   */
  private async openWriteSegment(): Promise<FileHandle> {
    const fh = await open(this.segmentPath(this.writeSeq), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      await syncDir(this.dir);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return fh;
  }

  stats(): BufferStats {
    return {
      bytesOnDisk: this.bytesOnDisk,
      segments: this.segments.size,
      corruptRecords: this.corruptRecords,
      skippedBytes: this.skippedBytes,
      alreadyBuffered: this.alreadyBuffered,
      writeErrors: this.writeErrors,
      commits: this.commits,
    };
  }

  backlog(): BufferBacklog {
    if (this.backlogRecords <= 0) return { records: 0, bytes: 0, oldestAgeSeconds: 0 };
    let bytes = 0;
    for (const [seq, size] of this.segments) {
      if (seq > this.ackPos.segment) bytes += size;
      else if (seq === this.ackPos.segment) bytes += Math.max(0, size - this.ackPos.offset);
    }
    const oldest = this.marks[0]?.time;
    return { records: this.backlogRecords, bytes, oldestAgeSeconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
  }

  /**
   * Why records cannot be written now (`no space left on device (ENOSPC) for 12 s`), or undefined while writing
   * works. Appends wait meanwhile.
   */
  writeProblem(): string | undefined {
    const p = this.failing;
    if (p === undefined) return undefined;
    return `cannot write to ${this.dir}: ${describeCode(p.code)} for ${Math.round((Date.now() - p.since) / 1000)} s; reading waits`;
  }

  /**
   * Notes that records appended from (seq, offset) on were appended at `time`. A mark is kept at most once a second,
   * and less often as the backlog ages (at least 1/64 of its age apart: about 150 marks per tenfold age), so a long
   * outage costs a few hundred marks, and the age is overstated by at most 1/64.
   */
  private markTime(seq: number, offset: number, time: number): void {
    const first = this.marks[0];
    const last = this.marks.at(-1);
    if (first !== undefined && last !== undefined && time - last.time < Math.max(1000, (time - first.time) / 64)) return;
    this.marks.push({ segment: seq, offset, time });
  }

  /**
   * Appends records durably. Resolves `ok` once they are fsynced, or `dropped` when the buffer is
   * full and the policy is `drop_newest`. With `block`, waits until acks free enough space.
   */
  async append(records: readonly OutRecord[]): Promise<'ok' | 'dropped'> {
    const queued = await this.enqueue(records);
    return queued === 'dropped' ? queued : queued.durable;
  }

  /**
   * Queues records for the next commit, behind everything queued before (call it again only once the previous call
   * resolved, and records keep their order). Resolves once they are queued — with `block`, after acks freed enough
   * space — with `durable`, which resolves once they are fsynced; or `dropped` (full, `drop_newest`). A caller that
   * queues its next records without waiting for `durable` lets them share a commit.
   */
  async enqueue(records: readonly OutRecord[]): Promise<'dropped' | { durable: Promise<'ok'> }> {
    if (this.closed || this.closing) throw new Error(`buffer ${this.dir} is closed`);
    records = this.withoutInherited(records);
    if (records.length === 0) return { durable: Promise.resolve('ok') };
    const size = encodedSize(records);
    while (this.bytesOnDisk + this.queuedBytes + size > this.opts.maxBytes && this.canFreeSpace()) {
      if (this.opts.whenFull === 'drop_newest') return 'dropped';
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closed) throw new Error(`buffer ${this.dir} closed while waiting for space`);
    }
    const durable = new Promise<'ok'>((resolve, reject) => {
      this.pending.push({ records, size, resolve, reject });
      this.queuedBytes += size;
      void this.flushPending();
    });
    return { durable };
  }

  /**
   * Whether waiting can free space: unacknowledged records, or acknowledged segments the writer has left.
   * When only the acknowledged write segment remains, an append goes ahead (overshooting by one batch)
   * rather than waiting forever.
   */
  private canFreeSpace(): boolean {
    if (this.segments.size > 1) return true;
    const writeEnd = this.segments.get(this.writeSeq) ?? 0;
    return this.ackPos.segment < this.writeSeq || this.ackPos.offset < writeEnd;
  }

  /** Commits made (see stats), and when the latest one began. */
  private commits = 0;
  private committedAt = -Infinity;

  /**
   * Group commit by time: everything queued within the commit window of the previous commit's start (or while its
   * fsync ran) goes out in one write + one fsync. A write that fails with an I/O error (disk full, …) is tried again
   * every second, the group and everything queued behind it waiting; any other error is given to the group's callers.
   */
  private async flushPending(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        // The window gathers the small appends of ordinary rates; with a group's worth already queued (full speed,
        // a backlog) waiting gathers nothing more and only delays the write.
        const wait = this.committedAt + this.opts.commitWindowMs - Date.now();
        if (wait > 0 && !this.closing && this.queuedBytes < RECENT_SLAB_BYTES / 4) await new Promise((resolve) => setTimeout(resolve, wait));
        this.committedAt = Date.now();
        const group = this.takeGroup();
        const groupSize = group.reduce((n, p) => n + p.size, 0);
        const time = Date.now();
        try {
          // Encoded straight into the in-memory cache when it has room, else into the reused scratch buffer:
          // an append allocates nothing in the steady state.
          const cached = this.recent.reserve(groupSize, (end) => !isBefore(this.ackPos, end));
          const bytes = cached ?? this.scratchFor(groupSize);
          encodeRecordsInto(group, bytes, Math.floor(time / 1000));
          const at = this.segments.get(this.writeSeq) ?? 0;
          await this.writeDurably(bytes, at);
          this.commits += 1;
          if (cached !== undefined) this.recent.commit(this.writeSeq, at, bytes.length);
          this.segments.set(this.writeSeq, at + bytes.length);
          this.bytesOnDisk += bytes.length;
          this.markTime(this.writeSeq, at, time);
          for (const p of group) this.backlogRecords += p.records.length;
          this.queuedBytes -= groupSize;
          this.writeWorks();
          for (const p of group) p.resolve('ok');
          this.wakeReaders();
          if (at + bytes.length >= this.opts.segmentBytes) await this.nextWriteSegment();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === undefined || this.closing) {
            this.queuedBytes -= groupSize;
            for (const p of group) p.reject(this.closing ? new Error(`buffer ${this.dir} closed before these records could be written`) : err as Error);
            continue;
          }
          // Not written, so not durable: the group goes back to the front, its callers keep waiting.
          this.pending = group.concat(this.pending);
          this.writeFails(code);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => this.wakeRetry?.(), WRITE_RETRY_MS);
            this.wakeRetry = () => {
              clearTimeout(timer);
              this.wakeRetry = undefined;
              resolve();
            };
          });
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * The appends of the next commit, oldest first: as many as fit in half an in-memory slab (always one), so that a
   * group is kept in memory for the readers and a burst is not written as one huge commit.
   */
  private takeGroup(): Pending[] {
    let n = 0;
    for (let bytes = 0; n < this.pending.length && (n === 0 || bytes + this.pending[n].size <= RECENT_SLAB_BYTES / 2); n++) {
      bytes += this.pending[n].size;
    }
    return this.pending.splice(0, n);
  }

  /**
   * Writes `bytes` at `at` in the write segment, durably (a write, then fdatasync). Writes are positional: after a failure (a short
   * write before ENOSPC, a failed fsync) the file is cut back to `at`, and the next try writes the same place again.
   */
  private async writeDurably(bytes: Buffer, at: number): Promise<void> {
    try {
      this.writeHandle ??= await this.openWriteSegment();
      const fh = this.writeHandle;
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, at + done);
        if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
        done += bytesWritten;
      }
      await fh.datasync();
    } catch (err) {
      await this.writeHandle?.truncate(at).catch(() => {});
      throw err;
    }
  }

  /** The write segment is full: the next write creates the next one. */
  private async nextWriteSegment(): Promise<void> {
    const fh = this.writeHandle;
    this.writeHandle = undefined;
    this.writeSeq += 1;
    this.segments.set(this.writeSeq, 0);
    // Everything in it is durable already; a failed close loses nothing.
    await fh?.close().catch(() => {});
  }

  private writeFails(code: string): void {
    this.writeErrors.set(code, (this.writeErrors.get(code) ?? 0) + 1);
    const now = Date.now();
    if (this.failing === undefined || this.failing.code !== code) {
      this.failing = { code, since: this.failing?.since ?? now, loggedAt: now };
      this.warn(`cannot write to the buffer: ${describeCode(code)}; appends wait and are tried again every second (reading the sources waits too)`, { dir: this.dir, code });
    } else if (now - this.failing.loggedAt >= PROBLEM_LOG_MS) {
      this.failing.loggedAt = now;
      this.warn(`still cannot write to the buffer: ${describeCode(code)}`, { dir: this.dir, code, forSeconds: Math.round((now - this.failing.since) / 1000) });
    }
  }

  private writeWorks(): void {
    if (this.failing === undefined) return;
    this.warn('buffer writable again', { dir: this.dir, failedForSeconds: Math.round((Date.now() - this.failing.since) / 1000) }, 'info');
    this.failing = undefined;
  }

  private scratchFor(size: number): Buffer {
    if (size > SCRATCH_MAX_BYTES) return Buffer.allocUnsafe(size);
    if (this.scratch === undefined || this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 1024 * 1024));
    return this.scratch.subarray(0, size);
  }

  private wakeReaders(): void {
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const w of waiters) w();
  }

  /** True when records past the read position are on disk. */
  hasUnread(): boolean {
    if (this.readPos.segment < this.writeSeq) return true;
    return this.readPos.offset < (this.segments.get(this.writeSeq) ?? 0);
  }

  /** Resolves when there is something to read, or after `ms`, or when the buffer closes. */
  waitForData(ms?: number): Promise<void> {
    if (this.hasUnread() || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.dataWaiters.push(done);
      if (ms !== undefined) timer = setTimeout(done, ms);
    });
  }

  /**
   * Reads up to `maxEvents` records / about `maxBytes` payload bytes from the read position (at least one
   * record when any is there). Returns an empty batch when nothing is readable. Reads are serialised.
   */
  read(maxEvents: number, maxBytes: number): Promise<BufferBatch> {
    const next = this.readChain.then(() => this.readUnlocked(maxEvents, maxBytes));
    this.readChain = next.catch(() => {});
    return next;
  }

  private async readUnlocked(maxEvents: number, maxBytes: number): Promise<BufferBatch> {
    const records: OutRecord[] = [];
    let bytes = 0;
    while (records.length < maxEvents && bytes < maxBytes && this.hasUnread()) {
      const seq = this.readPos.segment;
      const limit = this.segments.get(seq);
      if (limit === undefined || this.readPos.offset >= limit) {
        if (seq >= this.writeSeq) break;
        await this.advanceReadSegment();
        continue;
      }
      const got = await this.readRecords(seq, limit, maxEvents - records.length, maxBytes - bytes);
      for (const r of got) {
        records.push(r);
        bytes += r.payload.length;
      }
    }
    const batch = { records, bytes, end: { ...this.readPos } };
    if (records.length > 0) this.outstanding.push({ end: batch.end, acked: false, records: records.length });
    return batch;
  }

  private async readHandleFor(seq: number): Promise<FileHandle> {
    if (this.readHandle?.seq === seq) return this.readHandle.fh;
    await this.readHandle?.fh.close();
    this.readHandle = { seq, fh: await open(this.segmentPath(seq), 'r') };
    return this.readHandle.fh;
  }

  private async advanceReadSegment(): Promise<void> {
    await this.readHandle?.fh.close();
    this.readHandle = undefined;
    let next = this.readPos.segment + 1;
    while (next < this.writeSeq && !this.segments.has(next)) next += 1;
    this.readPos = { segment: next, offset: 0 };
  }

  /**
   * Decodes whole records from the read position on, up to `limit` bytes into the segment. Always makes
   * progress: a record that cannot be decoded (torn tail, bad header) skips the rest of the segment.
   */
  private async readRecords(seq: number, limit: number, maxEvents: number, maxBytes: number): Promise<OutRecord[]> {
    const out: OutRecord[] = [];
    const start = this.readPos.offset;
    // Enough for the batch without reading megabytes for a few records (about 4 KiB a record is plenty;
    // a batch that needs more simply reads again).
    const want = Math.min(limit - start, maxBytes + 64 * 1024, Math.max(256 * 1024, maxEvents * 4096));
    let chunk = this.recent.recall(seq, start);
    let bytesRead: number;
    if (chunk) {
      bytesRead = Math.min(chunk.length, limit - start);
    } else {
      chunk = Buffer.allocUnsafe(want);
      ({ bytesRead } = await (await this.readHandleFor(seq)).read(chunk, 0, want, start));
    }
    const verify = seq < this.firstOwnSeq;
    let pos = 0;
    let payloadBytes = 0;
    while (out.length < maxEvents && payloadBytes < maxBytes && bytesRead - pos >= HEADER_V1) {
      const headerLen = headerLength(chunk, pos);
      const bodyLen = chunk.readUInt32BE(pos + 4);
      const recordLen = headerLen + bodyLen;
      if (headerLen === 0 || start + pos + recordLen > limit) break;
      if (pos + recordLen > bytesRead) {
        if (pos > 0) break; // the next read starts at this record
        // A single record larger than the read window: read exactly it.
        chunk = Buffer.allocUnsafe(recordLen);
        ({ bytesRead } = await (await this.readHandleFor(seq)).read(chunk, 0, recordLen, start));
        if (bytesRead < recordLen) break;
      }
      const crc = chunk.readUInt32BE(pos + 8);
      if (!verify || crc32(chunk.subarray(pos + headerLen, pos + recordLen)) === crc) {
        const rec = decodeRecord(chunk, pos + headerLen, pos + recordLen, KINDS[chunk[pos + 12]] ?? 'log', this.sourceNames, crc);
        out.push(rec);
        payloadBytes += rec.payload.length;
      } else {
        this.corruptRecords += 1;
        this.skippedBytes += recordLen;
        this.backlogRecords -= 1; // never to be delivered
        this.warn('buffer record failed its checksum; skipped', { segment: this.segmentPath(seq), offset: start + pos });
      }
      pos += recordLen;
    }
    this.readPos = { segment: seq, offset: start + pos };
    if (pos === 0) this.skipRestOfSegment(seq, limit);
    return out;
  }

  private skipRestOfSegment(seq: number, limit: number): void {
    const skipped = limit - this.readPos.offset;
    this.skippedBytes += skipped;
    this.corruptRecords += 1;
    this.warn('buffer segment ends in a torn or corrupt record (expected after an unclean stop); skipped', {
      segment: this.segmentPath(seq), offset: this.readPos.offset, skippedBytes: skipped,
    });
    this.readPos = { segment: seq, offset: limit };
  }

  /**
   * Marks a batch acknowledged by the backend (or dead-lettered). The ack position moves over the
   * longest prefix of acknowledged batches, in read order, so concurrent sends can finish out of order.
   */
  ack(batch: BufferBatch): void {
    const entry = this.outstanding.find((o) => !o.acked && samePos(o.end, batch.end));
    if (!entry) return;
    entry.acked = true;
    // Remembered as delivered, so that a restart does not send them again when the sources re-read them.
    // (Batches hold the records as read back, each with its stored CRC.)
    // Alarms too: a damaged ack position is recovered over them (a restart never skips appending one).
    if (this.ackedKeys !== undefined) for (const r of batch.records) if (r instanceof StoredRecord) r.addKeyTo(this.ackedKeys);
    let moved = false;
    while (this.outstanding.length > 0 && this.outstanding[0].acked) {
      const done = this.outstanding.shift()!;
      this.ackPos = done.end;
      this.backlogRecords -= done.records;
      moved = true;
    }
    if (moved) {
      // The first mark is needed only while the ack position has not passed the next one.
      while (this.marks.length > 1 && !isBefore(this.ackPos, this.marks[1])) this.marks.shift();
      if (this.backlogRecords <= 0) this.marks = [];
      this.ackDirty = true;
      this.scheduleAckFlush(this.acksSaved === 0 ? 0 : this.opts.ackFlushInterval);
      this.releaseSegments().catch((err) => this.warn('cannot release acknowledged segments; will retry', { dir: this.dir, error: String(err) }));
    }
  }

  private scheduleAckFlush(delay = this.opts.ackFlushInterval): void {
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.flushAck().catch((err: NodeJS.ErrnoException) => {
        // A full disk: tried again until it works (only duplicates after a crash are at stake meanwhile).
        this.scheduleAckFlush(WRITE_RETRY_MS);
        const now = Date.now();
        if (now - this.ackProblemLoggedAt < PROBLEM_LOG_MS) return;
        this.ackProblemLoggedAt = now;
        this.warn('cannot write the buffer ack file; trying again', { dir: this.dir, error: err.code ?? String(err) });
      });
    }, delay);
    this.ackTimer.unref();
  }

  private ackProblemLoggedAt = -Infinity;

  /**
   * Writes the ack position atomically (temp file, rename), and the keys of the records acknowledged before it. Not
   * fsynced: a kill leaves the page cache intact, and after a power loss an older or unreadable position only means
   * re-sending (it can never be ahead of what the backend acknowledged); written often, it keeps re-sends after a
   * kill few. Written synchronously — a few hundred bytes into the page cache — so that it never waits in the I/O
   * thread pool behind fsyncs: under load that wait delayed it by 100-200 ms, a window in which a kill resends.
   */
  flushAck(): Promise<void> {
    try {
      this.saveAck();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private saveAck(): void {
    if (!this.ackDirty) return;
    this.ackDirty = false;
    const pos = this.ackPos;
    try {
      // Keys first: they name records acknowledged before this position, never after it.
      this.ackedKeys?.save();
      const path = join(this.dir, 'ack.json');
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ version: 1, segment: pos.segment, offset: pos.offset }), { mode: 0o600 });
      renameSync(tmp, path);
      this.acksSaved += 1;
    } catch (err) {
      this.ackDirty = true;
      throw err;
    }
  }

  /** Ack positions saved since start: the first is saved at once (a crash loop resends what it has not saved). */
  private acksSaved = 0;

  private releasing = false;
  private releaseAgain = false;

  private async releaseSegments(): Promise<void> {
    if (this.releasing) {
      this.releaseAgain = true;
      return;
    }
    this.releasing = true;
    try {
      do {
        this.releaseAgain = false;
        await this.releaseAckedSegments();
      } while (this.releaseAgain);
    } finally {
      this.releasing = false;
    }
  }

  private async releaseAckedSegments(): Promise<void> {
    const releasable = (seq: number): boolean => {
      const size = this.segments.get(seq);
      if (size === undefined || seq >= this.writeSeq) return false; // gone already, or still being written
      return seq < this.ackPos.segment || (seq === this.ackPos.segment && this.ackPos.offset >= size);
    };
    for (const seq of [...this.segments.keys()]) {
      if (!releasable(seq)) continue;
      // The ack file is saved first, so that it does not point into a deleted segment. When it cannot be (a full
      // disk), the segment is deleted all the same: that frees the space, and a restart whose ack file points before
      // the first segment simply starts there (nothing acknowledged is lost, some may be sent again).
      if (this.ackDirty) await this.flushAck().catch(() => {});
      if (!releasable(seq)) continue; // sizes and the write segment may have moved during the await
      if (this.readHandle?.seq === seq) {
        await this.readHandle.fh.close();
        this.readHandle = undefined;
      }
      // The figures change once the file is gone, so that they never show less than the disk holds.
      const size = this.segments.get(seq)!;
      await rm(this.segmentPath(seq), { force: true });
      this.bytesOnDisk -= size;
      this.segments.delete(seq);
      this.recent.forget(seq);
    }
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  /** Everything appended is readable and every outstanding batch acknowledged. */
  isDrained(): boolean {
    return !this.hasUnread() && this.outstanding.length === 0 && this.pending.length === 0;
  }

  /**
   * Closes the buffer. Appends being written finish; appends that wait for a write that keeps failing (a full disk)
   * are given up at once: they were never said to be durable, and their sources read them again after a restart.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.wakeRetry?.();
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    await this.flushAck().catch((err: NodeJS.ErrnoException) => {
      this.warn('cannot save the buffer ack position at close; what it would have saved is sent again after the restart', { dir: this.dir, error: err.code ?? String(err) });
    });
    this.ackedKeys?.close();
    await this.writeHandle?.close();
    await this.readHandle?.fh.close();
    this.wakeReaders();
    for (const w of this.spaceWaiters) w();
  }
}

/**
 * A new record's content key (see acked-keys.ts): the CRC-32 and length of the body it would be stored as, and a hash
 * of its id. Computed only while re-read records are being checked after a restart.
 */
function keyOfNew(r: OutRecord): string {
  const id = Buffer.from(r.id, 'utf8');
  const source = Buffer.from(r.source, 'utf8');
  const prefix = Buffer.allocUnsafe(3 + id.length + source.length);
  prefix.writeUInt16BE(id.length, 0);
  id.copy(prefix, 2);
  prefix[2 + id.length] = source.length;
  source.copy(prefix, 3 + id.length);
  return contentKey(crc32(r.payload, crc32(prefix)), prefix.length + r.payload.length, idHash(id, 0, id.length));
}

/** Header length of the record at `pos` by its magic (this layout or the one before the append time), 0 if none starts there. */
function headerLength(data: Buffer, pos: number): number {
  const magic = data.readUInt32BE(pos);
  return magic === MAGIC ? HEADER : magic === MAGIC_V1 ? HEADER_V1 : 0;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** An I/O error code in words, for logs and /readyz. */
function describeCode(code: string): string {
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EIO: 'I/O error', EROFS: 'read-only file system',
    EACCES: 'permission denied', EPERM: 'operation not permitted', EMFILE: 'too many open files', ENOENT: 'directory missing',
  };
  return words[code] === undefined ? code : `${words[code]} (${code})`;
}

/** `a` comes before `b` in the buffer. */
function isBefore(a: BufferPosition, b: BufferPosition): boolean {
  return a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);
}

function samePos(a: BufferPosition, b: BufferPosition): boolean {
  return a.segment === b.segment && a.offset === b.offset;
}

function encodedSize(records: readonly OutRecord[]): number {
  let n = 0;
  for (const r of records) n += HEADER + 2 + Buffer.byteLength(r.id) + 1 + Buffer.byteLength(r.source) + r.payload.length;
  return n;
}

/**
 * Encodes every group's records into `out`, which is exactly as long as their encodedSize. Record layout: magic,
 * body length, crc32(body), kind, append time (s) | body = idLen u16, id, sourceLen u8, source, payload.
 */
function encodeRecordsInto(groups: readonly { records: readonly OutRecord[] }[], out: Buffer, time: number): void {
  let pos = 0;
  for (const { records } of groups) {
    for (const r of records) {
      const start = pos;
      const bodyStart = pos + HEADER;
      pos = bodyStart;
      const idLen = out.write(r.id, pos + 2, 'utf8');
      out.writeUInt16BE(idLen, pos);
      pos += 2 + idLen;
      const srcLen = out.write(r.source, pos + 1, 'utf8');
      out[pos] = srcLen;
      pos += 1 + srcLen;
      const crc = bodyCrc(out, bodyStart, pos, r.payload);
      r.payload.copy(out, pos);
      pos += r.payload.length;
      out.writeUInt32BE(MAGIC, start);
      out.writeUInt32BE(pos - bodyStart, start + 4);
      out.writeUInt32BE(crc, start + 8);
      out[start + 12] = r.kind === 'alarm' ? 1 : 0;
      out.writeUInt32BE(time, start + 13);
    }
  }
}

// zlib's CRC-32 table, for the few bytes of a record's prefix (see bodyCrc).
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * crc32 of a record body: its prefix (id and source, tens of bytes) in `out` from `from` to `to`, then the payload,
 * which zlib continues from the prefix's value. zlib's crc32 takes no offsets, and a view of each body would be
 * one more object per record on the main thread.
 */
function bodyCrc(out: Buffer, from: number, to: number, payload: Buffer): number {
  let c = -1;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ out[i]) & 0xff] ^ (c >>> 8);
  return crc32(payload, (c ^ -1) >>> 0);
}

/**
 * A record read back from a segment. Its id is decoded on first use (sinks send payloads; ids serve dead-letter
 * entries and logs): one string less per record read.
 */
class StoredRecord implements OutRecord {
  readonly kind: RecordKind;
  readonly source: string;
  readonly payload: Buffer;
  #data: Buffer | undefined;
  #idAt: number;
  #idLen: number;
  #id: string | undefined;
  /** CRC-32 of the body as stored (the record's header), and the body's length. */
  readonly #bodyCrc: number;
  readonly #bodyLen: number;

  constructor(data: Buffer, idAt: number, idLen: number, kind: RecordKind, source: string, payload: Buffer, bodyCrc: number, bodyLen: number) {
    this.#data = data;
    this.#idAt = idAt;
    this.#idLen = idLen;
    this.kind = kind;
    this.source = source;
    this.payload = payload;
    this.#bodyCrc = bodyCrc;
    this.#bodyLen = bodyLen;
  }

  /** Remembers this record as acknowledged (see acked-keys.ts), without decoding its id. */
  addKeyTo(keys: AckedKeys): void {
    const hash = this.#data !== undefined ? idHash(this.#data, this.#idAt, this.#idLen) : idHash(Buffer.from(this.#id!), 0, this.#idLen);
    keys.add(this.#bodyCrc, this.#bodyLen, hash);
  }

  get id(): string {
    if (this.#id === undefined) {
      this.#id = this.#data!.toString('utf8', this.#idAt, this.#idAt + this.#idLen);
      this.#data = undefined;
    }
    return this.#id;
  }
}

/** Decodes records' source names, reusing the last string while the bytes are the same (they nearly always are). */
class SourceNames {
  #bytes = Buffer.alloc(0);
  #name = '';

  at(data: Buffer, start: number, end: number): string {
    if (end - start !== this.#bytes.length || this.#bytes.compare(data, start, end) !== 0) {
      this.#bytes = Buffer.from(data.subarray(start, end));
      this.#name = this.#bytes.toString('utf8');
    }
    return this.#name;
  }
}

/** Decodes the record whose body spans [start, end) of `data`. */
function decodeRecord(data: Buffer, start: number, end: number, kind: RecordKind, sources: SourceNames, bodyCrc: number): OutRecord {
  const idLen = data.readUInt16BE(start);
  const srcAt = start + 2 + idLen;
  const srcLen = data[srcAt];
  const source = sources.at(data, srcAt + 1, srcAt + 1 + srcLen);
  return new StoredRecord(data, start + 2, idLen, kind, source, data.subarray(srcAt + 1 + srcLen, end), bodyCrc, end - start);
}

