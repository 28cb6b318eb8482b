// Micro-benchmark of the parse stage on the real-apiserver capture: parseAuditLine (head only) against a full JSON.parse.
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

const cases: Array<[string, (line: string) => void]> = [
  ['JSON.parse(line)', (l) => { sink += JSON.parse(l).auditID.length; }],
  ['parseAuditLine', (l) => { const r = parseAuditLine(l); if (r.ok) sink += r.event.head.auditID.length; }],
  ['parseAuditLine+annotations', (l) => { const r = parseAuditLine(l); if (r.ok) sink += Object.keys(r.event.annotations()).length; }],
  ['parseAuditLine+redact', (l) => { const r = parseAuditLine(l); if (r.ok) sink += redactor.redact(r.event)?.length ?? 1; }],
];

/** Median µs per line over `rounds` passes, after two warm-up passes. */
function measure(lines: string[], fn: (line: string) => void): number {
  const times: number[] = [];
  for (let r = 0; r < rounds + 2; r++) {
    const t0 = process.hrtime.bigint();
    for (const line of lines) fn(line);
    if (r >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e3 / lines.length);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

console.log(`node ${process.version}, ${all.length} lines, median of ${rounds} passes, µs/line`);
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
  for (const [, fn] of cases) row.push(measure(lines, fn).toFixed(2));
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
if (sink === 0) console.log('');
