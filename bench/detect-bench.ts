// Cost of detection per event: the worker's chunk processing (parse, redact, detect) over generated audit data,
// with every shipped rule on, beside the same processing with detection off. One thread, in process.
// Usage: npm run bench:detect -- [--events N] [--rounds R]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Baseline } from '../src/detect/baseline.ts';
import { DetectionEngine } from '../src/detect/engine.ts';
import { noDetection, type Detector } from '../src/detect/hook.ts';
import { loadRuleFiles } from '../src/detect/rules.ts';
import { systemRuleFiles } from '../src/detect/setup.ts';
import { processChunk } from '../src/parse/chunk.ts';
import { compileRedaction } from '../src/parse/redact.ts';
import { generateAuditLines } from './gen-audit.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '5' },
    /** A real audit log to measure instead of generated data. */
    file: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
// 1 MiB blocks of whole lines, as the tailer hands them to a worker; kept as bytes (as the agent reads them).
const blocks: Buffer[] = [];
if (values.file) {
  const data = readFileSync(values.file);
  for (let start = 0; start < data.length;) {
    let end = Math.min(data.length, start + 1024 * 1024);
    if (end < data.length) end = data.lastIndexOf(10, end) + 1 || data.length;
    blocks.push(data.subarray(start, end));
    start = end;
  }
} else {
  let parts: string[] = [];
  let size = 0;
  for (const l of generateAuditLines(Number(values.events))) {
    parts.push(l);
    size += l.length + 1;
    if (size >= 1024 * 1024) {
      blocks.push(Buffer.from(`${parts.join('\n')}\n`));
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) blocks.push(Buffer.from(`${parts.join('\n')}\n`));
}
const bytes = blocks.reduce((n, b) => n + b.length, 0);

const redactor = compileRedaction({ secrets: true, token_requests: true, paths: [] });
const rules = loadRuleFiles(systemRuleFiles());
const makeEngine = (): Detector => new DetectionEngine(rules, { clusterName: 'bench', clusterId: '' });
// With a baseline past its learning period: every allowed request learned, first-seen conditions judged.
const makeEngineWithBaseline = (): Detector => new DetectionEngine(rules, { clusterName: 'bench', clusterId: '', baseline: new Baseline({ learningDays: 0 }) });

/** Best CPU seconds (this thread) per pass over all blocks, a fresh detector per pass (its state starts empty, as in a new agent). */
function measure(make: () => Detector): { seconds: number; events: number; alarms: number } {
  let best = Infinity;
  let events = 0;
  let alarms = 0;
  for (let r = 0; r < rounds + 1; r++) {
    const ctx = { redactor, detector: make() };
    events = 0;
    alarms = 0;
    // CPU time of this thread, not wall time: on a shared machine, time the thread was not running is not its cost.
    const t0 = process.threadCpuUsage();
    for (const b of blocks) {
      const res = processChunk(b, ctx);
      events += res.count;
      alarms += res.alarms.length;
    }
    const used = process.threadCpuUsage(t0);
    const s = (used.user + used.system) / 1e6;
    if (process.env.BENCH_VERBOSE) console.log(`pass ${r}: ${((s * 1e6) / events).toFixed(2)} µs/event`);
    if (r > 0) best = Math.min(best, s); // the first pass warms up the JIT
  }
  return { seconds: best, events, alarms };
}

const off = measure(() => noDetection);
const on = measure(makeEngine);
const learning = measure(makeEngineWithBaseline);
console.log(`node ${process.version}; ${off.events} events, ${(bytes / 1e6).toFixed(1)} MB${values.file ? ` from ${values.file}` : ' generated'}; ${rules.rules.length} rules; best of ${rounds} passes`);
const row = (name: string, m: { seconds: number; events: number; alarms: number }) =>
  `${name.padEnd(28)} ${String(Math.round(m.events / m.seconds)).padStart(9)} events/CPU-s  ${((m.seconds * 1e6) / m.events).toFixed(2).padStart(7)} µs CPU/event  ${m.alarms} alarm records`;
console.log(row('parse + redact (no rules)', off));
console.log(row('parse + redact + all rules', on));
console.log(row('all rules + baseline', learning));
console.log(`detection: ${(((on.seconds - off.seconds) * 1e6) / on.events).toFixed(2)} µs CPU/event`);
console.log(`detection with the baseline: ${(((learning.seconds - off.seconds) * 1e6) / learning.events).toFixed(2)} µs CPU/event`);
