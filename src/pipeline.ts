// The hot path, one stage per call: chunk → parse/redact/detect (worker) → records → every routed buffer → ack.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { alarmRule, type AlarmFilter } from './delivery/alarm-filter.ts';
import type { SinkDriver } from './delivery/driver.ts';
import type { DeadLetterFile } from './delivery/dead-letter.ts';
import { lineRecordId, type OutRecord } from './delivery/record.ts';
import type { ChunkProcessor } from './parse/workers.ts';
import type { ChunkResult } from './parse/chunk.ts';
import type { AlarmOut, DetectionNotes } from './detect/hook.ts';
import type { RejectedLine } from './parse/rejected-line.ts';
import type { SourceMetrics } from './observe/metrics.ts';
import type { SourceChunk } from './sources/file-set.ts';
import type { ReadBufferPool } from './sources/read-buffers.ts';

/** Chunks between read and durable, per source: bounds memory while keeping workers and disk busy. */
const MAX_IN_FLIGHT = 6;
/** Bad lines logged per file before the log only counts them (the metric counts all). */
const BAD_LINES_LOGGED_PER_FILE = 20;

export interface SourcePipelineOptions {
  source: string;
  /** Read buffers of owned chunks go back here once their records are in the sink buffers. */
  buffers?: ReadBufferPool;
  processor: ChunkProcessor;
  drivers: SinkDriver[];
  metrics: SourceMetrics;
  deadLetter?: DeadLetterFile;
  /** What of a rejected line its dead-letter entry holds (see compileRejectedLine). */
  rejectedLine: (bytes: Buffer) => RejectedLine;
  logger: Logger;
  /** Alarm records and detection notes of each processed chunk. */
  onDetection?: (alarms: number, notes: DetectionNotes | undefined) => void;
  /** What a line the parser refuses is not (`an audit event`, `a container log line`). */
  lineKind?: string;
  /** The alarm records of each processed chunk (the agent's report view keeps the latest of each). */
  onAlarms?: (alarms: readonly AlarmOut[]) => void;
  /**
   * Kubernetes context on: the `kubernetes` object (JSON) of each event the parser named a namespace or pod for,
   * undefined where nothing is known; answered within the store's max_wait.
   */
  kubernetes?: (refs: NonNullable<ChunkResult['refs']>) => Promise<Array<string | undefined>>;
}

/** A chunk whose records are queued in the sink buffers: what completes it once they are durable. */
interface Queued {
  durable: Promise<unknown>;
  data: Buffer;
  bad: ChunkResult['bad'];
}

/** Carries one source's chunks through the stages, keeping them in read order from processing to ack. */
export class SourcePipeline {
  private readonly o: SourcePipelineOptions;
  private inFlight = 0;
  private slotWaiters: Array<() => void> = [];
  private ordered: Promise<void> = Promise.resolve();
  private readonly badLogged = new Map<string, number>();
  /** The sinks this source's records go to, and which kinds each takes; fixed at start. */
  private readonly routes: Array<{ driver: SinkDriver; logs: boolean; alarms: boolean; filter?: AlarmFilter }>;
  /** Whether a route filters alarms: only then is each alarm's rule read from its payload. */
  private readonly filtersAlarms: boolean;

  constructor(o: SourcePipelineOptions) {
    this.o = o;
    this.routes = o.drivers
      .map((driver) => ({ driver, logs: driver.accepts(o.source), alarms: driver.accepts('alarms'), filter: driver.alarmFilter }))
      .filter((r) => r.logs || r.alarms);
    this.filtersAlarms = this.routes.some((r) => r.alarms && r.filter !== undefined);
  }

  /** Takes a chunk; resolves when another may be submitted (backpressure on the reader). */
  submit = async (chunk: SourceChunk): Promise<void> => {
    while (this.inFlight >= MAX_IN_FLIGHT && !this.abandoned.signal.aborted) await new Promise<void>((r) => this.slotWaiters.push(r));
    if (this.abandoned.signal.aborted) return; // never acknowledged: read again at the next start
    this.inFlight += 1;
    // Processing runs in parallel across chunks; delivery to buffers and acks stay in read order.
    // A chunk that owns its memory lends it to the worker and gets it back with the results: no copy.
    const processed = chunk.kind !== 'lines' ? undefined
      : chunk.owned ? this.o.processor.processOwned(chunk.data, chunk.origin)
      : this.o.processor.process(chunk.data, chunk.origin).then((result) => ({ result, data: chunk.data }));
    processed?.catch(() => {});
    // Records are queued in the sink buffers in read order, a chunk's without waiting for the fsync of the one
    // before (chunks queued close together share a commit); the source is acknowledged in read order once durable.
    const queued = this.queuing.then(() => this.queue(chunk, processed));
    this.queuing = queued.then(() => {}, () => {});
    this.ordered = this.ordered.then(() => this.complete(chunk, queued)).catch((err: unknown) => {
      if (this.abandoned.signal.aborted) return; // shutdown gave it up (see abandon)
      // Not expected: every step retries. Logged loudly; the chunk stays unacknowledged (re-read after a restart).
      this.o.logger.error({ source: this.o.source, path: chunk.path, offset: chunk.offset, err: String((err as Error).stack ?? err) }, 'chunk could not be completed');
    });
  };

  /** Resolves when every submitted chunk is durable and acknowledged to its source. */
  drained(): Promise<void> {
    return this.ordered;
  }

  /** Chunks submitted and not yet durable in every buffer. */
  pending(): number {
    return this.inFlight;
  }

  private readonly abandoned = new AbortController();

  /**
   * Shutdown could not wait for the chunks in flight (a buffer that cannot be written): they stop retrying and are
   * never acknowledged, so their source reads them again at the next start. The reader is let go.
   */
  abandon(): void {
    this.abandoned.abort();
    for (const w of this.slotWaiters.splice(0)) w();
  }

  /** Chunks processed and queued in the buffers in read order; each waits for the one before to be queued. */
  private queuing: Promise<void> = Promise.resolve();

  /** Stages process and queue, in read order: the chunk's records queued in every routed buffer. */
  private async queue(chunk: SourceChunk, processed: Promise<{ result: ChunkResult; data: Buffer }> | undefined): Promise<Queued | undefined> {
    if (!processed) return undefined;
    // A failed worker cannot give back the memory it was lent: the chunk is then read again after a
    // restart (its offset is never acknowledged). Copies can simply be processed again.
    const { result, data } = await this.retrying('processing a chunk', () => processed,
      () => chunk.owned ? Promise.reject(new Error('chunk memory lost with its worker')) : this.o.processor.process(chunk.data, chunk.origin).then((r) => ({ result: r, data: chunk.data })));
    // The pod and namespace context of events (within the lookup bound), on their alarms too before they go out.
    const contexts = result.refs !== undefined && this.o.kubernetes !== undefined ? await this.o.kubernetes(result.refs) : undefined;
    if (contexts !== undefined) alarmsWithKubernetes(result, contexts);
    const { logs, alarms } = this.toRecords(chunk.source, data, result);
    if (contexts !== undefined) addKubernetes(logs, result.refs!, contexts);
    this.o.metrics.lines(result.count + result.bad.length);
    if (result.alarms.length > 0 || result.notes !== undefined) this.o.onDetection?.(result.alarms.length, result.notes);
    if (result.alarms.length > 0) this.o.onAlarms?.(result.alarms);
    const { durable } = await this.deliver(logs, alarms);
    return { durable, data, bad: result.bad };
  }

  /** Stage acknowledge, in read order: once the chunk's records are durable, its source may move past it. */
  private async complete(chunk: SourceChunk, queued: Promise<Queued | undefined>): Promise<void> {
    try {
      const q = await queued;
      if (q !== undefined) {
        await q.durable;
        if (q.bad.length > 0) await this.rejectLines(chunk, q.data, q.bad);
        // Every record was copied into the buffers (and dead-letter lines written): the memory is free.
        if (chunk.owned) this.o.buffers?.give(q.data);
      } else {
        await this.rejectOversize(chunk);
      }
      chunk.onDurable();
    } finally {
      this.inFlight -= 1;
      this.slotWaiters.shift()?.();
    }
  }

  /** Stage: build records. Raw logs are the original bytes of each line (or its redacted text). */
  private toRecords(source: string, data: Buffer, r: ChunkResult): { logs: OutRecord[]; alarms: OutRecord[] } {
    const logs: OutRecord[] = new Array(r.count);
    const ids = r.count > 0 ? r.ids.split('\n') : [];
    for (let i = 0; i < r.count; i++) {
      logs[i] = { id: ids[i], kind: 'log', source, payload: data.subarray(r.spans[2 * i], r.spans[2 * i + 1]) };
    }
    for (const [i, text] of r.replaced) logs[i].payload = Buffer.from(text);
    const alarms = r.alarms.map((a): OutRecord => ({ id: a.id, kind: 'alarm', source: 'alarms', payload: Buffer.from(a.payload) }));
    return { logs, alarms };
  }

  /**
   * Stage: queue in the buffer of every sink the records are routed to (resolves once queued), with `durable`, which
   * resolves once they are fsynced. Should a queued write fail, the records are appended again.
   */
  private async deliver(logs: OutRecord[], alarms: OutRecord[]): Promise<Pick<Queued, 'durable'>> {
    const appends: Promise<unknown>[] = [];
    const rules = this.filtersAlarms && alarms.length > 0 ? alarms.map((a) => alarmRule(a.payload)) : undefined;
    for (const { driver, logs: takesLogs, alarms: takesAlarms, filter } of this.routes) {
      const mine = takesLogs ? logs : [];
      const theirAlarms = filter === undefined || rules === undefined ? alarms : alarms.filter((_, i) => filter(rules[i]));
      const records = takesAlarms && theirAlarms.length > 0 ? mine.concat(theirAlarms) : mine;
      if (records.length === 0) continue;
      const what = `appending to the buffer of sink ${driver.name}`;
      const { durable } = await this.retrying(what, () => driver.enqueue(records));
      appends.push(this.retrying(what, () => durable, () => driver.append(records)));
    }
    const all = Promise.all(appends);
    all.catch(() => {}); // awaited by complete() in its turn, which may come after a failure
    return { durable: all }; // in an object: an async function returning the promise itself would wait for it
  }

  private async rejectLines(chunk: SourceChunk, data: Buffer, bad: ChunkResult['bad']): Promise<void> {
    this.o.metrics.parseErrors(bad.length);
    const entries: string[] = [];
    for (const b of bad) {
      const offset = chunk.offset + b.start;
      this.logBadLine(chunk.path, { offset, error: b.error }, `line is not ${this.o.lineKind ?? 'an audit event'}; skipped`);
      if (this.o.deadLetter) {
        entries.push(deadLetterEntry(chunk, offset, b.error, data.subarray(b.start, b.end), false, this.o.rejectedLine));
      }
    }
    if (this.o.deadLetter && entries.length > 0) await this.retrying('writing the dead-letter file', () => this.o.deadLetter!.write(entries));
  }

  private async rejectOversize(chunk: SourceChunk): Promise<void> {
    this.o.metrics.oversizeLines(1);
    this.logBadLine(chunk.path, { offset: chunk.offset, keptBytes: chunk.data.length }, 'line longer than max_line_bytes; cut and skipped');
    if (this.o.deadLetter) {
      const entry = deadLetterEntry(chunk, chunk.offset, `line longer than max_line_bytes (${chunk.data.length})`, chunk.data, true, this.o.rejectedLine);
      await this.retrying('writing the dead-letter file', () => this.o.deadLetter!.write([entry]));
    }
  }

  private logBadLine(path: string, details: Record<string, unknown>, message: string): void {
    const n = (this.badLogged.get(path) ?? 0) + 1;
    this.badLogged.set(path, n);
    if (n <= BAD_LINES_LOGGED_PER_FILE) {
      this.o.logger.warn({ source: this.o.source, path, ...details }, message);
    } else if (n === BAD_LINES_LOGGED_PER_FILE + 1) {
      this.o.logger.warn({ source: this.o.source, path }, 'more bad lines in this file; counting them in kaudit_source_parse_errors_total without logging each');
    }
  }

  /**
   * Runs a step until it succeeds: a failing disk or a dead worker must not turn into lost records,
   * so the chunk waits (and the reader with it) rather than being acknowledged without its records.
   */
  private async retrying<T>(what: string, first: () => Promise<T>, again: () => Promise<T> = first): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (attempt === 0 ? first() : again());
      } catch (err) {
        if (this.abandoned.signal.aborted) throw new Error(`stopped while ${what}`);
        const delay = Math.min(30_000, 500 * 2 ** attempt);
        this.o.logger.error({ source: this.o.source, err: String(err), retryInMs: delay }, `failed ${what}; retrying`);
        await sleep(delay, undefined, { signal: this.abandoned.signal }).catch(() => {});
      }
    }
  }
}

function deadLetterEntry(chunk: SourceChunk, offset: number, error: string, bytes: Buffer, truncated: boolean, rejected: (bytes: Buffer) => RejectedLine): string {
  const MAX = 64 * 1024;
  const kept = rejected(bytes.subarray(0, MAX));
  // Markers are longer than most values they replace.
  const cut = kept.line.length > MAX;
  if (cut) kept.line = kept.line.slice(0, MAX);
  return JSON.stringify({
    time: new Date().toISOString(),
    source: chunk.source,
    path: chunk.path,
    offset,
    id: lineRecordId(chunk.fileKey, offset),
    error,
    truncated: truncated || cut || bytes.length > MAX,
    ...kept,
  });
}

/** Each event's pod and namespace context, as a last `kubernetes` key of its forwarded object. */
function addKubernetes(logs: OutRecord[], refs: NonNullable<ChunkResult['refs']>, contexts: Array<string | undefined>): void {
  for (let i = 0; i < refs.length; i++) {
    const json = contexts[i];
    if (json === undefined) continue;
    const record = logs[refs[i].index];
    const close = record.payload.lastIndexOf(0x7d); // the event object's closing brace
    if (close < 0) continue;
    record.payload = Buffer.concat([record.payload.subarray(0, close), Buffer.from(`,"kubernetes":${json}`), record.payload.subarray(close)]);
  }
}

/**
 * The same context on the alarms those events raised: in the alarm's evidence and in the event it carries, so that an
 * alarm says which workload was touched (alarms are few: each is parsed and written again).
 */
function alarmsWithKubernetes(result: ChunkResult, contexts: Array<string | undefined>): void {
  if (result.alarms.length === 0) return;
  const byEvent = new Map<number, string>();
  result.refs!.forEach((r, i) => {
    const json = contexts[i];
    if (json !== undefined) byEvent.set(r.index, json);
  });
  for (const alarm of result.alarms) {
    const json = alarm.event === undefined ? undefined : byEvent.get(alarm.event);
    if (json === undefined) continue;
    const doc = JSON.parse(alarm.payload) as { evidence?: Record<string, unknown>; event?: Record<string, unknown> };
    const kubernetes = JSON.parse(json) as unknown;
    if (doc.evidence !== undefined) doc.evidence.kubernetes = kubernetes;
    if (doc.event !== undefined) doc.event.kubernetes = kubernetes;
    alarm.payload = JSON.stringify(doc);
  }
}
