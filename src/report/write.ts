// Writes a report file from alarm records: aggregated, rendered, written whole (via a temp name).
import { rename, writeFile } from 'node:fs/promises';
import type { AlarmRecord } from './alarm-records.ts';
import { buildReport } from './model.ts';
import { renderReport } from './page.ts';

export const REPORT_TITLE = 'kaudit alarm report';

/** Renders `alarms` into `file`; returns the size written. An interrupted run leaves no half-written report. */
export async function writeReport(file: string, alarms: AlarmRecord[], inputs: string[]): Promise<number> {
  const html = renderReport(buildReport(alarms, { title: REPORT_TITLE, inputs }));
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, html);
  await rename(tmp, file);
  return Buffer.byteLength(html);
}
