// Read buffers sized to what the reads need: small while little is written, growing while reads fill them, and
// the memory of a busy spell let go once reads are small again.
import { describe, expect, it } from 'vitest';
import { MIN_READ_BUFFER_BYTES, ReadBufferPool } from './read-buffers.ts';

const MiB = 1024 * 1024;

/** A read of `bytes` into a buffer from the pool, given back as the pipeline does (the lines it holds). */
function read(pool: ReadBufferPool, bytes: number): Buffer {
  const buf = pool.take();
  const used = buf.subarray(0, Math.min(bytes, buf.length));
  pool.give(used);
  return buf;
}

describe('read buffers', () => {
  it('start at 64 KiB, double while reads fill more than half of them, up to the configured size', () => {
    const pool = new ReadBufferPool(1 * MiB, 8);
    expect(pool.take().length).toBe(MIN_READ_BUFFER_BYTES);
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) sizes.push(read(pool, 1 * MiB).length);
    expect(sizes).toEqual([64, 128, 256, 512, 1024, 1024].map((k) => k * 1024));
    expect(pool.take().length).toBe(1 * MiB);
  });

  it('halve after a run of small reads, and hand out no buffer of the busy size again', () => {
    const pool = new ReadBufferPool(1 * MiB, 8);
    while (pool.bufferBytes < 1 * MiB) read(pool, 1 * MiB);
    // Big buffers given back while busy are kept for reuse...
    const kept = [pool.take(), pool.take()];
    for (const b of kept) pool.give(b.subarray(0, 900 * 1024));
    expect(pool.take().buffer).toBe(kept[1].buffer);
    // ...until reads are small for long enough: then the size halves down to 64 KiB, and the pool lets them go.
    for (let i = 0; i < 31; i++) read(pool, 4096);
    expect(pool.bufferBytes).toBe(1 * MiB);
    read(pool, 4096);
    expect(pool.bufferBytes).toBe(512 * 1024);
    expect(pool.take().length).toBe(512 * 1024);
    // A read of a medium size in between starts the count again.
    for (let i = 0; i < 31; i++) read(pool, 4096);
    read(pool, 100 * 1024);
    for (let i = 0; i < 31; i++) read(pool, 4096);
    expect(pool.bufferBytes).toBe(512 * 1024);
    read(pool, 4096);
    expect(pool.bufferBytes).toBe(256 * 1024);
    for (let i = 0; i < 32 * 4; i++) read(pool, 4096);
    expect(pool.bufferBytes).toBe(MIN_READ_BUFFER_BYTES);
    expect(pool.take().length).toBe(MIN_READ_BUFFER_BYTES);
  });
});
