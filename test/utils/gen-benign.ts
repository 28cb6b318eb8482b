// Generator of ordinary cluster traffic (control plane, kubelets, probes, well-known controllers, CI running Helm,
// people with kubectl, an OIDC proxy) as audit.k8s.io/v1 JSON lines, deterministic from a seed: the benign soak.
import { prng } from './prng.ts';

/*
 * Event shapes follow the real capture in ../shared/corpus/real-apiserver: Go's field order, the GKE-style policy
 * (Secrets, ConfigMaps, TokenRequests, TokenReviews and Leases at Metadata, reads at Request, other writes at
 * RequestResponse, core Events not logged), watches logged when opened (ResponseStarted) and when closed,
 * pod-bound service-account tokens carrying their pod in user.extra. Identities, namespaces and user agents are
 * those the controllers' own manifests and Helm charts install.
 */

type Json = Record<string, unknown>;

export interface Identity {
  user: Json;
  ip: string;
  ua: string;
  /** authorization.k8s.io/reason; empty for system:masters members. */
  reason: string;
}

export interface Target {
  resource: string;
  namespace?: string;
  name?: string;
  /** API group (core when absent) and version. */
  group?: string;
  version?: string;
  subresource?: string;
  /** Path after the subresource (a node proxy's target path), without the leading `/`. */
  rest?: string;
  /** Query string, without `?`. */
  query?: string;
}

export interface Request {
  verb: string;
  target?: Target;
  /** Non-resource URL (no objectRef). */
  path?: string;
  code?: number;
  requestObject?: unknown;
  responseObject?: unknown;
  impersonatedUser?: Json;
}

export const K8S = 'v1.29.4 (linux/amd64) kubernetes/55019c8';
export const KUBECTL = `kubectl/${K8S}`;
export const HELM = 'Helm/3.14.4';
export const NODES = Array.from({ length: 8 }, (_, k) => ({ name: `ip-10-0-1-${21 + k}.eu-west-1.compute.internal`, ip: `10.0.1.${21 + k}` }));
export const CONTROL_PLANE_IP = '10.0.0.10';
export const APP_NAMESPACES = ['payments', 'storefront', 'web-frontend', 'team-a', 'team-b', 'data-platform'];
const METADATA_RESOURCES = new Set(['secrets', 'configmaps', 'tokenreviews', 'leases']);

export function sa(namespace: string, name: string, ip: string, ua: string, pod?: string): Identity {
  const user: Json = { username: `system:serviceaccount:${namespace}:${name}`, uid: uidOf(`sa/${namespace}/${name}`), groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
  if (pod !== undefined) user.extra = { 'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/pod-uid': [uidOf(pod)] };
  return { user, ip, ua, reason: `RBAC: allowed by ClusterRoleBinding "${name}" of ClusterRole "${name}" to ServiceAccount "${name}/${namespace}"` };
}

export function person(username: string, groups: string[], ip: string, reason: string, ua = KUBECTL): Identity {
  return { user: { username, uid: uidOf(username), groups: [...groups, 'system:authenticated'] }, ip, ua, reason };
}

export function plainUser(username: string, groups: string[], ip: string, ua: string): Identity {
  return { user: { username, groups }, ip, ua, reason: `RBAC: allowed by ClusterRoleBinding "${username}" of ClusterRole "${username}" to User "${username}"` };
}

function uidOf(name: string): string {
  let h = 0x811c9dc5;
  for (let k = 0; k < name.length; k++) h = Math.imul(h ^ name.charCodeAt(k), 0x01000193);
  const hex = (h >>> 0).toString(16).padStart(8, '0');
  return `${hex}-${hex.slice(0, 4)}-4${hex.slice(5, 8)}-8${hex.slice(1, 4)}-${hex}${hex.slice(0, 4)}`;
}

const kcm = plainUser('system:kube-controller-manager', ['system:authenticated'], CONTROL_PLANE_IP, `kube-controller-manager/${K8S}/leader-election`);
const scheduler = plainUser('system:kube-scheduler', ['system:authenticated'], CONTROL_PLANE_IP, `kube-scheduler/${K8S}/scheduler`);
const apiserver = { ...plainUser('system:apiserver', ['system:authenticated', 'system:masters'], '::1', `kube-apiserver/${K8S}`), reason: '' };
const kubeProxy = plainUser('system:kube-proxy', ['system:authenticated'], NODES[0].ip, `kube-proxy/${K8S}`);
export const kubelets = NODES.map((n) => ({ ...plainUser(`system:node:${n.name}`, ['system:nodes', 'system:authenticated'], n.ip, `kubelet/${K8S}`), reason: '' }));
const kubeSystem = (name: string) => sa('kube-system', name, CONTROL_PLANE_IP, `kube-controller-manager/${K8S}/system:serviceaccount:kube-system:${name}`);
const anonymous = (ip: string, ua: string): Identity => ({ user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, ip, ua, reason: 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"' });

/** The identities the soak names, for its per-actor counts. */
export const ACTORS = {
  certManager: sa('cert-manager', 'cert-manager', '10.244.3.12', 'cert-manager-controller/v1.14.4 (linux/amd64) cert-manager/f6bbf0f5', 'cert-manager-7c9b6d8f5-x2klq'),
  certManagerCainjector: sa('cert-manager', 'cert-manager-cainjector', '10.244.3.13', 'cert-manager-cainjector/v1.14.4 (linux/amd64) cert-manager/f6bbf0f5', 'cert-manager-cainjector-5f8d7c6b9-p4mzr'),
  ingressNginx: sa('ingress-nginx', 'ingress-nginx', '10.244.2.41', 'nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd3669daa3a14d9de3e3cdb371b4c518', 'ingress-nginx-controller-6c8f5d7b9b-l2kqz'),
  ingressNginxAdmission: sa('ingress-nginx', 'ingress-nginx-admission', '10.244.2.57', 'kube-webhook-certgen/v1.4.1 (linux/amd64) kubernetes/$Format', 'ingress-nginx-admission-patch-6xq2v'),
  traefik: sa('traefik', 'traefik', '10.244.4.20', 'traefik/2.11.2 (linux/amd64) kubernetes/crd', 'traefik-6d8f9c5b7-vw7pd'),
  kubeStateMetrics: sa('monitoring', 'kube-prometheus-stack-kube-state-metrics', '10.244.5.31', 'kube-state-metrics/v2.12.0 (linux/amd64) kubernetes/$Format', 'kube-prometheus-stack-kube-state-metrics-5d9c7b8f6-hk2mq'),
  prometheusOperator: sa('monitoring', 'kube-prometheus-stack-operator', '10.244.5.32', 'PrometheusOperator/0.73.2 (linux/amd64) kubernetes/$Format', 'kube-prometheus-stack-operator-7b5f8d9c6-sd8x2'),
  prometheus: sa('monitoring', 'kube-prometheus-stack-prometheus', '10.244.5.33', 'Prometheus/2.51.2', 'prometheus-kube-prometheus-stack-prometheus-0'),
  argocdController: sa('argocd', 'argocd-application-controller', '10.244.6.9', 'argocd-application-controller/v2.10.7+b060053 (linux/amd64) kubernetes/$Format', 'argocd-application-controller-0'),
  argocdServer: sa('argocd', 'argocd-server', '10.244.6.10', 'argocd-server/v2.10.7+b060053 (linux/amd64) kubernetes/$Format', 'argocd-server-6f9b7c8d5-2xwzq'),
  externalSecrets: sa('external-secrets', 'external-secrets', '10.244.7.14', 'external-secrets/v0.9.16 (linux/amd64) kubernetes/$Format', 'external-secrets-6b8f7d9c5-mq2lx'),
  externalSecretsCert: sa('external-secrets', 'external-secrets-cert-controller', '10.244.7.15', 'external-secrets/v0.9.16 (linux/amd64) kubernetes/$Format', 'external-secrets-cert-controller-5c7d8b9f6-z9kpr'),
  vaultInjector: sa('vault', 'vault-agent-injector', '10.244.8.5', 'vault-k8s/1.4.1 (linux/amd64) kubernetes/$Format', 'vault-agent-injector-7d9f8c6b5-4vqxn'),
  vault: sa('vault', 'vault', '10.244.8.6', 'Go-http-client/2.0', 'vault-0'),
  vaultSecretsOperator: sa('vault-secrets-operator-system', 'vault-secrets-operator-controller-manager', '10.244.8.7', 'vault-secrets-operator/0.6.0 (linux/amd64) kubernetes/$Format', 'vault-secrets-operator-controller-manager-5b9c-8x7kq'),
  fluxKustomize: sa('flux-system', 'kustomize-controller', '10.244.9.3', 'kustomize-controller/v1.2.2 (linux/amd64) kubernetes/$Format', 'kustomize-controller-6bc5d5b8c9-2wxkp'),
  fluxHelm: sa('flux-system', 'helm-controller', '10.244.9.4', 'helm-controller/v0.37.4 (linux/amd64) kubernetes/$Format', 'helm-controller-5f7c8b6d9-qx4mz'),
  fluxSource: sa('flux-system', 'source-controller', '10.244.9.5', 'source-controller/v1.2.4 (linux/amd64) kubernetes/$Format', 'source-controller-7d9c8b6f5-n2kpx'),
  kyvernoAdmission: sa('kyverno', 'kyverno-admission-controller', '10.244.10.7', 'kyverno/v1.11.4 (linux/amd64) kubernetes/$Format', 'kyverno-admission-controller-5d8c7b9f6-7xkqw'),
  kyvernoBackground: sa('kyverno', 'kyverno-background-controller', '10.244.10.8', 'kyverno/v1.11.4 (linux/amd64) kubernetes/$Format', 'kyverno-background-controller-6c9d8b7f5-kq8xz'),
  kyvernoReports: sa('kyverno', 'kyverno-reports-controller', '10.244.10.9', 'kyverno/v1.11.4 (linux/amd64) kubernetes/$Format', 'kyverno-reports-controller-7b8c9d6f5-p2xkq'),
  gatekeeper: sa('gatekeeper-system', 'gatekeeper-admin', '10.244.11.4', 'gatekeeper/v3.15.1 (linux/amd64) 6f4b4c2/2024-03-25T18:43:07Z', 'gatekeeper-controller-manager-6d8f7c9b5-x4kqz'),
  longhorn: sa('longhorn-system', 'longhorn-service-account', '10.244.12.8', 'longhorn-manager/v1.6.1 (linux/amd64) kubernetes/$Format', 'longhorn-manager-9x2kq'),
  longhornCsi: sa('longhorn-system', 'longhorn-service-account', '10.244.12.9', 'csi-provisioner/v3.6.2 (linux/amd64) kubernetes/$Format', 'csi-provisioner-6f8d7c9b5-m4xkq'),
  velero: sa('velero', 'velero', '10.244.12.15', 'velero-server/v1.13.2 (linux/amd64) 4d961fb', 'velero-7c9d8b6f5-x2kqm'),
  reloader: sa('reloader', 'reloader-reloader', '10.244.12.16', 'reloader/v1.0.72 (linux/amd64) kubernetes/$Format', 'reloader-reloader-6d8f7c9b5-p2xkq'),
  keda: sa('keda', 'keda-operator', '10.244.12.17', 'keda-operator/v2.13.1 (linux/amd64) kubernetes/$Format', 'keda-operator-5b9c8d7f6-m2kqx'),
  gitlabRunner: sa('gitlab-runner', 'gitlab-runner', '10.244.13.21', HELM, 'runner-xk2q9-project-42-concurrent-0'),
  jenkins: sa('jenkins', 'jenkins', '10.244.13.30', KUBECTL, 'jenkins-agent-7f2kq'),
  pythonOperator: sa('data-platform', 'data-operator', '10.244.14.11', 'Python/3.11 aiohttp/3.9.3', 'data-operator-5b7c9d8f6-w2kqx'),
  goJob: sa('storefront', 'catalog-sync', '10.244.14.12', 'Go-http-client/2.0', 'catalog-sync-28611840-7xk2q'),
  javaApp: sa('payments', 'ledger', '10.244.14.13', 'okhttp/4.12.0', 'ledger-6d9f8b7c54-q8x2k'),
  oidcProxy: sa('kube-oidc-proxy', 'kube-oidc-proxy', '10.244.15.2', KUBECTL, 'kube-oidc-proxy-7c9d8b6f5-2kqxw'),
  coredns: sa('kube-system', 'coredns', '10.244.0.3', 'coredns/v1.11.1 (linux/amd64) kubernetes/$Format', 'coredns-76f75df574-7x9wq'),
  metricsServer: sa('kube-system', 'metrics-server', '10.244.0.9', 'metrics-server/v0.7.1 (linux/amd64) kubernetes/$Format', 'metrics-server-6d94bc8694-ckz2q'),
  clusterAutoscaler: sa('kube-system', 'cluster-autoscaler', '10.244.0.12', 'cluster-autoscaler/v1.29.2 (linux/amd64) kubernetes/$Format', 'cluster-autoscaler-5b8c9d7f6-xk2qp'),
  ebsCsi: sa('kube-system', 'ebs-csi-controller-sa', '10.244.0.14', 'csi-attacher/v4.5.0 (linux/amd64) kubernetes/$Format', 'ebs-csi-controller-7c9d8b6f5-q2xkw'),
  cloudController: plainUser('system:cloud-controller-manager', ['system:authenticated'], CONTROL_PLANE_IP, `cloud-controller-manager/${K8S}/cloud-node-controller`),
  eksCertificates: plainUser('eks:certificate-controller', ['system:authenticated'], CONTROL_PLANE_IP, `eks-certificates-controller/${K8S}`),
  eksAddonManager: plainUser('eks:addon-manager', ['system:authenticated'], CONTROL_PLANE_IP, 'eks-addon-manager/v1.29.4-eks (linux/amd64)'),
  eksNodeManager: plainUser('eks:node-manager', ['system:authenticated'], CONTROL_PLANE_IP, 'eks-node-manager/v0.0.0 (linux/amd64) kubernetes/$Format'),
  eksMetrics: plainUser('eks:k8s-metrics', ['system:authenticated'], CONTROL_PLANE_IP, 'eks-k8s-metrics/v0.0.0 (linux/amd64) kubernetes/$Format'),
  gkeAddonManager: plainUser('system:addon-manager', ['system:authenticated'], CONTROL_PLANE_IP, `kubectl/${K8S}`),
  aksService: plainUser('aksService', ['system:masters', 'system:authenticated'], '10.224.0.4', 'aks-operator/v0.0.0 (linux/amd64)'),
  kubeadm: { ...plainUser('kubernetes-super-admin', ['system:masters', 'system:authenticated'], CONTROL_PLANE_IP, `kubeadm/${K8S}`), reason: '' },
  kubeadmAdmin: { ...plainUser('kubernetes-admin', ['kubeadm:cluster-admins', 'system:authenticated'], CONTROL_PLANE_IP, `kubeadm/${K8S}`), reason: 'RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" of ClusterRole "cluster-admin" to Group "kubeadm:cluster-admins"' },
  alice: person('alice@corp.example', ['platform'], '192.168.40.21', 'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform"'),
  dana: person('dana@corp.example', ['dev-payments'], '192.168.40.57', 'RBAC: allowed by RoleBinding "dev-payments-edit/payments" of ClusterRole "edit" to Group "dev-payments"'),
  raj: person('raj@corp.example', ['dev-frontend'], '192.168.40.63', 'RBAC: allowed by RoleBinding "dev-frontend-edit/web-frontend" of ClusterRole "edit" to Group "dev-frontend"'),
  lee: person('lee@corp.example', ['dev-storefront'], '192.168.40.71', 'RBAC: allowed by RoleBinding "dev-storefront-edit/storefront" of ClusterRole "edit" to Group "dev-storefront"'),
} satisfies Record<string, Identity>;

/** People behind the OIDC proxy: their name, groups and namespace. */
const PROXIED = [
  { username: 'oidc:carol@corp.example', groups: ['oidc:team-a', 'system:authenticated'], namespace: 'team-a' },
  { username: 'oidc:omar@corp.example', groups: ['oidc:team-b', 'system:authenticated'], namespace: 'team-b' },
  { username: 'oidc:wei@corp.example', groups: ['oidc:data', 'system:authenticated'], namespace: 'data-platform' },
];
/** Developers and the namespace they work in. */
const DEVELOPERS = [
  { who: ACTORS.dana, namespace: 'payments', app: 'ledger' },
  { who: ACTORS.raj, namespace: 'web-frontend', app: 'frontend' },
  { who: ACTORS.lee, namespace: 'storefront', app: 'catalog' },
];

/** Emits the events of one piece of ordinary traffic. */
export type Behaviour = (g: Generator) => void;

export class Generator {
  readonly lines: string[] = [];
  readonly #rnd: () => number;
  #us: number;
  #rv = 4_000_000;

  constructor(seed: number, startMs: number) {
    this.#rnd = prng(seed);
    this.#us = startMs * 1000;
  }

  int(n: number): number {
    return Math.floor(this.#rnd() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.#rnd() < p;
  }

  rv(): string {
    this.#rv += 1 + this.int(7);
    return String(this.#rv);
  }

  /** One request as the apiserver logs it: watches at ResponseStarted and ResponseComplete, the rest once. */
  emit(who: Identity, req: Request): void {
    // 0.2 to 0.8 s apart: 120,000 events span most of a day (rate rules and daily alarm ids see realistic spacing).
    this.#us += 200_000 + this.int(600_000);
    const stages = req.verb === 'watch' ? ['ResponseStarted', 'ResponseComplete'] : ['ResponseComplete'];
    const id = this.#uuid();
    for (const stage of stages) this.lines.push(JSON.stringify(this.#event(who, req, id, stage)));
  }

  #event(who: Identity, req: Request, auditID: string, stage: string): Json {
    const t = req.target;
    const resource = t === undefined ? undefined : t.subresource === undefined ? t.resource : `${t.resource}/${t.subresource}`;
    const read = req.verb === 'get' || req.verb === 'list' || req.verb === 'watch';
    const level = t === undefined || METADATA_RESOURCES.has(t.resource) || resource === 'serviceaccounts/token' ? 'Metadata' : read ? 'Request' : 'RequestResponse';
    const code = req.code ?? (req.verb === 'create' ? 201 : 200);
    const ev: Json = {
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level, auditID, stage, requestURI: t === undefined ? req.path : uriOf(t, req.verb), verb: req.verb,
      user: who.user,
    };
    if (req.impersonatedUser !== undefined) ev.impersonatedUser = req.impersonatedUser;
    ev.sourceIPs = [who.ip];
    // An empty user agent stands for a request without the header (trimmed by a log pipeline, or hand-made).
    if (who.ua !== '') ev.userAgent = who.ua;
    if (t !== undefined) ev.objectRef = objectRefOf(t);
    ev.responseStatus = { metadata: {}, code };
    if (level !== 'Metadata' && req.requestObject !== undefined) ev.requestObject = req.requestObject;
    if (level === 'RequestResponse' && req.responseObject !== undefined) ev.responseObject = req.responseObject;
    const received = this.#us;
    const done = received + 1_000 + this.int(stage === 'ResponseStarted' ? 3_000 : 40_000);
    ev.requestReceivedTimestamp = microTime(received);
    ev.stageTimestamp = microTime(done);
    ev.annotations = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': who.reason };
    return ev;
  }

  #uuid(): string {
    const h = () => Math.floor(this.#rnd() * 0x100000000).toString(16).padStart(8, '0');
    const a = h(); const b = h(); const c = h(); const d = h();
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${'89ab'[this.int(4)]}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }
}

function microTime(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}

const GROUP_VERSIONS: Record<string, string> = {
  apps: 'v1', batch: 'v1', 'coordination.k8s.io': 'v1', 'networking.k8s.io': 'v1', 'rbac.authorization.k8s.io': 'v1',
  'admissionregistration.k8s.io': 'v1', 'certificates.k8s.io': 'v1', 'discovery.k8s.io': 'v1', 'authentication.k8s.io': 'v1',
  'storage.k8s.io': 'v1', 'cert-manager.io': 'v1', 'wgpolicyk8s.io': 'v1alpha2', 'traefik.io': 'v1alpha1', 'argoproj.io': 'v1alpha1',
  'external-secrets.io': 'v1beta1', 'monitoring.coreos.com': 'v1', 'kustomize.toolkit.fluxcd.io': 'v1',
};

function uriOf(t: Target, verb: string): string {
  const group = t.group === undefined ? '/api/v1' : `/apis/${t.group}/${t.version ?? GROUP_VERSIONS[t.group] ?? 'v1'}`;
  let uri = `${group}${t.namespace === undefined ? '' : `/namespaces/${t.namespace}`}/${t.resource}`;
  if (t.name !== undefined) uri += `/${t.name}`;
  if (t.subresource !== undefined) uri += `/${t.subresource}`;
  if (t.rest !== undefined) uri += `/${t.rest}`;
  const query = [t.query, verb === 'watch' ? 'watch=true' : undefined, verb === 'list' && t.query === undefined ? 'limit=500' : undefined].filter((q) => q !== undefined);
  return query.length > 0 ? `${uri}?${query.join('&')}` : uri;
}

function objectRefOf(t: Target): Json {
  const ref: Json = { resource: t.resource };
  if (t.namespace !== undefined) ref.namespace = t.namespace;
  if (t.name !== undefined) ref.name = t.name;
  if (t.group !== undefined) ref.apiGroup = t.group;
  ref.apiVersion = t.group === undefined ? 'v1' : t.version ?? GROUP_VERSIONS[t.group] ?? 'v1';
  if (t.subresource !== undefined) ref.subresource = t.subresource;
  return ref;
}

// ---- object bodies -----------------------------------------------------------------------

export function deployment(namespace: string, app: string, image: string): Json {
  return {
    kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: app, namespace, labels: { app } },
    spec: {
      replicas: 3, selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: {
          serviceAccountName: app,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{ name: app, image, ports: [{ containerPort: 8080 }], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
        },
      },
    },
  };
}

/** The VPC CNI DaemonSet the EKS add-on manager keeps up to date: a node agent that needs the host. */
function awsNode(): Json {
  return {
    kind: 'DaemonSet', apiVersion: 'apps/v1', metadata: { name: 'aws-node', namespace: 'kube-system' },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'aws-node' } },
      template: {
        metadata: { labels: { 'k8s-app': 'aws-node' } },
        spec: {
          hostNetwork: true, serviceAccountName: 'aws-node', priorityClassName: 'system-node-critical',
          containers: [{ name: 'aws-node', image: '602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.1-eksbuild.1', securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } }],
          initContainers: [{ name: 'aws-vpc-cni-init', image: '602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni-init:v1.18.1-eksbuild.1', securityContext: { privileged: true } }],
          volumes: [
            { name: 'cni-bin-dir', hostPath: { path: '/opt/cni/bin' } }, { name: 'cni-net-dir', hostPath: { path: '/etc/cni/net.d' } },
            { name: 'log-dir', hostPath: { path: '/var/log/aws-routed-eni', type: 'DirectoryOrCreate' } }, { name: 'run-dir', hostPath: { path: '/var/run/aws-node', type: 'DirectoryOrCreate' } },
          ],
        },
      },
    },
  };
}

export function webhookConfig(kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration', name: string, service: { namespace: string; name: string }): Json {
  return {
    kind, apiVersion: 'admissionregistration.k8s.io/v1', metadata: { name },
    webhooks: [{
      name: `${name}.${service.namespace}.svc`, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail',
      clientConfig: { service: { ...service, path: '/validate', port: 443 }, caBundle: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lRSFl=' },
      rules: [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['*'], scope: '*' }],
    }],
  };
}

/** A webhook configuration's CA bundle refreshed by the controller that serves it (cert rotation), as a JSON patch. */
export function caBundlePatch(g: Generator, who: Identity, resource: 'validatingwebhookconfigurations' | 'mutatingwebhookconfigurations', name: string, service: { namespace: string; name: string }): void {
  const kind = resource === 'validatingwebhookconfigurations' ? 'ValidatingWebhookConfiguration' : 'MutatingWebhookConfiguration';
  g.emit(who, {
    verb: g.chance(0.5) ? 'patch' : 'update', target: { resource, name, group: 'admissionregistration.k8s.io' },
    requestObject: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lRSFl=' }],
    responseObject: webhookConfig(kind, name, service),
  });
}

export function listWatch(g: Generator, who: Identity, target: Target): void {
  g.emit(who, { verb: g.chance(0.3) ? 'list' : 'watch', target: { ...target, query: target.query ?? `resourceVersion=${g.rv()}&timeoutSeconds=${300 + g.int(300)}` } });
}

// ---- behaviours ----------------------------------------------------------------------------

const controlPlane: Array<[number, Behaviour]> = [
  [70, (g) => g.emit(kcm, { verb: 'update', target: { resource: 'leases', namespace: 'kube-system', name: 'kube-controller-manager', group: 'coordination.k8s.io' } })],
  [45, (g) => g.emit(scheduler, { verb: 'update', target: { resource: 'leases', namespace: 'kube-system', name: 'kube-scheduler', group: 'coordination.k8s.io' } })],
  [12, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    g.emit(scheduler, { verb: 'create', target: { resource: 'pods', namespace: ns, name: `app-${g.rv()}`, subresource: 'binding' }, requestObject: { kind: 'Binding', apiVersion: 'v1', target: { kind: 'Node', name: g.pick(NODES).name } } });
  }],
  [60, (g) => {
    const ctl = kubeSystem(g.pick(['replicaset-controller', 'deployment-controller', 'endpointslice-controller', 'generic-garbage-collector', 'resourcequota-controller', 'job-controller', 'namespace-controller']));
    const ns = g.pick(APP_NAMESPACES);
    if (g.chance(0.5)) g.emit(ctl, { verb: 'get', target: { resource: 'replicasets', namespace: ns, name: `app-${g.int(50)}`, group: 'apps' } });
    else g.emit(ctl, { verb: 'update', target: { resource: 'endpointslices', namespace: ns, name: `app-${g.int(50)}`, group: 'discovery.k8s.io' } });
  }],
  [25, (g) => g.emit(apiserver, { verb: 'get', target: { resource: g.pick(['namespaces', 'leases']), name: 'kube-system' } })],
  [8, (g) => listWatch(g, kubeProxy, { resource: g.pick(['services', 'endpointslices']), group: undefined })],
  [5, (g) => listWatch(g, ACTORS.coredns, { resource: g.pick(['services', 'endpointslices', 'namespaces']) })],
  [3, (g) => g.emit(ACTORS.metricsServer, { verb: g.pick(['get', 'list']), target: { resource: 'nodes', name: g.pick(NODES).name } })],
  [4, (g) => {
    if (g.chance(0.6)) listWatch(g, ACTORS.clusterAutoscaler, { resource: g.pick(['pods', 'nodes']) });
    else g.emit(ACTORS.clusterAutoscaler, { verb: 'update', target: { resource: 'configmaps', namespace: 'kube-system', name: 'cluster-autoscaler-status' } });
  }],
  [2, (g) => g.emit(ACTORS.ebsCsi, { verb: g.pick(['get', 'patch']), target: { resource: 'volumeattachments', name: `csi-${g.rv()}`, group: 'storage.k8s.io' } })],
  [3, (g) => g.emit(ACTORS.cloudController, { verb: 'patch', target: { resource: 'nodes', name: g.pick(NODES).name, subresource: 'status' }, requestObject: { status: { addresses: [] } } })],
];

const nodes: Array<[number, Behaviour]> = [
  [90, (g) => {
    const k = g.int(NODES.length);
    g.emit(kubelets[k], { verb: 'update', target: { resource: 'leases', namespace: 'kube-node-lease', name: NODES[k].name, group: 'coordination.k8s.io' } });
  }],
  [15, (g) => {
    const k = g.int(NODES.length);
    g.emit(kubelets[k], { verb: 'patch', target: { resource: 'nodes', name: NODES[k].name, subresource: 'status' }, requestObject: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } });
  }],
  [20, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    g.emit(g.pick(kubelets), { verb: 'patch', target: { resource: 'pods', namespace: ns, name: `app-${g.int(80)}`, subresource: 'status' }, requestObject: { status: { phase: 'Running' } } });
  }],
  [10, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    const kubelet = g.pick(kubelets);
    g.emit(kubelet, { verb: 'get', target: g.chance(0.5) ? { resource: 'configmaps', namespace: ns, name: 'kube-root-ca.crt' } : { resource: 'secrets', namespace: ns, name: 'app-credentials' } });
  }],
  // Pod-bound service-account tokens for the pods the kubelet runs, renewed before they expire.
  [12, (g) => g.emit(g.pick(kubelets), { verb: 'create', target: { resource: 'serviceaccounts', namespace: g.pick(APP_NAMESPACES), name: g.pick(['default', 'app', 'ledger']), subresource: 'token' } })],
  [5, (g) => {
    const k = g.int(NODES.length);
    listWatch(g, kubelets[k], { resource: 'pods', query: `fieldSelector=spec.nodeName%3D${NODES[k].name}&resourceVersion=${g.rv()}` });
  }],
  // Kubelet client certificate rotation: the node asks, the managed control plane approves.
  [0.4, (g) => {
    const name = `csr-${g.rv()}`;
    g.emit(g.pick(kubelets), { verb: 'create', target: { resource: 'certificatesigningrequests', name, group: 'certificates.k8s.io' }, requestObject: { kind: 'CertificateSigningRequest', spec: { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'] } } });
    g.emit(ACTORS.eksCertificates, { verb: 'update', target: { resource: 'certificatesigningrequests', name, group: 'certificates.k8s.io', subresource: 'approval' }, requestObject: { kind: 'CertificateSigningRequest', status: { conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved' }] } } });
  }],
];

const probes: Array<[number, Behaviour]> = [
  [30, (g) => g.emit(anonymous(g.pick(NODES).ip, 'kube-probe/1.29'), { verb: 'get', path: g.pick(['/livez', '/readyz']) })],
  [10, (g) => g.emit(anonymous(g.pick(['10.0.0.133', '10.0.1.140', '10.0.2.151']), 'ELB-HealthChecker/2.0'), { verb: 'get', path: '/readyz' })],
  [2, (g) => g.emit(anonymous(g.pick(['10.0.0.133', '10.0.1.140']), 'ELB-HealthChecker/2.0'), { verb: 'get', path: '/version' })],
  // Token verifiers (Vault's Kubernetes auth) fetch the service-account issuer's discovery document and keys.
  [2, (g) => g.emit(ACTORS.vault, { verb: 'get', path: g.pick(['/.well-known/openid-configuration', '/openid/v1/jwks']) })],
];

const managed: Array<[number, Behaviour]> = [
  [2, (g) => g.emit(ACTORS.eksNodeManager, { verb: g.pick(['get', 'patch']), target: { resource: 'nodes', name: g.pick(NODES).name }, requestObject: { metadata: { labels: { 'eks.amazonaws.com/nodegroup': 'default' } } } })],
  [2, (g) => listWatch(g, ACTORS.eksMetrics, { resource: g.pick(['nodes', 'pods']) })],
  [0.05, (g) => g.emit(ACTORS.eksAddonManager, { verb: 'patch', target: { resource: 'daemonsets', namespace: 'kube-system', name: 'aws-node', group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: 'aws-node', image: '602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.1-eksbuild.1' }] } } } }, responseObject: awsNode() })],
  [0.05, (g) => g.emit(ACTORS.gkeAddonManager, { verb: 'patch', target: { resource: 'daemonsets', namespace: 'kube-system', name: 'aws-node', group: 'apps' }, requestObject: { metadata: { labels: { 'addonmanager.kubernetes.io/mode': 'Reconcile' } } }, responseObject: awsNode() })],
  [0.5, (g) => g.emit(ACTORS.aksService, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['nodes', 'secrets']), namespace: undefined } })],
];

const controllers: Array<[number, Behaviour]> = [
  // cert-manager: watches Secrets cluster-wide (the certificates it issues), writes them, and injects CA bundles.
  [4, (g) => listWatch(g, ACTORS.certManager, { resource: 'secrets' })],
  [3, (g) => g.emit(ACTORS.certManager, { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: g.pick(APP_NAMESPACES), name: 'tls-cert' } })],
  [1, (g) => g.emit(ACTORS.certManager, { verb: 'create', target: { resource: 'certificaterequests', namespace: g.pick(APP_NAMESPACES), name: `tls-cert-${g.int(9)}`, group: 'cert-manager.io' } })],
  [0.5, (g) => g.emit(ACTORS.certManager, { verb: 'create', target: { resource: 'serviceaccounts', namespace: g.pick(['payments', 'storefront']), name: 'vault-issuer', subresource: 'token' } })],
  [1, (g) => caBundlePatch(g, ACTORS.certManagerCainjector, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), 'cert-manager-webhook', { namespace: 'cert-manager', name: 'cert-manager-webhook' })],
  [1, (g) => listWatch(g, ACTORS.certManagerCainjector, { resource: 'secrets' })],
  // Ingress controllers: TLS certificates for every Ingress, from any namespace.
  [6, (g) => listWatch(g, ACTORS.ingressNginx, { resource: g.pick(['secrets', 'secrets', 'configmaps', 'services', 'endpointslices']), group: undefined })],
  [2, (g) => g.emit(ACTORS.ingressNginx, { verb: 'update', target: { resource: 'ingresses', namespace: g.pick(APP_NAMESPACES), name: 'web', group: 'networking.k8s.io', subresource: 'status' } })],
  [5, (g) => g.emit(ACTORS.ingressNginx, { verb: 'update', target: { resource: 'leases', namespace: 'ingress-nginx', name: 'ingress-nginx-leader', group: 'coordination.k8s.io' } })],
  [0.1, (g) => {
    g.emit(ACTORS.ingressNginxAdmission, { verb: 'get', target: { resource: 'secrets', namespace: 'ingress-nginx', name: 'ingress-nginx-admission' } });
    caBundlePatch(g, ACTORS.ingressNginxAdmission, 'validatingwebhookconfigurations', 'ingress-nginx-admission', { namespace: 'ingress-nginx', name: 'ingress-nginx-controller-admission' });
  }],
  [3, (g) => listWatch(g, ACTORS.traefik, { resource: g.pick(['secrets', 'services', 'ingresses']) })],
  // Monitoring: kube-state-metrics and the Prometheus operator list Secrets cluster-wide; Prometheus scrapes
  // kubelets' cAdvisor through the API server's node proxy.
  [6, (g) => listWatch(g, ACTORS.kubeStateMetrics, { resource: g.pick(['secrets', 'pods', 'deployments', 'configmaps', 'nodes']) })],
  [2, (g) => listWatch(g, ACTORS.prometheusOperator, { resource: g.pick(['secrets', 'configmaps']) })],
  [2, (g) => g.emit(ACTORS.prometheusOperator, { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: 'monitoring', name: 'prometheus-kube-prometheus-stack-prometheus' } })],
  [5, (g) => listWatch(g, ACTORS.prometheus, { resource: g.pick(['pods', 'services', 'endpointslices']) })],
  [4, (g) => g.emit(ACTORS.prometheus, { verb: 'get', target: { resource: 'nodes', name: g.pick(NODES).name, subresource: 'proxy', rest: 'metrics/cadvisor' } })],
  // GitOps: Argo CD and Flux read everything (Secrets included) and apply what the repositories hold.
  [8, (g) => listWatch(g, ACTORS.argocdController, { resource: g.pick(['secrets', 'deployments', 'services', 'configmaps', 'pods']) })],
  [2, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    g.emit(ACTORS.argocdController, { verb: 'patch', target: { resource: 'deployments', namespace: ns, name: 'web', group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: 'web', image: `registry.corp.example/${ns}/web:1.${g.int(40)}.0` }] } } } }, responseObject: deployment(ns, 'web', 'registry.corp.example/web:1.0.0') });
  }],
  [2, (g) => g.emit(ACTORS.argocdServer, { verb: 'get', target: { resource: 'secrets', namespace: 'argocd', name: g.pick(['argocd-secret', 'repo-creds-github', 'cluster-prod']) } })],
  [0.1, (g) => caBundlePatch(g, ACTORS.argocdController, 'validatingwebhookconfigurations', 'payments-policy', { namespace: 'payments', name: 'payments-policy' })],
  [3, (g) => {
    const tenant = g.pick(['team-a', 'team-b']);
    g.emit(ACTORS.fluxKustomize, {
      verb: g.pick(['get', 'patch']), target: { resource: g.pick(['deployments', 'configmaps', 'services']), namespace: tenant, name: 'api', group: undefined },
      impersonatedUser: { username: `system:serviceaccount:${tenant}:flux-reconciler`, groups: ['system:serviceaccounts', `system:serviceaccounts:${tenant}`, 'system:authenticated'] },
      requestObject: { metadata: { labels: { 'kustomize.toolkit.fluxcd.io/name': tenant } } },
    });
  }],
  [2, (g) => g.emit(ACTORS.fluxHelm, { verb: 'list', target: { resource: 'secrets', namespace: g.pick(['team-a', 'team-b']), query: 'labelSelector=name%3Dapi%2Cowner%3Dhelm' } })],
  [1, (g) => g.emit(ACTORS.fluxSource, { verb: 'get', target: { resource: 'secrets', namespace: 'flux-system', name: 'flux-system' } })],
  [1, (g) => listWatch(g, ACTORS.fluxKustomize, { resource: 'secrets' })],
  // Secret stores: external-secrets, the Vault injector and operator.
  [2, (g) => listWatch(g, ACTORS.externalSecrets, { resource: 'secrets', query: `labelSelector=reconcile.external-secrets.io%2Fmanaged%3Dtrue&resourceVersion=${g.rv()}` })],
  [2, (g) => g.emit(ACTORS.externalSecrets, { verb: g.pick(['get', 'create', 'update']), target: { resource: 'secrets', namespace: g.pick(APP_NAMESPACES), name: 'db-credentials' } })],
  [1, (g) => g.emit(ACTORS.externalSecrets, { verb: 'create', target: { resource: 'serviceaccounts', namespace: g.pick(APP_NAMESPACES), name: 'vault-auth', subresource: 'token' } })],
  [0.5, (g) => {
    g.emit(ACTORS.externalSecretsCert, { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: 'external-secrets', name: 'external-secrets-webhook' } });
    caBundlePatch(g, ACTORS.externalSecretsCert, 'validatingwebhookconfigurations', g.pick(['secretstore-validate', 'externalsecret-validate']), { namespace: 'external-secrets', name: 'external-secrets-webhook' });
  }],
  [0.2, (g) => caBundlePatch(g, ACTORS.vaultInjector, 'mutatingwebhookconfigurations', 'vault-agent-injector-cfg', { namespace: 'vault', name: 'vault-agent-injector-svc' })],
  [3, (g) => g.emit(ACTORS.vault, { verb: 'create', target: { resource: 'tokenreviews', group: 'authentication.k8s.io' } })],
  [1, (g) => g.emit(ACTORS.vaultSecretsOperator, { verb: 'create', target: { resource: 'serviceaccounts', namespace: g.pick(APP_NAMESPACES), name: 'default', subresource: 'token' } })],
  [1, (g) => listWatch(g, ACTORS.vaultSecretsOperator, { resource: 'secrets' })],
  // Policy engines: Kyverno and Gatekeeper keep their webhook configurations and certificates current.
  [1, (g) => caBundlePatch(g, ACTORS.kyvernoAdmission, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), g.pick(['kyverno-resource-validating-webhook-cfg', 'kyverno-resource-mutating-webhook-cfg', 'kyverno-policy-validating-webhook-cfg']), { namespace: 'kyverno', name: 'kyverno-svc' })],
  [0.5, (g) => g.emit(ACTORS.kyvernoAdmission, { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: 'kyverno', name: 'kyverno-svc.kyverno.svc.kyverno-tls-pair' } })],
  [3, (g) => g.emit(ACTORS.kyvernoAdmission, { verb: 'update', target: { resource: 'leases', namespace: 'kyverno', name: 'kyverno', group: 'coordination.k8s.io' } })],
  [1, (g) => listWatch(g, ACTORS.kyvernoBackground, { resource: 'secrets' })],
  [3, (g) => {
    if (g.chance(0.5)) listWatch(g, ACTORS.kyvernoReports, { resource: g.pick(['pods', 'deployments', 'services']) });
    else g.emit(ACTORS.kyvernoReports, { verb: 'update', target: { resource: 'policyreports', namespace: g.pick(APP_NAMESPACES), name: `pol-${g.int(20)}`, group: 'wgpolicyk8s.io' } });
  }],
  [0.5, (g) => caBundlePatch(g, ACTORS.gatekeeper, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), g.pick(['gatekeeper-validating-webhook-configuration', 'gatekeeper-mutating-webhook-configuration']), { namespace: 'gatekeeper-system', name: 'gatekeeper-webhook-service' })],
  [0.5, (g) => g.emit(ACTORS.gatekeeper, { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: 'gatekeeper-system', name: 'gatekeeper-webhook-server-cert' } })],
  [2, (g) => listWatch(g, ACTORS.gatekeeper, { resource: g.pick(['pods', 'namespaces', 'secrets']) })],
  // Storage: Longhorn's manager caches its namespace's Secrets; its CSI provisioner reads StorageClass secrets.
  [1, (g) => listWatch(g, ACTORS.longhorn, { resource: 'secrets', namespace: 'longhorn-system' })],
  [1, (g) => g.emit(ACTORS.longhornCsi, { verb: 'get', target: { resource: 'secrets', namespace: 'longhorn-system', name: 'longhorn-crypto' } })],
  // Backups and controllers that follow Secrets for others.
  [0.5, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    for (const resource of ['secrets', 'configmaps', 'deployments', 'services']) g.emit(ACTORS.velero, { verb: 'list', target: { resource, namespace: ns, group: resource === 'deployments' ? 'apps' : undefined } });
  }],
  [2, (g) => listWatch(g, ACTORS.reloader, { resource: g.pick(['secrets', 'configmaps']) })],
  [1, (g) => g.emit(ACTORS.keda, { verb: 'get', target: { resource: 'secrets', namespace: g.pick(APP_NAMESPACES), name: 'rabbitmq-auth' } })],
  [0.5, (g) => listWatch(g, ACTORS.keda, { resource: 'secrets' })],
  // In-cluster apps with generic clients, on their own namespace's objects.
  [3, (g) => {
    const resource = g.pick(['configmaps', 'pods', 'secrets']);
    // Reads its own Secrets by name; lists (a Secret list returns every value) only what is not a Secret.
    const verb = resource === 'secrets' ? 'get' : g.pick(['get', 'list', 'patch']);
    g.emit(ACTORS.pythonOperator, { verb, target: { resource, namespace: 'data-platform', name: verb === 'list' ? undefined : 'data-operator' }, requestObject: { metadata: { annotations: { 'data-operator/reconciled': 'true' } } } });
  }],
  [2, (g) => g.emit(ACTORS.goJob, { verb: 'get', target: { resource: g.pick(['configmaps', 'secrets']), namespace: 'storefront', name: 'catalog-sync' } })],
  [2, (g) => g.emit(ACTORS.javaApp, { verb: g.pick(['get', 'watch']), target: { resource: 'configmaps', namespace: 'payments', name: 'ledger-config' } })],
];

/** A Helm upgrade by a CI runner: the release history (Secrets labelled owner=helm), the objects, a new release record. */
function helmUpgrade(g: Generator): void {
  const addOn = g.chance(0.15);
  const ns = addOn ? 'kube-system' : g.pick(['storefront', 'payments', 'web-frontend']);
  const release = addOn ? g.pick(['aws-load-balancer-controller', 'external-dns']) : g.pick(['api', 'web', 'worker']);
  const who = ACTORS.gitlabRunner;
  g.emit(who, { verb: 'list', target: { resource: 'secrets', namespace: ns, query: `labelSelector=name%3D${release}%2Cowner%3Dhelm%2Cstatus%3Ddeployed` } });
  g.emit(who, { verb: 'get', target: { resource: 'deployments', namespace: ns, name: release, group: 'apps' } });
  const image = `registry.corp.example/${ns}/${release}:2.${g.int(60)}.${g.int(9)}`;
  g.emit(who, { verb: 'patch', target: { resource: 'deployments', namespace: ns, name: release, group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: release, image }] } } } }, responseObject: deployment(ns, release, image) });
  g.emit(who, { verb: 'patch', target: { resource: 'configmaps', namespace: ns, name: `${release}-config` } });
  g.emit(who, { verb: 'create', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v${2 + g.int(80)}` } });
  g.emit(who, { verb: 'get', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v1` } });
  g.emit(who, { verb: 'update', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v1` } });
}

const deployers: Array<[number, Behaviour]> = [
  [1, helmUpgrade],
  [1, (g) => {
    const ns = 'storefront';
    g.emit(ACTORS.jenkins, { verb: g.pick(['get', 'patch']), target: { resource: g.pick(['deployments', 'configmaps']), namespace: ns, name: 'catalog', group: undefined }, requestObject: { metadata: { annotations: { 'jenkins.io/build': String(g.int(999)) } } } });
  }],
];

const people: Array<[number, Behaviour]> = [
  // Developers with kubectl in their own namespace: look, read logs, restart, scale, change configuration.
  [10, (g) => {
    const { who, namespace, app } = g.pick(DEVELOPERS);
    const r = g.int(10);
    if (r < 4) g.emit(who, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['pods', 'deployments', 'services', 'configmaps', 'replicasets']), namespace, group: undefined } });
    else if (r < 6) g.emit(who, { verb: 'get', target: { resource: 'pods', namespace, name: `${app}-6d9f8b7c54-${g.int(99)}`, subresource: 'log', query: 'container=app&tailLines=200' } });
    else if (r < 7) g.emit(who, { verb: 'patch', target: { resource: 'deployments', namespace, name: app, group: 'apps' }, requestObject: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T10:00:00Z' } } } } }, responseObject: deployment(namespace, app, `registry.corp.example/${namespace}/${app}:3.1.0`) });
    else if (r < 8) g.emit(who, { verb: 'patch', target: { resource: 'deployments', namespace, name: app, group: 'apps', subresource: 'scale' }, requestObject: { spec: { replicas: 2 + g.int(4) } } });
    else if (r < 9) g.emit(who, { verb: g.pick(['get', 'patch']), target: { resource: 'configmaps', namespace, name: `${app}-config` } });
    else g.emit(who, { verb: 'get', target: { resource: 'secrets', namespace, name: `${app}-db` } });
  }],
  // The platform admin looks around the whole cluster, and now and then checks a developer's view with --as.
  [4, (g) => g.emit(ACTORS.alice, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['nodes', 'pods', 'namespaces', 'deployments', 'events']), group: undefined } })],
  [0.1, (g) => {
    const dev = g.pick(DEVELOPERS);
    g.emit(ACTORS.alice, { verb: 'list', target: { resource: 'pods', namespace: dev.namespace }, impersonatedUser: { username: (dev.who.user as { username: string }).username } });
  }],
  // People behind the OIDC proxy: every request is the proxy impersonating them.
  [8, (g) => {
    const p = g.pick(PROXIED);
    g.emit(ACTORS.oidcProxy, {
      verb: g.pick(['get', 'list', 'watch']), target: { resource: g.pick(['pods', 'deployments', 'services', 'configmaps']), namespace: p.namespace },
      impersonatedUser: { username: p.username, groups: p.groups },
    });
  }],
];

const MIX: Array<[number, Behaviour]> = [...controlPlane, ...nodes, ...probes, ...managed, ...controllers, ...deployers, ...people];

/**
 * The cluster's first minutes, before the stream: kubeadm bootstraps the control plane (its admin binding, bootstrap
 * token, cluster-info) and the controller-manager asks for its controllers' tokens.
 */
function clusterSetup(g: Generator): void {
  g.emit(ACTORS.kubeadm, {
    verb: 'create', target: { resource: 'clusterrolebindings', name: 'kubeadm:cluster-admins', group: 'rbac.authorization.k8s.io' },
    requestObject: { kind: 'ClusterRoleBinding', metadata: { name: 'kubeadm:cluster-admins' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'Group', name: 'kubeadm:cluster-admins' }] },
  });
  g.emit(ACTORS.kubeadmAdmin, { verb: 'create', target: { resource: 'secrets', namespace: 'kube-system', name: 'bootstrap-token-abcdef' } });
  g.emit(ACTORS.kubeadmAdmin, { verb: 'create', target: { resource: 'configmaps', namespace: 'kube-public', name: 'cluster-info' } });
  g.emit(ACTORS.kubeadmAdmin, { verb: 'create', target: { resource: 'configmaps', namespace: 'kube-system', name: 'kubeadm-config' } });
  for (const name of ['kube-proxy', 'coredns']) g.emit(ACTORS.kubeadmAdmin, { verb: 'create', target: { resource: 'serviceaccounts', namespace: 'kube-system', name, subresource: 'token' } });
  for (const name of ['replicaset-controller', 'deployment-controller', 'namespace-controller', 'node-controller']) {
    g.emit(kcm, { verb: 'create', target: { resource: 'serviceaccounts', namespace: 'kube-system', name, subresource: 'token' } });
  }
}

/** `n` events (at least) of ordinary traffic, the same lines for the same seed; `extra` adds behaviours to the mix. */
export function benignTraffic(n: number, seed = 1, extra: Array<[number, Behaviour]> = []): string[] {
  const g = new Generator(seed, Date.UTC(2026, 10, 22, 6, 0, 0));
  const mix = [...MIX, ...extra];
  const total = mix.reduce((s, [w]) => s + w, 0);
  clusterSetup(g);
  while (g.lines.length < n) {
    let r = g.int(1_000_000) / 1_000_000 * total;
    for (const [w, behaviour] of mix) {
      r -= w;
      if (r < 0) {
        behaviour(g);
        break;
      }
    }
  }
  return g.lines;
}
