// Syslog messages as the syslog source hands them over, into records: parsed (RFC 5424/3164), Falco's alerts
// recognised, credentials blanked, then the rules for `source: syslog` applied.
//
// A block is a run of frames `<transport> <peer ip> <peer port> <received ms> <cut 0|1> <length>\n<message>\n`: the
// message bytes as received (they may hold newlines), with what the receiving end knew about them.
import { lineRecordId } from '../delivery/record.ts';
import { finishChunk, processingFailed, startChunk, type ChunkContext, type ChunkResult } from './chunk.ts';
import { falcoAlert } from './falco.ts';
import type { CredentialPatterns } from './patterns.ts';
import { parseSyslogMessage } from './syslog-message.ts';

export type SyslogTransport = 'udp' | 'tcp' | 'tls' | 'relp';

/** Where a block of syslog frames comes from (plain data: it crosses threads). */
export interface SyslogOrigin {
  parser: 'syslog';
  /** The source's identity for this run and the offset of the block's first byte in its stream: record ids. */
  fileKey: string;
  offset: number;
}

/** What the receiving end knew about one message. */
export interface Received {
  transport: SyslogTransport;
  ip: string;
  port: number;
  at: number;
  /** Cut to max_message_bytes. */
  cut: boolean;
}

const NL = 0x0a;

/** One message framed for a block (see the top of this file). */
export function syslogFrame(message: Buffer, r: Received): Buffer[] {
  return [Buffer.from(`${r.transport} ${r.ip} ${r.port} ${r.at} ${r.cut ? 1 : 0} ${message.length}\n`, 'latin1'), message, NEWLINE];
}

const NEWLINE = Buffer.from('\n');

export function parseSyslogBlock(data: Uint8Array, ctx: ChunkContext, origin: SyslogOrigin): ChunkResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const draft = startChunk(ctx);
  const { result, ids, spans, hits } = draft;
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(NL, pos);
    const head = nl < 0 ? [] : buf.toString('latin1', pos, nl).split(' ');
    const length = Number(head[5]);
    const start = nl + 1;
    const end = start + length;
    if (head.length !== 6 || !Number.isInteger(length) || end > buf.length) throw new Error(`syslog block damaged at byte ${pos}`);
    pos = end + 1;
    const r: Received = { transport: head[0] as SyslogTransport, ip: head[1], port: Number(head[2]), at: Number(head[3]), cut: head[4] === '1' };
    // A trailing LF is the sender's framing (rsyslog's forward formats end with one, over UDP too), not the message's.
    const parsed = syslogRecord(buf.toString('utf8', start, end > start && buf[end - 1] === NL ? end - 1 : end), r, ctx.patterns);
    if (!parsed.ok) {
      result.bad.push({ start, end, error: parsed.problem });
      continue;
    }
    const record = parsed.record;
    const text = JSON.stringify(record);
    try {
      for (const alarm of ctx.detector.evaluateRecord('syslog', record, () => text, hits)) result.alarms.push(alarm);
    } catch (err) {
      result.bad.push({ start, end, error: processingFailed(err) });
      continue;
    }
    result.replaced.push([ids.length, text]);
    ids.push(lineRecordId(origin.fileKey, origin.offset + start));
    spans.push(start, end);
  }
  return finishChunk(draft, ctx);
}

/** The record of one message (docs/syslog.md has its shape), or why the message is not syslog. */
export function syslogRecord(text: string, r: Received, patterns?: CredentialPatterns): { ok: true; record: Record<string, unknown> } | { ok: false; problem: string } {
  const received = new Date(r.at);
  const fields = parseSyslogMessage(text, received);
  if ('problem' in fields) return { ok: false, problem: fields.problem };
  const blank = (s: string) => (patterns !== undefined && patterns.mayHold(s) ? patterns.redactText(s) : s);
  const { time, format, structured_data: sd, message, ...rest } = fields;
  const record: Record<string, unknown> = { time: time ?? received.toISOString(), received: received.toISOString(), format, ...rest };
  if (sd !== undefined) record.structured_data = mapStrings(sd, blank);
  record.message = blank(message);
  record.transport = r.transport;
  record.peer = { ip: r.ip, port: r.port };
  if (r.cut) record.truncated = true;
  // A cut message is not whole JSON: Falco's JSON alerts are recognised only when whole.
  const falco = falcoAlert(message);
  if (falco !== undefined) record.falco = mapStrings(falco, blank);
  return { ok: true, record };
}

/** `value` with `f` applied to every string in it, at any depth. */
function mapStrings<T>(value: T, f: (s: string) => string): T {
  if (typeof value === 'string') return f(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f)) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, f);
    return out as T;
  }
  return value;
}
