// Reusable read buffers: the file reader takes one per read, the pipeline gives it back once the lines
// in it are in every sink buffer, so steady reading allocates nothing (less garbage, lower RSS). Buffers are sized
// to what the reads need: small while little is written, up to the configured size while reads fill them.

/** The smallest read buffer: a pass at 100 audit events a second reads ~40 KiB. */
export const MIN_READ_BUFFER_BYTES = 64 * 1024;
/** Reads in a row that used less than an eighth of their buffer before the size halves. */
const SMALL_READS_TO_SHRINK = 32;

export class ReadBufferPool {
  /** The most a buffer holds (`read_chunk_bytes`). */
  readonly size: number;
  private readonly max: number;
  private readonly free: ArrayBuffer[] = [];
  /** The size take() hands out now, between MIN_READ_BUFFER_BYTES (or `size` if smaller) and `size`. */
  private current: number;
  private smallReads = 0;

  constructor(size: number, max: number) {
    this.size = size;
    this.max = max;
    this.current = Math.min(size, MIN_READ_BUFFER_BYTES);
  }

  /** The size of the buffers take() hands out now. */
  get bufferBytes(): number {
    return this.current;
  }

  take(): Buffer {
    const ab = this.free.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(this.current);
  }

  /**
   * Only for a buffer nothing references any more (its records were copied into the sink buffers). `buf` is what a
   * read put in it: a read of more than half the current size doubles the size of the next buffers (the reader
   * then needs fewer reads per pass), a run of reads of less than an eighth halves it.
   */
  give(buf: Buffer): void {
    const ab = buf.buffer as ArrayBuffer;
    this.learn(buf.length);
    if (ab.byteLength === this.current && this.free.length < this.max && !ab.detached) this.free.push(ab);
  }

  private learn(used: number): void {
    if (used > this.current / 2) {
      if (this.current < this.size) this.resize(Math.min(this.size, this.current * 2));
      else this.smallReads = 0;
    } else if (used < this.current / 8) {
      if (++this.smallReads >= SMALL_READS_TO_SHRINK && this.current > MIN_READ_BUFFER_BYTES) this.resize(Math.max(MIN_READ_BUFFER_BYTES, this.current / 2));
    } else {
      this.smallReads = 0;
    }
  }

  /** Buffers of the old size are let go: the memory of a busy spell is returned once reading is light again. */
  private resize(bytes: number): void {
    this.current = bytes;
    this.smallReads = 0;
    this.free.length = 0;
  }
}
