// Worker thread entry: processes the blocks the main thread transfers to it; reloads rules and saves state on request.
import { parentPort } from 'node:worker_threads';
import { compileAhead, discardCompiledAhead, RuleError } from '../detect/rules.ts';
import { DetectorHost, systemRuleFiles, type DetectorHandover } from '../detect/setup.ts';
import { HeapBound } from '../memory.ts';
import type { ChunkContext } from './chunk.ts';
import { processBlock, type BlockOrigin } from './parsers.ts';
import { compilePatterns } from './patterns.ts';
import { compileRedaction } from './redact.ts';
import type { ControlMessage, ProcessorInit } from './workers.ts';

// Set by the init message, which the pool sends before any block (the thread may start before the config is read).
let host: DetectorHost | undefined;
let ctx: ChunkContext | undefined;
// Looked at after each block: a busy worker's timers wait behind its queue of blocks.
const heap = new HeapBound();

function setUp(init: ProcessorInit): void {
  host = new DetectorHost(init.detection, init.takesOver ? 'handover' : 'file');
  discardCompiledAhead();
  ctx = { redactor: compileRedaction(init.redaction), detector: host.detector, collectHits: init.collectHits, patterns: compilePatterns(init.redaction.patterns), kubernetesRefs: init.kubernetesRefs };
}

type JobMessage = { job: number; block: { buffer: ArrayBuffer; byteOffset: number; length: number }; giveBack: boolean; origin?: BlockOrigin };

parentPort!.on('message', (msg: JobMessage | ControlMessage) => {
  if ('control' in msg && msg.control === 'init') {
    // A failure (rules that do not compile) is the reply; the thread stays without a detector and the pool, which
    // waits for every reply before the agent reads, reports it.
    try {
      setUp(msg.init);
      parentPort!.postMessage({ control: msg.id, rules: host!.ruleCount });
    } catch (err) {
      parentPort!.postMessage({ control: msg.id, error: (err as Error).message, ruleError: err instanceof RuleError });
    }
    return;
  }
  if ('control' in msg) {
    control(msg).then(
      (state) => parentPort!.postMessage({ control: msg.id, state }),
      (err: unknown) => parentPort!.postMessage({ control: msg.id, error: (err as Error).message }),
    );
    return;
  }
  const { buffer, byteOffset, length } = msg.block;
  try {
    if (ctx === undefined) throw new Error('block before init');
    const before = process.threadCpuUsage();
    const result = processBlock(new Uint8Array(buffer, byteOffset, length), ctx, msg.origin);
    const cpu = process.threadCpuUsage(before);
    heap.check();
    const transfer: ArrayBuffer[] = [result.spans.buffer as ArrayBuffer];
    if (msg.giveBack) transfer.push(buffer);
    parentPort!.postMessage({ job: msg.job, result, cpuMs: (cpu.user + cpu.system) / 1000, returned: msg.giveBack ? msg.block : undefined }, transfer);
  } catch (err) {
    parentPort!.postMessage({ job: msg.job, error: (err as Error).stack ?? String(err), returned: msg.giveBack ? msg.block : undefined }, msg.giveBack ? [buffer] : []);
  }
});

// Started ahead, the thread waits for its init while the main thread loads the rest and reads the config. It
// compiles the shipped rules meanwhile: most configs use them, and the init then finds them compiled (the start
// is ~60 ms shorter). Wasted, on a core that was idle anyway, when the config changes them.
setImmediate(() => {
  if (host === undefined) compileAhead(systemRuleFiles());
});

// Messages are handled in order: a reload applies to every block sent after it, none before.
async function control(msg: ControlMessage): Promise<DetectorHandover | undefined> {
  if (msg.control === 'reload') host!.reload(msg.ruleFiles);
  else if (msg.control === 'close') await host?.close();
  else if (msg.control === 'handOver') return host!.handOver();
  else if (msg.control === 'takeOver') host!.takeOver(msg.state);
  return undefined;
}
