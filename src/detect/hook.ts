// The detection stage's contract: every parsed audit event and every record of other sources passes through it; alarms it returns are records too.
import type { AuditEvent } from '../parse/audit.ts';
import type { RuleHit } from './engine.ts';

export interface AlarmOut {
  /** Stable id (cluster, rule, aggregation key, day) so an updated alarm replaces the earlier one downstream. */
  id: string;
  /** The alarm as one JSON document. */
  payload: string;
}

/** What detection tells the main thread besides alarms: counters and findings since the last report. */
export interface DetectionNotes {
  /** Hits an allowlist entry suppressed. */
  allowlisted: Array<{ rule: string; entry: string; count: number }>;
  /** A body-reading rule met writes to `resource` without bodies (`blind`), or met bodies again (not blind). */
  blind: Array<{ rule: string; resource: string; blind: boolean }>;
}

export interface Detector {
  /**
   * Rules match the event as the apiserver wrote it. `forwarded`: the text that is forwarded when redaction changes
   * the event (undefined when it does not); alarms and hits show that one, never the original. Called after the
   * rules matched, and only when something is shown: redaction can then walk bodies the rules already parsed.
   * `hitsOut`: receives every rule hit, when given.
   */
  evaluate(event: AuditEvent, forwarded?: () => string | undefined, hitsOut?: RuleHit[]): AlarmOut[];
  /**
   * The rules on `source` (`source:` in a rule file: containers, ingress, k8s_events, syslog, ...) over one record of
   * that source, the JSON object it is forwarded as. `forwarded` and `hitsOut` as for evaluate(): rules match the
   * record as read, alarms show the forwarded text (redacted) and carry it as their evidence.
   */
  evaluateRecord(source: string, record: Record<string, unknown>, forwarded?: () => string | undefined, hitsOut?: RuleHit[]): AlarmOut[];
  /** Counters since the last call, or undefined when there is nothing to report. */
  takeNotes?(): DetectionNotes | undefined;
}

/** Detection off: the pipeline's shape stays the same, the rule engine plugs in here. */
export const noDetection: Detector = {
  evaluate: () => [],
  evaluateRecord: () => [],
};
