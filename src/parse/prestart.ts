// Parse worker threads, startable before the config is read: a worker spends ~0.3 s loading its code, which then
// overlaps with the main thread's own loading instead of following it (the first event arrives that much sooner).
import { Worker } from 'node:worker_threads';

/** A parse worker thread and what it did before a pool took it. */
export interface StartedWorker {
  worker: Worker;
  /** Set when the thread failed before a pool listened to it. */
  error?: Error;
  /** Set when the thread exited before a pool listened to it. */
  exitCode?: number;
}

const waiting = new Map<number, StartedWorker>();

function start(index: number): StartedWorker {
  // Named, so that per-thread CPU (top -H, /proc/<pid>/task) shows which thread is busy. The worker waits for its
  // init message (redaction, rules) before it takes blocks. Its entry turns on the compile cache first: on a warm
  // start the type stripper is not loaded in the worker (measured: peak RSS of `npm run bench -- --only run`
  // 206–221 MB without, 193–204 MB with, six runs each).
  const entry = new URL('./worker-entry.js', import.meta.url);
  const s: StartedWorker = { worker: new Worker(entry, { name: `kaudit-parse-${index}` }) };
  s.worker.on('error', (err) => {
    s.error ??= err;
  });
  s.worker.on('exit', (code) => {
    s.exitCode = code;
  });
  return s;
}

/**
 * Starts parse workers 0…n-1 now; a pool created later takes them. Until then they do not keep the process
 * alive: a command that ends without a pool (a bad config) exits as if they were not there.
 */
export function prestartParseWorkers(n: number): void {
  for (let i = 0; i < n; i++) {
    if (waiting.has(i)) continue;
    const s = start(i);
    s.worker.unref();
    waiting.set(i, s);
  }
}

/** Parse worker number `index`: the one started ahead if there is one, else a new one. */
export function takeParseWorker(index: number): StartedWorker {
  const s = waiting.get(index);
  if (s === undefined) return start(index);
  waiting.delete(index);
  s.worker.ref();
  return s;
}

/** Stops workers started ahead that no pool took (fewer workers configured than started). */
export function stopWaitingParseWorkers(): void {
  for (const s of waiting.values()) void s.worker.terminate();
  waiting.clear();
}
