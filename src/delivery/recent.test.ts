// The in-memory copy of recent appends: what is handed out stays intact until acknowledged.
import { describe, expect, it } from 'vitest';
import { RecentSlabs } from './recent.ts';

const KiB = 1024;

function append(r: RecentSlabs, seq: number, offset: number, fill: number, size: number, acked: (end: { segment: number; offset: number }) => boolean): boolean {
  const mem = r.reserve(size, acked);
  if (mem === undefined) return false;
  mem.fill(fill);
  r.commit(seq, offset, size);
  return true;
}

describe('RecentSlabs', () => {
  it('gives back what was appended, from any offset inside an append', () => {
    const r = new RecentSlabs(4096 * KiB);
    append(r, 1, 0, 7, 100 * KiB, () => true);
    append(r, 1, 100 * KiB, 9, 50 * KiB, () => true);
    expect(r.recall(1, 10)!.length).toBe(100 * KiB - 10);
    expect(r.recall(1, 100 * KiB)!.every((b) => b === 9)).toBe(true);
    expect(r.recall(1, 150 * KiB)).toBeUndefined();
    expect(r.recall(2, 0)).toBeUndefined();
  });

  it('never reuses memory holding records not yet acknowledged: the append is not kept instead', () => {
    const r = new RecentSlabs(1024 * KiB);
    let ackedUpTo = 0;
    const acked = (end: { offset: number }) => end.offset <= ackedUpTo;
    let offset = 0;
    const sizes: number[] = [];
    // Fill both slabs (each grows to the full 1 MiB), nothing acknowledged.
    for (let i = 0; i < 12; i++) {
      if (append(r, 1, offset, i, 200 * KiB, acked)) sizes.push(offset);
      offset += 200 * KiB;
    }
    expect(r.misses).toBeGreaterThan(0);
    // Everything kept is still intact.
    for (const [i, at] of sizes.entries()) expect(r.recall(1, at)!.every((b) => b === i)).toBe(true);
    // Once acknowledged, the older slab is reused.
    ackedUpTo = offset;
    const misses = r.misses;
    expect(append(r, 1, offset, 99, 200 * KiB, acked)).toBe(true);
    expect(r.misses).toBe(misses);
    expect(r.recall(1, offset)!.every((b) => b === 99)).toBe(true);
  });

  it('keeps small slabs for a sink with little traffic and refuses appends larger than a slab', () => {
    const r = new RecentSlabs(4096 * KiB);
    expect(r.reserve(1 * KiB, () => true)!.buffer.byteLength).toBe(256 * KiB);
    expect(r.reserve(5000 * KiB, () => true)).toBeUndefined();
  });
});
