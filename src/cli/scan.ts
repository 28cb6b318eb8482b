// `kaudit scan FILE...`: one pass over audit files (plain or .gz) through the same parse, redact and detect path.
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Config } from '../config/schema.ts';
import type { RuleHit } from '../detect/engine.ts';
import { Baseline } from '../detect/baseline.ts';
import { detectionPlan, type DetectionInit } from '../detect/setup.ts';
import { writeFileAtomic } from '../delivery/atomic-file.ts';
import { expandFileArgs } from './file-args.ts';
import { type ChunkProcessor, createProcessor } from '../parse/workers.ts';
import type { ChunkResult } from '../parse/chunk.ts';
import { LineSplitter, type SplitOutput } from '../sources/lines.ts';
import { ReadBufferPool } from '../sources/read-buffers.ts';
import { ioReason, readFailure } from '../config/io-error.ts';
import { asAlarmRecord, type AlarmRecord } from '../report/alarm-records.ts';
import { writeReport } from '../report/write.ts';

interface FileSummary {
  file: string;
  bytes: number;
  events: number;
  invalid: number;
  oversize: number;
  redacted: number;
  /** Rule hits in this file that raised or updated an alarm (one alarm is often hit in several files). */
  hits: number;
  error?: string;
  firstProblems: Array<{ offset: number; error: string }>;
}

const IN_FLIGHT = 4;
/** Read size, and the reusable read buffers of a plain file (the blocks in flight, one being filled, one spare). */
const CHUNK_BYTES = 1024 * 1024;
const READ_BUFFERS = 6;

interface AlarmRow { rule: { id: string; level: string }; count: number; firstSeen: string; lastSeen: string; summary: string }

export interface ScanOptions {
  hits?: boolean;
  html?: string;
  /** Files, directories or globs the baseline learns from before the files are judged (no alarm raised on them). */
  baselineFrom?: string[];
  /** A baseline saved by --baseline-save, judged against as --baseline-from's. */
  baseline?: string;
  /** Where to save the baseline learned (from --baseline-from and --baseline), before any file is judged. */
  baselineSave?: string;
}

/** What the baseline learned before judging, for the summary. */
interface BaselineSummary { files: number; events: number; invalid: number; identities: number; tuples: number }

/** Exit code: 1 a file could not be read (fully), 2 bad usage, 3 alarms were raised, 0 otherwise. */
export async function scanCommand(config: Config, files: string[], output: string, opts: ScanOptions = {}): Promise<number> {
  if (output !== 'text' && output !== 'json') {
    process.stderr.write(`kaudit: --output must be text or json, found "${output}"\n`);
    return 2;
  }
  // The first file source's line cap (an audit_webhook source reads no files).
  const source = Object.values(config.sources).find((s) => s.kind === 'audit');
  const maxLineBytes = source?.max_line_bytes ?? 4 * 1024 * 1024;
  // Every hit updates its alarm here (no update interval): the last payload per alarm id holds the final count.
  const detection = detectionPlan(config, { updateIntervalMs: 0 });
  let learned: BaselineSummary | undefined;
  if (opts.baselineFrom !== undefined || opts.baseline !== undefined || opts.baselineSave !== undefined) {
    const r = await learnBaseline(config, detection, maxLineBytes, opts);
    if (typeof r === 'number') return r;
    learned = r;
    if (output === 'text') {
      process.stdout.write(`baseline: learned from ${r.files} files, ${r.events} events, ${r.invalid} invalid lines: ${r.identities} identities, ${r.tuples} entries; learning period complete\n`);
    }
    if (files.length === 0) return 0;
  }
  const processor = createProcessor(Math.max(1, config.workers), { redaction: config.redaction, detection, collectHits: opts.hits === true });
  const hits: RuleHit[] = [];
  const alarms = new Map<string, string>();
  const allowlisted = new Map<string, number>();
  const blind = new Map<string, boolean>();
  const collect = (r: ChunkResult) => {
    if (r.hits) for (const h of r.hits) hits.push(h);
    for (const a of r.notes?.allowlisted ?? []) allowlisted.set(`${a.rule} by ${a.entry}`, (allowlisted.get(`${a.rule} by ${a.entry}`) ?? 0) + a.count);
    for (const b of r.notes?.blind ?? []) blind.set(`${b.rule} for ${b.resource}`, b.blind);
    for (const a of r.alarms) alarms.set(a.id, a.payload); // an update keeps the alarm's first place
  };
  const started = process.hrtime.bigint();
  const summaries: FileSummary[] = [];
  try {
    await processor.ready(); // broken rules: a RuleError, before any file is read
    for (const file of files) summaries.push(await scanFile(file, maxLineBytes, processor, collect));
  } finally {
    await processor.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sums = summaries.reduce((t, s) => ({
    bytes: t.bytes + s.bytes, events: t.events + s.events, invalid: t.invalid + s.invalid,
    oversize: t.oversize + s.oversize, redacted: t.redacted + s.redacted, hits: t.hits + s.hits,
  }), { bytes: 0, events: 0, invalid: 0, oversize: 0, redacted: 0, hits: 0 });
  // Hits add up over the files; an alarm hit in several files is still one alarm.
  const total = { ...sums, alarms: alarms.size };
  const failed = summaries.filter((s) => s.error);

  const rows = [...alarms.values()];
  const blindRules = [...blind].filter(([, b]) => b).map(([k]) => k);
  const allowed = Object.fromEntries(allowlisted);
  if (output === 'json') {
    for (const h of hits) process.stdout.write(`${JSON.stringify({ hit: h })}\n`);
    for (const a of rows) process.stdout.write(`${a}\n`);
    // The summary stays the last line.
    process.stdout.write(`${JSON.stringify({ files: summaries, allowlisted: allowed, blind: blindRules, baseline: learned, total: { ...total, seconds: round(seconds) } })}\n`);
  } else {
    for (const h of hits) process.stdout.write(`hit ${h.auditID} ${h.ruleId} ${h.category} ${h.level}: ${h.summary}\n`);
    for (const s of summaries) {
      process.stdout.write(`${s.file}: ${s.events} events, ${s.invalid} invalid lines, ${s.oversize} over-long lines, ${s.redacted} redacted${s.error ? `, ERROR: ${s.error}` : ''}\n`);
      for (const p of s.firstProblems) process.stdout.write(`  offset ${p.offset}: ${p.error}\n`);
    }
    if (rows.length > 0) process.stdout.write(alarmTable(rows.map((a) => JSON.parse(a) as AlarmRow)));
    for (const [what, n] of allowlisted) process.stdout.write(`allowlisted: ${n} hits of ${what}\n`);
    for (const what of blindRules) process.stdout.write(`rule blind: ${what}: policy logs no bodies (writes arrive at Metadata level)\n`);
    const rate = seconds > 0 ? Math.round(total.events / seconds) : 0;
    process.stdout.write(
      `total: ${files.length} files, ${total.events} events, ${total.invalid} invalid, ${total.oversize} over-long, ` +
      `${total.redacted} redacted, ${total.hits} hits, ${total.alarms} alarms; ${(total.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s (${rate} events/s)\n`,
    );
  }
  if (opts.html !== undefined) {
    const records = rows.map((a) => asAlarmRecord(JSON.parse(a))).filter((a): a is AlarmRecord => a !== undefined);
    try {
      const bytes = await writeReport(opts.html, records, files);
      // The json output's last line stays the summary: the report's line goes to stderr there.
      (output === 'json' ? process.stderr : process.stdout).write(`report: ${opts.html}: ${records.length} alarms, ${bytes} bytes\n`);
    } catch (err) {
      process.stderr.write(`kaudit: cannot write the report to ${opts.html}: ${ioReason(err)}\n`);
      return 1;
    }
  }
  if (failed.length > 0) return 1;
  return alarms.size > 0 ? 3 : 0;
}

/**
 * Fills the detectors' shared baseline from --baseline (a saved one) and --baseline-from (files read with rules judging
 * and no alarm raised), ends its learning period, and saves it to --baseline-save. An exit code when it cannot.
 */
async function learnBaseline(config: Config, detection: DetectionInit | undefined, maxLineBytes: number, opts: ScanOptions): Promise<BaselineSummary | number> {
  const fail = (message: string, code = 2) => {
    process.stderr.write(`kaudit: ${message}\n`);
    return code;
  };
  if (detection?.baseline === undefined) return fail('the baseline options need detection (detection.enabled is false)');
  const plan = detection.baseline;
  const baseline = new Baseline({ memory: plan.memory, learningDays: plan.learningDays, decayDays: plan.decayDays });
  if (opts.baseline !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readFile(opts.baseline);
    } catch (err) {
      return fail(`--baseline ${opts.baseline}: ${ioReason(err)}`);
    }
    if (!baseline.load(bytes)) return fail(`--baseline ${opts.baseline}: not a baseline saved by kaudit scan --baseline-save`);
  }
  const summary: BaselineSummary = { files: 0, events: 0, invalid: 0, identities: 0, tuples: 0 };
  if (opts.baselineFrom !== undefined) {
    let files: string[];
    try {
      files = await expandFileArgs(opts.baselineFrom);
    } catch (err) {
      return fail(`--baseline-from ${(err as Error).message}`);
    }
    // Rules judge (their routine hits are counted) but raise nothing: the judged files' alarms are what scan shows.
    const learning = createProcessor(Math.max(1, config.workers), { redaction: config.redaction, detection: { ...detection, baseline: { ...plan, learnOnly: true } } });
    try {
      await learning.ready();
      for (const file of files) {
        const s = await scanFile(file, maxLineBytes, learning, () => {});
        if (s.error !== undefined) return fail(`--baseline-from ${file}: ${s.error}`, 1);
        summary.files += 1;
        summary.events += s.events;
        summary.invalid += s.invalid;
      }
    } finally {
      await learning.close();
    }
  }
  baseline.completeLearning();
  Object.assign(summary, baseline.size);
  if (opts.baselineSave !== undefined) {
    try {
      await mkdir(dirname(opts.baselineSave), { recursive: true });
      await writeFileAtomic(opts.baselineSave, baseline.save());
    } catch (err) {
      return fail(`--baseline-save ${opts.baselineSave}: ${ioReason(err)}`, 1);
    }
  }
  return summary;
}

function alarmTable(rows: AlarmRow[]): string {
  const table = [['RULE', 'LEVEL', 'COUNT', 'FIRST SEEN', 'LAST SEEN', 'SUMMARY'],
    ...rows.map((r) => [r.rule.id, r.rule.level, String(r.count), r.firstSeen, r.lastSeen, r.summary])];
  const widths = table[0].slice(0, 5).map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return `alarms: ${rows.length}\n${table.map((row) => row.map((c, i) => (i < 5 ? c.padEnd(widths[i]) : c)).join('  ')).join('\n')}\n`;
}

async function scanFile(file: string, maxLineBytes: number, processor: ChunkProcessor, collect: (r: ChunkResult) => void): Promise<FileSummary> {
  const summary: FileSummary = { file, bytes: 0, events: 0, invalid: 0, oversize: 0, redacted: 0, hits: 0, firstProblems: [] };
  const splitter = new LineSplitter(0, maxLineBytes);
  const buffers = new ReadBufferPool(CHUNK_BYTES, READ_BUFFERS);
  /** In file order; `data` comes back with a block processed in place (a read buffer, for the pool). */
  const inFlight: Array<{ offset: number; result: Promise<{ result: ChunkResult; data?: Buffer }> }> = [];

  const settle = async () => {
    const { offset, result } = inFlight.shift()!;
    const { result: r, data } = await result;
    if (data) buffers.give(data);
    collect(r);
    summary.events += r.count;
    summary.invalid += r.bad.length;
    summary.redacted += r.replaced.length;
    summary.hits += r.alarms.length; // with no update interval, every hit emits its alarm again
    for (const b of r.bad) {
      if (summary.firstProblems.length < 5) summary.firstProblems.push({ offset: offset + b.start, error: b.error });
    }
  };
  const send = async (offset: number, result: Promise<{ result: ChunkResult; data?: Buffer }>) => {
    inFlight.push({ offset, result });
    if (inFlight.length >= IN_FLIGHT) await settle();
  };
  /** Blocks go to the workers as copies: the caller may reuse the memory they view once this returns. */
  const handle = async (parts: SplitOutput[]) => {
    for (const part of parts) {
      if (part.kind === 'oversize') {
        summary.oversize += 1;
        if (summary.firstProblems.length < 5) summary.firstProblems.push({ offset: part.offset, error: 'line longer than max_line_bytes' });
        continue;
      }
      // process() copies the block before it returns its promise.
      await send(part.offset, processor.process(part.data).then((result) => ({ result })));
    }
  };

  // A plain file is read at explicit offsets into pooled buffers, the way the tailer reads (LineSplitter.pushRead):
  // a read on a line boundary holds exactly whole lines and goes to a worker as it is (transferred, not copied),
  // coming back to the pool with its result; anything else goes through the splitter's copies.
  const readPlain = async (fh: FileHandle) => {
    let position = 0;
    for (;;) {
      const buf = buffers.take();
      const { bytesRead } = await fh.read(buf, 0, buf.length, position);
      if (bytesRead === 0) {
        buffers.give(buf);
        return;
      }
      const { parts, taken, owned } = splitter.pushRead(buf, bytesRead);
      position += taken;
      summary.bytes += taken;
      if (owned) {
        await send(parts[0].offset, processor.processOwned(parts[0].data));
      } else {
        await handle(parts);
        buffers.give(buf);
      }
    }
  };

  try {
    const st = await stat(file);
    if (st.isFile() && !file.endsWith('.gz')) {
      const fh = await open(file, 'r');
      try {
        await readPlain(fh);
      } finally {
        await fh.close().catch(() => {});
      }
    } else {
      const input = createReadStream(file, { highWaterMark: CHUNK_BYTES });
      let stream: AsyncIterable<Buffer> = input;
      if (file.endsWith('.gz')) {
        const gunzip = createGunzip({ chunkSize: 256 * 1024 });
        input.on('error', (err) => gunzip.destroy(err));
        stream = input.pipe(gunzip);
      }
      for await (const chunk of stream) {
        summary.bytes += chunk.length;
        await handle(splitter.push(chunk));
      }
    }
  } catch (err) {
    summary.error = readFailure(err);
  }
  await handle(splitter.flush());
  while (inFlight.length > 0) await settle();
  return summary;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
