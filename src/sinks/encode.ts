// Body encodings shared by sinks: payloads are already JSON, so encoding is concatenation.
import type { OutRecord } from '../delivery/record.ts';

const NEWLINE = Buffer.from('\n');
const COMMA = Buffer.from(',');

/** One payload per line, each line ending in a newline. */
export function encodeNdjson(batch: readonly OutRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of batch) parts.push(r.payload, NEWLINE);
  return Buffer.concat(parts);
}

/** A JSON array of the payloads. */
export function encodeJsonArray(batch: readonly OutRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from('[')];
  batch.forEach((r, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(r.payload);
  });
  parts.push(Buffer.from(']'));
  return Buffer.concat(parts);
}
