// HeapBound: when it starts a full collection (its policy, on scripted heap readings), and that on this thread's
// real heap the collection it starts frees the dead objects of the old generation.
import { describe, expect, it } from 'vitest';
import { gcFunction, HeapBound, oldGenerationBytes } from './memory.ts';

const MiB = 1024 * 1024;

describe('HeapBound policy', () => {
  function scripted() {
    const s = { old: 100 * MiB, now: 0, collected: 0 };
    const bound = new HeapBound({
      budgetBytes: 8 * MiB, intervalMs: 1000,
      oldBytes: () => s.old, now: () => s.now, collect: () => void s.collected++,
    });
    /** Moves the clock to `now` with the old generation at `old` bytes, and asks the bound to look; the collections so far. */
    const look = (now: number, old = s.old): number => {
      s.now = now;
      s.old = old;
      bound.check();
      return s.collected;
    };
    return { s, bound, look };
  }

  it('collects once the old generation grew by more than the budget, and not before', () => {
    const { bound, look } = scripted();
    expect(look(1000, 108 * MiB)).toBe(0); // exactly the budget
    expect(look(2000, 108 * MiB + 1)).toBe(1);
    expect(bound.collections).toBe(1);
  });

  it('looks at most once per interval, however often it is asked', () => {
    const { s, bound } = scripted();
    s.old += 20 * MiB;
    s.now = 999;
    for (let i = 0; i < 100; i++) bound.check();
    expect(s.collected).toBe(0);
    s.now = 1000;
    bound.check();
    bound.check();
    expect(s.collected).toBe(1);
  });

  it('counts growth from the smallest size seen after a collection, and waits for another budget when one freed nothing', () => {
    const { look } = scripted();
    expect(look(1000, 120 * MiB)).toBe(1);
    // The collection freed most of it: growth counts from 90 MiB now.
    expect(look(2000, 90 * MiB)).toBe(1);
    expect(look(3000, 97 * MiB)).toBe(1);
    expect(look(4000, 99 * MiB)).toBe(2);
    // Nothing was dead (live data grew): no collection until it grew by another budget.
    expect(look(5000)).toBe(2);
    expect(look(6000, 106 * MiB)).toBe(2);
    expect(look(7000, 108 * MiB)).toBe(3);
  });

  it('never collects on a heap that does not grow (an idle agent)', () => {
    const { look } = scripted();
    for (let t = 1; t <= 600; t++) expect(look(t * 1000, 100 * MiB + (t % 3) * MiB)).toBe(0);
  });
});

describe('HeapBound on this thread', () => {
  // Objects that live through several young-generation collections end in the old generation; dropped, they stay
  // there as garbage until a full collection.
  function oldGarbage(): void {
    let keep: object[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 100_000; i++) keep.push({ round, i, text: `object ${round}/${i}` });
      for (let i = 0; i < 300_000; i++) void { churn: i };
    }
    keep = [];
    void keep;
  }

  it('gets V8\'s collector without leaving it to other code', () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc;
    expect(typeof gcFunction()).toBe('function');
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe(hadGc);
  });

  it('starts a full collection that frees the old generation\'s dead objects', async () => {
    let now = 0;
    const bound = new HeapBound({ budgetBytes: 8 * MiB, intervalMs: 1000, now: () => now });
    oldGarbage();
    const before = oldGenerationBytes();
    now = 1000;
    bound.check();
    expect(bound.collections).toBe(1);
    // The collection runs beside this thread: wait for it to finish.
    for (let i = 0; i < 200 && oldGenerationBytes() > before - 8 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    expect(oldGenerationBytes()).toBeLessThan(before - 8 * MiB);
  });
});
