// Drives one sink: batches from its disk buffer, sends, retries with backoff, dead-letters rejects, acks.
import type { Logger } from 'pino';
import type { DeliveryConfig } from '../config/schema.ts';
import { ThrottledCount } from '../observe/throttled-count.ts';
import type { Sink, SendVerdict } from '../sinks/types.ts';
import { compileAlarmFilter, type AlarmFilter } from './alarm-filter.ts';
import type { BufferBatch, DiskBuffer } from './buffer.ts';
import type { DeadLetterFile } from './dead-letter.ts';
import type { OutRecord } from './record.ts';
import { DeliveryStatus } from './status.ts';

/** What a sink driver reports; the metrics module implements it. */
export interface SinkEvents {
  appended(n: number): void;
  dropped(n: number): void;
  delivered(n: number, bytes: number): void;
  retried(n: number, reason: string): void;
  deadLettered(n: number, reason: string): void;
}

interface PreparedBatch {
  pieces: BufferBatch[];
  records: readonly OutRecord[];
  bytes: number;
  encoded: unknown;
  encodeError?: string;
}

/** Longest wait a Retry-After may impose; beyond it the backend's hint is capped. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** Least time between two warnings about records dropped because the buffer is full. */
const DROP_WARNING_INTERVAL_MS = 10_000;

/** What the halves of one refused batch came to, reported in one log line once they are all settled. */
interface SplitTally {
  deadLettered: number;
  firstReason?: string;
}

export class SinkDriver {
  readonly name: string;
  private readonly sink: Sink;
  readonly buffer: DiskBuffer;
  private readonly deadLetter: DeadLetterFile;
  private readonly cfg: DeliveryConfig;
  private readonly events: SinkEvents;
  private readonly log: Logger;
  private readonly inputs: Set<string>;
  /** Which alarms this sink takes (config `alarms`); undefined: all of them. */
  readonly alarmFilter: AlarmFilter | undefined;
  private readonly abort = new AbortController();
  private stopping = false;
  /** Resolves when stop() is called: ends a wait for records at once. */
  private readonly stopRequested: Promise<void>;
  private requestStop: () => void = () => {};
  private loops: Promise<void>[] = [];
  private readonly drops: ThrottledCount;
  /** Payload bytes per batch: `batch.max_bytes`, lowered for good when the backend refuses a batch as too large. */
  private maxBatchBytes: number;
  /** The log while deliveries fail: a status line at a steady interval, one line at recovery. */
  private readonly status: DeliveryStatus;

  constructor(opts: {
    name: string; sink: Sink; buffer: DiskBuffer; deadLetter: DeadLetterFile; delivery: DeliveryConfig; events: SinkEvents; logger: Logger;
    /** How often a failing sink logs its status (default 30 s). */
    statusIntervalMs?: number;
  }) {
    this.name = opts.name;
    this.sink = opts.sink;
    this.buffer = opts.buffer;
    this.deadLetter = opts.deadLetter;
    this.cfg = opts.delivery;
    this.events = opts.events;
    this.log = opts.logger;
    this.inputs = new Set(opts.delivery.inputs);
    this.alarmFilter = compileAlarmFilter(opts.delivery.alarms);
    this.maxBatchBytes = opts.delivery.batch.max_bytes;
    this.stopRequested = new Promise((resolve) => (this.requestStop = resolve));
    this.drops = new ThrottledCount(DROP_WARNING_INTERVAL_MS, (dropped, droppedTotal) => {
      this.log.warn({ dropped, droppedTotal, maxBytes: this.cfg.buffer.max_bytes }, 'disk buffer full (buffer.max_bytes): new records dropped (buffer.when_full: drop_newest)');
    });
    this.status = new DeliveryStatus(opts.logger, () => opts.buffer.backlog(), opts.statusIntervalMs);
  }

  /** Whether records of this source (a source name, or `alarms`) go to this sink. */
  accepts(source: string): boolean {
    return this.inputs.has('*') || this.inputs.has(source);
  }

  /** Durably appends records to the buffer; resolves false when they were dropped (buffer full, drop_newest). */
  async append(records: readonly OutRecord[]): Promise<boolean> {
    return (await this.enqueue(records)).durable;
  }

  /**
   * Queues records in the buffer behind those queued before (see DiskBuffer.enqueue); `durable` resolves true once
   * they are fsynced, false when they were dropped (buffer full, drop_newest).
   */
  async enqueue(records: readonly OutRecord[]): Promise<{ durable: Promise<boolean> }> {
    const queued = await this.buffer.enqueue(records);
    if (queued === 'dropped') {
      this.events.dropped(records.length);
      this.drops.add(records.length);
      return { durable: Promise.resolve(false) };
    }
    const durable = queued.durable.then(() => {
      this.events.appended(records.length);
      return true;
    });
    durable.catch(() => {}); // the caller may await it only later: a failure is not unhandled meanwhile
    return { durable };
  }

  /** Has the sink read again what it took from files at start (its secrets), now: SIGHUP. */
  async reloadSink(): Promise<void> {
    await this.sink.reload?.();
  }

  start(): void {
    for (let i = 0; i < this.cfg.concurrency; i++) this.loops.push(this.loop());
  }

  /**
   * Stops sending: keeps draining the buffer until it is empty or `graceMs` passed, then aborts what is
   * in flight. Anything not acknowledged stays in the buffer and is sent after the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const timer = setTimeout(() => this.abort.abort(new Error('shutdown grace period over')), graceMs);
    this.requestStop();
    await Promise.all(this.loops);
    clearTimeout(timer);
    this.drops.flush();
    this.status.close();
    await this.sink.close().catch((err) => this.log.warn({ err }, 'sink close failed'));
    await this.deadLetter.close();
    await this.buffer.close();
  }

  private get aborted(): boolean {
    return this.abort.signal.aborted;
  }

  private collecting: Promise<unknown> = Promise.resolve();

  /**
   * One sending loop. While a batch is in flight the next one is already collected and encoded
   * (compression runs off the main thread), so a loop keeps the backend busy yet sends in order.
   */
  private async loop(): Promise<void> {
    let next = this.prepare();
    while (!this.aborted) {
      const current = await next;
      if (current === undefined) {
        if (this.stopping && !this.buffer.hasUnread()) return;
        next = this.prepare();
        continue;
      }
      next = this.stopping && !this.buffer.hasUnread() ? Promise.resolve(undefined) : this.prepare();
      await this.deliver(current);
    }
  }

  /** Collects the next batch (one loop at a time, so every batch is a contiguous run) and encodes it. */
  private async prepare(): Promise<PreparedBatch | undefined> {
    const collected = this.collecting.then(() => this.collectBatch());
    this.collecting = collected.catch(() => {});
    const pieces = await collected;
    if (pieces.length === 0) return undefined;
    const records = pieces.length === 1 ? pieces[0].records : pieces.flatMap((p) => p.records);
    const bytes = pieces.reduce((n, p) => n + p.bytes, 0);
    return this.encode(pieces, records, bytes);
  }

  private async encode(pieces: BufferBatch[], records: readonly OutRecord[], bytes: number): Promise<PreparedBatch> {
    try {
      return { pieces, records, bytes, encoded: await this.sink.encode(records) };
    } catch (err) {
      // Encoding is deterministic: a batch that cannot be encoded never will be.
      return { pieces, records, bytes, encoded: undefined, encodeError: `cannot encode batch: ${(err as Error).message}` };
    }
  }

  /**
   * Reads until the batch is full (events or bytes) or `max_wait` passed since its first record. The wait for a
   * first record has no timer: an idle sink is woken by an append or by stop(), not by polling.
   */
  private async collectBatch(): Promise<BufferBatch[]> {
    const { max_events: maxEvents, max_wait: maxWait } = this.cfg.batch;
    const pieces: BufferBatch[] = [];
    let events = 0;
    let bytes = 0;
    let deadline = 0;
    // The byte limit is read as it is now, not when waiting began: it may have been lowered meanwhile (a 413).
    while (events < maxEvents && bytes < this.maxBatchBytes && !this.aborted) {
      if (!this.buffer.hasUnread()) {
        if (this.stopping) break;
        const wait = pieces.length === 0 ? undefined : deadline - Date.now();
        if (wait !== undefined && wait <= 0) break;
        await Promise.race([this.buffer.waitForData(wait), this.stopRequested]);
        if (pieces.length > 0 && !this.buffer.hasUnread()) break;
        continue;
      }
      const piece = await this.buffer.read(maxEvents - events, this.maxBatchBytes - bytes);
      if (piece.records.length === 0) continue;
      pieces.push(piece);
      events += piece.records.length;
      bytes += piece.bytes;
      if (deadline === 0) deadline = Date.now() + maxWait;
    }
    return pieces;
  }

  /**
   * Sends a batch until it is delivered or dead-lettered, then acknowledges its pieces; false when shutdown came
   * first (left unacknowledged, it is sent again after the next start). `tally` is set for the halves of a split.
   */
  private async deliver(batch: PreparedBatch, tally?: SplitTally): Promise<boolean> {
    const { pieces, records, bytes } = batch;
    for (let attempt = 0; ; attempt++) {
      if (this.aborted) return false;
      let verdict: SendVerdict;
      if (batch.encodeError !== undefined) {
        verdict = { kind: 'reject', reason: batch.encodeError };
      } else {
        try {
          verdict = await this.sink.send(batch.encoded, this.abort.signal);
        } catch (err) {
          verdict = { kind: 'retry', reason: `sink error: ${(err as Error).message}` };
        }
      }
      if (verdict.kind === 'partial' && verdict.refused.length > 0) {
        const refused = verdict.refused.map((r) => ({ record: records[r.index], reason: r.reason }));
        const kept = await this.deadLetterRecords(refused, tally, records.length);
        if (!kept) return false;
        for (const p of pieces) this.buffer.ack(p);
        const refusedBytes = refused.reduce((n, r) => n + r.record.payload.length, 0);
        this.events.delivered(records.length - refused.length, Math.max(0, bytes - refusedBytes));
        this.status.delivered(records.length - refused.length);
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        return true;
      }
      if (verdict.kind === 'delivered' || verdict.kind === 'partial') {
        for (const p of pieces) this.buffer.ack(p);
        this.events.delivered(records.length, bytes);
        this.status.delivered(records.length);
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        return true;
      }
      if ((verdict.kind === 'too_large' || verdict.kind === 'invalid') && records.length > 1) {
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        if (!(await this.deliverHalves(records, bytes, verdict, tally))) return false;
        for (const p of pieces) this.buffer.ack(p);
        return true;
      }
      if (verdict.kind !== 'retry') {
        const kept = await this.deadLetterBatch(records, verdict.reason, tally);
        if (kept) for (const p of pieces) this.buffer.ack(p);
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        return kept;
      }
      if (this.aborted) return false;
      this.events.retried(records.length, verdict.reason);
      const delay = verdict.afterMs !== undefined
        ? Math.min(verdict.afterMs, MAX_RETRY_AFTER_MS)
        : backoff(attempt, this.cfg.retry.initial_backoff, this.cfg.retry.max_backoff);
      this.status.failed(verdict.reason, records.length, delay);
      await this.sleepUnlessAborted(delay);
    }
  }

  /**
   * The backend refused a batch for what is in it: each half goes on its own, split again while refused, so only
   * the records really at fault (alone by then) reach the dead-letter file and the rest are delivered.
   *
   * `invalid` (HTTP 400) is how one damaged line is kept from costing its whole batch. The other way, checking that
   * every record is valid JSON before it is buffered, would cost every event: the parse worker's fast path
   * (src/parse/audit.ts, parseCheap) vouches for the head and tail of a line and skips its bodies, which is where its
   * speed comes from, and validating the bodies it skips is the full JSON.parse it avoids (measured on the
   * benchmark's generated events: 6-7 µs per event, about as much as parsing costs now). Bisection costs nothing
   * until a backend refuses a batch, then about 2·log2(n) requests per record at fault, and it isolates whatever
   * else a backend refuses in one record (a field its schema rejects).
   */
  private async deliverHalves(records: readonly OutRecord[], bytes: number, verdict: Extract<SendVerdict, { kind: 'too_large' | 'invalid' }>, tally?: SplitTally): Promise<boolean> {
    const top = tally === undefined;
    tally ??= { deadLettered: 0 };
    const limitBefore = this.maxBatchBytes;
    if (verdict.kind === 'too_large') this.maxBatchBytes = Math.min(this.maxBatchBytes, Math.max(1, Math.ceil(bytes / 2)));
    const mid = Math.ceil(records.length / 2);
    for (const half of [records.slice(0, mid), records.slice(mid)]) {
      const halfBytes = half.reduce((n, r) => n + r.payload.length, 0);
      if (!(await this.deliver(await this.encode([], half, halfBytes), tally))) return false;
    }
    if (top && tally.deadLettered > 0) {
      this.log.error({ reason: tally.firstReason, records: tally.deadLettered, of: records.length, deadLetter: this.deadLetter.path },
        'backend refused records of a batch; those are in the dead-letter file, the rest was delivered');
    }
    if (top && this.maxBatchBytes < limitBefore) {
      this.log.warn({ reason: verdict.reason, maxBytes: this.maxBatchBytes, configured: this.cfg.batch.max_bytes },
        'backend refused a batch as too large; sending smaller batches from now on');
    }
    return true;
  }

  private sleepUnlessAborted(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Keeps a rejected batch in the dead-letter file; false only when shutdown came first. Logged here, or, for the
   * halves of a split, counted in `tally` and logged once for the whole batch.
   */
  private deadLetterBatch(records: readonly OutRecord[], reason: string, tally?: SplitTally): Promise<boolean> {
    return this.deadLetterRecords(records.map((record) => ({ record, reason })), tally);
  }

  /**
   * Keeps records in the dead-letter file, each with its reason; false only when shutdown came first. Logged here
   * (one line; `of`: the batch they were refused from, when the rest of it was delivered), or counted in `tally`.
   */
  private async deadLetterRecords(refused: ReadonlyArray<{ record: OutRecord; reason: string }>, tally?: SplitTally, of?: number): Promise<boolean> {
    const time = JSON.stringify(new Date().toISOString());
    const sink = JSON.stringify(this.name);
    const entries = refused.map(({ record: r, reason }) =>
      `{"time":${time},"sink":${sink},"reason":${JSON.stringify(reason)},"id":${JSON.stringify(r.id)},"kind":"${r.kind}",${recordField(r.payload.toString('utf8'))}}`);
    // A dead-letter write that fails is retried: the batch is acknowledged only once it is kept somewhere.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deadLetter.write(entries);
        break;
      } catch (err) {
        this.log.error({ path: this.deadLetter.path, err: String(err) }, 'cannot write dead-letter file; retrying');
        await this.sleepUnlessAborted(backoff(attempt, 1000, 30_000));
        if (this.aborted) return false;
      }
    }
    const reason = refused[0].reason;
    this.events.deadLettered(refused.length, reason);
    if (tally === undefined && of === undefined) {
      this.log.error({ reason, records: refused.length, deadLetter: this.deadLetter.path }, 'backend rejected a batch; written to the dead-letter file');
    } else if (tally === undefined) {
      this.log.error({ reason, records: refused.length, of, deadLetter: this.deadLetter.path },
        'backend refused records of a batch; those are in the dead-letter file, the rest was delivered');
    } else {
      tally.deadLettered += refused.length;
      tally.firstReason ??= reason;
    }
    return true;
  }
}

/**
 * A dead-lettered record as a field of its entry: `"record":` the JSON itself, or `"recordText":` a string when the
 * record is not valid JSON (a line damaged inside a body), so every line of the dead-letter file stays readable.
 */
function recordField(text: string): string {
  try {
    JSON.parse(text);
    return `"record":${text}`;
  } catch {
    return `"recordText":${JSON.stringify(text)}`;
  }
}

/** Exponential backoff with jitter: between half and all of initial·2^attempt, capped. */
export function backoff(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
