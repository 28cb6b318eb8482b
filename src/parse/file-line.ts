// Lines of host files (`kind: files`) into records: JSON object lines as their fields, other lines as text, credentials
// blanked, then the rules on `files` run over each (docs/files.md has the record's shape).
import { lineRecordId } from '../delivery/record.ts';
import { finishChunk, processingFailed, startChunk, type ChunkContext, type ChunkResult } from './chunk.ts';

const NL = 0x0a;
const CR = 0x0d;
const BRACE = 0x7b;

/** Where a block of a host file comes from, and how its lines are read (plain data: it crosses threads). */
export interface FileLineOrigin {
  parser: 'files';
  /** Identity of the file (as in its checkpoint) and the content offset of the block's first byte: record ids. */
  fileKey: string;
  offset: number;
  /** The live file's path (the same for lines read from its rotated backups). */
  path: string;
  /** The node's name, or the machine's. */
  host: string;
  /** `auto`: a line that is a JSON object is read as one, any other as text; `json`: a line that is not one is refused. */
  format: 'auto' | 'text' | 'json';
  /** JSON lines: the field holding the line's time, and the one holding its message (top-level keys). */
  timeField?: string;
  messageField?: string;
  /** The record's `kubernetes` object (JSON) when the file is in a pod's directory; unset for other files. */
  kubernetes?: string;
}

type Line = { ok: true; record: Record<string, unknown> } | { ok: false; error: string };

/** Parses a block of whole lines of one file into records (see the top of this file) and runs the rules on them. */
export function parseFileBlock(data: Uint8Array, ctx: ChunkContext, origin: FileLineOrigin): ChunkResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const draft = startChunk(ctx);
  const { result, ids, spans, hits } = draft;
  // Lines carry no time of their own unless a JSON field gives it: the time they were read.
  const readAt = new Date().toISOString();
  // The rules read the pod's context as an object: parsed once per block, shared by its records (rules only read).
  const kubernetes = origin.kubernetes === undefined ? undefined : JSON.parse(origin.kubernetes) as Record<string, unknown>;
  let pos = 0;
  while (pos < buf.length) {
    let end = buf.indexOf(NL, pos);
    if (end < 0) end = buf.length;
    const start = pos;
    pos = end + 1;
    const lineEnd = end > start && buf[end - 1] === CR ? end - 1 : end;
    if (lineEnd === start) continue;
    // Bytes that are not UTF-8 become U+FFFD: a host file's text is kept whatever its encoding.
    const text = buf.toString('utf8', start, lineEnd);
    const line = fileRecord(text, buf[start] === BRACE, origin, readAt);
    if (!line.ok) {
      result.bad.push({ start, end: lineEnd, error: line.error });
      continue;
    }
    const record = line.record;
    if (kubernetes !== undefined) record.kubernetes = kubernetes;
    const shown = redacted(record, text, ctx);
    const forwarded = shown === undefined ? JSON.stringify(record) : JSON.stringify(shown);
    // The rules match the line as it was written; alarms show it as forwarded.
    try {
      for (const alarm of ctx.detector.evaluateRecord('files', record, shown === undefined ? undefined : () => forwarded, hits)) result.alarms.push(alarm);
    } catch (err) {
      result.bad.push({ start, end: lineEnd, error: processingFailed(err) });
      continue;
    }
    result.replaced.push([ids.length, forwarded]);
    ids.push(lineRecordId(origin.fileKey, origin.offset + start));
    spans.push(start, lineEnd);
  }
  return finishChunk(draft, ctx);
}

/** The record of one line: `json` (its fields) or `message` (its text), and the time, path and host. */
function fileRecord(text: string, startsAsObject: boolean, origin: FileLineOrigin, readAt: string): Line {
  let json: Record<string, unknown> | undefined;
  if (origin.format !== 'text' && startsAsObject) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      // Text that starts with a brace: kept as text (auto), refused (json).
    }
  }
  if (json === undefined) {
    if (origin.format === 'json') return { ok: false, error: 'not a JSON object (format: json)' };
    return { ok: true, record: { time: readAt, path: origin.path, host: origin.host, message: text } };
  }
  const time = origin.timeField === undefined ? undefined : json[origin.timeField];
  const message = origin.messageField === undefined ? undefined : json[origin.messageField];
  const record: Record<string, unknown> = { time: typeof time === 'string' || typeof time === 'number' ? time : readAt, path: origin.path, host: origin.host };
  if (typeof message === 'string') record.message = message;
  record.json = json;
  return { ok: true, record };
}

/** The record as forwarded when credentials in it are blanked (a copy: the rules read the original), else undefined. */
function redacted(record: Record<string, unknown>, line: string, ctx: ChunkContext): Record<string, unknown> | undefined {
  const patterns = ctx.patterns;
  if (patterns === undefined || !patterns.mayHold(line)) return undefined;
  const copy = { ...record };
  let changed = false;
  if (typeof copy.message === 'string') {
    const message = patterns.redactText(copy.message);
    changed = message !== copy.message;
    copy.message = message;
  }
  if (copy.json !== undefined) {
    const json = structuredClone(copy.json);
    if (patterns.redactBody(json)) {
      copy.json = json;
      changed = true;
    }
  }
  if (!changed) return undefined;
  copy.redacted = true;
  return copy;
}
