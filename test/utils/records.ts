// Records as the pipeline hands them to sinks (an audit event, an alarm), built by hand for sink tests.
import type { OutRecord } from '../../src/delivery/record.ts';

/** An audit event of stage ResponseComplete at `at` (RFC 3339), with `extra` fields over the usual ones. */
export function auditRecord(i: number, at: string, extra: Record<string, unknown> = {}, source = 'audit'): OutRecord {
  const doc = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `a-${i}`, stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/default/pods/p-${i}`, verb: 'get', user: { username: 'alice' }, ...extra,
    requestReceivedTimestamp: at, stageTimestamp: at,
  };
  return { id: `a-${i}/ResponseComplete`, kind: 'log', source, payload: Buffer.from(JSON.stringify(doc)) };
}

/** An alarm record as the rules emit it (docs/rules.md, Alarms), with the fields sinks read. */
export function alarmRecord(id: string, opts: { count?: number; firstSeen: string; lastSeen?: string; level?: string; category?: string; namespace?: string }): OutRecord {
  const lastSeen = opts.lastSeen ?? opts.firstSeen;
  const doc = {
    kind: 'kaudit.Alarm', alarmID: id,
    rule: { id: 'KA-EXEC-001', name: 'exec into a pod', type: 'system', category: opts.category ?? 'command-execution', level: opts.level ?? 'high' },
    firstSeen: opts.firstSeen, lastSeen, count: opts.count ?? 1, summary: 'alice ran sh in default/p-1',
    evidence: { user: 'alice', namespace: opts.namespace ?? 'default' },
    event: { stageTimestamp: lastSeen },
  };
  return { id, kind: 'alarm', source: 'alarms', payload: Buffer.from(JSON.stringify(doc)) };
}
