// The rate of the input the agent parses, in windows of about a second: how long it has been busy, how long quiet.

export interface InputRateOptions {
  /** Bytes a second at or above which a window counts as busy. */
  busyBytesPerSecond: number;
  /** Bytes a second below which a window counts as quiet. */
  quietBytesPerSecond: number;
  now?: () => number;
}

/**
 * Counts the bytes given to add() and closes a window once a second has passed (at the next add() or look): no
 * timer of its own. A window that spans a silence averages over it, so a silence ends a busy run.
 */
export class InputRate {
  readonly #o: Required<InputRateOptions>;
  #windowStart: number;
  #bytes = 0;
  #busyWindows = 0;
  #lastRate = 0;
  #lastLively: number;

  constructor(options: InputRateOptions) {
    this.#o = { now: Date.now, ...options };
    this.#windowStart = this.#o.now();
    this.#lastLively = this.#windowStart;
  }

  add(bytes: number): void {
    this.#roll();
    this.#bytes += bytes;
  }

  /** Windows in a row, up to the last closed one, whose rate was busy. */
  busyWindows(): number {
    this.#roll();
    return this.#busyWindows;
  }

  /** Bytes a second in the last closed window. */
  lastRate(): number {
    this.#roll();
    return this.#lastRate;
  }

  /** Milliseconds since the end of the last window that was not quiet (or since the start). */
  quietFor(): number {
    this.#roll();
    return this.#o.now() - this.#lastLively;
  }

  #roll(): void {
    const now = this.#o.now();
    const elapsed = now - this.#windowStart;
    if (elapsed < 1000) return;
    const perSecond = (this.#bytes * 1000) / elapsed;
    this.#lastRate = perSecond;
    this.#busyWindows = perSecond >= this.#o.busyBytesPerSecond ? this.#busyWindows + 1 : 0;
    if (perSecond >= this.#o.quietBytesPerSecond) this.#lastLively = now;
    this.#windowStart = now;
    this.#bytes = 0;
  }
}
