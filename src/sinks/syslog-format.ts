// Syslog messages from records: RFC 5424 (alarms' key fields as structured data) or RFC 3164, the record's JSON as MSG.
import type { OutRecord } from '../delivery/record.ts';

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, audit: 13, alert: 14, clock: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21,
  local6: 22, local7: 23,
} as const;

export const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

export type Facility = keyof typeof FACILITIES;
export type Severity = keyof typeof SEVERITIES;
/** Raw logs, then each alarm level. */
export type SeverityMap = Record<'log' | 'high' | 'medium' | 'low' | 'note', Severity>;

export interface MessageFormat {
  format: 'rfc5424' | 'rfc3164';
  facility: Facility;
  severity: SeverityMap;
  appName: string;
  hostname: string;
  procId: string;
  /** The SD-ID of the alarm's structured data element: `kaudit@<enterprise number>`. */
  sdId: string;
}

/** An RFC 5424 timestamp as the apiserver writes them (UTC, up to six fraction digits). */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const STAGE_TIMESTAMP = Buffer.from('"stageTimestamp":"');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The fields of an alarm carried as structured data, in this order: SD-PARAM name → where in the alarm. */
const ALARM_PARAMS: ReadonlyArray<[string, (a: Alarm) => unknown]> = [
  ['alarmID', (a) => a.alarmID],
  ['rule', (a) => a.rule?.id],
  ['level', (a) => a.rule?.level],
  ['category', (a) => a.rule?.category],
  ['count', (a) => a.count],
  ['firstSeen', (a) => a.firstSeen],
  ['lastSeen', (a) => a.lastSeen],
  ['cluster', (a) => a.cluster?.name],
  ['user', (a) => a.evidence?.user],
  ['sourceIP', (a) => a.evidence?.sourceIP],
  ['verb', (a) => a.evidence?.verb],
  ['resource', (a) => a.evidence?.resource],
  ['subresource', (a) => a.evidence?.subresource],
  ['namespace', (a) => a.evidence?.namespace],
  ['name', (a) => a.evidence?.name],
  ['summary', (a) => a.summary],
];

interface Alarm {
  alarmID?: string;
  rule?: { id?: string; level?: string; category?: string };
  count?: number;
  firstSeen?: string;
  lastSeen?: string;
  cluster?: { name?: string };
  summary?: string;
  evidence?: Record<string, unknown>;
}

/** One syslog message (no framing) for a record. `now` is its timestamp when the record has no time of its own. */
export function formatMessage(record: OutRecord, f: MessageFormat, now: Date): Buffer {
  const alarm = record.kind === 'alarm' ? parseAlarm(record.payload) : undefined;
  const level = alarm?.rule?.level;
  const severity = f.severity[alarm === undefined ? 'log' : isLevel(level) ? level : 'high'];
  const pri = FACILITIES[f.facility] * 8 + SEVERITIES[severity];
  const time = alarm === undefined ? logTime(record.payload) : validTime(alarm.lastSeen);
  const head = f.format === 'rfc5424'
    ? `<${pri}>1 ${time ?? now.toISOString()} ${f.hostname} ${f.appName} ${f.procId} ${record.kind} ${alarm === undefined ? '-' : structuredData(f.sdId, alarm)} `
    : `<${pri}>${bsdTime(time === undefined ? now : new Date(time))} ${f.hostname} ${f.appName}[${f.procId}]: `;
  return Buffer.concat([Buffer.from(head, 'utf8'), record.payload]);
}

/** `[SD-ID name="value" ...]` with the alarm's key fields present in it. */
export function structuredData(sdId: string, alarm: Alarm): string {
  let out = `[${sdId}`;
  for (const [name, read] of ALARM_PARAMS) {
    const value = read(alarm);
    if (value === undefined || value === null || value === '' || typeof value === 'object') continue;
    out += ` ${name}="${paramValue(String(value))}"`;
  }
  return `${out}]`;
}

/**
 * A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 6.3.3). Control characters become spaces, so that
 * a message stays one line under newline framing; the alarm's JSON in MSG keeps them.
 */
export function paramValue(text: string): string {
  return text.replace(/["\\\]]/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, ' ');
}

function parseAlarm(payload: Buffer): Alarm {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed as Alarm : {};
  } catch {
    return {};
  }
}

function isLevel(level: unknown): level is 'high' | 'medium' | 'low' | 'note' {
  return level === 'high' || level === 'medium' || level === 'low' || level === 'note';
}

/** An audit event's stageTimestamp: the last top-level occurrence of the key (the bodies come before it). */
function logTime(payload: Buffer): string | undefined {
  const at = payload.lastIndexOf(STAGE_TIMESTAMP);
  if (at === -1) return undefined;
  const start = at + STAGE_TIMESTAMP.length;
  const end = payload.indexOf(0x22, start);
  return end === -1 || end - start > 32 ? undefined : validTime(payload.toString('latin1', start, end));
}

function validTime(text: unknown): string | undefined {
  return typeof text === 'string' && TIMESTAMP.test(text) ? text : undefined;
}

/** RFC 3164's `Mmm dd hh:mm:ss`, in UTC (the format carries no zone). */
function bsdTime(d: Date): string {
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${MONTHS[d.getUTCMonth()]} ${day} ${d.toISOString().slice(11, 19)}`;
}
