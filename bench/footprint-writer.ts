// A kube-apiserver stand-in for the footprint benchmark: appends audit events at a fixed rate, rotating as lumberjack does.
//
// `node bench/footprint-writer.ts --dir D --rate N [--max-size BYTES] [--max-backups K]`: writes N events a second
// (in ticks of 10 ms, each catching up to rate × elapsed), rotating and gzipping backups like the apiserver's
// --audit-log-maxsize/--audit-log-maxbackup/--audit-log-compress. Prints {"written":N} when SIGTERM stops it.
import { parseArgs } from 'node:util';
import { LumberjackWriter } from '../test/utils/lumberjack.ts';
import { auditLine } from './gen-audit.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    rate: { type: 'string', default: '100' },
    'max-size': { type: 'string', default: String(32 * 1024 * 1024) },
    'max-backups': { type: 'string', default: '4' },
    seed: { type: 'string', default: '7' },
  },
});
if (!values.dir) throw new Error('--dir is required');
const rate = Number(values.rate);
const seed = Number(values.seed);
const writer = await LumberjackWriter.open({
  dir: values.dir, maxSize: Number(values['max-size']), maxBackups: Number(values['max-backups']), compress: true,
});
const startedAt = performance.now();
let written = 0;
const tick = setInterval(() => {
  const due = Math.floor((rate * (performance.now() - startedAt)) / 1000);
  if (due <= written) return;
  const lines: string[] = [];
  for (let i = written; i < due; i++) lines.push(auditLine(i, seed));
  written = due;
  void writer.writeMany(lines);
}, 10);
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
process.on('SIGTERM', () => {
  clearInterval(tick);
  void writer.close().then(() => {
    process.stdout.write(`${JSON.stringify({ written })}\n`);
    process.exit(0);
  });
});
