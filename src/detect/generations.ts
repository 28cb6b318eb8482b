// A bounded map whose oldest entries go first, a generation at a time.

/**
 * Entries go into the current generation; when it holds half the bound it becomes the previous one and the
 * generation before is dropped whole. So at most `max` entries are kept, each at least `max / 2` insertions long.
 * Evicting one entry at a time from a Map (delete its first key) leaves holes that V8 skips on every later
 * eviction and lookup until the table is rebuilt: thousands of times slower once the map is full.
 */
export class GenerationalMap<K, V> {
  readonly #half: number;
  #current = new Map<K, V>();
  #previous = new Map<K, V>();

  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    return this.#current.get(key) ?? this.#previous.get(key);
  }

  set(key: K, value: V): void {
    if (this.#current.size >= this.#half && !this.#current.has(key)) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(key, value);
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}
