// Micro-benchmark of the parse stage on the real-apiserver capture: parseAuditLine (head only) vs a full JSON.parse.
// Usage: npx node bench/parse-bench.ts [--rounds N]
import { parseArgs } from 'node:util';
import { parseAuditLine } from '../src/parse/audit.ts';
import { compileRedaction } from '../src/parse/redact.ts';
import { realApiserverLines } from '../src/parse/test-corpus.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const rounds = Number(values.rounds);

// Flat copies, as the worker gets them from TextDecoder, not slices of one big string.
const all = realApiserverLines().map((l) => Buffer.from(l).toString('utf8'));
const byLevel = (level: string) => all.filter((l) => l.includes(`"level":"${level}"`));
const sets: Array<[string, string[]]> = [
  ['all', all],
  ['Metadata', byLevel('Metadata')],
  ['Request', byLevel('Request')],
  ['RequestResponse', byLevel('RequestResponse')],
];

const redactor = compileRedaction({ secrets: true, token_requests: true, paths: [] });
let sink = 0;

// Each case uses its result, so the work cannot be optimised away.
const cases: Array<[string, (line: string) => void]> = [
  ['JSON.parse(line)', (l) => {
    sink += JSON.parse(l).auditID.length;
  }],
  ['parseAuditLine', (l) => {
    const r = parseAuditLine(l);
    if (r.ok) sink += r.event.head.auditID.length;
  }],
  ['parseAuditLine+annotations', (l) => {
    const r = parseAuditLine(l);
    if (r.ok) sink += Object.keys(r.event.annotations()).length;
  }],
  ['parseAuditLine+redact', (l) => {
    const r = parseAuditLine(l);
    if (r.ok) sink += redactor.redact(r.event)?.length ?? 1;
  }],
];

/** Best µs per line of each case over `rounds` passes, the cases interleaved (a shared machine's noise only adds). */
function measure(lines: string[]): number[] {
  const best = cases.map(() => Infinity);
  for (let r = 0; r < rounds + 2; r++) {
    cases.forEach(([, fn], i) => {
      const t0 = process.hrtime.bigint();
      for (const line of lines) fn(line);
      const us = Number(process.hrtime.bigint() - t0) / 1e3 / lines.length;
      if (r >= 2) best[i] = Math.min(best[i], us);
    });
  }
  return best;
}

console.log(`node ${process.version}, ${all.length} lines, best of ${rounds} passes, µs/line`);
const header = ['set', 'lines', 'avg bytes', 'cheap %', ...cases.map(([name]) => name)];
const rows: string[][] = [header];
for (const [name, lines] of sets) {
  const bytes = lines.reduce((n, l) => n + l.length, 0) / lines.length;
  let cheap = 0;
  for (const l of lines) {
    const r = parseAuditLine(l);
    if (r.ok && r.event.cheap) cheap++;
  }
  const row = [name, String(lines.length), bytes.toFixed(0), ((100 * cheap) / lines.length).toFixed(1)];
  for (const us of measure(lines)) row.push(us.toFixed(2));
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
if (sink === 0) throw new Error('nothing was measured');
