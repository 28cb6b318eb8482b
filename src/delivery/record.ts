// The one record type that flows from sources through buffers to sinks.

/** `log`: a raw line as read (audit event or container log). `alarm`: a detection result. */
export type RecordKind = 'log' | 'alarm';

export interface OutRecord {
  /** Stable across re-reads: audit events `auditID/stage`, lines `fileId@offset`, alarms a content hash. */
  id: string;
  kind: RecordKind;
  /** Name of the source (or `alarms`) the record came from; sinks route on it. */
  source: string;
  /** One JSON document, UTF-8, no trailing newline. Raw logs are the original bytes of the line. */
  payload: Buffer;
}

/** Record id of an audit event: the same event re-read after a restart gets the same id. */
export function auditRecordId(auditID: string, stage: string): string {
  return `${auditID}/${stage}`;
}

/** Record id of a line that has no id of its own: file identity + byte offset of the line. */
export function lineRecordId(fileId: string, offset: number): string {
  return `${fileId}@${offset}`;
}
