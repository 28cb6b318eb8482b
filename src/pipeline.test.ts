// The hot path end to end on real parts (worker threads, disk buffers): chunks reach the buffers in read order, share
// commits when they come close together, and are acknowledged to their source in read order once durable.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../bench/gen-audit.ts';
import { parseConfig } from './config/load.ts';
import { DiskBuffer } from './delivery/buffer.ts';
import { DeadLetterFile } from './delivery/dead-letter.ts';
import { SinkDriver } from './delivery/driver.ts';
import { Metrics } from './observe/metrics.ts';
import { compileRejectedLine } from './parse/rejected-line.ts';
import { createProcessor, type ChunkProcessor } from './parse/workers.ts';
import { SourcePipeline } from './pipeline.ts';
import { sinkKinds } from './sinks/index.ts';
import type { SourceChunk } from './sources/file-set.ts';

const silent = pino({ level: 'silent' });
const redaction = { secrets: true, token_requests: true, paths: [] };
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** A pipeline for source `audit` into one file sink (not started: its buffer is read here), with its buffer. */
async function pipeline(commitWindowMs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-pipeline-'));
  const config = parseConfig({ state_dir: dir, sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), inputs: ['audit'] } } });
  const cfg = config.sinks.out;
  const buffer = await DiskBuffer.open(join(dir, 'buffer'), { maxBytes: 64 * 1024 * 1024, segmentBytes: 8 * 1024 * 1024, whenFull: 'block', commitWindowMs });
  open.push(buffer);
  const processor: ChunkProcessor = createProcessor(1, { redaction, detection: undefined });
  open.push(processor);
  const metrics = new Metrics();
  const sink = await sinkKinds.file.create(cfg as never, { name: 'out', logger: silent, stateDir: dir });
  open.push(sink);
  const driver = new SinkDriver({
    name: 'out', sink, buffer, deadLetter: new DeadLetterFile(join(dir, 'dead.ndjson')), delivery: cfg, events: metrics.sink('out', () => 0), logger: silent,
  });
  const p = new SourcePipeline({
    source: 'audit', processor, drivers: [driver], metrics: metrics.source('audit'), rejectedLine: compileRejectedLine(redaction, false), logger: silent,
  });
  return { p, buffer };
}

/** Chunk `n` of a file: 50 audit lines; `acked` gets n once the pipeline says it is durable. */
function chunk(n: number, acked: number[]): SourceChunk {
  const data = Buffer.from(Array.from({ length: 50 }, (_, i) => `${auditLine(n * 50 + i)}\n`).join(''));
  return {
    source: 'audit', fileKey: 'f', path: '/var/log/kubernetes.audit', kind: 'lines', offset: n * 1_000_000, data,
    commitOffset: n * 1_000_000 + data.length, owned: false, onDurable: () => acked.push(n),
  };
}

describe('SourcePipeline', () => {
  it('queues the records of chunks that come close together without waiting for each fsync: they share a commit, in read order', async () => {
    const { p, buffer } = await pipeline(1000);
    const acked: number[] = [];
    const chunks = Array.from({ length: 6 }, (_, n) => chunk(n, acked));
    for (const c of chunks) await p.submit(c); // six fit in flight: none waits for the one before
    await p.drained();
    expect(acked).toEqual([0, 1, 2, 3, 4, 5]);
    // The first chunk is committed at once; the five behind it, queued within the window, go out in one more commit.
    expect(buffer.stats().commits).toBe(2);
    const read = await buffer.read(1000, 64 * 1024 * 1024);
    const lines = chunks.flatMap((c) => c.data.toString().trimEnd().split('\n'));
    expect(read.records.map((r) => r.payload.toString())).toEqual(lines);
  });
});
