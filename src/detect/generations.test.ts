import { describe, expect, it } from 'vitest';
import { GenerationalMap, leadingCharsFingerprint } from './generations.ts';

describe('GenerationalMap', () => {
  it('keeps at most its bound, forgets the oldest generation first, and finds values in either generation', () => {
    const m = new GenerationalMap<string, number>(4);
    for (let i = 0; i < 10; i++) {
      m.set(`k${i}`, i);
      expect(m.size).toBeLessThanOrEqual(4);
    }
    // The last bound/2 … bound insertions are kept; older ones are gone.
    expect([...Array(10).keys()].filter((i) => m.get(`k${i}`) !== undefined)).toEqual([6, 7, 8, 9]);
    expect(m.get('k7')).toBe(7);
  });

  it('replaces a value in place without starting a new generation, and a newer value wins over an older one', () => {
    const m = new GenerationalMap<string, number>(4);
    m.set('a', 1);
    m.set('b', 2);
    m.set('b', 3); // current is full, but b is in it: no new generation
    expect(m.size).toBe(2);
    m.set('c', 4); // current {a, b} becomes previous
    m.set('a', 5); // a again, in the current generation
    expect(m.get('a')).toBe(5);
    expect(m.get('b')).toBe(3);
  });

  it('answers the same with a fingerprint filter, whether fingerprints differ, all collide or collide in part', () => {
    const fingerprints: Array<((k: string) => number) | undefined> = [undefined, leadingCharsFingerprint, () => 7, (k) => k.length];
    const keys = Array.from({ length: 300 }, (_, i) => `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-req-${i}`);
    const results = fingerprints.map((fp) => {
      const m = new GenerationalMap<string, number>(100, fp);
      const seen: Array<number | undefined> = [];
      keys.forEach((k, i) => {
        m.set(k, i);
        // A key just set, one set a little earlier, one from long ago, and one never set.
        seen.push(m.get(k), m.get(keys[Math.max(0, i - 30)]), m.get(keys[Math.max(0, i - 150)]), m.get(`absent-${i}`));
      });
      return seen;
    });
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    expect(results[0].filter((v) => v !== undefined).length).toBeGreaterThan(600);
  });
});
