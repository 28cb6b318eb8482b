// `kaudit report [--output FILE] INPUT...`: an HTML alarm report from the alarm records of NDJSON files (a file sink's output).
import { ioReason } from '../config/io-error.ts';
import { AlarmSet, readAlarmFile } from '../report/alarm-records.ts';
import { writeReport } from '../report/write.ts';

export const DEFAULT_REPORT_FILE = 'kaudit-report.html';

/** Exit code: 1 an input could not be read completely or the report not written, 0 otherwise. */
export async function reportCommand(inputs: string[], output: string = DEFAULT_REPORT_FILE): Promise<number> {
  const alarms = new AlarmSet();
  let failed = false;
  for (const file of inputs) {
    const s = await readAlarmFile(file, alarms);
    process.stdout.write(`${file}: ${s.lines} lines, ${s.alarmRecords} alarm records, ${s.invalid} unreadable alarm records${s.error ? `, ERROR: ${s.error}` : ''}\n`);
    if (s.error) failed = true;
  }
  try {
    const bytes = await writeReport(output, alarms.values(), inputs);
    process.stdout.write(`report: ${output}: ${alarms.size} alarms, ${bytes} bytes\n`);
  } catch (err) {
    process.stderr.write(`kaudit: cannot write the report to ${output}: ${ioReason(err)}\n`);
    return 1;
  }
  return failed ? 1 : 0;
}
