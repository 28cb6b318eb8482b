import { describe, expect, it } from 'vitest';
import { GenerationalMap } from './generations.ts';

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
});
