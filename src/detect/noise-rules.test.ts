// What ordinary system and operator traffic raises: the profile of well-known controllers (rules/known-controllers.yaml),
// the identity-aware scripting-client rule, impersonation by declared proxies and admins, setup and kubelet tokens.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import type { AuditEvent } from '../parse/audit.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { compileRuleTexts, type RuleSet } from './rules.ts';
import { KNOWN_CONTROLLERS_FILE, ruleFilesOf } from './setup.ts';
import { auditEventOf } from './test-event.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const shipped = readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => ({ name: path.join(RULES_DIR, n), text: readFileSync(path.join(RULES_DIR, n), 'utf8') }));
const withProfile = compileRuleTexts(shipped);
const withoutProfile = compileRuleTexts(shipped.filter((f) => path.basename(f.name) !== KNOWN_CONTROLLERS_FILE));

type Over = Record<string, unknown>;
let seq = 0;

/** An audit event shaped like the real capture's; a person with kubectl by default. */
function ev(over: Over): AuditEvent {
  const base: Over = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Request', auditID: `00000000-0000-4000-a000-${String(++seq).padStart(12, '0')}`,
    stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/payments/secrets', verb: 'list',
    user: { username: 'dana@corp.example', groups: ['dev-payments', 'system:authenticated'] },
    sourceIPs: ['192.168.40.57'], userAgent: 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8',
    objectRef: { resource: 'secrets', namespace: 'payments', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-11-22T12:10:00.000000Z', stageTimestamp: '2026-11-22T12:10:00.010000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  return auditEventOf(base, over);
}

function hits(e: AuditEvent, rules: RuleSet = withProfile): RuleHit[] {
  return new DetectionEngine(rules, { clusterName: 'test', clusterId: '' }).hits(e);
}
const ids = (e: AuditEvent, rules: RuleSet = withProfile) => hits(e, rules).map((h) => h.ruleId);

const sa = (namespace: string, name: string, ip = '10.244.3.12', ua = 'controller/v1.0.0 (linux/amd64) kubernetes/$Format') => ({
  user: { username: `system:serviceaccount:${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] },
  sourceIPs: [ip], userAgent: ua,
});
const user = (username: string, groups: string[], ip: string, ua = 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8') => ({ user: { username, groups: [...groups, 'system:authenticated'] }, sourceIPs: [ip], userAgent: ua });
const secretsList = (namespace?: string): Over => ({
  verb: 'watch', requestURI: `/api/v1${namespace ? `/namespaces/${namespace}` : ''}/secrets?watch=true`, objectRef: { resource: 'secrets', ...(namespace ? { namespace } : {}), apiVersion: 'v1' },
});
const secretGet = (namespace: string, name: string): Over => ({ verb: 'get', level: 'Metadata', requestURI: `/api/v1/namespaces/${namespace}/secrets/${name}`, objectRef: { resource: 'secrets', namespace, name, apiVersion: 'v1' } });
const tokenRequest = (namespace: string, name: string): Over => ({
  verb: 'create', level: 'Metadata', requestURI: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
  objectRef: { resource: 'serviceaccounts', namespace, name, apiVersion: 'v1', subresource: 'token' }, responseStatus: { metadata: {}, code: 201 },
});
const webhookPatch = (name: string, resource = 'validatingwebhookconfigurations'): Over => ({
  verb: 'patch', level: 'RequestResponse', requestURI: `/apis/admissionregistration.k8s.io/v1/${resource}/${name}`,
  objectRef: { resource, name, apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' },
  requestObject: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'LS0tLS1CRUdJTi=' }],
});
const nodeProxy = (node: string, rest: string): Over => ({
  verb: 'get', requestURI: `/api/v1/nodes/${node}/proxy/${rest}`, objectRef: { resource: 'nodes', name: node, apiVersion: 'v1', subresource: 'proxy' },
});

describe('profile of well-known controllers', () => {
  // Each: a controller doing what it does by design, and the rule that would raise it without the profile.
  const EXPECTED: Array<{ who: string; behaviour: string; event: Over; rule: string }> = [
    { who: 'cert-manager', behaviour: 'watches Secrets cluster-wide', event: { ...sa('cert-manager', 'cert-manager'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'cert-manager', behaviour: 'asks for a Vault issuer\'s token', event: { ...sa('cert-manager', 'cert-manager'), ...tokenRequest('payments', 'vault-issuer') }, rule: 'KA-CRED-004' },
    { who: 'cert-manager cainjector', behaviour: 'injects a CA bundle into another webhook', event: { ...sa('cert-manager', 'cert-manager-cainjector'), ...webhookPatch('payments-policy') }, rule: 'KA-EVADE-001' },
    { who: 'ingress-nginx', behaviour: 'watches Secrets cluster-wide', event: { ...sa('ingress-nginx', 'ingress-nginx'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'ingress-nginx admission job', behaviour: 'patches its own webhook', event: { ...sa('ingress-nginx', 'ingress-nginx-admission'), ...webhookPatch('ingress-nginx-admission') }, rule: 'KA-EVADE-001' },
    { who: 'Traefik (Helm release prefix)', behaviour: 'watches Secrets cluster-wide', event: { ...sa('traefik', 'traefik-traefik'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'kube-state-metrics', behaviour: 'lists Secrets cluster-wide', event: { ...sa('monitoring', 'kube-prometheus-stack-kube-state-metrics'), ...secretsList(), verb: 'list' }, rule: 'KA-CRED-001' },
    { who: 'Prometheus', behaviour: 'scrapes cAdvisor through the node proxy', event: { ...sa('monitoring', 'kube-prometheus-stack-prometheus'), ...nodeProxy('ip-10-0-1-21', 'metrics/cadvisor') }, rule: 'KA-EXEC-003' },
    { who: 'Argo CD', behaviour: 'watches Secrets cluster-wide', event: { ...sa('argocd', 'argocd-application-controller'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'Flux', behaviour: 'syncs a webhook configuration from git', event: { ...sa('flux-system', 'kustomize-controller'), ...webhookPatch('team-a-policy') }, rule: 'KA-EVADE-001' },
    { who: 'external-secrets', behaviour: 'asks for a store\'s service-account token', event: { ...sa('external-secrets', 'external-secrets'), ...tokenRequest('payments', 'vault-auth') }, rule: 'KA-CRED-004' },
    { who: 'Vault agent injector', behaviour: 'patches its own webhook', event: { ...sa('vault', 'vault-agent-injector'), ...webhookPatch('vault-agent-injector-cfg', 'mutatingwebhookconfigurations') }, rule: 'KA-EVADE-001' },
    { who: 'Kyverno', behaviour: 'updates its own webhook', event: { ...sa('kyverno', 'kyverno-admission-controller'), ...webhookPatch('kyverno-resource-validating-webhook-cfg') }, rule: 'KA-EVADE-001' },
    { who: 'Kyverno', behaviour: 'watches Secrets to clone them', event: { ...sa('kyverno', 'kyverno-background-controller'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'Gatekeeper', behaviour: 'updates its own webhook', event: { ...sa('gatekeeper-system', 'gatekeeper-admin'), ...webhookPatch('gatekeeper-validating-webhook-configuration') }, rule: 'KA-EVADE-001' },
    { who: 'a GitLab runner with Helm', behaviour: 'lists the release history', event: { ...sa('gitlab-runner', 'gitlab-runner', '10.244.13.21', 'Helm/3.14.4'), ...secretsList('storefront'), verb: 'list', requestURI: '/api/v1/namespaces/storefront/secrets?labelSelector=name%3Dapi%2Cowner%3Dhelm' }, rule: 'KA-CRED-001' },
    { who: 'a GitLab runner with Helm', behaviour: 'reads an add-on\'s release record in kube-system', event: { ...sa('gitlab-runner', 'gitlab-runner', '10.244.13.21', 'Helm/3.14.4'), ...secretGet('kube-system', 'sh.helm.release.v1.external-dns.v3') }, rule: 'KA-CRED-002' },
    { who: 'Argo CD', behaviour: 'deploys an add-on into kube-system', event: { ...sa('argocd', 'argocd-application-controller'), verb: 'create', requestURI: '/apis/apps/v1/namespaces/kube-system/deployments', objectRef: { resource: 'deployments', namespace: 'kube-system', name: 'external-dns', apiGroup: 'apps', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 201 } }, rule: 'KA-CONT-008' },
    { who: 'Velero', behaviour: 'lists a namespace\'s Secrets for a backup', event: { ...sa('velero', 'velero'), ...secretsList('payments'), verb: 'list' }, rule: 'KA-CRED-001' },
    { who: 'Reloader', behaviour: 'watches Secrets cluster-wide', event: { ...sa('reloader', 'reloader-reloader'), ...secretsList() }, rule: 'KA-CRED-001' },
    { who: 'Longhorn', behaviour: 'watches its namespace\'s Secrets', event: { ...sa('longhorn-system', 'longhorn-service-account'), ...secretsList('longhorn-system') }, rule: 'KA-CRED-001' },
    { who: 'kubeadm at setup', behaviour: 'asks for an add-on\'s token', event: { ...user('kubernetes-admin', ['kubeadm:cluster-admins'], '10.0.0.10', 'kubeadm/v1.29.4 (linux/amd64) kubernetes/55019c8'), ...tokenRequest('kube-system', 'kube-proxy') }, rule: 'KA-CRED-004' },
  ];

  for (const c of EXPECTED) {
    it(`drops ${c.rule} for ${c.who}, which ${c.behaviour}, and only with the profile loaded`, () => {
      expect(ids(ev(c.event), withoutProfile)).toContain(c.rule);
      const engine = new DetectionEngine(withProfile, { clusterName: 'test', clusterId: '' });
      expect(engine.hits(ev(c.event)).map((h) => h.ruleId)).not.toContain(c.rule);
      // Dropped hits are counted per rule and entry (kaudit_detection_allowlisted_total). Managed control planes'
      // own users (eks:*, aks-*, GKE's) are control_plane_users, silent without the profile: attack-rules.test.ts.
      const allowed = engine.takeNotes()?.allowlisted ?? [];
      expect(allowed.map((a) => a.rule)).toContain(c.rule);
    });
  }

  it('keeps the same behaviour alarming from outside the cluster\'s networks, under another namespace, or by a person', () => {
    expect(ids(ev({ ...sa('cert-manager', 'cert-manager', '203.0.113.50'), ...secretsList() }))).toContain('KA-CRED-001');
    expect(ids(ev({ ...sa('payments', 'cert-manager'), ...secretsList() }))).toContain('KA-CRED-001');
    expect(ids(ev({ ...sa('payments', 'kube-state-metrics'), ...secretsList() }))).toContain('KA-CRED-001');
    expect(ids(ev({ ...user('mallory', ['contractors'], '192.168.40.90'), ...secretsList() }))).toContain('KA-CRED-001');
    expect(ids(ev({ ...user('kubernetes-admin', ['kubeadm:cluster-admins'], '10.0.0.10'), ...tokenRequest('kube-system', 'kube-proxy') }))).toContain('KA-CRED-004');
    expect(ids(ev({ ...user('breakglass', ['system:masters'], '127.0.0.143'), ...tokenRequest('kube-system', 'namespace-controller') }))).toContain('KA-CRED-004');
  });

  it('keeps what the controller is not expected to do alarming', () => {
    // ingress-nginx rewriting someone else's webhook, Prometheus reaching a kubelet's exec through the proxy.
    expect(ids(ev({ ...sa('ingress-nginx', 'ingress-nginx'), ...webhookPatch('payments-policy') }))).toContain('KA-EVADE-001');
    expect(ids(ev({ ...sa('monitoring', 'kube-prometheus-stack-prometheus'), ...nodeProxy('ip-10-0-1-21', 'exec/payments/ledger-0/app?command=sh') }))).toContain('KA-EXEC-003');
    // cert-manager exec'ing into a pod, Argo CD binding cluster-admin.
    expect(ids(ev({ ...sa('cert-manager', 'cert-manager'), verb: 'create', requestURI: '/api/v1/namespaces/payments/pods/ledger-0/exec?command=sh', objectRef: { resource: 'pods', namespace: 'payments', name: 'ledger-0', apiVersion: 'v1', subresource: 'exec' }, responseStatus: { metadata: {}, code: 101 } }))).toContain('KA-EXEC-001');
    const adminBinding = { kind: 'ClusterRoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'x' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'mallory' }] };
    expect(ids(ev({ ...sa('argocd', 'argocd-application-controller'), verb: 'create', level: 'RequestResponse', requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', objectRef: { resource: 'clusterrolebindings', name: 'x', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, requestObject: adminBinding, responseObject: adminBinding, responseStatus: { metadata: {}, code: 201 } }))).toContain('KA-RBAC-001');
    // A person listing Secrets with Helm's label selector cluster-wide is not a CI runner.
    expect(ids(ev({ ...user('dana@corp.example', ['dev-payments'], '192.168.40.57', 'Helm/3.14.4'), ...secretsList(), verb: 'list', requestURI: '/api/v1/secrets?labelSelector=owner%3Dhelm' }))).toContain('KA-CRED-001');
  });

  it('lets a site file declare its CI users for Helm\'s release history', () => {
    const ci = ev({ ...user('gitlab-ci', ['ci-runners'], '192.168.50.4', 'Helm/3.14.4'), ...secretsList('storefront'), verb: 'list', requestURI: '/api/v1/namespaces/storefront/secrets?labelSelector=name%3Dcart%2Cowner%3Dhelm' });
    // A user (not a service account) listing one application namespace's Secrets: KA-CRED-019.
    expect(ids(ci)).toContain('KA-CRED-019');
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  ci_deployers: [gitlab-ci]\n' }]);
    expect(ids(ci, site).filter((id) => id.startsWith('KA-CRED-'))).toEqual([]);
  });

  it('is loaded with the shipped rules unless detection.known_controllers is false', () => {
    const on = ruleFilesOf(configSchema.parse({}));
    const off = ruleFilesOf(configSchema.parse({ detection: { known_controllers: false } }));
    expect(on.map((f) => path.basename(f))).toContain(KNOWN_CONTROLLERS_FILE);
    expect(off.map((f) => path.basename(f))).not.toContain(KNOWN_CONTROLLERS_FILE);
    expect(off.length).toBe(on.length - 1);
    expect(ruleFilesOf(configSchema.parse({ detection: { system_rules: false } }))).toEqual([]);
  });
});

describe('KA-UA-002 (scripting client on sensitive resources) knows whose namespace it is', () => {
  const goClient = (who: Over, namespace: string) => ev({ ...who, userAgent: 'Go-http-client/2.0', ...secretGet(namespace, 'catalog-sync') });
  it('stays silent for a service account reading its own namespace from inside the cluster', () => {
    expect(ids(goClient(sa('storefront', 'catalog-sync'), 'storefront'))).not.toContain('KA-UA-002');
    expect(ids(ev({ ...sa('data-platform', 'data-operator', '10.244.14.11', 'Python/3.11 aiohttp/3.9.3'), verb: 'list', requestURI: '/api/v1/namespaces/data-platform/configmaps', objectRef: { resource: 'configmaps', namespace: 'data-platform', apiVersion: 'v1' } }))).not.toContain('KA-UA-002');
  });
  it('fires for the same token on another namespace, from outside the cluster, and for a person', () => {
    expect(ids(goClient(sa('storefront', 'catalog-sync'), 'payments'))).toContain('KA-UA-002');
    expect(ids(goClient(sa('storefront', 'catalog-sync', '198.51.100.7'), 'storefront'))).toContain('KA-UA-002');
    expect(ids(goClient(user('dana@corp.example', ['dev-payments'], '192.168.40.57'), 'payments'))).toContain('KA-UA-002');
    expect(ids(ev({ ...sa('storefront', 'catalog-sync'), userAgent: 'curl/8.4.0', verb: 'list', requestURI: '/api/v1/nodes', objectRef: { resource: 'nodes', apiVersion: 'v1' } }))).toContain('KA-UA-002');
  });
});

describe('impersonation', () => {
  const asDeveloper = { verb: 'list', requestURI: '/api/v1/namespaces/payments/pods', objectRef: { resource: 'pods', namespace: 'payments', apiVersion: 'v1' }, impersonatedUser: { username: 'dana@corp.example', groups: ['dev-payments', 'system:authenticated'] } };
  it('is a low alarm when an admin uses --as', () => {
    const h = hits(ev({ ...user('alice@corp.example', ['platform'], '192.168.40.21'), ...asDeveloper })).filter((x) => x.category === 'impersonation');
    expect(h.map((x) => `${x.ruleId}/${x.level}`)).toEqual(['KA-IMP-001/low']);
  });
  it('is silent for a declared impersonating proxy, shipped or declared in a site file', () => {
    expect(ids(ev({ ...sa('kube-oidc-proxy', 'kube-oidc-proxy', '10.244.15.2'), ...asDeveloper }))).not.toContain('KA-IMP-001');
    const proxy = ev({ ...sa('auth', 'oauth2-proxy', '10.244.15.9'), ...asDeveloper });
    expect(ids(proxy)).toContain('KA-IMP-001');
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  impersonating_proxies: ["system:serviceaccount:auth:oauth2-proxy"]\n' }]);
    expect(ids(proxy, site)).not.toContain('KA-IMP-001');
  });
  it('does not take a declared proxy passing on its users\' kubectl for kubectl run with a pod\'s token (KA-UA-005)', () => {
    expect(ids(ev({ ...sa('kube-oidc-proxy', 'kube-oidc-proxy', '10.244.15.2', 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8'), ...asDeveloper }))).toEqual([]);
    expect(ids(ev({ ...sa('payments', 'report-gen', '10.244.15.2', 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8'), ...asDeveloper, impersonatedUser: undefined }))).toContain('KA-UA-005');
  });
  it('still raises KA-IMP-002 (high) when a declared proxy impersonates system:masters', () => {
    const h = hits(ev({ ...sa('kube-oidc-proxy', 'kube-oidc-proxy', '10.244.15.2'), ...asDeveloper, impersonatedUser: { username: 'oidc:eve', groups: ['system:masters'] } }));
    expect(h.map((x) => `${x.ruleId}/${x.level}`)).toContain('KA-IMP-002/high');
  });
});

describe('token requests', () => {
  it('are silent for kubelets (pod-bound tokens) and the controller-manager at start-up', () => {
    const kubelet = user('system:node:ip-10-0-1-21.eu-west-1.compute.internal', ['system:nodes'], '10.0.1.21', 'kubelet/v1.29.4 (linux/amd64) kubernetes/55019c8');
    expect(ids(ev({ ...kubelet, ...tokenRequest('payments', 'ledger') }))).toEqual([]);
    expect(ids(ev({ ...user('system:kube-controller-manager', [], '10.0.0.10', 'kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8/kube-controller-manager'), ...tokenRequest('kube-system', 'replicaset-controller') }))).toEqual([]);
  });
});
