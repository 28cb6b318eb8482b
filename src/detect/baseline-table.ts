// A fixed-size hash table in shared memory for the baseline: 53-bit keys, a day and a value per slot, bounded probing.

/** Slots looked at from a key's home slot: a lookup stops there, and a full window gives up its least recent entry. */
const WINDOW = 16;
const TWO_32 = 2 ** 32;

/** A 53-bit hash of `text` (two 32-bit hashes in one pass): a number, so that lookups allocate nothing. */
export function hash64(text: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (fmix(h1) & 0x1fffff) * TWO_32 + (fmix(h2) >>> 0);
}

/** One key for a pair of keys (an identity and what it did). */
export function mixKey(a: number, b: number): number {
  const aHi = Math.floor(a / TWO_32);
  const bHi = Math.floor(b / TWO_32);
  const lo = fmix((a | 0) ^ Math.imul(b | 0, 0x9e3779b1) ^ bHi);
  const hi = fmix(aHi ^ Math.imul(bHi, 0x85ebca6b) ^ (b | 0) ^ lo);
  return (hi & 0x1fffff) * TWO_32 + (lo >>> 0);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Slots of 4 Int32 in a shared buffer: key high part + 1 (0: empty), key low part, day last seen, value. Entries are
 * never removed, only replaced in place, so a lookup may stop at the first empty slot. Reads are lock-free; the
 * caller holds the baseline's lock around upsert(). A slot is published key-high last, and unpublished first.
 */
export class BaselineTable {
  readonly #w: Int32Array;
  readonly #mask: number;

  constructor(memory: SharedArrayBuffer, byteOffset: number, slots: number) {
    this.#w = new Int32Array(memory, byteOffset, slots * 4);
    this.#mask = slots - 1;
  }

  /** The slot holding `key`, or -1. */
  find(key: number): number {
    const w = this.#w;
    const hi = Math.floor(key / TWO_32) + 1;
    const lo = key | 0;
    let s = this.#home(hi, lo);
    for (let n = 0; n < WINDOW; n++) {
      const h = w[s * 4];
      if (h === 0) return -1;
      if (h === hi && w[s * 4 + 1] === lo) return s;
      s = (s + 1) & this.#mask;
    }
    return -1;
  }

  #home(hi: number, lo: number): number {
    return (lo ^ Math.imul(hi, 0x9e3779b1)) & this.#mask;
  }

  /**
   * Calls `update` with the slot of `key`: its own (fresh false), or a new one (fresh true, day and value 0) that was
   * empty or held the least recently seen entry of the window. Under the caller's lock.
   */
  upsert(key: number, update: (slot: number, fresh: boolean) => void): void {
    const w = this.#w;
    const hi = Math.floor(key / TWO_32) + 1;
    const lo = key | 0;
    let s = this.#home(hi, lo);
    let victim = -1;
    for (let n = 0; n < WINDOW; n++) {
      const h = w[s * 4];
      if (h === hi && w[s * 4 + 1] === lo) return update(s, false);
      if (h === 0) {
        victim = s;
        break;
      }
      if (victim < 0 || w[s * 4 + 2] < w[victim * 4 + 2]) victim = s;
      s = (s + 1) & this.#mask;
    }
    const at = victim * 4;
    Atomics.store(w, at, 0);
    w[at + 1] = lo;
    w[at + 2] = 0;
    w[at + 3] = 0;
    Atomics.store(w, at, hi);
    update(victim, true);
  }

  day(slot: number): number {
    return this.#w[slot * 4 + 2];
  }

  value(slot: number): number {
    return this.#w[slot * 4 + 3];
  }

  setDay(slot: number, day: number): void {
    Atomics.store(this.#w, slot * 4 + 2, day);
  }

  setValue(slot: number, value: number): void {
    Atomics.store(this.#w, slot * 4 + 3, value);
  }

  /** Calls `fn` with every slot in use. */
  forEach(fn: (slot: number) => void): void {
    for (let s = 0; s <= this.#mask; s++) if (this.#w[s * 4] !== 0) fn(s);
  }

  used(): number {
    let n = 0;
    this.forEach(() => n++);
    return n;
  }

  /** Takes the entries of a saved table of `slots` slots at `offset` (Int32) of `words`: as they are, or re-placed when its size differs. */
  copyFrom(words: Int32Array, offset: number, slots: number): void {
    if (slots === this.#mask + 1) {
      this.#w.set(words.subarray(offset, offset + slots * 4));
      return;
    }
    for (let s = 0; s < slots; s++) {
      const at = offset + s * 4;
      if (words[at] === 0) continue;
      const key = (words[at] - 1) * TWO_32 + (words[at + 1] >>> 0);
      this.upsert(key, (slot) => {
        this.setDay(slot, words[at + 2]);
        this.setValue(slot, words[at + 3]);
      });
    }
  }
}
