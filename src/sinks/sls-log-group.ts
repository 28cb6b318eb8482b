// The `sls` sink's body: records as SLS logs (flattened contents, time) in one protobuf LogGroup, as PutLogs takes it.
import type { Type } from 'protobufjs';
import type { OutRecord } from '../delivery/record.ts';

/**
 * The LogGroup schema as Simple Log Service publishes it (its API reference, "data encoding", and the SDKs' sls.proto):
 * a log is a time in seconds (and optionally its nanoseconds) and key/value contents; a group adds topic, source and
 * tags. Field 2 of LogGroup is reserved.
 */
export const LOG_GROUP_PROTO = `
syntax = "proto2";
package sls;
message Log {
  required uint32 Time = 1;
  message Content {
    required string Key = 1;
    required string Value = 2;
  }
  repeated Content Contents = 2;
  optional fixed32 TimeNs = 4;
}
message LogTag {
  required string Key = 1;
  required string Value = 2;
}
message LogGroup {
  repeated Log Logs = 1;
  optional string Reserved = 2;
  optional string Topic = 3;
  optional string Source = 4;
  repeated LogTag LogTags = 6;
}
`;

/** The content holding the record's whole JSON document, as SLS names a raw line collected by Logtail. */
export const RAW_KEY = 'content';

/** Fields kept as one JSON text wherever they appear: request and response bodies, which SLS users read whole. */
const KEPT_WHOLE = new Set(['requestObject', 'responseObject']);
/** Objects nested deeper than this are kept as one JSON text (a flattened body would be thousands of keys). */
const MAX_DEPTH = 4;

export interface LogContent {
  Key: string;
  Value: string;
}

export interface SlsLog {
  Time: number;
  TimeNs?: number;
  Contents: LogContent[];
}

export interface GroupMeta {
  topic: string;
  source: string;
  tags: Record<string, string>;
}

/**
 * A record's document flattened to contents as the audit logstores of managed clusters show them, so the same queries
 * work: nested objects joined with dots (`user.username`, `objectRef.resource`, `responseStatus.code`,
 * `annotations.authorization.k8s.io/reason`), arrays as JSON text (`sourceIPs`: `["10.0.6.68"]`), numbers and
 * booleans as their text, nulls and empty objects left out; bodies (`requestObject`, `responseObject`) as JSON text.
 * Keys SLS reserves (a leading `__`, its own `__time__`, `__topic__`, …) are written with a `kaudit.` prefix.
 */
export function flatten(doc: Record<string, unknown>, out: LogContent[] = [], prefix = '', depth = 1): LogContent[] {
  for (const [name, value] of Object.entries(doc)) {
    if (value === null || value === undefined) continue;
    let key = prefix === '' ? name : `${prefix}.${name}`;
    if (key.startsWith('__')) key = `kaudit.${key}`;
    if (typeof value === 'string') out.push({ Key: key, Value: value });
    else if (typeof value !== 'object') out.push({ Key: key, Value: String(value) });
    else if (Array.isArray(value) || KEPT_WHOLE.has(name) || depth >= MAX_DEPTH) out.push({ Key: key, Value: JSON.stringify(value) });
    else flatten(value as Record<string, unknown>, out, key, depth + 1);
  }
  return out;
}

/** Seconds and the nanoseconds within them of an RFC 3339 timestamp; undefined when it does not read as one. */
export function timeOf(text: unknown): { sec: number; ns: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  // The fraction is read from the text: a Date keeps milliseconds, the apiserver writes microseconds.
  const fraction = /^[^.]*T[^.]*\.(\d{1,9})/.exec(text)?.[1] ?? '';
  return { sec: Math.floor(ms / 1000), ns: Number(fraction.padEnd(9, '0')) };
}

/**
 * One record as one log: its flattened fields and its whole document under RAW_KEY. The time is the event's
 * `stageTimestamp` (alarms: `lastSeen`, the latest event they count), else `requestReceivedTimestamp`, else `now`.
 * A payload that is not a JSON object becomes a log with the raw content alone.
 */
export function logOf(record: OutRecord, now: number): SlsLog {
  const text = record.payload.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const fields = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  const contents = fields === undefined ? [] : flatten(fields);
  contents.push({ Key: RAW_KEY, Value: text });
  const at = fields === undefined
    ? undefined
    : timeOf(fields.kind === 'kaudit.Alarm' ? fields.lastSeen : fields.stageTimestamp) ?? timeOf(fields.requestReceivedTimestamp);
  const time = at ?? { sec: Math.floor(now / 1000), ns: (now % 1000) * 1_000_000 };
  return { Time: time.sec, TimeNs: time.ns, Contents: contents };
}

let logGroupType: Promise<Type> | undefined;

/** The LogGroup message type, built from the schema on first use (protobufjs is loaded then, not at start). */
export function logGroupMessage(): Promise<Type> {
  return (logGroupType ??= import('protobufjs').then((pb) => pb.default.parse(LOG_GROUP_PROTO).root.lookupType('sls.LogGroup')));
}

/** The batch as one serialised LogGroup. */
export async function encodeLogGroup(batch: readonly OutRecord[], meta: GroupMeta, now = Date.now()): Promise<Buffer> {
  const type = await logGroupMessage();
  const group = {
    Logs: batch.map((r) => logOf(r, now)),
    Topic: meta.topic,
    Source: meta.source,
    LogTags: Object.entries(meta.tags).map(([Key, Value]) => ({ Key, Value })),
  };
  const bytes = type.encode(group).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
