// Reads alarm records (`"kind":"kaudit.Alarm"`) from NDJSON files, plain or .gz, keeping the latest record of each alarm.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { ioReason } from '../config/io-error.ts';

/** An alarm as detection emits it (docs/rules.md, *Alarms*); only what the report reads is typed. */
export interface AlarmRecord {
  kind: 'kaudit.Alarm';
  alarmID: string;
  rule: { id: string; name: string; type: string; category: string; level: string };
  cluster: { name: string; id: string };
  /** Set on alarms from records of other sources than audit (their evidence is the record). */
  source?: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  summary: string;
  evidence: Record<string, unknown>;
  risk?: string;
  solution?: string;
  event?: unknown;
}

export interface ReadSummary {
  file: string;
  lines: number;
  alarmRecords: number;
  /** Lines that mention the alarm kind but are not a readable alarm record. */
  invalid: number;
  error?: string;
}

/**
 * Keeps one record per alarmID: an update carries the alarm's count so far, so the record with the highest count
 * (then the latest lastSeen) is the newest; firstSeen is the earliest any record gives.
 */
export class AlarmSet {
  readonly #byId = new Map<string, AlarmRecord>();

  add(a: AlarmRecord): void {
    const had = this.#byId.get(a.alarmID);
    if (had === undefined) {
      this.#byId.set(a.alarmID, a);
      return;
    }
    const newer = a.count > had.count || (a.count === had.count && a.lastSeen > had.lastSeen);
    const keep = newer ? a : had;
    const firstSeen = a.firstSeen < had.firstSeen ? a.firstSeen : had.firstSeen;
    this.#byId.set(a.alarmID, keep.firstSeen === firstSeen ? keep : { ...keep, firstSeen });
  }

  get size(): number {
    return this.#byId.size;
  }

  values(): AlarmRecord[] {
    return [...this.#byId.values()];
  }
}

/** A parsed line when it is an alarm record; undefined otherwise. */
export function asAlarmRecord(value: unknown): AlarmRecord | undefined {
  const v = value as Partial<AlarmRecord> | null;
  if (v === null || typeof v !== 'object' || v.kind !== 'kaudit.Alarm') return undefined;
  if (typeof v.alarmID !== 'string' || typeof v.rule?.id !== 'string' || typeof v.count !== 'number') return undefined;
  if (typeof v.firstSeen !== 'string' || typeof v.lastSeen !== 'string') return undefined;
  return v as AlarmRecord;
}

/** Reads every alarm record of `file` into `into`; raw events and other lines are passed over without parsing. */
export async function readAlarmFile(file: string, into: AlarmSet): Promise<ReadSummary> {
  const summary: ReadSummary = { file, lines: 0, alarmRecords: 0, invalid: 0 };
  const input = createReadStream(file);
  let stream: NodeJS.ReadableStream = input;
  if (file.endsWith('.gz')) {
    const gunzip = createGunzip();
    input.on('error', (err) => gunzip.destroy(err));
    stream = input.pipe(gunzip);
  }
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      summary.lines += 1;
      // Raw audit events are most lines: only a line naming the alarm kind is parsed.
      if (!line.includes('"kaudit.Alarm"')) continue;
      let record: AlarmRecord | undefined;
      try {
        record = asAlarmRecord(JSON.parse(line));
      } catch {
        record = undefined;
      }
      if (record === undefined) {
        // An audit event can mention the kind in a body; only lines that start as an alarm count as broken ones.
        if (line.startsWith('{"kind":"kaudit.Alarm"')) summary.invalid += 1;
        continue;
      }
      summary.alarmRecords += 1;
      into.add(record);
    }
  } catch (err) {
    summary.error = (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'compressed file is truncated' : ioReason(err);
  }
  return summary;
}
