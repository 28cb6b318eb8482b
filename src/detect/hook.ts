// The detection stage's contract: every parsed audit event passes through it; alarms it returns are records too.
import type { AuditEvent } from '../parse/audit.ts';

export interface AlarmOut {
  /** Stable id (cluster, rule, aggregation key, day) so an updated alarm replaces the earlier one downstream. */
  id: string;
  /** The alarm as one JSON document. */
  payload: string;
}

export interface Detector {
  evaluate(event: AuditEvent): AlarmOut[];
}

/** Detection off: the pipeline's shape stays the same, the rule engine plugs in here. */
export const noDetection: Detector = {
  evaluate: () => [],
};
