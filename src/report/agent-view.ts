// The agent's read-only report of the alarms it raised: their latest records, kept across restarts, with the counts
// of the detection state the parse workers persist.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../delivery/atomic-file.ts';
import type { AlarmOut } from '../detect/hook.ts';
import type { SavedAlarms } from '../detect/engine.ts';
import { asAlarmRecord, type AlarmRecord } from './alarm-records.ts';
import { buildReport } from './model.ts';
import { renderReport } from './page.ts';

/** Alarms the view keeps (the most recently updated); the sinks keep them all. */
export const VIEW_MAX_ALARMS = 1000;
/** A record larger than this is kept without its event, so the view stays small beside the agent's work. */
const MAX_RECORD_BYTES = 16 * 1024;

export class AlarmView {
  /** Alarm id → its latest record as text, least recently updated first. */
  readonly #alarms = new Map<string, string>();
  readonly #stateDir: string;
  readonly #max: number;
  #changed = false;

  constructor(stateDir: string, max = VIEW_MAX_ALARMS) {
    this.#stateDir = stateDir;
    this.#max = max;
  }

  get #file(): string {
    return join(this.#stateDir, 'report', 'alarms.ndjson');
  }

  /** Reads what the last run kept; a missing or damaged file starts an empty view (the alarms are in the sinks). */
  async load(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch {
      return 0;
    }
    for (const line of text.split('\n')) {
      try {
        const record = asAlarmRecord(JSON.parse(line));
        if (record !== undefined) this.#keep(record.alarmID, line);
      } catch {
        // A line cut short by a crash: that alarm comes back with its next hit.
      }
    }
    this.#changed = false;
    return this.#alarms.size;
  }

  /** Alarm records as detection emitted them (each is the alarm's newest state). */
  record(alarms: readonly AlarmOut[]): void {
    for (const a of alarms) this.#keep(a.id, a.payload.length > MAX_RECORD_BYTES ? withoutEvent(a.payload) : a.payload);
  }

  #keep(id: string, payload: string): void {
    this.#alarms.delete(id);
    this.#alarms.set(id, payload);
    if (this.#alarms.size > this.#max) this.#alarms.delete(this.#alarms.keys().next().value!);
    this.#changed = true;
  }

  /** Writes the kept records when they changed (temp file, fsync, rename). */
  async save(): Promise<void> {
    if (!this.#changed) return;
    this.#changed = false;
    try {
      await mkdir(join(this.#stateDir, 'report'), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.#file, `${[...this.#alarms.values()].join('\n')}\n`);
    } catch (err) {
      this.#changed = true;
      throw err;
    }
  }

  /** The report page, counts taken from the detection state when it has counted further than the last record. */
  async render(): Promise<string> {
    const counts = await persistedCounts(join(this.#stateDir, 'detection'));
    const records: AlarmRecord[] = [];
    for (const payload of this.#alarms.values()) {
      const record = asAlarmRecord(JSON.parse(payload));
      if (record === undefined) continue;
      const c = counts.get(record.alarmID);
      records.push(c !== undefined && c.count > record.count ? { ...record, ...c } : record);
    }
    return renderReport(buildReport(records, { title: 'kaudit: alarms raised by this agent', inputs: [`the agent's state in ${this.#stateDir}`] }));
  }
}

/**
 * Each parse worker's aggregation state (`detection/alarms-<n>.json`, saved every 2 s): a worker counts the hits in
 * the events it parsed, so an alarm's hits are the sum over the workers.
 */
async function persistedCounts(dir: string): Promise<Map<string, { firstSeen: string; lastSeen: string; count: number }>> {
  const out = new Map<string, { firstSeen: string; lastSeen: string; count: number }>();
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const name of files.filter((f) => /^alarms-\d+\.json$/.test(f))) {
    let saved: SavedAlarms;
    try {
      saved = JSON.parse(await readFile(join(dir, name), 'utf8')) as SavedAlarms;
    } catch {
      continue; // being replaced, or damaged: the records' own counts stand
    }
    if (saved?.version !== 1 || !Array.isArray(saved.alarms)) continue;
    for (const [id, firstSeen, lastSeen, count] of saved.alarms) {
      const had = out.get(id);
      if (had === undefined) out.set(id, { firstSeen, lastSeen, count });
      else out.set(id, { firstSeen: firstSeen < had.firstSeen ? firstSeen : had.firstSeen, lastSeen: lastSeen > had.lastSeen ? lastSeen : had.lastSeen, count: had.count + count });
    }
  }
  return out;
}

function withoutEvent(payload: string): string {
  const record = JSON.parse(payload) as Record<string, unknown>;
  record.event = { note: `event not kept in the agent's report view (the alarm record is over ${MAX_RECORD_BYTES / 1024} KiB); the sinks have it` };
  return JSON.stringify(record);
}
