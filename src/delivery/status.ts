// What a sink's log says while its deliveries fail: the first failure at once, then a status line at a steady interval
// (attempts, last reason, backlog, oldest record), and one line when the backend takes records again.
import type { Logger } from 'pino';
import type { BufferBacklog } from './buffer.ts';

/** How often a failing sink logs its status. */
export const STATUS_INTERVAL_MS = 30_000;

interface Outage {
  since: number;
  attempts: number;
  lastReason: string;
  timer: NodeJS.Timeout;
}

export class DeliveryStatus {
  readonly #log: Logger;
  readonly #backlog: () => BufferBacklog;
  readonly #intervalMs: number;
  #outage: Outage | undefined;

  constructor(log: Logger, backlog: () => BufferBacklog, intervalMs = STATUS_INTERVAL_MS) {
    this.#log = log;
    this.#backlog = backlog;
    this.#intervalMs = intervalMs;
  }

  /** A send failed and will be retried in `retryInMs`. */
  failed(reason: string, records: number, retryInMs: number): void {
    const o = this.#outage;
    if (o !== undefined) {
      o.attempts += 1;
      o.lastReason = reason;
      return;
    }
    const timer = setInterval(() => this.#logStatus(), this.#intervalMs);
    timer.unref();
    this.#outage = { since: Date.now(), attempts: 1, lastReason: reason, timer };
    this.#log.warn({ reason, attempt: 1, retryInMs: Math.round(retryInMs), records }, 'delivery failed; will retry');
  }

  /** A batch was delivered: ends an outage, if there was one. */
  delivered(records: number): void {
    const o = this.#outage;
    if (o === undefined) return;
    this.close();
    const b = this.#backlog();
    this.#log.info({
      downSeconds: seconds(Date.now() - o.since), attempts: o.attempts, delivered: records,
      backlogRecords: b.records, backlogBytes: b.bytes,
    }, 'delivering again');
  }

  /** Stops the status line (shutdown). */
  close(): void {
    if (this.#outage !== undefined) clearInterval(this.#outage.timer);
    this.#outage = undefined;
  }

  #logStatus(): void {
    const o = this.#outage;
    if (o === undefined) return;
    const b = this.#backlog();
    this.#log.warn({
      downSeconds: seconds(Date.now() - o.since), attempts: o.attempts, lastReason: o.lastReason,
      backlogRecords: b.records, backlogBytes: b.bytes, oldestRecordAgeSeconds: seconds(b.oldestAgeSeconds * 1000),
    }, 'delivery still failing');
  }
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
