// The engine as the pipeline uses it: stages, dedup per auditID, scope, aggregation into alarms, redacted evidence.
import { describe, expect, it } from 'vitest';
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';
import { processChunk } from '../parse/chunk.ts';
import { compileRedaction, SECRET_MARKER } from '../parse/redact.ts';
import { alarmIdOf, DetectionEngine, isoMillis, type RuleHit } from './engine.ts';
import { compileRuleTexts } from './rules.ts';

type Json = Record<string, any>;

function obj(over: Json = {}): Json {
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: 'a-1', stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/payments/pods/ledger/exec?command=sh&container=app', verb: 'create',
    user: { username: 'mallory', groups: ['contractors', 'system:authenticated'] },
    sourceIPs: ['127.0.0.250', '127.0.0.143'], userAgent: 'kubectl/v1.26.1',
    objectRef: { resource: 'pods', subresource: 'exec', namespace: 'payments', name: 'ledger', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 101 },
    requestReceivedTimestamp: '2026-11-22T12:05:00.000000Z', stageTimestamp: '2026-11-22T12:05:00.100000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed' },
    ...over,
  };
}

function ev(over: Json = {}): AuditEvent {
  const parsed = parseAuditLine(JSON.stringify(obj(over)));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.event;
}

const EXEC_RULE = (extra = '') => `
rules:
  - id: KA-EXEC-001
    name: Command executed in a container
    category: command-execution
    level: high
    match: { field: objectRef.subresource, in: [exec, attach] }
    aggregate_by: [user.username, objectRef.namespace, objectRef.name]
    output: "{user.username} ran {exec.command} in {objectRef.namespace}/{objectRef.name}"
    risk: Arbitrary code in the container.
    solution: Check who and why.
${extra}`;

function engine(text: string, opts: { updateIntervalMs?: number; now?: () => number } = {}): DetectionEngine {
  return new DetectionEngine(compileRuleTexts([{ name: 'r.yaml', text }]), { clusterName: 'prod', clusterId: 'c-1', ...opts });
}

describe('timestamps', () => {
  it('isoMillis reads the apiserver\'s timestamps as Date.parse does, in and across minutes, and anything else through it', () => {
    const texts = [
      '2026-11-20T06:12:44.018271Z', '2026-11-20T06:12:59.999999Z', '2026-11-20T06:13:00Z', '2026-11-20T06:13:00.5Z',
      '2026-11-21T00:00:01.000001Z', '2026-11-20T06:12:44.018271+01:00', '2026-11-20T06:12:4x.0Z', '2024-02-29T23:59:60Z',
      'not a time', '', '2026-11-20T06:12:44.1234567891Z', '2026-11-20T06:12:44.Z', '2026-11-20 06:12:44.5Z',
    ];
    for (const t of texts) {
      const want = Date.parse(t);
      if (Number.isNaN(want)) expect(isoMillis(t)).toBeNaN();
      else expect(isoMillis(t)).toBe(Math.floor(want));
    }
  });
});

describe('stages and dedup', () => {
  it('looks at ResponseComplete only by default', () => {
    const e = engine(EXEC_RULE());
    expect(e.hits(ev({ stage: 'ResponseStarted' }))).toEqual([]);
    expect(e.hits(ev())).toHaveLength(1);
  });
  it('a rule on every stage hits an exec (logged at ResponseStarted and ResponseComplete) once', () => {
    const e = engine(EXEC_RULE('    stages: any\n'));
    expect(e.hits(ev({ stage: 'ResponseStarted' })).map((h) => h.stage)).toEqual(['ResponseStarted']);
    expect(e.hits(ev({ stage: 'ResponseComplete' }))).toEqual([]);
    expect(e.hits(ev({ auditID: 'a-2' }))).toHaveLength(1);
  });
  it('two rules on every stage each hit one request once, whichever of them hit first', () => {
    const both = EXEC_RULE('    stages: any\n') + EXEC_RULE('    stages: any\n').replace('rules:\n', '').replace('KA-EXEC-001', 'KA-EXEC-002');
    const e = engine(both);
    expect(e.hits(ev({ stage: 'ResponseStarted' })).map((h) => h.ruleId)).toEqual(['KA-EXEC-001', 'KA-EXEC-002']);
    expect(e.hits(ev({ stage: 'ResponseComplete' }))).toEqual([]);
    // Another request: both hit it again, at its first stage.
    expect(e.hits(ev({ auditID: 'a-2', stage: 'ResponseComplete' })).map((h) => h.ruleId)).toEqual(['KA-EXEC-001', 'KA-EXEC-002']);
  });
  it('remembers earlier stages of at most maxKeys requests, the oldest forgotten first', () => {
    const e = new DetectionEngine(compileRuleTexts([{ name: 'r.yaml', text: EXEC_RULE('    stages: any\n') }]), { clusterName: 'prod', clusterId: 'c-1', maxKeys: 2 });
    for (const id of ['a-1', 'a-2', 'a-3']) expect(e.hits(ev({ auditID: id, stage: 'ResponseStarted' }))).toHaveLength(1);
    expect(e.hits(ev({ auditID: 'a-3', stage: 'ResponseComplete' }))).toEqual([]);
    expect(e.hits(ev({ auditID: 'a-2', stage: 'ResponseComplete' }))).toEqual([]);
    // a-1 was pushed out by a-3: its last stage counts as a new request.
    expect(e.hits(ev({ auditID: 'a-1', stage: 'ResponseComplete' }))).toHaveLength(1);
  });
  it('a listed stage catches a 401 that is logged only at ResponseStarted', () => {
    const text = `rules: [ { id: AUTH, name: auth, category: failed-auth, level: low, stages: [ResponseStarted], match: { field: responseStatus.code, equals: 401 } } ]`;
    const e = engine(text);
    expect(e.hits(ev({ stage: 'ResponseStarted', user: {}, responseStatus: { code: 401 } }))).toHaveLength(1);
  });
  it('evaluates every enabled rule on an event, not just the first that matches', () => {
    const text = `${EXEC_RULE()}
  - { id: B, name: b, category: test, level: low, match: { field: verb, equals: create } }
  - { id: C, name: c, category: test, level: low, enabled: false, match: { field: verb, equals: create } }`;
    expect(engine(text).hits(ev()).map((h) => h.ruleId)).toEqual(['KA-EXEC-001', 'B']);
  });
});

describe('scope', () => {
  const scoped = `rules: [ { id: S, name: s, category: test, level: low, scope: { namespaces: [payments] }, match: { field: verb, exists: true } } ]`;
  it('limits a rule to its namespaces and skips cluster-scoped events', () => {
    const e = engine(scoped);
    expect(e.hits(ev())).toHaveLength(1);
    expect(e.hits(ev({ auditID: 'b', objectRef: { resource: 'pods', namespace: 'web', name: 'x' } }))).toEqual([]);
    expect(e.hits(ev({ auditID: 'c', objectRef: { resource: 'clusterroles', name: 'x' } }))).toEqual([]);
  });
  it('without scope a rule sees cluster-scoped events too', () => {
    const e = engine(`rules: [ { id: S, name: s, category: test, level: low, match: { field: objectRef.resource, equals: clusterroles } } ]`);
    expect(e.hits(ev({ objectRef: { resource: 'clusterroles', name: 'x' } }))).toHaveLength(1);
  });
});

describe('hits', () => {
  it('carry rule, auditID, aggregation key and the rendered summary', () => {
    const [hit] = engine(EXEC_RULE()).hits(ev({ requestURI: '/api/v1/namespaces/payments/pods/ledger/exec?command=cat&command=%2Fetc%2Fpasswd' }));
    expect(hit).toEqual({
      ruleId: 'KA-EXEC-001', ruleName: 'Command executed in a container', category: 'command-execution', level: 'high',
      auditID: 'a-1', stage: 'ResponseComplete', key: ['mallory', 'payments', 'ledger'], summary: 'mallory ran cat /etc/passwd in payments/ledger',
    });
  });
});

describe('aggregation into alarms', () => {
  it('emits the first hit at once with the alarm record fields', () => {
    const [alarm] = engine(EXEC_RULE()).evaluate(ev());
    const a = JSON.parse(alarm.payload);
    expect(alarm.id).toBe(a.alarmID);
    expect(a).toMatchObject({
      kind: 'kaudit.Alarm',
      rule: { id: 'KA-EXEC-001', name: 'Command executed in a container', type: 'custom', category: 'command-execution', level: 'high' },
      cluster: { name: 'prod', id: 'c-1' },
      firstSeen: '2026-11-22T12:05:00.100000Z', lastSeen: '2026-11-22T12:05:00.100000Z', count: 1,
      summary: 'mallory ran sh in payments/ledger',
      evidence: {
        user: 'mallory', groups: ['contractors', 'system:authenticated'], sourceIPs: ['127.0.0.250', '127.0.0.143'], sourceIP: '127.0.0.143',
        userAgent: 'kubectl/v1.26.1', verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'payments', name: 'ledger',
        code: 101, decision: 'allow', reason: 'RBAC: allowed', exec: { container: 'app', command: 'sh' },
      },
      risk: 'Arbitrary code in the container.', solution: 'Check who and why.',
    });
    expect(a.event.auditID).toBe('a-1');
  });

  it('counts later hits and emits an update at most once per interval, on the next hit after it', () => {
    let now = 1_000_000;
    const e = engine(EXEC_RULE(), { updateIntervalMs: 60_000, now: () => now });
    const at = (i: number) => ev({ auditID: `x-${i}`, stageTimestamp: `2026-11-22T12:0${i}:00.000000Z` });
    const first = e.evaluate(at(0));
    expect(first).toHaveLength(1);
    now += 10_000;
    expect(e.evaluate(at(1))).toEqual([]);
    now += 10_000;
    expect(e.evaluate(at(2))).toEqual([]);
    now += 45_000;
    const [update] = e.evaluate(at(3));
    expect(update.id).toBe(first[0].id);
    expect(JSON.parse(update.payload)).toMatchObject({ count: 4, firstSeen: '2026-11-22T12:00:00.000000Z', lastSeen: '2026-11-22T12:03:00.000000Z' });
    now += 1_000;
    expect(e.evaluate(at(4))).toEqual([]);
  });

  it('keeps one alarm per aggregation key and day, with ids stable across engines', () => {
    const a = engine(EXEC_RULE());
    const b = engine(EXEC_RULE());
    const id1 = a.evaluate(ev())[0].id;
    expect(b.evaluate(ev({ auditID: 'other' }))[0].id).toBe(id1);
    expect(id1).toBe(alarmIdOf('prod', 'KA-EXEC-001', ['mallory', 'payments', 'ledger'], '2026-11-22'));
    const otherPod = a.evaluate(ev({ auditID: 'p', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'payments', name: 'api' } }));
    expect(otherPod[0].id).not.toBe(id1);
    const nextDay = a.evaluate(ev({ auditID: 'd', stageTimestamp: '2026-11-23T00:00:01.000000Z' }));
    expect(nextDay[0].id).not.toBe(id1);
    const otherCluster = new DetectionEngine(compileRuleTexts([{ name: 'r', text: EXEC_RULE() }]), { clusterName: 'stage', clusterId: '' });
    expect(otherCluster.evaluate(ev())[0].id).not.toBe(id1);
  });

  it('with a zero interval every hit is an update', () => {
    const e = engine(EXEC_RULE(), { updateIntervalMs: 0 });
    const counts = [1, 2, 3].map((i) => JSON.parse(e.evaluate(ev({ auditID: `z-${i}` }))[0].payload).count);
    expect(counts).toEqual([1, 2, 3]);
  });

  it('passes every hit to hitsOut, updates or not', () => {
    const e = engine(EXEC_RULE());
    const out: RuleHit[] = [];
    e.evaluate(ev({ auditID: '1' }), undefined, out);
    e.evaluate(ev({ auditID: '2' }), undefined, out);
    expect(out.map((h) => h.auditID)).toEqual(['1', '2']);
  });
});

describe('alarms carry the redacted event', () => {
  it('a Secret created with data raises an alarm whose event has the values blanked', () => {
    const text = `rules: [ { id: SEC, name: secret write, category: credential-access, level: medium, match: { all: [ { field: objectRef.resource, equals: secrets }, { field: verb, equals: create } ] } } ]`;
    const secretValue = Buffer.from('hunter2-very-secret').toString('base64');
    const line = JSON.stringify(obj({
      requestURI: '/api/v1/namespaces/payments/secrets', responseStatus: { code: 201 },
      objectRef: { resource: 'secrets', namespace: 'payments', name: 's', apiVersion: 'v1' },
      requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 's', namespace: 'payments' }, data: { password: secretValue } },
    }));
    const ctx = { redactor: compileRedaction({ secrets: true, token_requests: true, paths: ['user.username'] }), detector: engine(text) };
    const result = processChunk(Buffer.from(`${line}\n`), ctx);
    expect(result.alarms).toHaveLength(1);
    expect(result.alarms[0].payload).not.toContain(secretValue);
    const alarm = JSON.parse(result.alarms[0].payload);
    expect(alarm.event.requestObject.data.password).toBe(SECRET_MARKER);
    // A path outside the bodies is blanked in the forwarded line only: the alarm's event is that line.
    expect(alarm.event.user.username).not.toBe('mallory');
  });
});

describe('alarms show only what redaction leaves', () => {
  const execLine = (command: string[]) => JSON.stringify(obj({
    requestURI: `/api/v1/namespaces/payments/pods/ledger/exec?${command.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=app`,
  }));
  const alarmOf = (line: string, redaction: Parameters<typeof compileRedaction>[0], rules = EXEC_RULE()) => {
    const result = processChunk(Buffer.from(`${line}\n`), { redactor: compileRedaction(redaction), detector: engine(rules), collectHits: true });
    expect(result.alarms).toHaveLength(1);
    return { payload: result.alarms[0].payload, alarm: JSON.parse(result.alarms[0].payload), hits: result.hits! };
  };

  it('an exec alarm keeps no password from the command line once redaction.paths blanks requestURI', () => {
    const { payload, alarm, hits } = alarmOf(execLine(['mysql', '-uroot', '-pHunter2-exec-pw']),
      { secrets: true, token_requests: true, paths: ['requestURI'], patterns: { enabled: false, keys: {}, values: {}, skip: [] } });
    expect(payload).not.toContain('Hunter2-exec-pw');
    expect(JSON.stringify(hits)).not.toContain('Hunter2-exec-pw');
    expect(alarm.event.requestURI).toBe('[redacted: requestURI]');
    expect(alarm.summary).toBe('mallory ran (none) in payments/ledger');
    expect(alarm.evidence).toMatchObject({ user: 'mallory', exec: { command: '', container: '' } });
  });

  it('an exec alarm shows the command with the password blanked by pattern, the rest as it ran', () => {
    const { payload, alarm } = alarmOf(execLine(['mysql', '-uroot', '-pHunter2-exec-pw', 'ledger']), { secrets: true, token_requests: true, paths: [] });
    expect(payload).not.toContain('Hunter2-exec-pw');
    expect(alarm.summary).toBe('mallory ran mysql -uroot -p[redacted: mysql_password] ledger in payments/ledger');
    expect(alarm.evidence.exec).toEqual({ container: 'app', command: 'mysql -uroot -p[redacted: mysql_password] ledger' });
  });

  it('rules match the values as written; the alarm shows them blanked', () => {
    const rule = `rules: [ { id: LEAK, name: known leaked password, category: credential-access, level: high, output: "{verb} {objectRef.name}: {requestObject.data.DB_PASSWORD}", match: { field: requestObject.data.DB_PASSWORD, equals: Hunter2-leaked } } ]`;
    const line = JSON.stringify(obj({
      requestURI: '/api/v1/namespaces/payments/configmaps', responseStatus: { code: 201 },
      objectRef: { resource: 'configmaps', namespace: 'payments', name: 'app', apiVersion: 'v1' },
      requestObject: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'app', namespace: 'payments' }, data: { DB_PASSWORD: 'Hunter2-leaked' } },
    }));
    const { payload, alarm } = alarmOf(line, { secrets: true, token_requests: true, paths: [] }, rule);
    expect(payload).not.toContain('Hunter2-leaked');
    expect(alarm.summary).toBe('create app: [redacted: password]');
  });

  it('the credentials-in-ConfigMap alarm names the keys and carries none of the values it found', () => {
    const rule = `rules: [ { id: CM, name: credentials in configmap, category: credential-access, level: medium, output: "{verb} configmap with credentials", match: { all: [ { field: objectRef.resource, equals: configmaps }, { field: "requestObject.data[*]", ignore_case: true, contains: [password, aws_secret_access_key, "-----BEGIN RSA PRIVATE KEY"] } ] } } ]`;
    const data = {
      DB_PASSWORD: 'Hunter2-configmap-pw',
      'app.env': 'LOG_LEVEL=info\nDB_PASSWORD=Hunter2-in-env-file\n',
      'aws-config': '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY\n',
      'id_rsa': '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA-private-key-body\n-----END RSA PRIVATE KEY-----\n',
    };
    const line = JSON.stringify(obj({
      requestURI: '/api/v1/namespaces/payments/configmaps', responseStatus: { code: 201 },
      objectRef: { resource: 'configmaps', namespace: 'payments', name: 'app', apiVersion: 'v1' },
      requestObject: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'app', namespace: 'payments' }, data },
    }));
    const { payload, alarm } = alarmOf(line, { secrets: true, token_requests: true, paths: [] }, rule);
    for (const v of ['Hunter2-configmap-pw', 'Hunter2-in-env-file', 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY', 'MIIEowIBAAKCAQEA-private-key-body']) {
      expect(payload).not.toContain(v);
    }
    expect(alarm.event.requestObject.data).toEqual({
      DB_PASSWORD: '[redacted: password]',
      'app.env': 'LOG_LEVEL=info\nDB_PASSWORD=[redacted: password]\n',
      'aws-config': '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = [redacted: access_key]\n',
      'id_rsa': '-----BEGIN RSA PRIVATE KEY-----[redacted: pem_private_key]-----END RSA PRIVATE KEY-----\n',
    });
  });
});

describe('aggregation state across a restart and a reload', () => {
  it('a restored alarm keeps its id, first seen and count, and is emitted again at its next hit', () => {
    let now = 1_000_000;
    const a = engine(EXEC_RULE(), { now: () => now });
    const [first] = a.evaluate(ev({ auditID: '1' }));
    a.evaluate(ev({ auditID: '2' }));
    const { state, version } = a.saveState();
    expect(version).toBe(a.stateVersion);
    expect(state.alarms).toEqual([[first.id, '2026-11-22T12:05:00.100000Z', '2026-11-22T12:05:00.100000Z', 2]]);
    // Round trip through JSON, as on disk.
    now = Date.parse('2026-11-22T13:00:00Z');
    const b = engine(EXEC_RULE(), { now: () => now });
    expect(b.loadState(JSON.parse(JSON.stringify(state)))).toBe(1);
    const [again] = b.evaluate(ev({ auditID: '3', stageTimestamp: '2026-11-22T12:30:00.000000Z' }));
    expect(again.id).toBe(first.id);
    expect(JSON.parse(again.payload)).toMatchObject({ count: 3, firstSeen: '2026-11-22T12:05:00.100000Z', lastSeen: '2026-11-22T12:30:00.000000Z' });
    // Emitted once after the restore; later hits wait for the interval again.
    expect(b.evaluate(ev({ auditID: '4' }))).toEqual([]);
  });

  it('drops saved alarms older than two days and ignores damaged entries', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    const e = engine(EXEC_RULE(), { now: () => now });
    const n = e.loadState({ version: 1, alarms: [
      ['old', '2026-11-10T00:00:00Z', '2026-11-10T00:00:00Z', 5],
      ['recent', '2026-11-21T00:00:00Z', '2026-11-21T10:00:00Z', 2],
      ['broken', 'x'] as never,
    ] });
    expect(n).toBe(1);
    expect(e.saveState().state.alarms.map((a) => a[0])).toEqual(['recent']);
    expect(e.loadState({ version: 9 } as never)).toBe(0);
  });

  it('a reload swaps the rules and keeps alarms aggregating under the same id', () => {
    const e = engine(EXEC_RULE(), { updateIntervalMs: 0 });
    const [first] = e.evaluate(ev({ auditID: '1' }));
    e.setRules(compileRuleTexts([{ name: 'r.yaml', text: `${EXEC_RULE()}
  - { id: B, name: b, category: test, level: low, match: { field: verb, equals: create } }` }]));
    const after = e.evaluate(ev({ auditID: '2' }));
    expect(after.map((a) => JSON.parse(a.payload).rule.id)).toEqual(['KA-EXEC-001', 'B']);
    expect(after[0].id).toBe(first.id);
    expect(JSON.parse(after[0].payload).count).toBe(2);
  });
});

describe('blind rules', () => {
  const BODY_RULE = `rules:
  - id: PRIV
    name: privileged
    category: suspicious-container
    level: high
    match: { all: [ { field: verb, in: [create, update] }, { field: objectRef.resource, equals: pods }, { field: "containers[*].securityContext.privileged", equals: true } ] }
  - { id: HEAD, name: head only, category: test, level: low, match: { field: objectRef.resource, equals: pods } }`;
  const pod = (over: Json = {}) => ev({
    requestURI: '/api/v1/namespaces/payments/pods', objectRef: { resource: 'pods', namespace: 'payments', name: 'p' }, ...over,
  });

  it('reports a body-reading rule once when writes to its resource arrive without bodies, and again when bodies return', () => {
    const e = engine(BODY_RULE);
    e.evaluate(pod({ level: 'Metadata', auditID: '1' }));
    e.evaluate(pod({ level: 'Metadata', auditID: '2' }));
    expect(e.takeNotes()?.blind).toEqual([{ rule: 'PRIV', resource: 'pods', blind: true }]);
    e.evaluate(pod({ level: 'Metadata', auditID: '3' }));
    expect(e.takeNotes()).toBeUndefined();
    e.evaluate(pod({ auditID: '4', requestObject: { kind: 'Pod', spec: { containers: [] } } }));
    expect(e.takeNotes()?.blind).toEqual([{ rule: 'PRIV', resource: 'pods', blind: false }]);
  });

  it('judges by what the rule reached for: a branch that reads only the head is not blind without bodies', () => {
    const e = engine(`rules:
  - id: MIXED
    name: mixed
    category: test
    level: high
    match:
      any:
        - all: [ { field: objectRef.resource, equals: leases }, { field: objectRef.namespace, equals: elsewhere } ]
        - all: [ { field: objectRef.resource, equals: pods }, { field: "pod_specs[*].nodeName", exists: true } ]`);
    e.evaluate(ev({ auditID: 'l', level: 'Metadata', verb: 'update', objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: 'n' } }));
    expect(e.takeNotes()).toBeUndefined();
    e.evaluate(pod({ auditID: 'p', level: 'Metadata', verb: 'create' }));
    expect(e.takeNotes()?.blind).toEqual([{ rule: 'MIXED', resource: 'pods', blind: true }]);
  });

  it('a body-reading macro shared by two rules reports both, though it is evaluated once per event', () => {
    const e = engine(`macros:
  privileged: { field: "containers[*].securityContext.privileged", equals: true }
rules:
  - { id: A, name: a, category: test, level: high, match: { all: [ { field: objectRef.resource, equals: pods }, { macro: privileged } ] } }
  - { id: B, name: b, category: test, level: high, match: { all: [ { field: verb, equals: create }, { macro: privileged } ] } }`);
    e.evaluate(pod({ auditID: 'm', level: 'Metadata' }));
    expect(e.takeNotes()?.blind.map((b) => b.rule)).toEqual(['A', 'B']);
    // A refused exec at RequestResponse level has no body either, but the policy is not what hides it.
    e.evaluate(pod({ auditID: 'x', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'payments', name: 'p' } }));
    expect(e.takeNotes()?.blind).toEqual([{ rule: 'A', resource: 'pods', blind: false }, { rule: 'B', resource: 'pods', blind: false }]);
  });

  it('says nothing for reads, for resources the rule does not watch, or when bodies are logged', () => {
    const e = engine(BODY_RULE);
    e.evaluate(pod({ level: 'Metadata', verb: 'get' }));
    e.evaluate(ev({ level: 'Metadata', verb: 'create', objectRef: { resource: 'configmaps', namespace: 'x', name: 'y' } }));
    e.evaluate(pod({ auditID: '5', requestObject: { kind: 'Pod', spec: { containers: [] } } }));
    expect(e.takeNotes()).toBeUndefined();
  });
});

describe('macros', () => {
  it('a macro shared by rules is decided afresh for each event evaluated', () => {
    const e = engine(`macros:
  mallory: { field: user.username, equals: mallory }
rules:
  - { id: A, name: a, category: test, level: high, match: { all: [ { macro: mallory }, { field: verb, equals: get } ] }, aggregate_by: [auditID] }
  - { id: B, name: b, category: test, level: high, match: { all: [ { macro: mallory }, { field: verb, equals: list } ] }, aggregate_by: [auditID] }`);
    const rules = (auditID: string, user: string, verb: string) =>
      e.evaluate(ev({ auditID, user: { username: user }, verb })).map((a) => JSON.parse(a.payload).rule.id);
    expect(rules('1', 'mallory', 'get')).toEqual(['A']);
    expect(rules('2', 'alice', 'get')).toEqual([]);
    expect(rules('3', 'mallory', 'list')).toEqual(['B']);
    expect(rules('4', 'alice', 'list')).toEqual([]);
    expect(rules('5', 'mallory', 'get')).toEqual(['A']);
  });
});

describe('rate windows', () => {
  const RATE = `
rules:
  - id: T-RATE
    name: many requests from one address
    category: test
    level: low
    match: { field: verb, equals: get }
    rate: { group_by: [sourceIP], window: 5m, more_than: 2 }
`;
  const get = (ip: string, n: number, second: number) =>
    ev({ auditID: `a-${ip}-${n}`, verb: 'get', sourceIPs: [ip], requestReceivedTimestamp: `2026-11-22T12:05:${String(second).padStart(2, '0')}.000000Z` });
  const fires = (e: DetectionEngine, ip: string, n: number, second: number) => e.hits(get(ip, n, second)).length > 0;

  it('fires once per group and window when the count passes the threshold, and again in a new window', () => {
    const e = engine(RATE);
    expect([1, 2, 3, 4].map((n) => fires(e, '10.0.0.1', n, n))).toEqual([false, false, true, false]);
    expect(fires(e, '10.0.0.2', 1, 5)).toBe(false); // another group counts on its own
    const later = (n: number) => e.hits(ev({ auditID: `b-${n}`, verb: 'get', sourceIPs: ['10.0.0.1'], requestReceivedTimestamp: '2026-11-22T12:11:00.000000Z' })).length > 0;
    expect([1, 2, 3].map(later)).toEqual([false, false, true]);
  });

  it('keeps at most maxKeys windows per rule, dropping the one that started first', () => {
    const e = new DetectionEngine(compileRuleTexts([{ name: 'r.yaml', text: RATE }]), { clusterName: 'prod', clusterId: 'c-1', maxKeys: 2 });
    expect(fires(e, '10.0.0.1', 1, 1)).toBe(false);
    expect(fires(e, '10.0.0.1', 2, 2)).toBe(false);
    expect(fires(e, '10.0.0.2', 1, 3)).toBe(false);
    expect(fires(e, '10.0.0.3', 1, 4)).toBe(false); // a third window: 10.0.0.1's (the oldest) goes
    expect(fires(e, '10.0.0.1', 3, 5)).toBe(false); // counted from one again
    expect(fires(e, '10.0.0.1', 4, 6)).toBe(false);
    expect(fires(e, '10.0.0.1', 5, 7)).toBe(true);
  });
});
