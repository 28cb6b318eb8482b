// Worker thread entry: processes the blocks the main thread transfers to it.
import { parentPort, workerData } from 'node:worker_threads';
import { noDetection } from '../detect/hook.ts';
import { processChunk } from './chunk.ts';
import { compileRedaction } from './redact.ts';
import type { ProcessorInit } from './workers.ts';

const init = workerData as ProcessorInit;
const ctx = { redactor: compileRedaction(init.redaction), detector: noDetection };

parentPort!.on('message', (msg: { job: number; data: Uint8Array }) => {
  try {
    const result = processChunk(msg.data, ctx);
    parentPort!.postMessage({ job: msg.job, result }, [result.spans.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ job: msg.job, error: (err as Error).stack ?? String(err) });
  }
});
