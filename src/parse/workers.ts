// Runs chunk processing on worker threads (parse and detect off the main thread), or inline with 0 workers.
import { Worker } from 'node:worker_threads';
import type { RedactionConfig } from '../config/schema.ts';
import { buildDetector, type DetectionInit } from '../detect/setup.ts';
import { processChunk, type ChunkResult } from './chunk.ts';
import { compileRedaction } from './redact.ts';

/** Everything a worker needs to build its own redactor and detector (plain data: it crosses threads). */
export interface ProcessorInit {
  redaction: RedactionConfig;
  /** Undefined: detection off. */
  detection: DetectionInit | undefined;
  /** Report every rule hit in the chunk results (kaudit scan --hits). */
  collectHits?: boolean;
}

export interface ChunkProcessor {
  /** Processes a copy of `data`; the caller keeps using its buffer. */
  process(data: Buffer): Promise<ChunkResult>;
  /**
   * Processes `data` without copying: its memory moves to the worker and comes back as the returned
   * buffer (use that one; `data` is unusable until then). Only for buffers nothing else views.
   */
  processOwned(data: Buffer): Promise<{ result: ChunkResult; data: Buffer }>;
  close(): Promise<void>;
}

/**
 * `onWorkerDeath`: called once when a worker thread dies unexpectedly (a bug or out of memory). Its jobs
 * fail; the agent exits so that it is restarted (nothing is lost: what was not durable is read again).
 */
export function createProcessor(workers: number, init: ProcessorInit, onWorkerDeath?: (err: Error) => void): ChunkProcessor {
  return workers > 0 ? new WorkerPool(workers, init, onWorkerDeath) : inlineProcessor(init);
}

function inlineProcessor(init: ProcessorInit): ChunkProcessor {
  const ctx = { redactor: compileRedaction(init.redaction), detector: buildDetector(init.detection), collectHits: init.collectHits };
  return {
    process: async (data) => processChunk(data, ctx),
    processOwned: async (data) => ({ result: processChunk(data, ctx), data }),
    close: async () => {},
  };
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
}

class WorkerPool implements ChunkProcessor {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextJob = 0;
  private nextWorker = 0;
  private closing = false;

  constructor(n: number, init: ProcessorInit, onWorkerDeath?: (err: Error) => void) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL(`./worker${extensionOf(import.meta.url)}`, import.meta.url), { workerData: init });
      worker.on('message', (msg: Reply) => {
        const job = this.jobs.get(msg.job);
        if (!job) return;
        this.jobs.delete(msg.job);
        const data = msg.returned && Buffer.from(msg.returned.buffer, msg.returned.byteOffset, msg.returned.length);
        if (msg.result) job.resolve({ result: msg.result, data });
        else job.reject(new Error(msg.error ?? 'worker failed'));
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (this.closing) return;
        const err = new Error(`parse worker exited unexpectedly (code ${code})`);
        this.failAll(err);
        onWorkerDeath?.(err);
      });
      this.workers.push(worker);
    }
  }

  async process(data: Buffer): Promise<ChunkResult> {
    // A private copy of the block, transferred (not cloned) to the worker.
    const copy = new Uint8Array(data.length);
    copy.set(data);
    return (await this.post(copy, false)).result;
  }

  async processOwned(data: Buffer): Promise<{ result: ChunkResult; data: Buffer }> {
    const { result, data: back } = await this.post(data, true);
    return { result, data: back! };
  }

  private post(data: Uint8Array, giveBack: boolean): Promise<{ result: ChunkResult; data?: Buffer }> {
    const job = this.nextJob++;
    const worker = this.workers[this.nextWorker++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.jobs.set(job, { resolve, reject });
      const block = { buffer: data.buffer as ArrayBuffer, byteOffset: data.byteOffset, length: data.byteLength };
      worker.postMessage({ job, block, giveBack }, [block.buffer]);
    });
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) job.reject(err);
    this.jobs.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** `.ts` when running from source, `.js` when built. */
function extensionOf(url: string): string {
  return url.endsWith('.ts') ? '.ts' : '.js';
}
