// Builds parsed audit events for rule tests from a base shape and overrides, in the field order Go writes.
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';

const GO_ORDER = ['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs', 'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp', 'stageTimestamp', 'annotations'];

/** `base` with `over` on top (an undefined value drops the field), written as the apiserver does and parsed. */
export function auditEventOf(base: Record<string, unknown>, over: Record<string, unknown>): AuditEvent {
  const obj: Record<string, unknown> = { ...base, ...over };
  // Keep Go's field order: bodies before the timestamps and annotations.
  const ordered: Record<string, unknown> = {};
  for (const k of GO_ORDER) if (obj[k] !== undefined) ordered[k] = obj[k];
  const r = parseAuditLine(JSON.stringify(ordered));
  if (!r.ok) throw new Error(r.error);
  return r.event;
}
