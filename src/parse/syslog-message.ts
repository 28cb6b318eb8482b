// One syslog message (framing removed) parsed into fields: RFC 5424, or RFC 3164 as senders actually write it.
//
// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`, `-` for a value left out.
// RFC 3164 has no grammar of its own, only practice: `<PRI>[TIMESTAMP ][HOSTNAME ][TAG[PID]: ]MSG`, where TIMESTAMP is
// `Mmm dd hh:mm:ss` (no year, no zone) or RFC 3339 (rsyslog's forward format). Only a missing or bad PRI makes a
// message unparsable; a 3164 message is read as far as it goes and the rest is its MSG, as rsyslog does.
import { FACILITIES, SEVERITIES } from '../sinks/syslog-format.ts';

/** Structured data by SD-ID, then PARAM-NAME: a name given twice in one element keeps every value, in order. */
export type StructuredData = Record<string, Record<string, string | string[]>>;

export interface SyslogFields {
  format: 'rfc5424' | 'rfc3164';
  facility: string;
  facility_code: number;
  severity: string;
  severity_code: number;
  /** As the message gives it (RFC 3339); a 3164 timestamp is read as UTC, in the year it was received. */
  time?: string;
  hostname?: string;
  app_name?: string;
  proc_id?: string;
  msg_id?: string;
  structured_data?: StructuredData;
  message: string;
}

const FACILITY_NAMES = Object.keys(FACILITIES);
const SEVERITY_NAMES = Object.keys(SEVERITIES);
const PRI = /^<(\d{1,3})>/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/;
const BSD_TIME = /^([A-Z][a-z]{2}) ([ \d]?\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? /;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/**
 * A 3164 TAG (program name) with its optional `[PID]`, ended by a colon or, as rsyslog writes the tag of an RFC 5424
 * message it forwards in the traditional format (`sshd[4711] text`), by a space.
 */
const TAG = /^([^\s[\]:]{1,48})(?:\[([^\]\s]{1,128})\])?(?::(?: |$)| )/;
const BOM = '\ufeff';

/** The fields of `text`, or why it is not a syslog message. `received` dates a 3164 timestamp (which has no year). */
export function parseSyslogMessage(text: string, received: Date): SyslogFields | { problem: string } {
  const pri = PRI.exec(text);
  if (pri === null) return { problem: `no <PRI> at the start (found ${JSON.stringify(text.slice(0, 16))})` };
  const value = Number(pri[1]);
  if (value > 191 || (pri[1].length > 1 && pri[1].startsWith('0'))) return { problem: `bad PRI <${pri[1]}>` };
  const facility = value >> 3;
  const severity = value & 7;
  const head = {
    facility: FACILITY_NAMES[facility], facility_code: facility, severity: SEVERITY_NAMES[severity], severity_code: severity,
  };
  const rest = text.slice(pri[0].length);
  if (rest.startsWith('1 ')) {
    const fields = rfc5424(rest.slice(2));
    if (fields !== undefined) return { format: 'rfc5424', ...head, ...fields };
  }
  return { format: 'rfc3164', ...head, ...rfc3164(rest, received) };
}

type Parsed = Omit<SyslogFields, 'format' | 'facility' | 'facility_code' | 'severity' | 'severity_code'>;

/** The header fields after `1 `, or undefined when they do not follow the grammar (then read as 3164). */
function rfc5424(text: string): Parsed | undefined {
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < 5; i++) {
    const sp = text.indexOf(' ', at);
    if (sp <= at) return undefined;
    parts.push(text.slice(at, sp));
    at = sp + 1;
  }
  const [time, hostname, app, proc, msgId] = parts;
  if (time !== '-' && !RFC3339.test(time)) return undefined;
  const sd = structuredData(text, at);
  if (sd === undefined) return undefined;
  let message = sd.end >= text.length ? '' : text[sd.end] === ' ' ? text.slice(sd.end + 1) : undefined;
  if (message === undefined) return undefined;
  if (message.startsWith(BOM)) message = message.slice(1);
  const out: Parsed = { message };
  if (time !== '-') out.time = time;
  if (hostname !== '-') out.hostname = hostname;
  if (app !== '-') out.app_name = app;
  if (proc !== '-') out.proc_id = proc;
  if (msgId !== '-') out.msg_id = msgId;
  if (sd.data !== undefined) out.structured_data = sd.data;
  return out;
}

/** STRUCTURED-DATA at `at`: `-` or one or more `[SD-ID PARAM="VALUE" ...]`; undefined when malformed. */
function structuredData(text: string, at: number): { data?: StructuredData; end: number } | undefined {
  if (text[at] === '-') return { end: at + 1 };
  if (text[at] !== '[') return undefined;
  const data: StructuredData = {};
  while (text[at] === '[') {
    const id = /^[^\s=\]"]{1,32}/.exec(text.slice(at + 1, at + 34))?.[0];
    if (id === undefined) return undefined;
    const element: Record<string, string | string[]> = data[id] ?? (data[id] = {});
    at += 1 + id.length;
    while (text[at] === ' ') {
      const name = /^[^\s=\]"]{1,32}/.exec(text.slice(at + 1, at + 34))?.[0];
      if (name === undefined || text[at + 1 + name.length] !== '=' || text[at + 2 + name.length] !== '"') return undefined;
      at += 3 + name.length;
      let value = '';
      for (;;) {
        const c = text[at];
        if (c === undefined) return undefined;
        if (c === '"') break;
        // `\"`, `\\` and `\]` stand for the character; a backslash before anything else is itself (RFC 5424 6.3.3).
        if (c === '\\' && (text[at + 1] === '"' || text[at + 1] === '\\' || text[at + 1] === ']')) {
          value += text[at + 1];
          at += 2;
        } else {
          value += c;
          at += 1;
        }
      }
      at += 1;
      const before = element[name];
      element[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
    }
    if (text[at] !== ']') return undefined;
    at += 1;
  }
  return { data, end: at };
}

function rfc3164(text: string, received: Date): Parsed {
  const out: Parsed = { message: '' };
  let rest = text;
  const bsd = BSD_TIME.exec(rest);
  const iso = bsd === null ? /^(\S+) /.exec(rest) : null;
  let dated = false;
  if (bsd !== null) {
    out.time = bsdTime(bsd, received);
    rest = rest.slice(bsd[0].length);
    dated = out.time !== undefined;
  } else if (iso !== null && RFC3339.test(iso[1])) {
    out.time = iso[1];
    rest = rest.slice(iso[0].length);
    dated = true;
  }
  // After a timestamp comes the sender's host name, unless the next word is already the tag (a local sender's
  // `sshd[42]: ...`): a word with a colon or a bracket is not a host name.
  const host = dated ? /^([^\s:[\]]+) /.exec(rest) : null;
  if (host !== null) {
    out.hostname = host[1];
    rest = rest.slice(host[0].length);
  }
  const tag = TAG.exec(rest);
  if (tag !== null) {
    out.app_name = tag[1];
    if (tag[2] !== undefined) out.proc_id = tag[2];
    rest = rest.slice(tag[0].length);
  }
  out.message = rest;
  return out;
}

/** `Mmm dd hh:mm:ss` in UTC, in the year it was received (the year before, when that would put it a day ahead). */
function bsdTime(m: RegExpExecArray, received: Date): string | undefined {
  const month = MONTHS.indexOf(m[1]);
  if (month < 0) return undefined;
  const [day, h, min, s] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])];
  if (day < 1 || day > 31 || h > 23 || min > 59 || s > 60) return undefined;
  const frac = m[6] === undefined ? '' : `.${m[6]}`;
  let year = received.getUTCFullYear();
  if (Date.UTC(year, month, day, h, min, s) > received.getTime() + 86_400_000) year -= 1;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${year}-${two(month + 1)}-${two(day)}T${two(h)}:${two(min)}:${two(s)}${frac}Z`;
}
