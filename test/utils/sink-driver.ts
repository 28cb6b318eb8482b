// A sink of a given config driven by the real delivery layer (disk buffer, driver, dead-letter file), for sink tests.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import type { SinkConfig } from '../../src/config/schema.ts';
import { DiskBuffer } from '../../src/delivery/buffer.ts';
import { DeadLetterFile } from '../../src/delivery/dead-letter.ts';
import { SinkDriver } from '../../src/delivery/driver.ts';
import { sinkKinds } from '../../src/sinks/index.ts';
import type { SinkKind } from '../../src/sinks/types.ts';

export interface DrivenSink {
  driver: SinkDriver;
  counts: { delivered: number; deadLettered: number };
  /** Resolves once `n` records were delivered or dead-lettered (rejects after `ms`). */
  settled(n: number, ms?: number): Promise<void>;
  /** The dead-letter file's entries. */
  deadLetters(): Promise<Array<{ id: string; reason: string; record: Record<string, unknown> }>>;
  /** Stops the driver and removes its state. */
  close(): Promise<void>;
}

/** Starts the driver of sink `s` configured as `raw` (as an operator writes it), with its state in a fresh directory. */
export async function driveSink(raw: Record<string, unknown>): Promise<DrivenSink> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-sink-'));
  const cfg = parseConfig({ state_dir: dir, sinks: { s: raw } }).sinks.s as SinkConfig;
  const silent = pino({ level: 'silent' });
  const sink = await (sinkKinds[cfg.kind as keyof typeof sinkKinds] as SinkKind).create(cfg as never, { name: 's', logger: silent, stateDir: dir });
  const buffer = await DiskBuffer.open(join(dir, 'buffer'), { maxBytes: cfg.buffer.max_bytes, segmentBytes: cfg.buffer.segment_bytes, whenFull: 'block' });
  const counts = { delivered: 0, deadLettered: 0 };
  const deadLetterPath = join(dir, 'dead.ndjson');
  const driver = new SinkDriver({
    name: 's', sink, buffer, deadLetter: new DeadLetterFile(deadLetterPath), delivery: cfg, logger: silent,
    events: { appended() {}, dropped() {}, retried() {}, delivered: (n) => { counts.delivered += n; }, deadLettered: (n) => { counts.deadLettered += n; } },
  });
  driver.start();
  return {
    driver,
    counts,
    async settled(n, ms = 10_000) {
      for (const end = Date.now() + ms; counts.delivered + counts.deadLettered < n;) {
        if (Date.now() > end) throw new Error(`${counts.delivered + counts.deadLettered} of ${n} records settled within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async deadLetters() {
      const text = await readFile(deadLetterPath, 'utf8').catch(() => '');
      return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l));
    },
    async close() {
      await driver.stop(2000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
