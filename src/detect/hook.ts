// The detection stage's contract: every parsed audit event passes through it; alarms it returns are records too.
import type { AuditEvent } from '../parse/audit.ts';
import type { RuleHit } from './engine.ts';

export interface AlarmOut {
  /** Stable id (cluster, rule, aggregation key, day) so an updated alarm replaces the earlier one downstream. */
  id: string;
  /** The alarm as one JSON document. */
  payload: string;
}

export interface Detector {
  /**
   * `redactedLine`: the forwarded text when redaction changed the event (alarms carry that one, never the original).
   * `hitsOut`: receives every rule hit, when given.
   */
  evaluate(event: AuditEvent, redactedLine?: string, hitsOut?: RuleHit[]): AlarmOut[];
}

/** Detection off: the pipeline's shape stays the same, the rule engine plugs in here. */
export const noDetection: Detector = {
  evaluate: () => [],
};
