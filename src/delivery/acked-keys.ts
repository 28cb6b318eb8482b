// The content keys of the last records a sink acknowledged, kept in a small ring file beside the buffer's ack position,
// so that after a restart the buffer recognises re-read records it already delivered (not only those still buffered).
//
// A key is the CRC-32 of the record's stored body (id, source, payload), the body's length and a MurmurHash3 of the id:
// a new record is taken for a delivered one only if all three match (an auditID alone can repeat, since clients may
// set the Audit-ID header). Keys are written after the acknowledgements they record, never before, and like the ack
// position without fsync: after a power loss a missing key only means a duplicate.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';

const MAGIC = 0x4b414b31; // "KAK1"
const FILE_HEADER = 16; // magic u32, capacity u32, next slot u32, reserved u32
const SLOT = 12; // body crc u32, body length u32, id hash u32

/** How many keys are kept: about a second of reading at a high audit rate, the window a restart re-reads. */
export const ACKED_KEYS = 65_536;

export class AckedKeys {
  readonly path: string;
  readonly #capacity: number;
  readonly #ring: Buffer;
  #next = 0;
  /** Slots written in memory since the last save (the ones before `#next`), at most the whole ring. */
  #dirty = 0;
  #fd: number | undefined;

  private constructor(path: string, capacity: number) {
    this.path = path;
    this.#capacity = capacity;
    this.#ring = Buffer.alloc(capacity * SLOT);
  }

  /** Opens (or starts) the ring file. Its keys are given to `found`; a missing or foreign file starts empty. */
  static async open(path: string, found: (key: string) => void, capacity = ACKED_KEYS): Promise<AckedKeys> {
    const keys = new AckedKeys(path, capacity);
    let data: Buffer | undefined;
    try {
      const fh = await open(path, 'r');
      try {
        data = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch {
      // Missing (first start, or a version without it) or unreadable: only duplicates are at stake.
    }
    if (data !== undefined && data.length >= FILE_HEADER && data.readUInt32BE(0) === MAGIC && data.readUInt32BE(4) === capacity) {
      const slots = Math.min(capacity, Math.floor((data.length - FILE_HEADER) / SLOT));
      data.copy(keys.#ring, 0, FILE_HEADER, FILE_HEADER + slots * SLOT);
      keys.#next = data.readUInt32BE(8) % capacity;
      for (let i = 0; i < slots; i++) {
        const at = i * SLOT;
        const len = keys.#ring.readUInt32BE(at + 4);
        if (len > 0) found(contentKey(keys.#ring.readUInt32BE(at), len, keys.#ring.readUInt32BE(at + 8)));
      }
    }
    return keys;
  }

  /** Remembers one acknowledged record (kept in memory until the next save). */
  add(bodyCrc: number, bodyLength: number, idHash: number): void {
    const at = this.#next * SLOT;
    this.#ring.writeUInt32BE(bodyCrc, at);
    this.#ring.writeUInt32BE(bodyLength, at + 4);
    this.#ring.writeUInt32BE(idHash, at + 8);
    this.#next = (this.#next + 1) % this.#capacity;
    this.#dirty = Math.min(this.#dirty + 1, this.#capacity);
  }

  /**
   * Writes the keys added since the last save, then the header that says where the ring goes on. Synchronous, like
   * the ack position it goes with (a few KiB into the page cache).
   */
  save(): void {
    if (this.#dirty === 0) return;
    const dirty = this.#dirty;
    const next = this.#next;
    this.#fd ??= openSync(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
    const first = (next - dirty + this.#capacity) % this.#capacity;
    const head = Math.min(dirty, this.#capacity - first); // up to the end of the ring, then from its start
    writeSync(this.#fd, this.#ring, first * SLOT, head * SLOT, FILE_HEADER + first * SLOT);
    if (dirty > head) writeSync(this.#fd, this.#ring, 0, (dirty - head) * SLOT, FILE_HEADER);
    const header = Buffer.alloc(FILE_HEADER);
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(this.#capacity, 4);
    header.writeUInt32BE(next, 8);
    writeSync(this.#fd, header, 0, FILE_HEADER, 0);
    this.#dirty = 0;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** The key of a record as the restart check compares it. */
export function contentKey(bodyCrc: number, bodyLength: number, idHash: number): string {
  return `${bodyCrc}:${bodyLength}:${idHash}`;
}

/**
 * MurmurHash3 (x86, 32 bits) of `length` bytes of `data` from `start`: a second hash of the id, independent of the
 * CRC, four bytes a step (a record's id is hashed at every acknowledgement).
 */
export function idHash(data: Buffer, start: number, length: number): number {
  let h = 0;
  const end = start + length;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let k = data[i];
    if (i + 1 < end) k |= data[i + 1] << 8;
    if (i + 2 < end) k |= data[i + 2] << 16;
    k = Math.imul(k, 0xcc9e2d51);
    h ^= Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  }
  h ^= length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
