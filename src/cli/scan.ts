// `kaudit scan FILE...`: one pass over audit files (plain or .gz) through the same parse, redact and detect path.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Config } from '../config/schema.ts';
import { createProcessor } from '../parse/workers.ts';
import type { ChunkResult } from '../parse/chunk.ts';
import { LineSplitter } from '../sources/lines.ts';

interface FileSummary {
  file: string;
  bytes: number;
  events: number;
  invalid: number;
  oversize: number;
  redacted: number;
  alarms: number;
  error?: string;
  firstProblems: Array<{ offset: number; error: string }>;
}

const IN_FLIGHT = 4;

export async function scanCommand(config: Config, files: string[], output: string): Promise<number> {
  if (output !== 'text' && output !== 'json') {
    process.stderr.write(`kaudit: --output must be text or json, found "${output}"\n`);
    return 2;
  }
  const source = Object.values(config.sources)[0];
  const maxLineBytes = source?.max_line_bytes ?? 4 * 1024 * 1024;
  const processor = createProcessor(Math.max(1, config.workers), { redaction: config.redaction });
  const started = process.hrtime.bigint();
  const summaries: FileSummary[] = [];
  try {
    for (const file of files) summaries.push(await scanFile(file, maxLineBytes, processor.process.bind(processor)));
  } finally {
    await processor.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const total = summaries.reduce((t, s) => ({
    bytes: t.bytes + s.bytes, events: t.events + s.events, invalid: t.invalid + s.invalid,
    oversize: t.oversize + s.oversize, redacted: t.redacted + s.redacted, alarms: t.alarms + s.alarms,
  }), { bytes: 0, events: 0, invalid: 0, oversize: 0, redacted: 0, alarms: 0 });
  const failed = summaries.filter((s) => s.error);

  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ files: summaries, total: { ...total, seconds: round(seconds) } })}\n`);
  } else {
    for (const s of summaries) {
      process.stdout.write(`${s.file}: ${s.events} events, ${s.invalid} invalid lines, ${s.oversize} over-long lines, ${s.redacted} redacted${s.error ? `, ERROR: ${s.error}` : ''}\n`);
      for (const p of s.firstProblems) process.stdout.write(`  offset ${p.offset}: ${p.error}\n`);
    }
    const rate = seconds > 0 ? Math.round(total.events / seconds) : 0;
    process.stdout.write(
      `total: ${files.length} files, ${total.events} events, ${total.invalid} invalid, ${total.oversize} over-long, ` +
      `${total.redacted} redacted, ${total.alarms} alarms; ${(total.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s (${rate} events/s)\n`,
    );
  }
  return failed.length > 0 ? 1 : 0;
}

async function scanFile(file: string, maxLineBytes: number, process: (data: Buffer) => Promise<ChunkResult>): Promise<FileSummary> {
  const summary: FileSummary = { file, bytes: 0, events: 0, invalid: 0, oversize: 0, redacted: 0, alarms: 0, firstProblems: [] };
  const splitter = new LineSplitter(0, maxLineBytes);
  const inFlight: Array<{ offset: number; result: Promise<ChunkResult> }> = [];

  const settle = async () => {
    const { offset, result } = inFlight.shift()!;
    const r = await result;
    summary.events += r.count;
    summary.invalid += r.bad.length;
    summary.redacted += r.replaced.length;
    summary.alarms += r.alarms.length;
    for (const b of r.bad) {
      if (summary.firstProblems.length < 5) summary.firstProblems.push({ offset: offset + b.start, error: b.error });
    }
  };
  const handle = async (parts: ReturnType<LineSplitter['push']>) => {
    for (const part of parts) {
      if (part.kind === 'oversize') {
        summary.oversize += 1;
        if (summary.firstProblems.length < 5) summary.firstProblems.push({ offset: part.offset, error: 'line longer than max_line_bytes' });
        continue;
      }
      inFlight.push({ offset: part.offset, result: process(part.data) });
      if (inFlight.length >= IN_FLIGHT) await settle();
    }
  };

  try {
    await stat(file);
    const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
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
  } catch (err) {
    summary.error = (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'compressed file is truncated' : (err as Error).message;
  }
  await handle(splitter.flush());
  while (inFlight.length > 0) await settle();
  return summary;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
