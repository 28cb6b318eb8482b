// The per-sink disk buffer: records appended durably (group commit), read in batches, released on ack.
//
// Invariants:
// 1. Segment files `<seq>.seg` are append-only and bounded by `segmentBytes`; only the writer creates
//    them and only the acknowledger deletes them.
// 2. Every record carries a CRC-32 of its body. `append` resolves only after the bytes are fsynced,
//    so whatever a caller was told is in the buffer survives kill -9.
// 3. `ack.json` holds the position below which every record was acknowledged by the backend. It is
//    written after the acks it records (within `ackFlushInterval`), never ahead of them; after a restart
//    everything from there on is sent again (at least once; duplicates possible).
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
//    wrote are already here and are not appended again (they stay "in the buffer" for the caller). Alarm
//    records are never skipped (an update carries the id of the alarm it updates).
import { crc32 } from 'node:zlib';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutRecord, RecordKind } from './record.ts';
import { RecentSlabs } from './recent.ts';
import { syncDir } from './atomic-file.ts';

const MAGIC = 0x4b415231; // "KAR1"
const HEADER = 13; // magic u32, body length u32, crc u32, kind u8
const KINDS: RecordKind[] = ['log', 'alarm'];
/** Recently appended bytes kept in memory for readers that keep up with the writer: two slabs of this size. */
const RECENT_SLAB_BYTES = 4 * 1024 * 1024;
/** Appends are encoded into one reused buffer (when they do not go to a slab) up to this size. */
const SCRATCH_MAX_BYTES = 16 * 1024 * 1024;
/** How much of the tail an earlier run wrote is read at start for the ids of records already buffered. */
const RESTART_TAIL_BYTES = 64 * 1024 * 1024;

export interface BufferOptions {
  maxBytes: number;
  segmentBytes: number;
  whenFull: 'block' | 'drop_newest';
  /** Least time between two writes of the ack position (ms). Lower: fewer duplicates after a crash. */
  ackFlushInterval?: number;
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
  /** Re-read raw-log records that were not appended because an earlier run had already buffered them. */
  alreadyBuffered: number;
}

/** A problem the buffer reports instead of throwing (torn records after an unclean stop, for instance). */
export type BufferWarning = (message: string, details: Record<string, unknown>) => void;

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
}

export class DiskBuffer {
  readonly dir: string;
  private readonly opts: Required<BufferOptions>;
  private readonly warn: BufferWarning;

  /** Sizes of the segments on disk, by sequence number, oldest first. */
  private readonly segments = new Map<number, number>();
  private writeSeq = 0;
  /** First segment written by this process; older ones may end in a torn record. */
  private firstOwnSeq = 0;
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
  /** Raw-log records (id and bytes) at the end of what an earlier run wrote; dropped once re-reading has passed them. */
  private inheritedIds: Set<string> | undefined;
  private alreadyBuffered = 0;

  private constructor(dir: string, opts: BufferOptions, warn: BufferWarning) {
    this.dir = dir;
    // Segments small against the cap, so acknowledged data is released well before the cap is reached.
    const segmentBytes = Math.min(opts.segmentBytes, Math.max(Math.floor(opts.maxBytes / 8), 64 * 1024));
    this.opts = { ackFlushInterval: 500, ...opts, segmentBytes };
    this.warn = warn;
  }

  static async open(dir: string, opts: BufferOptions, warn: BufferWarning = () => {}): Promise<DiskBuffer> {
    const buf = new DiskBuffer(dir, opts, warn);
    await buf.init();
    return buf;
  }

  private async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
    }
    const seqs = (await readdir(this.dir))
      .map((n) => /^(\d{10})\.seg$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    this.ackPos = await this.loadAck(seqs[0] ?? 1);
    for (const seq of seqs) {
      if (seq < this.ackPos.segment) {
        await rm(this.segmentPath(seq), { force: true });
        continue;
      }
      const { size } = await stat(this.segmentPath(seq));
      this.segments.set(seq, size);
      this.bytesOnDisk += size;
    }
    // Never append to a segment written before this start: its tail may be torn.
    this.writeSeq = Math.max(this.ackPos.segment, ...seqs, 0) + 1;
    this.firstOwnSeq = this.writeSeq;
    await this.openWriteSegment();
    this.readPos = { ...this.ackPos };
    if (!this.segments.has(this.readPos.segment)) this.readPos = { segment: this.firstSegment(), offset: 0 };
    await this.releaseSegments(); // segments acknowledged before the last stop
    await this.collectInheritedIds(seqs.filter((seq) => this.segments.has(seq)));
  }

  /** Reads the ids of the raw-log records in the last RESTART_TAIL_BYTES of the segments an earlier run left. */
  private async collectInheritedIds(seqs: number[]): Promise<void> {
    const ids = new Set<string>();
    let budget = RESTART_TAIL_BYTES;
    for (const seq of [...seqs].reverse()) {
      if (budget <= 0) break;
      const size = this.segments.get(seq) ?? 0;
      if (size === 0) continue;
      const data = await readFile(this.segmentPath(seq));
      // Only whole segments are walked (records are found from the start); a huge one costs its read once.
      budget -= data.length;
      for (let pos = 0; data.length - pos >= HEADER;) {
        const bodyLen = data.readUInt32BE(pos + 4);
        if (data.readUInt32BE(pos) !== MAGIC || pos + HEADER + bodyLen > data.length) break;
        const body = data.subarray(pos + HEADER, pos + HEADER + bodyLen);
        if (data[pos + 12] === 0 && crc32(body) === data.readUInt32BE(pos + 8)) {
          const rec = decodeRecord(data, pos + HEADER, pos + HEADER + bodyLen, 'log', this.sourceNames);
          ids.add(contentKey(rec.id, rec.payload));
        }
        pos += HEADER + bodyLen;
      }
    }
    if (ids.size > 0) this.inheritedIds = ids;
  }

  /**
   * Raw-log records an earlier run already wrote (see invariant 8) are left out. Once an append brings raw-log
   * records of which none is known, re-reading has passed the point where that run stopped: the ids are dropped.
   */
  private withoutInherited(records: readonly OutRecord[]): readonly OutRecord[] {
    const known = this.inheritedIds;
    if (known === undefined) return records;
    let logs = 0;
    const kept = records.filter((r) => {
      if (r.kind !== 'log') return true;
      logs += 1;
      return !known.has(contentKey(r.id, r.payload));
    });
    const skipped = records.length - kept.length;
    this.alreadyBuffered += skipped;
    if (logs > 0 && skipped === 0) this.inheritedIds = undefined;
    return kept;
  }

  private async loadAck(fallbackSeq: number): Promise<BufferPosition> {
    try {
      const data = JSON.parse(await readFile(join(this.dir, 'ack.json'), 'utf8')) as { version: number; segment: number; offset: number };
      if (data.version === 1 && Number.isInteger(data.segment) && Number.isInteger(data.offset)) {
        return { segment: data.segment, offset: data.offset };
      }
      this.warn('buffer ack file has an unknown format; re-sending everything in the buffer', { dir: this.dir });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.warn('buffer ack file unreadable; re-sending everything in the buffer', { dir: this.dir, error: String(err) });
      }
    }
    return { segment: fallbackSeq, offset: 0 };
  }

  private segmentPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(10, '0')}.seg`);
  }

  private firstSegment(): number {
    let first = this.writeSeq;
    for (const seq of this.segments.keys()) first = Math.min(first, seq);
    return first;
  }

  private async openWriteSegment(): Promise<void> {
    this.writeHandle = await open(this.segmentPath(this.writeSeq), 'a');
    this.segments.set(this.writeSeq, 0);
    await syncDir(this.dir);
  }

  stats(): BufferStats {
    return {
      bytesOnDisk: this.bytesOnDisk,
      segments: this.segments.size,
      corruptRecords: this.corruptRecords,
      skippedBytes: this.skippedBytes,
      alreadyBuffered: this.alreadyBuffered,
    };
  }

  /**
   * Appends records durably. Resolves `ok` once they are fsynced, or `dropped` when the buffer is
   * full and the policy is `drop_newest`. With `block`, waits until acks free enough space.
   */
  async append(records: readonly OutRecord[]): Promise<'ok' | 'dropped'> {
    if (this.closed) throw new Error(`buffer ${this.dir} is closed`);
    records = this.withoutInherited(records);
    if (records.length === 0) return 'ok';
    const size = encodedSize(records);
    while (this.bytesOnDisk + this.queuedBytes + size > this.opts.maxBytes && this.canFreeSpace()) {
      if (this.opts.whenFull === 'drop_newest') return 'dropped';
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closed) throw new Error(`buffer ${this.dir} closed while waiting for space`);
    }
    return new Promise<'ok'>((resolve, reject) => {
      this.pending.push({ records, size, resolve, reject });
      this.queuedBytes += size;
      void this.flushPending();
    });
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

  /** Group commit: everything queued while the previous fsync ran goes out in one write + one fsync. */
  private async flushPending(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const group = this.pending;
        this.pending = [];
        const groupSize = group.reduce((n, p) => n + p.size, 0);
        try {
          // Encoded straight into the in-memory cache when it has room, else into the reused scratch buffer:
          // an append allocates nothing in the steady state.
          const cached = this.recent.reserve(groupSize, (end) => !isBefore(this.ackPos, end));
          const bytes = cached ?? this.scratchFor(groupSize);
          encodeRecordsInto(group, bytes);
          const fh = this.writeHandle!;
          await fh.write(bytes);
          await fh.datasync();
          if (cached !== undefined) this.recent.commit(this.writeSeq, this.segments.get(this.writeSeq) ?? 0, bytes.length);
          this.segments.set(this.writeSeq, (this.segments.get(this.writeSeq) ?? 0) + bytes.length);
          this.bytesOnDisk += bytes.length;
          if (this.segments.get(this.writeSeq)! >= this.opts.segmentBytes) {
            await fh.close();
            this.writeSeq += 1;
            await this.openWriteSegment();
          }
          for (const p of group) p.resolve('ok');
          this.wakeReaders();
        } catch (err) {
          for (const p of group) p.reject(err as Error);
        } finally {
          // Written (now in bytesOnDisk) or failed (its callers were told): no longer queued either way.
          this.queuedBytes -= groupSize;
        }
      }
    } finally {
      this.writing = false;
    }
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
    if (records.length > 0) this.outstanding.push({ end: batch.end, acked: false });
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
    while (out.length < maxEvents && payloadBytes < maxBytes && bytesRead - pos >= HEADER) {
      const magic = chunk.readUInt32BE(pos);
      const bodyLen = chunk.readUInt32BE(pos + 4);
      const recordLen = HEADER + bodyLen;
      if (magic !== MAGIC || start + pos + recordLen > limit) break;
      if (pos + recordLen > bytesRead) {
        if (pos > 0) break; // the next read starts at this record
        // A single record larger than the read window: read exactly it.
        chunk = Buffer.allocUnsafe(recordLen);
        ({ bytesRead } = await (await this.readHandleFor(seq)).read(chunk, 0, recordLen, start));
        if (bytesRead < recordLen) break;
      }
      if (!verify || crc32(chunk.subarray(pos + HEADER, pos + recordLen)) === chunk.readUInt32BE(pos + 8)) {
        const rec = decodeRecord(chunk, pos + HEADER, pos + recordLen, KINDS[chunk[pos + 12]] ?? 'log', this.sourceNames);
        out.push(rec);
        payloadBytes += rec.payload.length;
      } else {
        this.corruptRecords += 1;
        this.skippedBytes += recordLen;
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
    let moved = false;
    while (this.outstanding.length > 0 && this.outstanding[0].acked) {
      this.ackPos = this.outstanding.shift()!.end;
      moved = true;
    }
    if (moved) {
      this.ackDirty = true;
      this.scheduleAckFlush();
      this.releaseSegments().catch((err) => this.warn('cannot release acknowledged segments; will retry', { dir: this.dir, error: String(err) }));
    }
  }

  private scheduleAckFlush(): void {
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.flushAck().catch((err) => this.warn('cannot write the buffer ack file; will retry', { dir: this.dir, error: String(err) }));
    }, this.opts.ackFlushInterval);
    this.ackTimer.unref();
  }

  private ackWrites: Promise<void> = Promise.resolve();

  /**
   * Writes the ack position atomically (temp file, rename). Writes never overlap. Not fsynced: a kill leaves the
   * page cache intact, and after a power loss an older or unreadable position only means re-sending (it can never
   * be ahead of what the backend acknowledged); written often, it keeps re-sends after a kill few.
   */
  flushAck(): Promise<void> {
    const next = this.ackWrites.catch(() => {}).then(async () => {
      if (!this.ackDirty) return;
      this.ackDirty = false;
      const pos = this.ackPos;
      try {
        await replaceFile(join(this.dir, 'ack.json'), JSON.stringify({ version: 1, segment: pos.segment, offset: pos.offset }));
      } catch (err) {
        this.ackDirty = true;
        throw err;
      }
    });
    this.ackWrites = next;
    return next;
  }

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
      // The ack file must not point into a segment that no longer exists before it is deleted: persist first.
      if (this.ackDirty) await this.flushAck();
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

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued appends finish: callers were promised durability.
    while (this.writing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    await this.flushAck();
    await this.writeHandle?.close();
    await this.readHandle?.fh.close();
    this.wakeReaders();
    for (const w of this.spaceWaiters) w();
  }
}

/**
 * A record as the restart check knows it: its id and its bytes. The id alone is not enough: an auditID can come
 * from a client's Audit-ID header and repeat, and a new event must never pass for one already buffered.
 */
function contentKey(id: string, payload: Buffer): string {
  return `${id}\0${payload.length}\0${crc32(payload)}`;
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
 * body length, crc32(body), kind | body = idLen u16, id, sourceLen u8, source, payload.
 */
function encodeRecordsInto(groups: readonly { records: readonly OutRecord[] }[], out: Buffer): void {
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

  constructor(data: Buffer, idAt: number, idLen: number, kind: RecordKind, source: string, payload: Buffer) {
    this.#data = data;
    this.#idAt = idAt;
    this.#idLen = idLen;
    this.kind = kind;
    this.source = source;
    this.payload = payload;
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
function decodeRecord(data: Buffer, start: number, end: number, kind: RecordKind, sources: SourceNames): OutRecord {
  const idLen = data.readUInt16BE(start);
  const srcAt = start + 2 + idLen;
  const srcLen = data[srcAt];
  const source = sources.at(data, srcAt + 1, srcAt + 1 + srcLen);
  return new StoredRecord(data, start + 2, idLen, kind, source, data.subarray(srcAt + 1 + srcLen, end));
}

/** Temp file and rename without fsync: readers see the old or the new version; durable against a process kill only. */
async function replaceFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}

