// Runs chunk processing on worker threads (parse and detect off the main thread), or inline with 0 workers.
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { RuleError } from '../detect/rules.ts';
import { BASELINE_FILE, DetectorHost, type DetectionInit, type DetectorHandover } from '../detect/setup.ts';
import type { ChunkContext, ChunkResult } from './chunk.ts';
import { processBlock, type BlockOrigin } from './parsers.ts';
import { compilePatterns } from './patterns.ts';
import { compileRedaction, type RedactionSettings } from './redact.ts';
import { stopWaitingParseWorkers, takeParseWorker } from './prestart.ts';

/** Everything a worker needs to build its own redactor and detector (plain data: it crosses threads). */
export interface ProcessorInit {
  redaction: RedactionSettings;
  /** Undefined: detection off. */
  detection: DetectionInit | undefined;
  /** Directory for each detector's aggregation state (`alarms-<n>.json`); unset: state is not kept. */
  detectionStateDir?: string;
  /** Report every rule hit in the chunk results (kaudit scan --hits). */
  collectHits?: boolean;
  /** Report each audit event's namespace and pod in the chunk results (Kubernetes context is on). */
  kubernetesRefs?: boolean;
  /**
   * Detector 0 starts without state and waits for the state another processor hands over (takeOver) instead of
   * reading its state file: the two never own the file at the same time.
   */
  takesOver?: boolean;
}

export interface ChunkProcessor {
  /** Processes a copy of `data` (its parser chosen by `origin`, audit by default); the caller keeps using its buffer. */
  process(data: Buffer, origin?: BlockOrigin): Promise<ChunkResult>;
  /**
   * Processes `data` without copying: its memory moves to the worker and comes back as the returned
   * buffer (use that one; `data` is unusable until then). Only for buffers nothing else views.
   */
  processOwned(data: Buffer, origin?: BlockOrigin): Promise<{ result: ChunkResult; data: Buffer }>;
  /**
   * Swaps the detection rules for those in `ruleFiles` (validated by the caller) for every block
   * submitted after this call; rejects with the reason if a detector could not load them (it keeps its rules).
   */
  reloadRules(ruleFiles: string[]): Promise<void>;
  /**
   * The number of rules in force once every worker has its detector; rejects when one could not set up (a
   * RuleError when the rules are broken), and that worker then fails every block it gets.
   */
  ready(): Promise<number>;
  /** Saves the detectors' state and stops them. */
  close(): Promise<void>;
}

/** A processor whose detection state can move to another one (detector 0's; see AdaptiveProcessor). */
export interface MovableProcessor extends ChunkProcessor {
  /**
   * Once every block submitted before has been processed: stops saving detector 0's state and returns it. Only
   * close() may follow.
   */
  handOver(): Promise<DetectorHandover | undefined>;
  /** Detector 0 continues from `state` (from handOver()) for every block submitted after this call. */
  takeOver(state: DetectorHandover | undefined): Promise<void>;
}

/** Main thread → worker, besides blocks; `init` comes first, once. */
type Control = { control: 'init'; init: ProcessorInit } | { control: 'reload'; ruleFiles: string[] } | { control: 'close' }
  | { control: 'handOver' } | { control: 'takeOver'; state: DetectorHandover | undefined };
export type ControlMessage = { id: number } & Control;
/**
 * Worker → main thread, for each control message: done, or why not; an init also says how many rules it loaded, a
 * handOver brings the detector's state.
 */
type ControlReply = { control: number; error?: string; ruleError?: boolean; rules?: number; state?: DetectorHandover };

/** The detection init of detector number `n`, with its own state file; detector 0 keeps the shared baseline's. */
function detectionFor(init: ProcessorInit, n: number): DetectionInit | undefined {
  if (init.detection === undefined || init.detectionStateDir === undefined) return init.detection;
  const baselineFile = n === 0 ? join(init.detectionStateDir, BASELINE_FILE) : undefined;
  return { ...init.detection, stateFile: join(init.detectionStateDir, `alarms-${n}.json`), baselineFile };
}

/**
 * `onWorkerDeath`: called once when a worker thread dies unexpectedly (a bug or out of memory). Its jobs
 * fail; the agent exits so that it is restarted (nothing is lost: what was not durable is read again).
 */
export function createProcessor(workers: number, init: ProcessorInit, onWorkerDeath?: (err: Error) => void): ChunkProcessor {
  const processor = workers > 0 ? new WorkerPool(workers, init, onWorkerDeath) : new InlineProcessor(init);
  stopWaitingParseWorkers();
  return processor;
}

/** Blocks processed on the calling thread, each within the call. */
export class InlineProcessor implements MovableProcessor {
  readonly #host: DetectorHost;
  readonly #ctx: ChunkContext;

  /** Throws (RuleError) when the rules do not load. */
  constructor(init: ProcessorInit) {
    this.#host = new DetectorHost(detectionFor(init, 0), init.takesOver ? 'handover' : 'file');
    this.#ctx = { redactor: compileRedaction(init.redaction), detector: this.#host.detector, collectHits: init.collectHits, patterns: compilePatterns(init.redaction.patterns), kubernetesRefs: init.kubernetesRefs };
  }

  async ready(): Promise<number> {
    return this.#host.ruleCount;
  }

  async process(data: Buffer, origin?: BlockOrigin): Promise<ChunkResult> {
    return processBlock(data, this.#ctx, origin);
  }

  async processOwned(data: Buffer, origin?: BlockOrigin): Promise<{ result: ChunkResult; data: Buffer }> {
    return { result: processBlock(data, this.#ctx, origin), data };
  }

  async reloadRules(ruleFiles: string[]): Promise<void> {
    this.#host.reload(ruleFiles);
  }

  handOver(): Promise<DetectorHandover | undefined> {
    return this.#host.handOver();
  }

  async takeOver(state: DetectorHandover | undefined): Promise<void> {
    this.#host.takeOver(state);
  }

  close(): Promise<void> {
    return this.#host.close();
  }
}

interface Job {
  resolve: (r: { result: ChunkResult; data?: Buffer }) => void;
  reject: (e: Error) => void;
}

interface Reply {
  job: number;
  result?: ChunkResult;
  error?: string;
  /** The block's memory, handed back when it was transferred. */
  returned?: { buffer: ArrayBuffer; byteOffset: number; length: number };
  /** CPU time the worker spent on the block. */
  cpuMs?: number;
}

/** How long a closing worker may take to save its state before it is stopped anyway. */
const CLOSE_TIMEOUT_MS = 5000;

export class WorkerPool implements MovableProcessor {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly controls = new Map<number, { resolve: (reply: ControlReply) => void; reject: (e: Error) => void }>();
  private readonly inits: Array<Promise<ControlReply>> = [];
  private nextControl = 0;
  private readonly exited = new Set<Worker>();
  private nextJob = 0;
  private nextWorker = 0;
  private closing = false;
  /** Told the CPU time each block took on its worker. */
  onBlockCpu: ((ms: number) => void) | undefined;

  constructor(n: number, init: ProcessorInit, onWorkerDeath?: (err: Error) => void) {
    for (let i = 0; i < n; i++) {
      const started = takeParseWorker(i);
      const worker = started.worker;
      worker.on('message', (msg: Reply | ControlReply) => {
        if ('control' in msg) {
          const c = this.controls.get(msg.control);
          this.controls.delete(msg.control);
          if (msg.error === undefined) c?.resolve(msg);
          else c?.reject(msg.ruleError ? new RuleError(msg.error) : new Error(msg.error));
          return;
        }
        const job = this.jobs.get(msg.job);
        if (!job) return;
        this.jobs.delete(msg.job);
        if (msg.cpuMs !== undefined) this.onBlockCpu?.(msg.cpuMs);
        const data = msg.returned && Buffer.from(msg.returned.buffer, msg.returned.byteOffset, msg.returned.length);
        if (msg.result) job.resolve({ result: msg.result, data });
        else job.reject(new Error(msg.error ?? 'worker failed'));
      });
      const onExit = (code: number) => {
        this.exited.add(worker);
        if (this.closing) return;
        const err = new Error(`parse worker exited unexpectedly (code ${code})${started.error ? `: ${started.error.message}` : ''}`);
        this.failAll(err);
        onWorkerDeath?.(err);
      };
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', onExit);
      // A worker started ahead may have died before this pool listened (its code failed to load).
      if (started.exitCode !== undefined) queueMicrotask(() => onExit(started.exitCode!));
      // Messages are handled in order: the init is done before the first block.
      const ready = this.control(worker, { control: 'init', init: { ...init, detection: detectionFor(init, i), takesOver: init.takesOver === true && i === 0 } });
      ready.catch(() => {}); // seen through ready()
      this.inits.push(ready);
      this.workers.push(worker);
    }
  }

  async ready(): Promise<number> {
    const replies = await Promise.all(this.inits);
    return replies[0]?.rules ?? 0;
  }

  async process(data: Buffer, origin?: BlockOrigin): Promise<ChunkResult> {
    // A private copy of the block, transferred (not cloned) to the worker.
    const copy = new Uint8Array(data.length);
    copy.set(data);
    return (await this.post(copy, false, origin)).result;
  }

  async processOwned(data: Buffer, origin?: BlockOrigin): Promise<{ result: ChunkResult; data: Buffer }> {
    const { result, data: back } = await this.post(data, true, origin);
    return { result, data: back! };
  }

  private post(data: Uint8Array, giveBack: boolean, origin: BlockOrigin | undefined): Promise<{ result: ChunkResult; data?: Buffer }> {
    const job = this.nextJob++;
    const worker = this.workers[this.nextWorker++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.jobs.set(job, { resolve, reject });
      const block = { buffer: data.buffer as ArrayBuffer, byteOffset: data.byteOffset, length: data.byteLength };
      worker.postMessage({ job, block, giveBack, origin }, [block.buffer]);
    });
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) job.reject(err);
    this.jobs.clear();
    for (const c of this.controls.values()) c.reject(err);
    this.controls.clear();
  }

  async reloadRules(ruleFiles: string[]): Promise<void> {
    await Promise.all(this.workers.map((w) => this.control(w, { control: 'reload', ruleFiles })));
  }

  async handOver(): Promise<DetectorHandover | undefined> {
    return (await this.control(this.workers[0], { control: 'handOver' })).state;
  }

  async takeOver(state: DetectorHandover | undefined): Promise<void> {
    await this.control(this.workers[0], { control: 'takeOver', state });
  }

  async close(): Promise<void> {
    this.closing = true;
    // Each worker saves its detection state first (bounded: a stuck save does not hold the shutdown).
    await Promise.all(this.workers.map((w) => Promise.race([
      this.control(w, { control: 'close' }).catch(() => {}),
      new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref()),
    ])));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private control(worker: Worker, msg: Control): Promise<ControlReply> {
    if (this.exited.has(worker)) return Promise.reject(new Error('parse worker has exited'));
    const id = this.nextControl++;
    return new Promise((resolve, reject) => {
      this.controls.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id });
    });
  }
}
