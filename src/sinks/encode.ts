// Body encodings shared by sinks: payloads are already JSON, so encoding is concatenation.
import type { OutRecord } from '../delivery/record.ts';

export type BodyFormat = 'ndjson' | 'json_array';

/** Byte length of the body of `batch` in `format`. */
export function bodySize(batch: readonly OutRecord[], format: BodyFormat): number {
  let n = format === 'ndjson' ? batch.length : 2 + Math.max(0, batch.length - 1);
  for (const r of batch) n += r.payload.length;
  return n;
}

/** Writes the body into `out` (at least bodySize long); returns the bytes written. */
export function writeBody(batch: readonly OutRecord[], format: BodyFormat, out: Buffer): number {
  let pos = 0;
  if (format === 'ndjson') {
    // One payload per line, each line ending in a newline.
    for (const r of batch) {
      pos += r.payload.copy(out, pos);
      out[pos++] = 0x0a;
    }
    return pos;
  }
  // A JSON array of the payloads.
  out[pos++] = 0x5b;
  for (let i = 0; i < batch.length; i++) {
    if (i > 0) out[pos++] = 0x2c;
    pos += batch[i].payload.copy(out, pos);
  }
  out[pos++] = 0x5d;
  return pos;
}

export function encodeNdjson(batch: readonly OutRecord[]): Buffer {
  const out = Buffer.allocUnsafe(bodySize(batch, 'ndjson'));
  writeBody(batch, 'ndjson', out);
  return out;
}

/**
 * Body buffers reused from one batch to the next: a sink that keeps up allocates no new body per batch (each
 * would be external memory for the garbage collector to chase). A buffer goes back only once the backend is
 * done with it.
 */
export class BodyPool {
  readonly #free: Buffer[] = [];
  readonly #keep: number;

  constructor(keep = 4) {
    this.#keep = keep;
  }

  /** A buffer of at least `size` bytes (with room to grow, so batches of varying size fit again). */
  take(size: number): Buffer {
    const i = this.#free.findIndex((b) => b.length >= size);
    if (i !== -1) return this.#free.splice(i, 1)[0];
    return Buffer.allocUnsafeSlow(Math.max(64 * 1024, Math.ceil(size * 1.25)));
  }

  give(buf: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }
}
