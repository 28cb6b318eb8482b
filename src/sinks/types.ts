// The contract between the delivery layer and one sink kind: encode and send, nothing else.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { OutRecord } from '../delivery/record.ts';
import type { Metrics } from '../observe/metrics.ts';

/**
 * What a backend said about one batch. The delivery layer acts on it:
 * `delivered` releases the batch from the buffer, `retry` backs off (honouring `afterMs`,
 * from Retry-After) and sends the same batch again, `reject` moves it to the dead-letter file.
 * Two verdicts refuse the batch for what is in it, and the delivery layer sends its halves on their own, down to
 * single records: `too_large`, the batch is over the backend's size limit (batches stay smaller from then on);
 * `invalid`, something in the batch is malformed (one bad record must not cost the others). A single record
 * refused either way goes to the dead-letter file. `partial`: the backend took the batch but refused some of its
 * records for good, each with its own reason (a bulk API's per-item errors); those, by their index in the batch, go to
 * the dead-letter file and the rest is delivered.
 */
export type SendVerdict =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string; afterMs?: number }
  | { kind: 'reject'; reason: string }
  | { kind: 'too_large'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'partial'; refused: ReadonlyArray<{ index: number; reason: string }> };

/**
 * A running sink. `encode` turns a batch into what goes on the wire (no I/O; may be async when it compresses
 * off the main thread); `send` transmits it. The delivery layer encodes the next batch while the previous
 * one is in flight, and sends again the same encoded batch on retry.
 */
export interface Sink<Encoded = unknown> {
  encode(batch: readonly OutRecord[]): Encoded | Promise<Encoded>;
  /** Must not throw for backend failures: those are verdicts. */
  send(encoded: Encoded, signal: AbortSignal): Promise<SendVerdict>;
  /**
   * Optional: the delivery layer is done with an encoded batch (delivered, or rejected and dead-lettered); the
   * sink may reuse its memory. Not called for a batch abandoned at shutdown (a request may still hold it).
   */
  release?(encoded: Encoded): void;
  /** Optional: read again now what the sink took from files at start (secrets); on SIGHUP. */
  reload?(): Promise<void>;
  close(): Promise<void>;
}

/** Encode and send in one step (tests, one-off deliveries). */
export async function sendBatch<E>(sink: Sink<E>, batch: readonly OutRecord[], signal: AbortSignal): Promise<SendVerdict> {
  return sink.send(await sink.encode(batch), signal);
}

export interface SinkContext {
  /** The sink's name in the config (`sinks.<name>`). */
  name: string;
  logger: Logger;
  /** A directory the sink may keep files in. */
  stateDir: string;
  /** Batches the delivery layer sends at once (the sink's `concurrency`); default 1. */
  concurrency?: number;
  /** For a sink kind's own metrics; absent where nobody scrapes (one-off deliveries). */
  metrics?: Metrics;
  /** The config's `cluster`, for sinks that label records with it. */
  cluster?: { name: string; id: string };
  /** Counts a record whose label value was replaced because the label had too many distinct values. */
  labelOverflowed?(label: string): void;
}

/** One sink kind: its config schema (kind-specific fields only) and a factory that does the I/O. */
export interface SinkKind<S extends z.ZodObject = z.ZodObject> {
  /** The kind-specific fields; the delivery fields (inputs, buffer, batch, retry) are added by the config layer. */
  options: S;
  create(options: z.infer<S>, ctx: SinkContext): Promise<Sink<any>>;
  /**
   * Optional: what `create` would refuse in these options beyond the schema, found without side effects, as
   * `field: reason` (the field relative to the sink). check-config and run report them before anything starts.
   */
  preflight?(options: z.infer<S>): string[];
  /** Optional: the most records a batch may hold with these options (below `batch.max_events`), e.g. one per request. */
  maxBatchEvents?(options: z.infer<S>): number | undefined;
  /** Optional: the values in force where another field decides them over what was written (a preset): check-config shows these. */
  effective?(options: z.infer<S>): Partial<z.infer<S>>;
}
