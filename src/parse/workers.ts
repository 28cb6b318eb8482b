// Runs chunk processing on worker threads (parse and detect off the main thread), or inline with 0 workers.
import { Worker } from 'node:worker_threads';
import type { RedactionConfig } from '../config/schema.ts';
import { noDetection } from '../detect/hook.ts';
import { processChunk, type ChunkResult } from './chunk.ts';
import { compileRedaction } from './redact.ts';

/** Everything a worker needs to build its own redactor and detector (plain data: it crosses threads). */
export interface ProcessorInit {
  redaction: RedactionConfig;
}

export interface ChunkProcessor {
  process(data: Buffer): Promise<ChunkResult>;
  close(): Promise<void>;
}

export function createProcessor(workers: number, init: ProcessorInit): ChunkProcessor {
  return workers > 0 ? new WorkerPool(workers, init) : inlineProcessor(init);
}

function inlineProcessor(init: ProcessorInit): ChunkProcessor {
  const ctx = { redactor: compileRedaction(init.redaction), detector: noDetection };
  return {
    process: async (data) => processChunk(data, ctx),
    close: async () => {},
  };
}

interface Job {
  resolve: (r: ChunkResult) => void;
  reject: (e: Error) => void;
}

class WorkerPool implements ChunkProcessor {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextJob = 0;
  private nextWorker = 0;

  constructor(n: number, init: ProcessorInit) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL(`./worker${extensionOf(import.meta.url)}`, import.meta.url), { workerData: init });
      worker.on('message', (msg: { job: number; result?: ChunkResult; error?: string }) => {
        const job = this.jobs.get(msg.job);
        if (!job) return;
        this.jobs.delete(msg.job);
        if (msg.result) job.resolve(msg.result);
        else job.reject(new Error(msg.error ?? 'worker failed'));
      });
      worker.on('error', (err) => this.failAll(err));
      this.workers.push(worker);
    }
  }

  process(data: Buffer): Promise<ChunkResult> {
    // A private copy of the block, transferred (not cloned) to the worker.
    const copy = new Uint8Array(data.length);
    copy.set(data);
    const job = this.nextJob++;
    const worker = this.workers[this.nextWorker++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.jobs.set(job, { resolve, reject });
      worker.postMessage({ job, data: copy }, [copy.buffer]);
    });
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) job.reject(err);
    this.jobs.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** `.ts` when running from source, `.js` when built. */
function extensionOf(url: string): string {
  return url.endsWith('.ts') ? '.ts' : '.js';
}
