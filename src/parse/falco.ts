// Falco's alerts recognised in a syslog message: its JSON output (`json_output: true`) or its text output.
//
// Falco sends both to syslog (its syslog output, or program output through logger/rsyslog). JSON carries the rule,
// priority, output, tags and output fields; text is `<time>: <Priority> <output>` and names no rule.

/** What a record carries of a Falco alert. */
export interface FalcoAlert {
  /** Falco's rule name (JSON output only: the text output does not name it). */
  rule?: string;
  /** As Falco writes it: Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug. */
  priority: string;
  output: string;
  tags?: string[];
  output_fields?: Record<string, unknown>;
  /** Falco's event source (syscall, k8s_audit, ...), JSON output only. */
  source?: string;
}

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Info', 'Debug'];
/** `hh:mm:ss.nnnnnnnnn` or, with `time_format_iso_8601`, `YYYY-MM-DDThh:mm:ss.nnnnnnnnn+0000`. */
const TEXT = new RegExp(`^(?:\\d\\d:\\d\\d:\\d\\d\\.\\d{9}|\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}[+-]\\d{4}): (${PRIORITIES.join('|')}) ([^]*)$`);

/** Falco's alert in `message`, or undefined when the message is not one. */
export function falcoAlert(message: string): FalcoAlert | undefined {
  return message.startsWith('{') ? fromJson(message) : fromText(message);
}

function fromJson(message: string): FalcoAlert | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(message);
  } catch {
    return undefined;
  }
  const d = doc as Record<string, unknown> | null;
  if (d === null || typeof d !== 'object' || typeof d.rule !== 'string' || typeof d.priority !== 'string' || !PRIORITIES.includes(d.priority)) return undefined;
  const alert: FalcoAlert = { rule: d.rule, priority: d.priority, output: typeof d.output === 'string' ? d.output : '' };
  if (Array.isArray(d.tags)) alert.tags = d.tags.filter((t): t is string => typeof t === 'string');
  if (typeof d.output_fields === 'object' && d.output_fields !== null && !Array.isArray(d.output_fields)) alert.output_fields = d.output_fields as Record<string, unknown>;
  if (typeof d.source === 'string') alert.source = d.source;
  return alert;
}

function fromText(message: string): FalcoAlert | undefined {
  const m = TEXT.exec(message);
  return m === null ? undefined : { priority: m[1], output: m[2] };
}
