// The last bytes a disk buffer appended, kept in memory in two reused slabs so that a sink which keeps up reads
// them without touching the disk — and without allocating (and later collecting) a new buffer per append.
import type { BufferPosition } from './buffer.ts';

interface Slab {
  mem: Buffer | undefined;
  used: number;
  /** Appended groups held here: segment, offset in it, and where their bytes start in `mem`. */
  entries: Array<{ seq: number; offset: number; start: number; length: number }>;
}

export class RecentSlabs {
  readonly #slabBytes: number;
  readonly #slabs: [Slab, Slab] = [{ mem: undefined, used: 0, entries: [] }, { mem: undefined, used: 0, entries: [] }];
  #current = 0;
  /** Appends that did not fit (too large, or both slabs still hold unacknowledged records). */
  misses = 0;

  constructor(slabBytes: number) {
    this.#slabBytes = slabBytes;
  }

  /**
   * Memory to encode an append of `size` bytes into, or undefined (the caller uses its own). A slab is reused
   * only when `acknowledged` says every record in it was acknowledged: records handed to a sink stay valid until
   * then. Call `commit` once the bytes are on disk.
   */
  reserve(size: number, acknowledged: (end: BufferPosition) => boolean): Buffer | undefined {
    if (size > this.#slabBytes) {
      this.misses += 1;
      return undefined;
    }
    let slab = this.#slabs[this.#current];
    if (slab.mem === undefined) slab.mem = this.#alloc(size, 0);
    else if (slab.used + size > slab.mem.length) {
      const other = this.#slabs[1 - this.#current];
      const last = other.entries.at(-1);
      if (last !== undefined && !acknowledged({ segment: last.seq, offset: last.offset + last.length })) {
        this.misses += 1;
        return undefined;
      }
      other.used = 0;
      other.entries = [];
      // A sink with little traffic (alarms) keeps small slabs; a busy one grows them to the full size.
      if (other.mem === undefined || other.mem.length < Math.min(this.#slabBytes, slab.mem.length * 2) || other.mem.length < size) {
        other.mem = this.#alloc(size, slab.mem.length);
      }
      this.#current = 1 - this.#current;
      slab = other;
    }
    return slab.mem!.subarray(slab.used, slab.used + size);
  }

  /** A slab for appends of about `size` bytes: double the previous one (at least 256 KiB), at most the full size. */
  #alloc(size: number, previous: number): Buffer {
    return Buffer.allocUnsafeSlow(Math.min(this.#slabBytes, Math.max(256 * 1024, previous * 2, size * 2)));
  }

  /** Records that the area last reserved now holds the bytes of segment `seq` from `offset` on. */
  commit(seq: number, offset: number, length: number): void {
    const slab = this.#slabs[this.#current];
    slab.entries.push({ seq, offset, start: slab.used, length });
    slab.used += length;
  }

  /** Bytes of segment `seq` from `offset` to the end of the append that holds it, if still in memory. */
  recall(seq: number, offset: number): Buffer | undefined {
    for (const slab of this.#slabs) {
      for (const e of slab.entries) {
        if (e.seq === seq && offset >= e.offset && offset < e.offset + e.length) {
          return slab.mem!.subarray(e.start + offset - e.offset, e.start + e.length);
        }
      }
    }
    return undefined;
  }

  /** Drops what is kept of a deleted segment. */
  forget(seq: number): void {
    for (const slab of this.#slabs) slab.entries = slab.entries.filter((e) => e.seq !== seq);
  }
}
