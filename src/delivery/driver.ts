// Drives one sink: batches from its disk buffer, sends, retries with backoff, dead-letters rejects, acks.
import type { Logger } from 'pino';
import type { DeliveryConfig } from '../config/schema.ts';
import type { Sink, SendVerdict } from '../sinks/types.ts';
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

export class SinkDriver {
  readonly name: string;
  private readonly sink: Sink;
  readonly buffer: DiskBuffer;
  private readonly deadLetter: DeadLetterFile;
  private readonly cfg: DeliveryConfig;
  private readonly events: SinkEvents;
  private readonly log: Logger;
  private readonly inputs: Set<string>;
  private readonly abort = new AbortController();
  private stopping = false;
  private wakeStop: Array<() => void> = [];
  private loops: Promise<void>[] = [];
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
    this.status = new DeliveryStatus(opts.logger, () => opts.buffer.backlog(), opts.statusIntervalMs);
  }

  /** Whether records of this source (a source name, or `alarms`) go to this sink. */
  accepts(source: string): boolean {
    return this.inputs.has('*') || this.inputs.has(source);
  }

  /** Durably appends records to the buffer; resolves false when they were dropped (buffer full, drop_newest). */
  async append(records: readonly OutRecord[]): Promise<boolean> {
    const result = await this.buffer.append(records);
    if (result === 'dropped') {
      this.events.dropped(records.length);
      return false;
    }
    this.events.appended(records.length);
    return true;
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
    for (const w of this.wakeStop) w();
    await Promise.all(this.loops);
    clearTimeout(timer);
    this.status.close();
    await this.sink.close().catch((err) => this.log.warn({ sink: this.name, err }, 'sink close failed'));
    await this.deadLetter.close();
    await this.buffer.close();
  }

  private get aborted(): boolean {
    return this.abort.signal.aborted;
  }

  /** Waits until `ms` passed or shutdown was asked for. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeStop = this.wakeStop.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeStop.push(done);
    });
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
    try {
      return { pieces, records, bytes, encoded: await this.sink.encode(records) };
    } catch (err) {
      // Encoding is deterministic: a batch that cannot be encoded never will be.
      return { pieces, records, bytes, encoded: undefined, encodeError: `cannot encode batch: ${(err as Error).message}` };
    }
  }

  /** Reads until the batch is full (events or bytes) or `max_wait` passed since its first record. */
  private async collectBatch(): Promise<BufferBatch[]> {
    const { max_events: maxEvents, max_bytes: maxBytes, max_wait: maxWait } = this.cfg.batch;
    const pieces: BufferBatch[] = [];
    let events = 0;
    let bytes = 0;
    let deadline = 0;
    while (events < maxEvents && bytes < maxBytes && !this.aborted) {
      if (!this.buffer.hasUnread()) {
        if (this.stopping) break;
        const wait = pieces.length === 0 ? 1000 : deadline - Date.now();
        if (wait <= 0) break;
        await Promise.race([this.buffer.waitForData(wait), this.pause(wait)]);
        if (pieces.length > 0 && !this.buffer.hasUnread()) break;
        continue;
      }
      const piece = await this.buffer.read(maxEvents - events, maxBytes - bytes);
      if (piece.records.length === 0) continue;
      pieces.push(piece);
      events += piece.records.length;
      bytes += piece.bytes;
      if (deadline === 0) deadline = Date.now() + maxWait;
    }
    return pieces;
  }

  private async deliver(batch: PreparedBatch): Promise<void> {
    const { pieces, records, bytes } = batch;
    for (let attempt = 0; ; attempt++) {
      if (this.aborted) return; // left unacknowledged: sent again after the next start
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
      if (verdict.kind === 'delivered') {
        for (const p of pieces) this.buffer.ack(p);
        this.events.delivered(records.length, bytes);
        this.status.delivered(records.length);
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        return;
      }
      if (verdict.kind === 'reject') {
        if (await this.deadLetterBatch(records, verdict.reason)) for (const p of pieces) this.buffer.ack(p);
        if (batch.encoded !== undefined) this.sink.release?.(batch.encoded);
        return;
      }
      if (this.aborted) return;
      this.events.retried(records.length, verdict.reason);
      const delay = verdict.afterMs !== undefined
        ? Math.min(verdict.afterMs, MAX_RETRY_AFTER_MS)
        : backoff(attempt, this.cfg.retry.initial_backoff, this.cfg.retry.max_backoff);
      this.status.failed(verdict.reason, records.length, delay);
      await this.sleepUnlessAborted(delay);
    }
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

  /** Keeps a rejected batch in the dead-letter file; false only when shutdown came first. */
  private async deadLetterBatch(records: readonly OutRecord[], reason: string): Promise<boolean> {
    const time = new Date().toISOString();
    const prefix = `{"time":${JSON.stringify(time)},"sink":${JSON.stringify(this.name)},"reason":${JSON.stringify(reason)}`;
    const entries = records.map((r) => `${prefix},"id":${JSON.stringify(r.id)},"kind":"${r.kind}","record":${r.payload.toString('utf8')}}`);
    // A dead-letter write that fails is retried: the batch is acknowledged only once it is kept somewhere.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deadLetter.write(entries);
        break;
      } catch (err) {
        this.log.error({ sink: this.name, path: this.deadLetter.path, err: String(err) }, 'cannot write dead-letter file; retrying');
        await this.sleepUnlessAborted(backoff(attempt, 1000, 30_000));
        if (this.aborted) return false;
      }
    }
    this.events.deadLettered(records.length, reason);
    this.log.error({ sink: this.name, reason, records: records.length, deadLetter: this.deadLetter.path }, 'backend rejected a batch; written to the dead-letter file');
    return true;
  }
}

/** Exponential backoff with jitter: between half and all of initial·2^attempt, capped. */
export function backoff(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
