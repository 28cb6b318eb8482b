// A bounded map whose oldest entries go first, a generation at a time.

/** Bits of each generation's filter (see `fingerprint`): 8 KiB, small enough to stay in the CPU's caches. */
const FILTER_BITS = 1 << 16;

/**
 * Entries go into the current generation; when it holds half the bound it becomes the previous one and the
 * generation before is dropped whole. So at most `max` entries are kept, each at least `max / 2` insertions long.
 * Evicting one entry at a time from a Map (delete its first key) leaves holes that V8 skips on every later
 * eviction and lookup until the table is rebuilt (measured: 200,000 inserts into a full 10,000-entry map took
 * 1.8 s that way, 0.06 s here).
 *
 * With a `fingerprint` (any number computed from the key, cheaply), each generation also keeps a bit per
 * fingerprint: a key whose bit is clear in both is answered without touching the maps. Most lookups are for keys
 * that are not there, and a lookup in a large map costs cache misses.
 */
export class GenerationalMap<K, V> {
  readonly #half: number;
  readonly #fingerprint: ((key: K) => number) | undefined;
  #current = new Map<K, V>();
  #previous = new Map<K, V>();
  #currentBits: Uint8Array | undefined;
  #previousBits: Uint8Array | undefined;

  constructor(max: number, fingerprint?: (key: K) => number) {
    this.#half = Math.max(1, Math.floor(max / 2));
    this.#fingerprint = fingerprint;
    if (fingerprint !== undefined) {
      this.#currentBits = new Uint8Array(FILTER_BITS / 8);
      this.#previousBits = new Uint8Array(FILTER_BITS / 8);
    }
  }

  get(key: K): V | undefined {
    if (this.#fingerprint !== undefined) {
      const bit = this.#fingerprint(key) & (FILTER_BITS - 1);
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if ((this.#currentBits![byte] & mask) === 0 && (this.#previousBits![byte] & mask) === 0) return undefined;
    }
    return this.#current.get(key) ?? this.#previous.get(key);
  }

  set(key: K, value: V): void {
    if (this.#current.size >= this.#half && !this.#current.has(key)) {
      this.#previous = this.#current;
      this.#current = new Map();
      if (this.#fingerprint !== undefined) {
        const dropped = this.#previousBits!;
        this.#previousBits = this.#currentBits;
        this.#currentBits = dropped.fill(0);
      }
    }
    this.#current.set(key, value);
    if (this.#fingerprint !== undefined) {
      const bit = this.#fingerprint(key) & (FILTER_BITS - 1);
      this.#currentBits![bit >>> 3] |= 1 << (bit & 7);
    }
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Every entry, oldest first: set() in this order rebuilds the same map. */
  entries(): Array<[K, V]> {
    return [...this.#previous, ...this.#current];
  }
}

/** A cheap fingerprint of a string: its first eight characters (the random start of a UUID such as an auditID). */
export function leadingCharsFingerprint(s: string): number {
  let h = 0;
  const n = Math.min(8, s.length);
  for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h ^ (h >>> 16);
}
