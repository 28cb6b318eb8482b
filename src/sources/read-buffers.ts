// Reusable read buffers: the file reader takes one per read, the pipeline gives it back once the lines
// in it are in every sink buffer, so steady reading allocates nothing (less garbage, lower RSS).
export class ReadBufferPool {
  readonly size: number;
  private readonly max: number;
  private readonly free: ArrayBuffer[] = [];

  constructor(size: number, max: number) {
    this.size = size;
    this.max = max;
  }

  take(): Buffer {
    const ab = this.free.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(this.size);
  }

  /** Only for a buffer nothing references any more (its records were copied into the sink buffers). */
  give(buf: Buffer): void {
    const ab = buf.buffer as ArrayBuffer;
    if (ab.byteLength === this.size && this.free.length < this.max && !ab.detached) this.free.push(ab);
  }
}
