// The load of the input the agent parses, in windows of about a second: bytes a second and the share of the
// thread's time spent processing them; how long the load has been busy, how long quiet.

export interface InputRateOptions {
  /** Bytes a second at or above which a window counts as busy. */
  busyBytesPerSecond: number;
  /** Share of the time spent processing (0–1) at or above which a window counts as busy. */
  busyShare: number;
  /** Bytes a second and share of the time below which (both) a window counts as quiet. */
  quietBytesPerSecond: number;
  quietShare: number;
  now?: () => number;
}

/** The load of the last closed window. */
export interface WindowLoad {
  bytesPerSecond: number;
  /** Share of the window spent processing (0–1), as reported to add(). */
  share: number;
}

/**
 * Counts what add() reports and closes a window once a second has passed (at the next add() or look): no timer of
 * its own. A window that spans a silence averages over it, so a silence ends a busy run.
 */
export class InputRate {
  readonly #o: Required<InputRateOptions>;
  #windowStart: number;
  #bytes = 0;
  #processingMs = 0;
  #busyWindows = 0;
  #last: WindowLoad = { bytesPerSecond: 0, share: 0 };
  #lastLively: number;

  constructor(options: InputRateOptions) {
    this.#o = { now: Date.now, ...options };
    this.#windowStart = this.#o.now();
    this.#lastLively = this.#windowStart;
  }

  /** `bytes` came in; `processingMs`: CPU time spent processing (reported with the bytes or on its own, later). */
  add(bytes: number, processingMs = 0): void {
    this.#roll();
    this.#bytes += bytes;
    this.#processingMs += processingMs;
  }

  /** Windows in a row, up to the last closed one, that were busy (by bytes a second or by processing time). */
  busyWindows(): number {
    this.#roll();
    return this.#busyWindows;
  }

  last(): WindowLoad {
    this.#roll();
    return this.#last;
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
    this.#last = { bytesPerSecond: (this.#bytes * 1000) / elapsed, share: this.#processingMs / elapsed };
    const busy = this.#last.bytesPerSecond >= this.#o.busyBytesPerSecond || this.#last.share >= this.#o.busyShare;
    this.#busyWindows = busy ? this.#busyWindows + 1 : 0;
    if (this.#last.bytesPerSecond >= this.#o.quietBytesPerSecond || this.#last.share >= this.#o.quietShare) this.#lastLively = now;
    this.#windowStart = now;
    this.#bytes = 0;
    this.#processingMs = 0;
  }
}
