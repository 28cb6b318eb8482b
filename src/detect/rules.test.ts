// Rule files as operators write them: every operator, field paths, virtual fields, and the errors a bad file gets.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';
import { DetectionEngine } from './engine.ts';
import { compileRuleTexts, loadRuleFiles, normalizeHostPath, RuleError } from './rules.ts';

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
  it('regex matches anywhere in the value', () => {
    expect(matches({ field: 'userAgent', regex: '^kubectl/v1\\.2[0-9]' }, e)).toBe(true);
    expect(matches({ field: 'userAgent', regex: '^curl' }, e)).toBe(false);
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

describe('regular expressions', () => {
  const rule = (re: string) => `rules: [ { id: R, name: r, category: test, level: low, match: { field: userAgent, regex: ${JSON.stringify(re)} } } ]`;
  it.each(['(a+)+', '(a|a)*', '(a|ab)+$', '(\\w+\\s?)*$', '(.*a){2,}', '(x+x+)+y'])('rejects the backtracking pattern %s', (re) => {
    expect(loadError(rule(re))).toContain('pattern can backtrack catastrophically');
  });
  it.each(['(a)\\1', '(?=a)b', '(?<!a)b', '(?<n>a)\\k<n>'])('rejects backreferences and lookarounds: %s', (re) => {
    expect(loadError(rule(re))).toMatch(/backreferences|lookarounds/);
  });
  it('accepts common patterns and runs them over a 100 KB value', () => {
    const patterns = ['^(curl|python|wget)/', '^kubectl/v1\\.[0-9]+', '(nmap|masscan|zgrab)', '^system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+$', '(ab|cd)+x'];
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
