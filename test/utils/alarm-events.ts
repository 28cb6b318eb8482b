// Audit events that raise alarms of several levels on several days, one with hostile field values: the report tests' input.

/** A user name and user agent that would run if a page put them in as markup. */
export const HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

/** An alarm record as the tests read it (docs/rules.md, *Alarms*). */
export interface Alarm {
  kind: string; alarmID: string; count: number; firstSeen: string; lastSeen: string; summary: string; risk: string; solution: string;
  rule: { id: string; name: string; level: string; category: string }; evidence: Record<string, unknown>; event: Record<string, unknown>;
}

/** The latest record of each alarm among NDJSON lines (a file sink's output): the one with the highest count. */
export function latestAlarms(text: string): Alarm[] {
  const latest = new Map<string, Alarm>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"kind":"kaudit.Alarm"')) continue;
    const a = JSON.parse(line) as Alarm;
    if ((latest.get(a.alarmID)?.count ?? 0) < a.count) latest.set(a.alarmID, a);
  }
  return [...latest.values()];
}

let seq = 0;
/** One pods/<sub> request (exec, portforward) or a secret read, on `day`, at Metadata level as most policies log them. */
export function auditEvent(o: { day: string; time?: string; user: string; ns: string; name: string; sub?: string; ua?: string; ip?: string; resource?: string }): string {
  const id = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const ts = `${o.day}T${o.time ?? '10:00:00'}.000000Z`;
  const resource = o.resource ?? 'pods';
  const uri = `/api/v1/namespaces/${o.ns}/${resource}/${o.name}${o.sub ? `/${o.sub}` : ''}${o.sub === 'exec' ? '?command=sh&container=app&stdin=true&tty=true' : ''}`;
  return JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: id, stage: 'ResponseComplete', requestURI: uri, verb: o.sub ? 'create' : 'get',
    user: { username: o.user, groups: ['system:authenticated'] }, sourceIPs: [o.ip ?? '10.20.4.7'], userAgent: o.ua ?? 'kubectl/v1.30.0 (linux/amd64) kubernetes/abc',
    objectRef: { resource, namespace: o.ns, name: o.name, apiVersion: 'v1', ...(o.sub ? { subresource: o.sub } : {}) },
    responseStatus: { metadata: {}, code: o.sub ? 101 : 200 }, requestReceivedTimestamp: ts, stageTimestamp: ts,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  });
}

/** Alarms on four days twelve days apart at most (the trend shows the last seven), of three levels, one of them hostile. */
export const REPORT_EVENTS = [
  auditEvent({ day: '2026-11-10', user: 'old-admin', ns: 'payments', name: 'ledger-0', sub: 'exec' }),
  auditEvent({ day: '2026-11-20', user: 'dana@corp.example', ns: 'payments', name: 'ledger-db-0', sub: 'portforward' }),
  auditEvent({ day: '2026-11-20', time: '11:00:00', user: 'dana@corp.example', ns: 'payments', name: 'ledger-db-0', sub: 'portforward' }),
  auditEvent({ day: '2026-11-21', user: 'dana@corp.example', ns: 'payments', name: 'ledger-db-0', sub: 'exec' }),
  auditEvent({ day: '2026-11-21', user: HOSTILE, ns: 'storefront', name: 'cart-7d9f', sub: 'exec', ua: HOSTILE, ip: '203.0.113.9' }),
  auditEvent({ day: '2026-11-22', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' }),
  auditEvent({ day: '2026-11-22', time: '12:00:00', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' }),
  auditEvent({ day: '2026-11-22', time: '13:00:00', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' }),
];

