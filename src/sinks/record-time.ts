// The time a record stands for, read from its payload without parsing it: for index names and log-store timestamps.
import type { OutRecord } from '../delivery/record.ts';

/** A point in time as a backend wants it: epoch milliseconds, and epoch nanoseconds as a decimal string. */
export interface RecordTime {
  ms: number;
  ns: string;
  /** As the record wrote it. */
  text: string;
}

/**
 * Fields holding a log record's time, by preference: an audit event's `stageTimestamp` (when the apiserver wrote
 * this stage; what the rules date alarms by), its `requestReceivedTimestamp`, then the names other logs use.
 */
const LOG_FIELDS = ['stageTimestamp', 'requestReceivedTimestamp', 'time', '@timestamp', 'timestamp'].map(keyPattern);

/** The JSON key followed by the opening quote of a string value: inside a JSON string the quotes would be escaped. */
function keyPattern(name: string): Buffer {
  return Buffer.from(`"${name}":"`);
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * The record's time: a log's from LOG_FIELDS (the last occurrence of the key, since an audit event's own timestamps
 * come after its bodies), an alarm's from `alarmField` (its own fields come before the event it quotes).
 * Undefined when the payload has none that reads as an RFC 3339 time.
 */
export function recordTime(r: OutRecord, alarmField: 'firstSeen' | 'lastSeen'): RecordTime | undefined {
  if (r.kind === 'alarm') return timeAt(r.payload, r.payload.indexOf(keyPattern(alarmField)), alarmField.length + 4);
  for (const key of LOG_FIELDS) {
    const at = r.payload.lastIndexOf(key);
    if (at >= 0) return timeAt(r.payload, at, key.length);
  }
  return undefined;
}

function timeAt(payload: Buffer, at: number, keyLength: number): RecordTime | undefined {
  if (at < 0) return undefined;
  const start = at + keyLength;
  const end = payload.indexOf(0x22, start); // the closing quote
  if (end < 0 || end - start > 40) return undefined;
  return parseTime(payload.toString('latin1', start, end));
}

/** An RFC 3339 time (what the apiserver writes: `2026-11-22T12:04:13.095123Z`) to nanosecond precision. */
export function parseTime(text: string): RecordTime | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds) || seconds < 1000) return undefined; // before 1970: not a time a log could have
  const fraction = (m[2] ?? '').padEnd(9, '0');
  return { ms: seconds + Math.floor(Number(fraction) / 1e6), ns: `${seconds / 1000}${fraction}`, text };
}

/** A time of now, for records that carry none. */
export function now(): RecordTime {
  const ms = Date.now();
  return { ms, ns: `${ms}000000`, text: new Date(ms).toISOString() };
}
