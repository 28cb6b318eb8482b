// The baseline as noise reduction: a service account's or system identity's high/medium hit of a rule on a kind of
// object it hit on most days of the learning period is expected (lowered to low, evidence baseline: expected);
// people, rare hits and a high rule's successful request on a credential or exec are never lowered.
import { describe, expect, it } from 'vitest';
import { DAY } from '../config/units.ts';
import { Baseline } from './baseline.ts';
import { DetectionEngine } from './engine.ts';
import { compileRuleTexts } from './rules.ts';
import { baselinePlan } from './setup.ts';
import { auditEventOf } from './test-event.ts';

const RULES = JSON.stringify({ rules: [
  { id: 'T-LIST', name: 'secrets listed', category: 'test', level: 'medium', match: { all: [{ field: 'verb', equals: 'list' }, { field: 'objectRef.resource', equals: 'secrets' }] }, output: '{user.username}' },
  { id: 'T-READ', name: 'secret read', category: 'test', level: 'high', match: { all: [{ field: 'verb', equals: 'get' }, { field: 'objectRef.resource', equals: 'secrets' }] }, output: '{user.username}' },
] });
const KSM = 'system:serviceaccount:monitoring:kube-state-metrics';
let n = 0;
const event = (day: number, username: string, verb: string, code = 200) => auditEventOf({
  kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', stage: 'ResponseComplete', requestURI: '/api/v1/secrets',
  sourceIPs: ['10.0.0.9'], userAgent: 'client-go/v0.30.0', objectRef: { resource: 'secrets', apiVersion: 'v1' },
}, {
  auditID: `e-${++n}`, verb, user: { username, groups: ['system:authenticated'] }, responseStatus: { metadata: {}, code },
  requestReceivedTimestamp: new Date(Date.UTC(2026, 10, 1 + day, 12)).toISOString(),
});
const engine = (expectedAfterDays: number | undefined) => new DetectionEngine(compileRuleTexts([{ name: 't.yaml', text: RULES }]), {
  clusterName: 'c', clusterId: '', updateIntervalMs: 0, baseline: new Baseline({ learningDays: 7 }), expectedAfterDays,
});
/** `rule/level` of each hit, `+expected` when the baseline expects it. */
const levels = (e: DetectionEngine, ev: ReturnType<typeof event>) => e.hits(ev).map((h) => `${h.ruleId}/${h.level}${h.expected ? '+expected' : ''}`);
/** Days 0 to `days - 1` of the learning period with `username` doing `verb` (code `code`) each day. */
function routine(e: DetectionEngine, username: string, verb: string, days: number, code = 200): void {
  for (let d = 0; d < days; d++) e.hits(event(d, username, verb, code));
}

describe('expected hits (the baseline as noise reduction)', () => {
  it('lowers a service account\'s routine medium hit to low, with baseline: expected in the alarm\'s evidence', () => {
    const e = engine(4);
    routine(e, KSM, 'list', 5);
    expect(levels(e, event(9, KSM, 'list'))).toEqual(['T-LIST/low+expected']);
    const [alarm] = e.evaluate(event(10, KSM, 'list'));
    const payload = JSON.parse(alarm.payload);
    expect(payload.rule.level).toBe('low');
    expect(payload.evidence.baseline).toBe('expected');
  });

  it('keeps the level for people, for hits on fewer days than most of the learning period, and with the switch off', () => {
    const people = engine(4);
    routine(people, 'dana@corp.example', 'list', 7);
    expect(levels(people, event(9, 'dana@corp.example', 'list'))).toEqual(['T-LIST/medium']);
    routine(people, 'system:anonymous', 'list', 7);
    expect(levels(people, event(9, 'system:anonymous', 'list'))).toEqual(['T-LIST/medium']);
    const rare = engine(4);
    routine(rare, KSM, 'list', 3);
    expect(levels(rare, event(9, KSM, 'list'))).toEqual(['T-LIST/medium']);
    const off = engine(undefined);
    routine(off, KSM, 'list', 7);
    expect(levels(off, event(9, KSM, 'list'))).toEqual(['T-LIST/medium']);
  });

  it('never lowers a high rule\'s successful request on a credential; its refused attempts may be expected', () => {
    const e = engine(4);
    routine(e, KSM, 'get', 7);
    expect(levels(e, event(9, KSM, 'get'))).toEqual(['T-READ/high']);
    routine(e, 'system:serviceaccount:ci:deployer', 'get', 7, 403);
    expect(levels(e, event(9, 'system:serviceaccount:ci:deployer', 'get', 403))).toEqual(['T-READ/low+expected']);
  });

  it('takes "most days" of the configured learning period, and nothing with expected: false', () => {
    const settings = { learning_period: 7 * DAY, decay: 30 * DAY, max_identities: 64, max_tuples: 64, expected: true };
    expect(baselinePlan(settings).expectedAfterDays).toBe(4);
    expect(baselinePlan({ ...settings, learning_period: 14 * DAY }).expectedAfterDays).toBe(8);
    expect(baselinePlan({ ...settings, learning_period: 1 * DAY }).expectedAfterDays).toBe(2);
    expect(baselinePlan({ ...settings, expected: false }).expectedAfterDays).toBeUndefined();
  });
});
