// Worker thread entry: processes the blocks the main thread transfers to it.
import { parentPort, workerData } from 'node:worker_threads';
import { buildDetector } from '../detect/setup.ts';
import { processChunk } from './chunk.ts';
import { compileRedaction } from './redact.ts';
import type { ProcessorInit } from './workers.ts';

const init = workerData as ProcessorInit;
const ctx = { redactor: compileRedaction(init.redaction), detector: buildDetector(init.detection), collectHits: init.collectHits };

parentPort!.on('message', (msg: { job: number; block: { buffer: ArrayBuffer; byteOffset: number; length: number }; giveBack: boolean }) => {
  const { buffer, byteOffset, length } = msg.block;
  try {
    const result = processChunk(new Uint8Array(buffer, byteOffset, length), ctx);
    const transfer: ArrayBuffer[] = [result.spans.buffer as ArrayBuffer];
    if (msg.giveBack) transfer.push(buffer);
    parentPort!.postMessage({ job: msg.job, result, returned: msg.giveBack ? msg.block : undefined }, transfer);
  } catch (err) {
    parentPort!.postMessage({ job: msg.job, error: (err as Error).stack ?? String(err), returned: msg.giveBack ? msg.block : undefined }, msg.giveBack ? [buffer] : []);
  }
});
