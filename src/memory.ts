// Keeps the garbage a thread's V8 heap carries bounded in long runs. V8 lets the old generation grow to a multiple
// of what was alive after its last full collection before it collects again; over millions of events that left
// 40–60 MB of dead objects in the main thread's and the parse worker's heaps (peak RSS over 1.5 million events
// 249–261 MB; with a full collection every 3 s, 209–214 MB at the same events/s). Here a full collection is
// started once the old generation has grown by a budget since it was last found smaller: an idle agent never
// collects, a busy one every few seconds (marking runs beside the thread, which pauses only briefly).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'async' | 'sync' }) => void;

/**
 * V8's `gc` function: V8 gives one to each context created while --expose-gc is set, so it is taken from a
 * throwaway context and the flag turned off again (no other code sees it). Undefined if this Node does not allow it.
 */
export function gcFunction(): Collect | undefined {
  // Node started with --expose-gc (an operator debugging): use that one and leave the flag as it is.
  const exposed: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as Collect;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } catch {
    return undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Bytes in use in this thread's old generation (dead objects included until they are collected). */
export function oldGenerationBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'old_space') return s.space_used_size;
  return 0;
}

export interface HeapBoundOptions {
  /** Growth of the old generation, since it was last found smaller, that starts a full collection. Default 8 MiB. */
  budgetBytes?: number;
  /** Least time between two looks (check() may be called more often, per block for instance). Default 1 s. */
  intervalMs?: number;
  /** Defaults: this thread's heap. */
  collect?: Collect;
  oldBytes?: () => number;
  now?: () => number;
}

/** Watches one thread's old generation; check() (from a timer, or per unit of work) collects when it grew past the budget. */
export class HeapBound {
  readonly #o: Required<HeapBoundOptions>;
  #base: number;
  #lastLook: number;
  /** Full collections started here. */
  collections = 0;

  constructor(options: HeapBoundOptions = {}) {
    const collect = options.collect ?? gcFunction() ?? (() => {});
    this.#o = { budgetBytes: 8 * 1024 * 1024, intervalMs: 1000, oldBytes: oldGenerationBytes, now: Date.now, ...options, collect };
    this.#base = this.#o.oldBytes();
    this.#lastLook = this.#o.now();
  }

  check(): void {
    const now = this.#o.now();
    if (now - this.#lastLook < this.#o.intervalMs) return;
    this.#lastLook = now;
    const used = this.#o.oldBytes();
    // Smaller than before: a collection (this one's or V8's own) ran; growth counts from here.
    if (used < this.#base) this.#base = used;
    else if (used - this.#base > this.#o.budgetBytes) {
      this.#o.collect({ type: 'major', execution: 'async' });
      this.collections += 1;
      // What survives is the new base once the collection is seen to have shrunk the heap; if nothing was dead,
      // the next one waits for another budget's growth.
      this.#base = used;
    }
  }

  /** check() once per interval, on a timer that does not keep the process alive; returns the stop function. */
  watch(): () => void {
    const timer = setInterval(() => this.check(), this.#o.intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
