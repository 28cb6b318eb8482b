// Counts something that can happen thousands of times a second and reports it at most once per interval.

/**
 * The first count after a quiet interval is reported at once; what follows within the interval is reported at its
 * end, so a burst gives one report per interval and nothing counted is left unreported for longer than that.
 */
export class ThrottledCount {
  readonly #intervalMs: number;
  readonly #report: (sinceLast: number, total: number) => void;
  #sinceLast = 0;
  #total = 0;
  #lastReportAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, report: (sinceLast: number, total: number) => void) {
    this.#intervalMs = intervalMs;
    this.#report = report;
  }

  add(n: number): void {
    this.#sinceLast += n;
    this.#total += n;
    if (this.#timer !== undefined) return;
    const wait = this.#lastReportAt + this.#intervalMs - Date.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.#timer = setTimeout(() => this.flush(), wait);
    this.#timer.unref();
  }

  /** Reports what was counted since the last report, if anything (at shutdown, so nothing goes unsaid). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#sinceLast === 0) return;
    this.#lastReportAt = Date.now();
    const n = this.#sinceLast;
    this.#sinceLast = 0;
    this.#report(n, this.#total);
  }
}
