// Rules on records of other sources than audit (`source:`): field paths into the record, scoping, rates, allowlists, alarms.
import { describe, expect, it } from 'vitest';
import { parseAuditLine } from '../parse/audit.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { compileRuleTexts, RuleError } from './rules.ts';

type Json = Record<string, any>;

function engine(text: string, opts: { updateIntervalMs?: number; now?: () => number } = {}): DetectionEngine {
  return new DetectionEngine(compileRuleTexts([{ name: 'r.yaml', text }]), { clusterName: 'prod', clusterId: 'c-1', ...opts });
}

function containerRecord(message: string, over: Json = {}): Json {
  return {
    time: '2026-11-22T12:05:00.123456789Z', stream: 'stdout', message,
    kubernetes: { namespace: 'shop', pod: 'web-7d9f-abcde', container: 'app', labels: { app: 'web', tier: 'front' }, node: 'node-1' },
    ...over,
  };
}

const SHELL_RULE = `
lists:
  shells: [sh, bash]
macros:
  shell_banner: { field: message, regex: '^(sh|bash)-[0-9.]+[#$] ' }
rules:
  - id: REC-SHELL
    name: Shell prompt in a container log
    category: command-execution
    level: high
    source: containers
    match:
      all:
        - macro: shell_banner
        - { field: kubernetes.labels.app, in: [web, api] }
    aggregate_by: [kubernetes.namespace, kubernetes.pod]
    output: "shell prompt in {kubernetes.namespace}/{kubernetes.pod} ({kubernetes.container}): {message}"
`;

describe('rules on records', () => {
  it('a rule with source: containers matches record fields by dotted path and fills its output from the record', () => {
    const e = engine(SHELL_RULE);
    const hits: RuleHit[] = [];
    const alarms = e.evaluateRecord('containers', containerRecord('sh-5.2# id'), undefined, hits);
    expect(hits.map((h) => [h.ruleId, h.source, h.summary])).toEqual([
      ['REC-SHELL', 'containers', 'shell prompt in shop/web-7d9f-abcde (app): sh-5.2# id'],
    ]);
    expect(alarms).toHaveLength(1);
    const a = JSON.parse(alarms[0].payload);
    expect(a).toMatchObject({ kind: 'kaudit.Alarm', source: 'containers', rule: { id: 'REC-SHELL', level: 'high' }, count: 1, firstSeen: '2026-11-22T12:05:00.123Z' });
    expect(a.evidence).toEqual(containerRecord('sh-5.2# id'));
    expect(a.event).toBeUndefined();
    // Other labels, other messages, other sources: nothing.
    expect(e.evaluateRecord('containers', containerRecord('sh-5.2# id', { kubernetes: { namespace: 'shop', labels: { app: 'db' } } }))).toEqual([]);
    expect(e.evaluateRecord('containers', containerRecord('GET /healthz 200'))).toEqual([]);
    expect(e.evaluateRecord('syslog', containerRecord('sh-5.2# id'))).toEqual([]);
  });

  it('rules on audit events never see records, and rules on records never see audit events', () => {
    const text = `
rules:
  - id: AUDIT-ANY-MESSAGE
    name: audit rule reading message
    category: test
    level: low
    match: { field: message, exists: true }
  - id: REC-ANY
    name: any container record
    category: test
    level: low
    source: [containers, ingress]
    match: { field: verb, exists: true }
`;
    // Every hit emitted: these records share one alarm.
    const e = engine(text, { updateIntervalMs: 0 });
    const line = JSON.stringify({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: 'x', stage: 'ResponseComplete', requestURI: '/api', verb: 'get',
      user: { username: 'u' }, sourceIPs: ['10.0.0.1'], requestReceivedTimestamp: '2026-11-22T12:05:00Z', stageTimestamp: '2026-11-22T12:05:00Z',
    });
    const parsed = parseAuditLine(line);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(e.evaluate(parsed.event)).toEqual([]);
    expect(e.evaluateRecord('containers', { message: 'hello' })).toEqual([]);
    expect(e.evaluateRecord('ingress', { verb: 'GET' }).map((a) => JSON.parse(a.payload).rule.id)).toEqual(['REC-ANY']);
    expect(e.evaluateRecord('containers', { verb: 'GET' }).map((a) => JSON.parse(a.payload).rule.id)).toEqual(['REC-ANY']);
  });

  it('[*] walks arrays, every operator reads record values, and equals_field compares two record paths', () => {
    const text = `
lists:
  bad_ips: [203.0.113.7]
rules:
  - id: R-STAR
    name: star
    category: test
    level: low
    source: syslog
    match:
      all:
        - { field: "structured_data[*].origin.ip", cidr: [203.0.113.0/24] }
        - { field: severity, lte: 3 }
        - { field: app, prefix: [sshd], ignore_case: true }
        - { field: host, equals_field: "structured_data[*].origin.host" }
        - not: { field: "tags[*]", in: [trusted] }
    output: "{app} on {host} from {structured_data[*].origin.ip}: {missing}"
`;
    const e = engine(text);
    const rec = { app: 'SSHD', host: 'n1', severity: 2, tags: ['edge'], structured_data: [{ origin: { ip: '203.0.113.7', host: 'n1' } }] };
    const hits: RuleHit[] = [];
    e.evaluateRecord('syslog', rec, undefined, hits);
    expect(hits.map((h) => h.summary)).toEqual(['SSHD on n1 from 203.0.113.7: (none)']);
    for (const over of [{ severity: 5 }, { tags: ['trusted'] }, { host: 'n2' }, { structured_data: [{ origin: { ip: '198.51.100.1', host: 'n1' } }] }]) {
      expect(e.evaluateRecord('syslog', { ...rec, ...over })).toEqual([]);
    }
  });

  it('namespaces: scoping reads kubernetes.namespace or involved_object.namespace; a record without one is out of scope', () => {
    const text = `
rules:
  - id: R-NS
    name: scoped
    category: test
    level: low
    source: [containers, k8s_events]
    scope: { namespaces: [shop] }
    match: { field: reason, equals: BackOff }
`;
    const e = engine(text, { updateIntervalMs: 0 });
    expect(e.evaluateRecord('containers', { reason: 'BackOff', kubernetes: { namespace: 'shop' } })).toHaveLength(1);
    expect(e.evaluateRecord('k8s_events', { reason: 'BackOff', involved_object: { kind: 'Pod', namespace: 'shop' } })).toHaveLength(1);
    expect(e.evaluateRecord('k8s_events', { reason: 'BackOff', involved_object: { kind: 'Pod', namespace: 'other' } })).toEqual([]);
    expect(e.evaluateRecord('k8s_events', { reason: 'BackOff', involved_object: { kind: 'Node' } })).toEqual([]);
  });

  it('a rate rule on records counts per group of record fields within the window from the record times', () => {
    const text = `
rules:
  - id: R-RATE
    name: many 401 from one client
    category: test
    level: medium
    source: ingress
    match: { field: ingress.status, in: [401, 403] }
    rate: { group_by: [ingress.client_ip], window: 1m, more_than: 3 }
    aggregate_by: [ingress.client_ip]
    output: "{ingress.client_ip} refused"
`;
    const e = engine(text);
    const rec = (ip: string, status: number, sec: number) => ({ time: `2026-11-22T12:05:${String(sec).padStart(2, '0')}Z`, ingress: { client_ip: ip, status } });
    const fired: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const a of e.evaluateRecord('ingress', rec('203.0.113.9', 401, i))) fired.push(JSON.parse(a.payload).summary);
      for (const a of e.evaluateRecord('ingress', rec('198.51.100.2', i === 3 ? 200 : 403, i))) fired.push(JSON.parse(a.payload).summary);
    }
    expect(fired).toEqual(['203.0.113.9 refused']);
    // A new window (more than a minute after the group's first record) counts from zero again.
    for (let i = 0; i < 3; i++) expect(e.evaluateRecord('ingress', { ...rec('203.0.113.9', 401, 0), time: '2026-11-22T12:07:00Z' })).toEqual([]);
  });

  it('an allowlist entry for rules on records reads the record and is counted', () => {
    const text = `${SHELL_RULE}
allowlist:
  - id: debug-pods
    rules: [REC-SHELL]
    scope: { namespaces: [shop] }
    match: { field: kubernetes.labels.tier, equals: front }
`;
    const e = engine(text);
    expect(e.evaluateRecord('containers', containerRecord('bash-5.1$ ls'))).toEqual([]);
    expect(e.takeNotes()?.allowlisted).toEqual([{ rule: 'REC-SHELL', entry: 'debug-pods', count: 1 }]);
    const other = containerRecord('bash-5.1$ ls', { kubernetes: { namespace: 'shop', pod: 'p', labels: { app: 'web', tier: 'back' } } });
    expect(e.evaluateRecord('containers', other)).toHaveLength(1);
  });

  it('alarms show and carry the forwarded (redacted) record, aggregate by record fields and update like audit alarms', () => {
    let now = Date.parse('2026-11-22T12:05:00Z');
    const e = engine(SHELL_RULE, { updateIntervalMs: 60_000, now: () => now });
    const rec = containerRecord('sh-5.2# export TOKEN=hunter2');
    const redacted = JSON.stringify({ ...rec, message: 'sh-5.2# export TOKEN=[REDACTED]' });
    const first = e.evaluateRecord('containers', rec, () => redacted);
    const a = JSON.parse(first[0].payload);
    expect(a.summary).toBe('shell prompt in shop/web-7d9f-abcde (app): sh-5.2# export TOKEN=[REDACTED]');
    expect(a.evidence.message).toBe('sh-5.2# export TOKEN=[REDACTED]');
    expect(first[0].payload).not.toContain('hunter2');
    // The same pod again: the same alarm, updated only after the interval.
    expect(e.evaluateRecord('containers', rec, () => redacted)).toEqual([]);
    now += 61_000;
    const again = e.evaluateRecord('containers', { ...rec, time: '2026-11-22T12:06:01Z' }, () => redacted);
    expect(again.map((x) => x.id)).toEqual([first[0].id]);
    expect(JSON.parse(again[0].payload)).toMatchObject({ count: 3, firstSeen: '2026-11-22T12:05:00.123Z', lastSeen: '2026-11-22T12:06:01.000Z' });
    // Another pod: another alarm.
    const other = e.evaluateRecord('containers', containerRecord('sh-5.2# id', { kubernetes: { namespace: 'shop', pod: 'web-2', labels: { app: 'web' } } }));
    expect(other[0].id).not.toBe(first[0].id);
  });
});

describe('source: in rule files', () => {
  const load = (rule: string) => () => compileRuleTexts([{ name: 'r.yaml', text: `rules:\n  - id: R1\n    name: n\n    category: test\n    level: low\n${rule}` }]);
  it('defaults to audit, so every existing rule stays a rule on audit events', () => {
    const { rules } = load('    match: { field: verb, equals: get }')();
    expect([...rules[0].sources]).toEqual(['audit']);
    expect(rules[0].record).toBe(false);
  });
  it('names the field and the reason when it is wrong', () => {
    expect(load('    source: kafka\n    match: { field: message, exists: true }')).toThrow(RuleError);
    expect(load('    source: kafka\n    match: { field: message, exists: true }')).toThrow(/r\.yaml: rules\[0\] \(R1\)\.source: unknown source "kafka"/);
    expect(load('    source: [containers, 7]\n    match: { field: message, exists: true }')).toThrow(/\.source\[1\]: unknown source 7/);
    expect(load('    source: []\n    match: { field: message, exists: true }')).toThrow(/\.source: expected a source name/);
    expect(load('    source: [audit, containers]\n    match: { field: message, exists: true }')).toThrow(/\.source: a rule reads audit events or records/);
    expect(load('    source: containers\n    stages: [RequestReceived]\n    match: { field: message, exists: true }')).toThrow(/\.stages: only rules on audit events have stages/);
    expect(load('    source: ingress\n    match: { field: message, exists: true }\n    rate: { group_by: [ip], more_than: 1, failure_ratio_above: 0.5 }'))
      .toThrow(/\.rate\.failure_ratio_above: only rules on audit events/);
    expect(load('    source: containers\n    match: { field: "message[", exists: true }')).toThrow(/match\.field: bad field path/);
  });
  it('an allowlist entry may not mix rules on audit events with rules on records', () => {
    const text = `${SHELL_RULE}
  - id: AUD
    name: audit
    category: test
    level: low
    match: { field: verb, equals: get }
allowlist:
  - id: both
    rules: [REC-SHELL, AUD]
    match: { field: message, exists: true }
`;
    expect(() => compileRuleTexts([{ name: 'r.yaml', text }])).toThrow(/allowlist\[0\] \(both\)\.rules: names rules on audit events and rules on other sources/);
  });
});
