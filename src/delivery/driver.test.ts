// Sink contract: every sink kind, driven by the delivery layer against real peers (HTTP server, files, a pipe).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.ts';
import type { SinkConfig } from '../config/schema.ts';
import { sinkKinds } from '../sinks/index.ts';
import type { SinkKind } from '../sinks/types.ts';
import { Receiver } from '../../test/utils/receiver.ts';
import { DiskBuffer } from './buffer.ts';
import { DeadLetterFile } from './dead-letter.ts';
import { backoff, SinkDriver, type SinkEvents } from './driver.ts';
import type { OutRecord } from './record.ts';

const silent = pino({ level: 'silent' });
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function records(from: number, n: number): OutRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `a-${from + i}/ResponseComplete`, kind: 'log' as const, source: 'audit',
    payload: Buffer.from(JSON.stringify({ auditID: `a-${from + i}`, stage: 'ResponseComplete', n: from + i })),
  }));
}

function counters() {
  const c = { appended: 0, dropped: 0, delivered: 0, retried: 0, deadLettered: 0, retryReasons: [] as string[] };
  const events: SinkEvents = {
    appended: (n) => { c.appended += n; },
    dropped: (n) => { c.dropped += n; },
    delivered: (n) => { c.delivered += n; },
    retried: (n, reason) => { c.retried += n; c.retryReasons.push(reason); },
    deadLettered: (n) => { c.deadLettered += n; },
  };
  return { c, events };
}

/** A logger writing into `lines` (parsed) and `text` (as written), as the agent gives a sink: a child naming it. */
function captureLog() {
  const lines: Array<Record<string, any>> = [];
  const text: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { text.push(s); lines.push(JSON.parse(s)); } }).child({ sink: 's' });
  return { logger, lines, text };
}

/** A driver for `sink` (raw config as an operator writes it), with its state in a fresh directory. */
async function makeDriver(sink: Record<string, unknown>, dir?: string, logging: { logger?: pino.Logger; statusIntervalMs?: number } = {}) {
  dir ??= await mkdtemp(join(tmpdir(), 'kaudit-driver-'));
  const config = parseConfig({ state_dir: dir, sinks: { s: sink } });
  const cfg = config.sinks.s as SinkConfig;
  const kind = sinkKinds[cfg.kind as keyof typeof sinkKinds] as SinkKind;
  const created = await kind.create(cfg as never, { name: 's', logger: silent, stateDir: dir });
  const buffer = await DiskBuffer.open(join(dir, 'buffer'), { maxBytes: cfg.buffer.max_bytes, segmentBytes: cfg.buffer.segment_bytes, whenFull: cfg.buffer.when_full });
  const { c, events } = counters();
  const deadLetterPath = join(dir, 'dead.ndjson');
  const driver = new SinkDriver({
    name: 's', sink: created, buffer, deadLetter: new DeadLetterFile(deadLetterPath), delivery: cfg, events, logger: logging.logger ?? silent,
    statusIntervalMs: logging.statusIntervalMs,
  });
  driver.start();
  let stopped = false;
  const stop = async (grace = 5000) => {
    if (!stopped) await driver.stop(grace);
    stopped = true;
  };
  cleanup.push(stop);
  return { driver, buffer, counts: c, dir, deadLetterPath, stop };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fast = { batch: { max_events: 50, max_wait: 20 }, retry: { initial_backoff: 10, max_backoff: 100 } };

describe('sink contract: http', () => {
  it('retries on 503 until the backend accepts, then acknowledges the batch', async () => {
    const rx = await Receiver.start({ replies: [503, 503, { status: 500, body: 'boom' }] });
    cleanup.push(() => rx.close());
    const { driver, counts, buffer } = await makeDriver({ kind: 'http', url: rx.url(), ...fast });
    await driver.append(records(0, 30));
    await until(() => counts.delivered === 30);
    expect(counts.retried).toBe(90);
    expect(rx.acceptedAuditIds()).toEqual(records(0, 30).map((r) => r.id.split('/')[0]));
    await until(() => buffer.isDrained());
  });

  it('sends a batch the backend rejects (4xx) to the dead-letter file with the reason, and moves on', async () => {
    const rx = await Receiver.start({ replies: [{ status: 404, body: 'index "x" not found' }] });
    cleanup.push(() => rx.close());
    const { driver, counts, deadLetterPath } = await makeDriver({ kind: 'http', url: rx.url(), ...fast, batch: { max_events: 10, max_wait: 20 } });
    await driver.append(records(0, 10));
    await until(() => counts.deadLettered === 10);
    await driver.append(records(10, 5));
    await until(() => counts.delivered === 5);
    const dead = (await readFile(deadLetterPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(dead).toHaveLength(10);
    expect(dead[0].reason).toMatch(/HTTP 404.*index "x" not found/);
    expect(dead[0].record.auditID).toBe('a-0');
    expect(dead[0].id).toBe('a-0/ResponseComplete');
    expect(rx.acceptedAuditIds()).toEqual(['a-10', 'a-11', 'a-12', 'a-13', 'a-14']);
  });

  it('drains what is buffered on shutdown when the backend is up', async () => {
    const rx = await Receiver.start({ respond: () => ({ status: 200, delayMs: 30 }) });
    cleanup.push(() => rx.close());
    const { driver, stop } = await makeDriver({ kind: 'http', url: rx.url(), ...fast, concurrency: 1 });
    await driver.append(records(0, 500));
    await stop(10_000);
    expect(rx.acceptedAuditIds()).toHaveLength(500);
  });

  it('gives up at the end of the grace period when the backend is down, and delivers after the next start', async () => {
    const rx = await Receiver.start({ respond: () => 503 });
    cleanup.push(() => rx.close());
    const first = await makeDriver({ kind: 'http', url: rx.url(), ...fast });
    await first.driver.append(records(0, 120));
    await until(() => first.counts.retried > 0);
    // The backend never answers 2xx: the stop returns only by giving up (a stop that waited for it would time out).
    await first.stop(300);
    expect(rx.acceptedAuditIds()).toHaveLength(0);

    rx.respondWith(() => 200);
    const second = await makeDriver({ kind: 'http', url: rx.url(), ...fast }, first.dir);
    await until(() => second.counts.delivered === 120);
    expect(new Set(rx.acceptedAuditIds()).size).toBe(120);
  });

  it('names a connection the backend resets mid-request, or closes without an answer, as such in the retry reason, then delivers', async () => {
    const rx = await Receiver.start({ replies: [{ reset: true, afterBytes: 4096 }, { reset: true, afterBytes: 0 }, { destroy: true }] });
    cleanup.push(() => rx.close());
    const { driver, counts } = await makeDriver({ kind: 'http', url: rx.url(), ...fast, batch: { max_events: 400, max_wait: 20 } });
    await driver.append(records(0, 400).map((r) => ({ ...r, payload: Buffer.from(JSON.stringify({ auditID: r.id.split('/')[0], pad: 'p'.repeat(1000) })) })));
    await until(() => counts.delivered === 400);
    expect(rx.requests[0].wireBytes).toBeGreaterThanOrEqual(4096);
    expect(rx.requests[0].wireBytes).toBeLessThan(rx.requests[3].wireBytes); // reset while the body was still coming
    expect(counts.retryReasons).toEqual([
      'ECONNRESET: connection reset by the server',
      'ECONNRESET: connection reset by the server',
      'UND_ERR_SOCKET: connection closed by the server before its response was complete',
    ]);
  });

  it('honours Retry-After before sending again', async () => {
    const rx = await Receiver.start({ replies: [{ status: 429, headers: { 'retry-after': '1' } }] });
    cleanup.push(() => rx.close());
    const { driver, counts } = await makeDriver({ kind: 'http', url: rx.url(), ...fast });
    await driver.append(records(0, 5));
    await until(() => counts.delivered === 5, 5000);
    const [limited, next] = rx.requests;
    expect(next.receivedAt - limited.receivedAt).toBeGreaterThanOrEqual(950);
  });

  it('splits a batch the backend refuses as too large (413), dead-letters a record too large alone, and sends smaller batches from then on', async () => {
    // A backend with a body limit, as nginx's client_max_body_size or an ingest API's payload limit.
    const limit = 6000;
    const rx = await Receiver.start({ respond: (q) => (q.wireBytes > limit ? { status: 413, body: 'request entity too large' } : 200) });
    cleanup.push(() => rx.close());
    const log = captureLog();
    const { driver, counts, deadLetterPath } = await makeDriver({ kind: 'http', url: rx.url(), ...fast, batch: { max_events: 100, max_wait: 20 } }, undefined, { logger: log.logger });
    const batch = records(0, 60).map((r, i) => (i === 17 ? { ...r, payload: Buffer.from(JSON.stringify({ auditID: 'a-17', pad: 'x'.repeat(9000) })) } : r));
    for (const r of batch) if (r.id !== 'a-17/ResponseComplete') r.payload = Buffer.from(JSON.stringify({ ...JSON.parse(r.payload.toString()), pad: 'y'.repeat(150) }));
    await driver.append(batch);
    await until(() => counts.delivered + counts.deadLettered === 60);
    expect(counts.deadLettered).toBe(1);
    expect(rx.acceptedAuditIds()).toEqual(batch.map((r) => r.id.split('/')[0]).filter((id) => id !== 'a-17'));
    const dead = (await readFile(deadLetterPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(dead.map((d) => [d.id, d.reason])).toEqual([['a-17/ResponseComplete', 'HTTP 413: request entity too large']]);
    expect(log.lines.filter((l) => l.msg.includes('sending smaller batches'))).toHaveLength(1);

    // The smaller size is kept: the next records go in batches the backend takes.
    const refused = rx.countsByStatus()[413];
    await driver.append(records(100, 60).map((r) => ({ ...r, payload: Buffer.from(JSON.stringify({ ...JSON.parse(r.payload.toString()), pad: 'y'.repeat(150) })) })));
    await until(() => counts.delivered === 119);
    expect(rx.countsByStatus()[413]).toBe(refused);
    // The agent's sink logger names the sink; the driver does not name it again.
    expect(log.text.every((line) => line.match(/"sink":/g)?.length === 1)).toBe(true);
  });

  it('isolates a record the backend refuses as invalid (400) and delivers the rest of its batch', async () => {
    const rx = await Receiver.start({ respond: (q) => (q.invalid > 0 ? { status: 400, body: 'invalid JSON' } : 200) });
    cleanup.push(() => rx.close());
    const { driver, counts, deadLetterPath } = await makeDriver({ kind: 'http', url: rx.url(), ...fast, format: 'json_array', batch: { max_events: 100, max_wait: 20 } });
    const batch = records(0, 50);
    batch[31] = { ...batch[31], payload: Buffer.from('{"auditID":"a-31","stage":"ResponseComplete","requestObject":{"x":1,}}') };
    await driver.append(batch);
    await until(() => counts.delivered + counts.deadLettered === 50);
    expect(rx.acceptedAuditIds()).toEqual(batch.map((r) => r.id.split('/')[0]).filter((id) => id !== 'a-31'));
    // Kept as text: the dead-letter file stays one JSON document per line.
    const dead = (await readFile(deadLetterPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(dead).toEqual([expect.objectContaining({ id: 'a-31/ResponseComplete', reason: 'HTTP 400: invalid JSON', recordText: batch[31].payload.toString() })]);
  });

  it('warns while records are dropped because the buffer is full (drop_newest), at most once per interval, with the counts', async () => {
    const rx = await Receiver.start({ respond: () => 503 });
    cleanup.push(() => rx.close());
    const log = captureLog();
    const { driver, counts, stop } = await makeDriver({
      kind: 'http', url: rx.url(), ...fast, buffer: { max_bytes: '1MiB', segment_bytes: '256KiB', when_full: 'drop_newest' },
    }, undefined, { logger: log.logger });
    const warnings = () => log.lines.filter((l) => l.msg.startsWith('disk buffer full'));
    const big = (from: number) => records(from, 100).map((r) => ({ ...r, payload: Buffer.from(JSON.stringify({ auditID: r.id, pad: 'z'.repeat(500) })) }));
    for (let i = 0; counts.dropped === 0; i++) await driver.append(big(i * 100));
    // The first drop is said at once, while the agent runs (not only in the summary at shutdown).
    expect(warnings()).toEqual([expect.objectContaining({ level: 40, dropped: 100, droppedTotal: 100 })]);
    for (let i = 0; i < 5; i++) await driver.append(big(10_000 + i * 100));
    expect(counts.dropped).toBe(600);
    expect(warnings()).toHaveLength(1); // the next ones wait for the interval to end
    await stop(100);
    expect(warnings().slice(1)).toEqual([expect.objectContaining({ dropped: 500, droppedTotal: 600 })]);
  });

  it('collects records arriving within max_wait into one batch', async () => {
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    // max_wait far longer than the test: the batch can only go out full, however slowly the appends come (no race
    // between the appends and the clock).
    const { driver, counts } = await makeDriver({ kind: 'http', url: rx.url(), batch: { max_events: 10, max_wait: '1h' } });
    for (let i = 0; i < 10; i++) {
      await driver.append(records(i, 1));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => counts.delivered === 10, 60_000);
    expect(rx.accepted()).toHaveLength(1);
    expect(rx.acceptedAuditIds()).toEqual(records(0, 10).map((r) => r.id.split('/')[0]));
  });

  it('sends a batch that is not full once max_wait has passed since its first record', async () => {
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const { driver, counts } = await makeDriver({ kind: 'http', url: rx.url(), batch: { max_events: 1000, max_wait: 50 } });
    await driver.append(records(0, 3));
    await until(() => counts.delivered === 3, 60_000);
    expect(rx.acceptedAuditIds()).toEqual(['a-0', 'a-1', 'a-2']);
  });
});

describe('sink status log', () => {
  it('logs the first failure, then a status line at a steady interval while failing, and one line when it recovers', async () => {
    let down = true;
    const rx = await Receiver.start({ respond: () => (down ? 503 : 200) });
    cleanup.push(() => rx.close());
    const lines: Array<Record<string, any>> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const { driver, counts } = await makeDriver({ kind: 'http', url: rx.url(), ...fast }, undefined, { logger, statusIntervalMs: 200 });
    await driver.append(records(0, 30));
    const byMsg = (msg: string) => lines.filter((l) => l.msg === msg);
    await until(() => byMsg('delivery still failing').length >= 3 && byMsg('delivery still failing').at(-1)!.attempts >= 5);
    expect(byMsg('delivery failed; will retry')).toHaveLength(1); // many attempts, one line for the first failure
    const status = byMsg('delivery still failing');
    expect(status[0]).toMatchObject({ lastReason: 'HTTP 503', backlogRecords: 30 });
    expect(status[0].backlogBytes).toBeGreaterThan(0);
    expect(status[0].oldestRecordAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(status.at(-1)!.attempts).toBeGreaterThanOrEqual(status[0].attempts);
    expect(status.at(-1)!.downSeconds).toBeGreaterThan(status[0].downSeconds);
    expect(status.at(-1)!.oldestRecordAgeSeconds).toBeGreaterThan(status[0].oldestRecordAgeSeconds);

    down = false;
    await until(() => counts.delivered === 30);
    await until(() => byMsg('delivering again').length === 1);
    const recovered = byMsg('delivering again')[0];
    expect(recovered).toMatchObject({ delivered: 30, backlogRecords: 0 });
    expect(recovered.downSeconds).toBeGreaterThan(0);
    expect(recovered.attempts).toBeGreaterThanOrEqual(status.at(-1)!.attempts);
    const after = byMsg('delivery still failing').length;
    await new Promise((r) => setTimeout(r, 600)); // three intervals
    expect(byMsg('delivery still failing')).toHaveLength(after);
  });
});

describe('sink contract: file', () => {
  it('appends every record as one NDJSON line and rotates by size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-file-sink-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'out', 'events.ndjson');
    const { driver, counts, stop } = await makeDriver({ kind: 'file', path, max_bytes: 4096, max_files: 100, ...fast }, dir);
    await driver.append(records(0, 200));
    await until(() => counts.delivered === 200);
    await stop();
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(join(dir, 'out'))).sort((a, b) => suffix(b) - suffix(a));
    const lines = (await Promise.all(files.map((f) => readFile(join(dir, 'out', f), 'utf8')))).join('').trim().split('\n');
    expect(files.length).toBeGreaterThan(1);
    expect(lines.map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});

function suffix(name: string): number {
  const m = /\.(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
}

describe('retry backoff', () => {
  it('by default waits at most 8 s between two attempts, however long the outage, so a recovered backend is seen within 8 s', () => {
    const { retry } = parseConfig({ sinks: { s: { kind: 'stdout' } } }).sinks.s;
    const delays = Array.from({ length: 200 }, (_, attempt) => backoff(attempt, retry.initial_backoff, retry.max_backoff));
    expect(Math.max(...delays)).toBeLessThanOrEqual(8000);
    expect(Math.max(...delays.slice(100))).toBeGreaterThanOrEqual(4000); // still backing off: half the cap at least
  });
});
