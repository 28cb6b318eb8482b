// Container log lines as kubelet's runtime writes them (CRI or Docker json-file) into records with their pod's context.
//
// CRI: `<RFC3339Nano time> <stdout|stderr> <P|F> <message>`; a line longer than the runtime's buffer (16 KiB) is
// written as P (partial) fragments ended by an F one. Docker json-file: `{"log":"…\n","stream":"…","time":"…"}`; a
// line split at 16 KiB has no `\n` at the end of `log` until its last part. Each line's first byte tells the format
// (a CRI line starts with its timestamp's digit, a Docker one with `{`), so a file holds one format and one odd line
// cannot switch it. Fragments are joined per stream (stdout and stderr interleave in one file) up to a cap; what is
// beyond it is dropped and the record flagged `truncated`. Each record then goes through the rules on `containers`
// (and, for an ingress controller's access-log lines, on `ingress`) as read, and is forwarded with credentials blanked.
import { lineRecordId } from '../delivery/record.ts';
import { finishChunk, startChunk, type ChunkContext, type ChunkResult } from './chunk.ts';
import { accessLogFormatOf, parseAccessLine } from './ingress.ts';

const NL = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const BRACE = 0x7b;

/** Where a block of a container log comes from, and how its lines are joined (plain data: it crosses threads). */
export interface ContainerOrigin {
  parser: 'containers';
  /** Identity of the file (as in its checkpoint) and the content offset of the block's first byte: record ids. */
  fileKey: string;
  offset: number;
  /** The record's `kubernetes` object, serialized once per file. */
  kubernetes: string;
  /** Joined messages are cut at this many bytes. */
  maxMessageBytes: number;
  /** The block starts inside a line already cut: its fragments up to the first complete one are dropped. */
  continues: boolean;
  /** The container is an ingress controller whose access-log lines are in this nginx log_format (`default`: the controller's). */
  ingress?: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** One physical line: its message part, and whether the line goes on in the next one. */
type Physical =
  | { ok: true; time: string; stream: 'stdout' | 'stderr'; partial: boolean; text: string | undefined; from: number; to: number }
  | { ok: false; error: string };

/** Parses the line [start, end) of `buf` (no newline); the message is `text`, or the bytes [from, to) for CRI. */
export function parsePhysical(buf: Buffer, start: number, end: number): Physical {
  if (buf[start] === BRACE) return parseDocker(buf.toString('utf8', start, end));
  const sp1 = buf.indexOf(SP, start);
  if (sp1 < 0 || sp1 >= end) return { ok: false, error: 'not a CRI or Docker json-file log line' };
  const time = buf.toString('latin1', start, sp1);
  if (!RFC3339.test(time)) return { ok: false, error: `bad timestamp ${JSON.stringify(time.slice(0, 40))}` };
  const sp2 = buf.indexOf(SP, sp1 + 1);
  if (sp2 < 0 || sp2 >= end) return { ok: false, error: 'CRI line without a tag' };
  const stream = buf.toString('latin1', sp1 + 1, sp2);
  if (stream !== 'stdout' && stream !== 'stderr') return { ok: false, error: `bad stream ${JSON.stringify(stream.slice(0, 20))}` };
  let sp3 = buf.indexOf(SP, sp2 + 1);
  if (sp3 < 0 || sp3 > end) sp3 = end;
  // Tags are `:`-separated; the first says partial or full.
  const tag = buf[sp2 + 1];
  if (sp3 === sp2 + 1 || (tag !== 0x50 /* P */ && tag !== 0x46 /* F */) || (sp3 > sp2 + 2 && buf[sp2 + 2] !== 0x3a)) {
    return { ok: false, error: `bad tag ${JSON.stringify(buf.toString('latin1', sp2 + 1, Math.min(sp3, sp2 + 21)))}` };
  }
  return { ok: true, time, stream, partial: tag === 0x50, text: undefined, from: Math.min(sp3 + 1, end), to: end };
}

function parseDocker(line: string): Physical {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON (Docker json-file line)' };
  }
  const { log, stream, time } = (doc ?? {}) as Record<string, unknown>;
  if (typeof log !== 'string') return { ok: false, error: 'Docker json-file line without a "log" string' };
  if (stream !== 'stdout' && stream !== 'stderr') return { ok: false, error: `bad stream ${JSON.stringify(String(stream).slice(0, 20))}` };
  if (typeof time !== 'string' || !RFC3339.test(time)) return { ok: false, error: `bad timestamp ${JSON.stringify(String(time).slice(0, 40))}` };
  const partial = !log.endsWith('\n');
  return { ok: true, time, stream, partial, text: partial ? log : log.slice(0, -1), from: 0, to: 0 };
}

/**
 * Where the trailing run of partial lines of a block of whole lines starts (`buf.length` when its last line is
 * complete): the reader holds those back until the line's last fragment is read. Looks at the last lines only.
 */
export function partialTailStart(buf: Buffer): number {
  let tail = buf.length;
  let end = buf.length;
  while (end > 0) {
    let lineEnd = end - 1; // at the newline ending the line
    if (buf[lineEnd] !== NL) lineEnd = end; // a last line flushed without one
    const start = buf.lastIndexOf(NL, lineEnd - 1) + 1;
    const p = parsePhysical(buf, start, trimCr(buf, start, lineEnd));
    if (!p.ok || !p.partial) return tail;
    tail = start;
    end = start;
  }
  return tail;
}

function trimCr(buf: Buffer, start: number, end: number): number {
  return end > start && buf[end - 1] === CR ? end - 1 : end;
}

/** A line being joined from its fragments. */
interface Run {
  stream: 'stdout' | 'stderr';
  start: number;
  end: number;
  time: string;
  parts: Array<Buffer | string>;
  bytes: number;
  cut: boolean;
}

/** Parses a block of whole container log lines into records (see the top of this file) and runs the rules on them. */
export function parseContainerBlock(data: Uint8Array, ctx: ChunkContext, origin: ContainerOrigin): ChunkResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const draft = startChunk(ctx);
  const { result, ids, spans, hits } = draft;
  const runs: { stdout?: Run; stderr?: Run } = {};
  let skipping = origin.continues;
  // The rules read the pod's context as an object: parsed once per block, shared by its records (rules only read).
  const kubernetes = JSON.parse(origin.kubernetes) as Record<string, unknown>;
  const access = origin.ingress === undefined ? undefined : accessLogFormatOf(origin.ingress);
  const emit = (stream: 'stdout' | 'stderr') => {
    const run = runs[stream]!;
    runs[stream] = undefined;
    const message = messageOf(run);
    const patterns = ctx.patterns;
    const shown = patterns !== undefined && patterns.mayHold(message) ? patterns.redactText(message) : message;
    const redacted = shown !== message;
    const fields = access === undefined ? undefined : parseAccessLine(message, access);
    const shownFields = fields === undefined || !redacted ? fields : parseAccessLine(shown, access!);
    const tail = `${run.cut ? ',"truncated":true' : ''}${redacted ? ',"redacted":true' : ''}}`;
    const text = `{"time":${JSON.stringify(run.time)},"stream":"${stream}","message":${JSON.stringify(shown)},"kubernetes":${origin.kubernetes}${shownFields === undefined ? '' : `,"ingress":${JSON.stringify(shownFields)}`}${tail}`;
    const id = lineRecordId(origin.fileKey, origin.offset + run.start);
    result.replaced.push([ids.length, text]);
    ids.push(id);
    spans.push(run.start, run.end);
    // The rules match the line as it was written; alarms show it as forwarded.
    const record: Record<string, unknown> = { time: run.time, stream, message, kubernetes };
    if (fields !== undefined) record.ingress = fields;
    if (run.cut) record.truncated = true;
    if (redacted) record.redacted = true;
    const forwarded = redacted ? () => text : undefined;
    for (const alarm of ctx.detector.evaluateRecord('containers', record, forwarded, hits)) result.alarms.push(alarm);
    if (fields !== undefined) for (const alarm of ctx.detector.evaluateRecord('ingress', record, forwarded, hits)) result.alarms.push(alarm);
  };
  let pos = 0;
  while (pos < buf.length) {
    let end = buf.indexOf(NL, pos);
    if (end < 0) end = buf.length;
    const start = pos;
    pos = end + 1;
    const lineEnd = trimCr(buf, start, end);
    if (lineEnd === start) continue;
    const p = parsePhysical(buf, start, lineEnd);
    if (!p.ok) {
      result.bad.push({ start, end: lineEnd, error: p.error });
      continue;
    }
    if (skipping) {
      // The rest of a line cut in an earlier block: dropped (its record says `truncated`).
      if (!p.partial) skipping = false;
      continue;
    }
    let run = runs[p.stream];
    if (run === undefined) run = runs[p.stream] = { stream: p.stream, start, end: lineEnd, time: p.time, parts: [], bytes: 0, cut: false };
    run.end = lineEnd;
    const fragment: Buffer | string = p.text ?? buf.subarray(p.from, p.to);
    const room = origin.maxMessageBytes - run.bytes;
    const size = typeof fragment === 'string' ? Buffer.byteLength(fragment) : fragment.length;
    if (size <= room) {
      run.parts.push(fragment);
      run.bytes += size;
    } else if (!run.cut) {
      run.parts.push(cutTo(fragment, room));
      run.bytes = origin.maxMessageBytes;
      run.cut = true;
    }
    if (!p.partial) emit(p.stream);
  }
  // A line whose last fragment is not in the block: the reader passes one on only when it cannot hold it back (over
  // the cap, the file ended or rotated mid-line), so it is what there is of the line.
  const open = [runs.stdout, runs.stderr].filter((r) => r !== undefined).sort((a, b) => a.start - b.start);
  for (const run of open) {
    run.cut = true;
    emit(run.stream);
  }
  return finishChunk(draft, ctx);
}

/** The joined message, its final `\r` dropped (a CRLF the program printed), as written (credentials not yet blanked). */
function messageOf(run: Run): string {
  let text: string;
  const only = run.parts.length === 1 ? run.parts[0] : undefined;
  if (only !== undefined) text = typeof only === 'string' ? only : only.toString('utf8'); // most lines: one fragment
  else if (run.parts.every((p) => typeof p === 'string')) text = run.parts.join('');
  // Joined as bytes, then decoded: the runtime splits at a byte count, inside a character as often as not.
  // Bytes that are not UTF-8 become U+FFFD.
  else text = Buffer.concat(run.parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))).toString('utf8');
  if (!run.cut && text.endsWith('\r')) text = text.slice(0, -1);
  return text;
}

/** The first `bytes` of a fragment, not splitting a UTF-8 character. */
function cutTo(fragment: Buffer | string, bytes: number): Buffer {
  const b = typeof fragment === 'string' ? Buffer.from(fragment) : fragment;
  let n = Math.max(0, Math.min(bytes, b.length));
  while (n > 0 && n < b.length && (b[n] & 0xc0) === 0x80) n--;
  return b.subarray(0, n);
}
