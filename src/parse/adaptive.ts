// Parses on the main thread while the input is light and on worker threads while it is heavy; detection state moves with the work.
import type { ChunkResult } from './chunk.ts';
import { gcFunction } from '../memory.ts';
import { InputRate } from './input-rate.ts';
import type { BlockOrigin } from './parsers.ts';
import { InlineProcessor, WorkerPool, type ChunkProcessor, type MovableProcessor, type ProcessorInit } from './workers.ts';

export interface AdaptiveOptions {
  /**
   * Input rate (bytes a second), or share of the main thread's time spent parsing (0–1), that, held for
   * `busySeconds` windows in a row, starts the workers (at 4 times the rate or twice the share: after one window).
   */
  busyBytesPerSecond?: number;
  busyShare?: number;
  busySeconds?: number;
  /** How long the input must stay under a quarter of both busy measures before the workers stop (the share then from the workers' time). */
  quietMs?: number;
  now?: () => number;
  /** Told each time the work moves. */
  onMove?: (to: 'inline' | 'workers', reason: string) => void;
  /** Told when a move could not be made (the work stays where it is). */
  onMoveFailed?: (reason: string) => void;
}

/**
 * 4 MiB/s: about 2,500 audit events a second. Below it the main thread parses and detects in a few ms per pass
 * with room to spare, and a worker would add its isolate (~20 MB resident) and a thread hand-off per block.
 */
export const BUSY_BYTES_PER_SECOND = 4 * 1024 * 1024;
/**
 * A quarter of the main thread's time spent parsing: the same rate costs more on a slower or busier machine, and
 * parsing must not crowd out the reading and sending it shares the thread with.
 */
export const BUSY_SHARE = 0.25;
const BUSY_SECONDS = 3;
/** A second at this many times the busy load (a backlog read at start, a flood) starts the workers at once. */
const FLOOD = 4;
const FLOOD_SHARE = 2;
/** Long enough that a rate that comes and goes (a burst every few tens of seconds) keeps its workers. */
const QUIET_MS = 120_000;
/** A move that could not be made (the rules did not load where the work was to go) is tried again after this long. */
const RETRY_MS = 300_000;
/** How often, while workers run, a silent input is looked at (blocks are looked at as they come). */
const QUIET_CHECK_MS = 5000;

/**
 * Starts on the main thread (no worker thread) and starts `workers` worker threads once the input stays busy; stops
 * them after a long quiet spell. Detector 0's state (alarm aggregation, rate windows, stages already hit) always
 * has exactly one owner: the move hands it over after every block sent to the old owner was processed, and blocks
 * submitted meanwhile wait, then go to the new owner in the order they came. Detectors 1…n-1 keep their state in
 * their files as a restart does. The workers load their code and rules while the main thread keeps parsing.
 */
export class AdaptiveProcessor implements ChunkProcessor {
  readonly #workers: number;
  #init: ProcessorInit;
  readonly #onWorkerDeath: ((err: Error) => void) | undefined;
  readonly #o: Required<Omit<AdaptiveOptions, 'onMove' | 'onMoveFailed'>> & Pick<AdaptiveOptions, 'onMove' | 'onMoveFailed'>;
  readonly #rate: InputRate;
  #current: MovableProcessor;
  #mode: 'inline' | 'workers' = 'inline';
  /** Workers loading while the main thread still parses. */
  #starting: WorkerPool | undefined;
  /** Set while the state moves: blocks wait in #queue. */
  #moving: Promise<void> | undefined;
  #queue: Array<(p: ChunkProcessor) => void> = [];
  #retryAt = -Infinity;
  #quietTimer: NodeJS.Timeout | undefined;
  /** Processors given up by a move, still closing. */
  #retiring: Array<Promise<void>> = [];
  #closed = false;

  /** Throws (RuleError) when the rules do not load. */
  constructor(workers: number, init: ProcessorInit, onWorkerDeath?: (err: Error) => void, options: AdaptiveOptions = {}) {
    this.#workers = workers;
    this.#init = init;
    this.#onWorkerDeath = onWorkerDeath;
    this.#o = { busyBytesPerSecond: BUSY_BYTES_PER_SECOND, busyShare: BUSY_SHARE, busySeconds: BUSY_SECONDS, quietMs: QUIET_MS, now: Date.now, ...options };
    this.#rate = new InputRate({
      busyBytesPerSecond: this.#o.busyBytesPerSecond, busyShare: this.#o.busyShare,
      quietBytesPerSecond: this.#o.busyBytesPerSecond / 4, quietShare: this.#o.busyShare / 4, now: this.#o.now,
    });
    this.#current = new InlineProcessor(init);
  }

  /** Where blocks are processed now. */
  get mode(): 'inline' | 'workers' {
    return this.#mode;
  }

  /** Worker threads running (or loading) now. */
  get workerThreads(): number {
    return this.#mode === 'workers' || this.#starting !== undefined ? this.#workers : 0;
  }

  ready(): Promise<number> {
    return this.#current.ready();
  }

  process(data: Buffer, origin?: BlockOrigin): Promise<ChunkResult> {
    return this.#dispatch(data.length, (p) => p.process(data, origin));
  }

  processOwned(data: Buffer, origin?: BlockOrigin): Promise<{ result: ChunkResult; data: Buffer }> {
    return this.#dispatch(data.length, (p) => p.processOwned(data, origin));
  }

  #dispatch<T>(bytes: number, run: (p: ChunkProcessor) => Promise<T>): Promise<T> {
    this.#consider();
    if (this.#moving !== undefined) {
      this.#rate.add(bytes);
      return new Promise<T>((resolve, reject) => this.#queue.push((p) => run(p).then(resolve, reject)));
    }
    if (this.#mode === 'workers') {
      this.#rate.add(bytes);
      return run(this.#current);
    }
    // Inline, the block is processed within this call. CPU time, not wall time: on a crowded machine a thread that
    // waits for a core would otherwise look busy.
    const before = process.threadCpuUsage();
    const done = run(this.#current);
    const cpu = process.threadCpuUsage(before);
    this.#rate.add(bytes, (cpu.user + cpu.system) / 1000);
    return done;
  }

  /** Starts a move when the rate calls for one. */
  #consider(): void {
    if (this.#moving !== undefined || this.#closed || this.#o.now() < this.#retryAt) return;
    if (this.#mode === 'inline') {
      if (this.#starting === undefined && (this.#rate.busyWindows() >= this.#o.busySeconds || this.#flooded())) this.#startWorkers();
    } else if (this.#rate.quietFor() >= this.#o.quietMs) {
      this.#move(() => this.#toInline());
    }
  }

  #flooded(): boolean {
    const { bytesPerSecond, share } = this.#rate.last();
    return bytesPerSecond >= FLOOD * this.#o.busyBytesPerSecond || share >= FLOOD_SHARE * this.#o.busyShare;
  }

  #startWorkers(): void {
    const pool = new WorkerPool(this.#workers, { ...this.#init, takesOver: true }, this.#onWorkerDeath);
    // What the blocks cost the workers is what they would cost the main thread: it says when to move back.
    pool.onBlockCpu = (ms) => this.#rate.add(0, ms);
    this.#starting = pool;
    pool.ready().then(() => {
      if (this.#starting !== pool) return; // closed meanwhile
      this.#starting = undefined;
      this.#move(async () => {
        const state = await this.#current.handOver();
        void pool.takeOver(state).catch(() => {}); // ordered before every block sent after it; a dead worker is onWorkerDeath's
        this.#retire(this.#current);
        this.#current = pool;
        this.#mode = 'workers';
        // What the main thread's parsing left (its detector, the garbage of the busy seconds) is collected now, not
        // when the old generation next grows by the heap bound's budget: the workers' heaps come on top of it.
        gcFunction()?.({ type: 'major', execution: 'async' });
        this.#quietTimer = setInterval(() => this.#consider(), QUIET_CHECK_MS);
        this.#quietTimer.unref();
        const { bytesPerSecond, share } = this.#rate.last();
        this.#o.onMove?.('workers', `input at ${mibPerSecond(bytesPerSecond)}, parsing ${Math.round(share * 100)} % of the main thread's time (workers from ${mibPerSecond(this.#o.busyBytesPerSecond)} or ${Math.round(this.#o.busyShare * 100)} % for ${this.#o.busySeconds} s)`);
      });
    }, (err: unknown) => {
      if (this.#starting !== pool) return;
      this.#starting = undefined;
      this.#retryAt = this.#o.now() + RETRY_MS;
      this.#retire(pool);
      this.#o.onMoveFailed?.(`parse workers could not start (${(err as Error).message}); parsing stays on the main thread, tried again in ${RETRY_MS / 60_000} min`);
    });
  }

  async #toInline(): Promise<void> {
    // Built before the hand-over, so that rules that no longer load leave the workers where they are.
    let inline: InlineProcessor;
    try {
      inline = new InlineProcessor({ ...this.#init, takesOver: true });
    } catch (err) {
      this.#retryAt = this.#o.now() + RETRY_MS;
      this.#o.onMoveFailed?.(`parse workers kept: the rules do not load on the main thread (${(err as Error).message}); tried again in ${RETRY_MS / 60_000} min`);
      return;
    }
    await inline.takeOver(await this.#current.handOver());
    clearInterval(this.#quietTimer);
    this.#retire(this.#current);
    this.#current = inline;
    this.#mode = 'inline';
    this.#o.onMove?.('inline', `input under ${mibPerSecond(this.#o.busyBytesPerSecond / 4)} and parsing under ${Math.round(this.#o.busyShare * 25)} % of a thread's time for ${this.#o.quietMs / 1000} s`);
  }

  /** Runs `step` with blocks held back, then sends those to the processor in force, in the order they came. */
  #move(step: () => Promise<void>): void {
    this.#moving = step().finally(() => {
      this.#moving = undefined;
      for (const run of this.#queue.splice(0)) run(this.#current);
    });
    this.#moving.catch(() => {}); // a worker that died is onWorkerDeath's; the blocks then fail with it
  }

  #retire(p: MovableProcessor): void {
    this.#retiring.push(p.close().catch(() => {}));
  }

  async reloadRules(ruleFiles: string[]): Promise<void> {
    await this.#moving?.catch(() => {});
    this.#init = this.#init.detection === undefined ? this.#init : { ...this.#init, detection: { ...this.#init.detection, ruleFiles } };
    await Promise.all([this.#current.reloadRules(ruleFiles), this.#starting?.reloadRules(ruleFiles).catch(() => {})]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#quietTimer);
    await this.#moving?.catch(() => {});
    const starting = this.#starting;
    this.#starting = undefined;
    await Promise.all([this.#current.close(), starting?.close(), ...this.#retiring]);
  }
}

function mibPerSecond(bytes: number): string {
  return `${Number((bytes / 1024 / 1024).toFixed(2))} MiB/s`;
}
