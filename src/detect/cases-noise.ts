// Test material: ordinary traffic of managed clusters and well-known controllers, each paired with the same identity doing what it never does.
import { createWorkload, identities, req, type Raw } from './attack-cases.ts';

/**
 * `benign` must raise no high or medium alarm (it may raise `benignRaises` at low level); `attack`, the same identity
 * (or its token) doing what the controller never does, or from where it never works, must raise `rule`.
 */
export interface NoiseCase { what: string; benign: Raw; benignRaises?: string; attack: Raw; attackWhy: string; rule: string }

const sa = (ns: string, name: string, ip: string, userAgent: string | undefined) => ({
  user: { username: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] },
  sourceIPs: [ip], userAgent,
});
const PUBLIC = '198.51.100.77';
const AKS_EGRESS = '20.103.57.14';

const konnectivityAgent = sa('kube-system', 'konnectivity-agent', AKS_EGRESS, 'proxy-agent/v0.0.0 (linux/amd64) kubernetes/$Format');
const certManager = sa('cert-manager', 'cert-manager', '10.244.3.12', undefined);
const argocd = sa('argocd', 'argocd-application-controller', '10.244.6.9', 'argocd-application-controller/v2.10.7+b060053 (linux/amd64) kubernetes/$Format');
const tigera = sa('tigera-operator', 'tigera-operator', '10.0.1.22', 'operator/v1.32.7 (linux/amd64) kubernetes/$Format');
const ocpApiserverOperator = sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator', '10.0.0.11', 'cluster-kube-apiserver-operator/v0.0.0 (linux/amd64) kubernetes/$Format');
const ocpPrometheus = sa('openshift-monitoring', 'prometheus-k8s', '10.128.2.14', 'Prometheus/2.48.0');
const keda = sa('keda', 'keda-operator', '10.244.12.17', 'keda-operator/v2.13.1 (linux/amd64) kubernetes/$Format');
const calicoNode = sa('calico-system', 'calico-node', '10.0.1.26', 'Go-http-client/2.0');
const tektonWebhook = sa('tekton-pipelines', 'tekton-pipelines-webhook', '10.244.20.3', 'webhook/v0.59.0 (linux/amd64) kubernetes/$Format');
const gmpOperator = sa('gke-gmp-system', 'operator', '10.128.0.40', 'gmp-operator/v0.10.0 (linux/amd64) kubernetes/$Format');
const admin = { user: { username: 'alice@corp.example', groups: ['platform', 'system:authenticated'] }, sourceIPs: ['192.168.40.21'] };

/** A node agent's DaemonSet: privileged, host network and PID, the host's root mounted read-only. */
function nodeAgent(ns: string, name: string, meta: Raw): Raw {
  const body = createWorkload('DaemonSet', name, ns, {
    hostNetwork: true, hostPID: true,
    containers: [{ name, image: 'quay.io/prometheus/node-exporter:v1.8.0', securityContext: { privileged: true }, volumeMounts: [{ name: 'root', mountPath: '/host/root', readOnly: true }] }],
    volumes: [{ name: 'root', hostPath: { path: '/' } }],
  });
  const object = body.requestObject as Raw;
  object.metadata = { ...(object.metadata as Raw), ...meta };
  return body;
}
const ARGO_TRACKED = { labels: { 'app.kubernetes.io/instance': 'node-exporter' }, annotations: { 'argocd.argoproj.io/tracking-id': 'node-exporter:apps/DaemonSet:monitoring/prometheus-node-exporter' } };

function webhookPatch(name: string): Raw {
  return req('patch', 'validatingwebhookconfigurations', { name, body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'LS0tLS1CRUdJTi…' }] });
}
const webhookRef = (e: Raw) => ({ ...e, objectRef: { ...(e.objectRef as Raw), apiGroup: 'admissionregistration.k8s.io' }, requestURI: String(e.requestURI).replace('/api/v1/', '/apis/admissionregistration.k8s.io/v1/') });

export const NOISE_CASES: NoiseCase[] = [
  { what: "an AKS node agent's token from its node pool's public outbound address", rule: 'KA-CRED-030',
    benign: { ...konnectivityAgent, ...req('watch', 'pods', { query: 'watch=true' }) }, benignRaises: 'KA-CRED-030',
    attack: { ...sa('kube-system', 'konnectivity-agent', PUBLIC, 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8'), ...req('list', 'pods') }, attackWhy: 'the same token from elsewhere still alarms (low, as for a node)' },
  { what: "an AKS node agent's token from its node pool's public outbound address", rule: 'KA-CRED-018',
    benign: { ...konnectivityAgent, ...req('get', 'configmaps', { ns: 'kube-system', name: 'kube-root-ca.crt', level: 'Metadata' }) }, benignRaises: 'KA-CRED-030',
    attack: { ...identities.controller('replicaset-controller'), sourceIPs: [AKS_EGRESS], ...req('list', 'secrets', { ns: 'kube-system', level: 'Metadata' }) }, attackWhy: 'a kube-system controller token (not a node agent) from the same address' },
  { what: "a controller's event trimmed of its user agent", rule: 'KA-UA-006',
    benign: { ...certManager, ...req('update', 'secrets', { ns: 'payments', name: 'tls-cert', level: 'Metadata' }) },
    attack: { ...identities.mallory, userAgent: undefined, ...req('get', 'pods', { ns: 'payments' }) }, attackWhy: 'a person without a user agent' },
  { what: "a controller's event trimmed of its user agent", rule: 'KA-UA-006',
    benign: { ...certManager, ...req('get', 'certificaterequests', { ns: 'payments', name: 'tls-cert-1' }) },
    attack: { ...sa('cert-manager', 'cert-manager', PUBLIC, undefined), ...req('get', 'pods', { ns: 'payments' }) }, attackWhy: 'the same identity without a user agent from outside' },
  { what: 'Argo CD applying a tracked privileged node-agent DaemonSet', rule: 'KA-CONT-001',
    benign: { ...argocd, ...nodeAgent('monitoring', 'prometheus-node-exporter', ARGO_TRACKED) },
    attack: { ...argocd, ...createWorkload('Pod', 'debug', 'monitoring', { hostPID: true, containers: [{ name: 'debug', image: 'docker.io/library/alpine:3.19', securityContext: { privileged: true } }] }) }, attackWhy: 'Argo CD creating a bare privileged pod' },
  { what: 'Argo CD applying a tracked privileged node-agent DaemonSet', rule: 'KA-MOUNT-001',
    benign: { ...argocd, ...nodeAgent('monitoring', 'prometheus-node-exporter', ARGO_TRACKED) },
    attack: { ...argocd, ...nodeAgent('monitoring', 'prometheus-node-exporter', {}) }, attackWhy: 'the same DaemonSet untracked by Argo CD' },
  { what: 'Argo CD applying a tracked privileged node-agent DaemonSet', rule: 'KA-CONT-001',
    benign: { ...argocd, ...nodeAgent('monitoring', 'prometheus-node-exporter', ARGO_TRACKED) },
    attack: { ...argocd, sourceIPs: [PUBLIC], ...nodeAgent('monitoring', 'prometheus-node-exporter', ARGO_TRACKED) }, attackWhy: "Argo CD's token from outside the cluster" },
  { what: 'Argo CD applying a tracked privileged node-agent DaemonSet', rule: 'KA-EXEC-001',
    benign: { ...argocd, ...nodeAgent('monitoring', 'prometheus-node-exporter', ARGO_TRACKED) },
    attack: { ...argocd, ...req('create', 'pods', { ns: 'payments', name: 'ledger-api-6d9f8b7c54-q8x2k', sub: 'exec', query: 'command=sh&container=app&stdin=true&tty=true', code: 101, level: 'Request' }) }, attackWhy: 'Argo CD exec-ing into a pod' },
  { what: 'the Tigera operator rendering calico-node', rule: 'KA-CONT-001',
    benign: { ...tigera, ...nodeAgent('calico-system', 'calico-node', {}), verb: 'update' },
    attack: { ...tigera, ...nodeAgent('kube-system', 'calico-node', {}) }, attackWhy: 'the same DaemonSet outside the namespaces it manages' },
  { what: "an OpenShift operator watching its platform namespace's secrets", rule: 'KA-CRED-001',
    benign: { ...ocpApiserverOperator, ...req('watch', 'secrets', { ns: 'openshift-kube-apiserver', query: 'watch=true', level: 'Metadata' }) },
    attack: { ...ocpApiserverOperator, ...req('list', 'secrets', { ns: 'payments', level: 'Metadata' }) }, attackWhy: "the same operator listing an application namespace's secrets" },
  { what: "OpenShift's Prometheus scraping cAdvisor through the node proxy", rule: 'KA-EXEC-003',
    benign: { ...ocpPrometheus, ...req('get', 'nodes', { name: 'worker-1', sub: 'proxy/metrics/cadvisor', level: 'Request' }), objectRef: { resource: 'nodes', name: 'worker-1', subresource: 'proxy', apiVersion: 'v1' } },
    attack: { ...ocpPrometheus, ...req('create', 'nodes', { name: 'worker-1', sub: 'proxy/run/payments/ledger-api-6d9f8b7c54-q8x2k/app', query: 'cmd=id', level: 'Request' }), objectRef: { resource: 'nodes', name: 'worker-1', subresource: 'proxy', apiVersion: 'v1' } }, attackWhy: 'the same token running a command through the kubelet' },
  { what: 'KEDA keeping its own admission webhook current', rule: 'KA-EVADE-001',
    benign: { ...keda, ...webhookRef(webhookPatch('keda-admission')) },
    attack: { ...keda, ...webhookRef(webhookPatch('pod-identity-injector')) }, attackWhy: "KEDA's token changing another webhook" },
  { what: "GKE's managed Prometheus operator keeping its webhook current", rule: 'KA-EVADE-001',
    benign: { ...gmpOperator, ...webhookRef(webhookPatch('gmp-operator.gke-gmp-system.monitoring.googleapis.com')) },
    attack: { ...gmpOperator, ...webhookRef(webhookPatch('istio-sidecar-injector')) }, attackWhy: 'its token changing the sidecar injector' },
  { what: "Tekton's webhook reconciling its own configuration", rule: 'KA-EVADE-001',
    benign: { ...tektonWebhook, ...webhookRef(webhookPatch('validation.webhook.pipeline.tekton.dev')) },
    attack: { ...tektonWebhook, ...webhookRef(webhookPatch('gatekeeper-validating-webhook-configuration')) }, attackWhy: "its token changing the policy engine's webhook" },
  { what: 'a person upgrading an add-on in kube-system with Helm (its release history)', rule: 'KA-CRED-002',
    benign: { ...admin, userAgent: 'Helm/3.14.4', ...req('get', 'secrets', { ns: 'kube-system', name: 'sh.helm.release.v1.metrics-server.v7', level: 'Metadata' }) },
    attack: { ...admin, userAgent: 'Helm/3.14.4', ...req('get', 'secrets', { ns: 'kube-system', name: 'bootstrap-token-abcdef', level: 'Metadata' }) }, attackWhy: 'the same client reading a bootstrap token' },
  { what: 'calico-node reading with Go\'s default user agent', rule: 'KA-UA-002',
    benign: { ...calicoNode, ...req('watch', 'pods', { query: 'watch=true', level: 'Request' }) },
    attack: { ...calicoNode, ...req('patch', 'daemonsets', { ns: 'kube-system', name: 'kube-proxy', body: { spec: { template: { spec: { hostPID: true } } } } }) }, attackWhy: 'the same client writing a DaemonSet' },
];
