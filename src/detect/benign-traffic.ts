// The benign soak's wider material: managed control planes, platform operators, node agents, CI and people's habits.
import {
  APP_NAMESPACES, type Behaviour, CONTROL_PLANE_IP, caBundlePatch, deployment, type Generator, HELM, type Identity, K8S,
  KUBECTL, kubelets, listWatch, NODES, person, plainUser, sa,
} from '../../test/utils/gen-benign.ts';

/*
 * Added to the mix of test/utils/gen-benign.ts (same event shapes, same seeded generator). Each family uses the
 * identities, namespaces and user agents its provider or Helm chart installs: EKS, AKS, GKE, OpenShift and Rancher
 * control planes and node agents; operators that read Secrets cluster-wide or roll out privileged DaemonSets by
 * design; CI deployers and people (kubectl apply, `get -A`, `auth can-i`, `--as`); load-balancer health checks from
 * the clouds' ranges; and events trimmed of their user agent, as log pipelines and public rule tests keep them.
 */

type Json = Record<string, unknown>;

/** A service account's identity without its pod (tokens minted through TokenRequest or legacy Secrets). */
const saFrom = (namespace: string, name: string, ip: string, ua: string) => sa(namespace, name, ip, ua, `${name}-${namespace.length}f7c9d-x2kq${name.length % 10}`);
/** The same identity with its user agent stripped (trimmed log pipelines, public rule tests). */
const trimmed = (who: Identity): Identity => ({ ...who, ua: '' });

// ---- managed control planes ----------------------------------------------------------------

const AWS_ACCOUNT = '111122223333';
const eks = {
  podIdentityWebhook: plainUser('eks:pod-identity-mutating-webhook', ['system:authenticated'], CONTROL_PLANE_IP, 'amazon-eks-pod-identity-webhook/v0.5.3 (linux/amd64) kubernetes/$Format'),
  cloudController: plainUser('eks:cloud-controller-manager', ['system:authenticated'], CONTROL_PLANE_IP, `aws-cloud-controller-manager/${K8S}/service-controller`),
  vpcResourceController: plainUser('eks:vpc-resource-controller', ['system:authenticated'], CONTROL_PLANE_IP, 'controller/v0.0.0 (linux/amd64) kubernetes/$Format'),
  authenticator: plainUser('eks:authenticator', ['system:authenticated'], CONTROL_PLANE_IP, 'aws-iam-authenticator/v0.6.20 (linux/amd64) kubernetes/$Format'),
  addonManager: plainUser('eks:addon-manager', ['system:authenticated'], CONTROL_PLANE_IP, 'eks-addon-manager/v1.29.4-eks (linux/amd64)'),
  awsNode: sa('kube-system', 'aws-node', NODES[2].ip, 'aws-node/v1.18.1 (linux/amd64) kubernetes/$Format', 'aws-node-7xk2q'),
  ebsCsiNode: sa('kube-system', 'ebs-csi-node-sa', NODES[3].ip, 'aws-ebs-csi-driver/v1.30.0 (linux/amd64) kubernetes/$Format', 'ebs-csi-node-5kq2x'),
  // The cluster creator mapped by the authenticator (user.extra carries the IAM role), working from the office.
  admin: { user: { username: 'kubernetes-admin', uid: `aws-iam-authenticator:${AWS_ACCOUNT}:AROAEXAMPLEADMIN`, groups: ['system:masters', 'system:authenticated'], extra: { arn: [`arn:aws:iam::${AWS_ACCOUNT}:role/eks-admin`], canonicalArn: [`arn:aws:iam::${AWS_ACCOUNT}:role/eks-admin`], sessionName: ['jane'], accessKeyId: ['ASIAEXAMPLEKEY'] } }, ip: '203.0.113.44', ua: KUBECTL, reason: '' },
  // A developer mapped through an access entry: the username is the assumed role's session.
  developer: { user: { username: `arn:aws:sts::${AWS_ACCOUNT}:assumed-role/Developer/sam`, uid: `aws-iam-authenticator:${AWS_ACCOUNT}:AROAEXAMPLEDEV`, groups: ['eks-developers', 'system:authenticated'], extra: { arn: [`arn:aws:sts::${AWS_ACCOUNT}:assumed-role/Developer/sam`], canonicalArn: [`arn:aws:iam::${AWS_ACCOUNT}:role/Developer`], sessionName: ['sam'] } }, ip: '203.0.113.45', ua: KUBECTL, reason: 'RBAC: allowed by RoleBinding "developers/storefront" of ClusterRole "edit" to Group "eks-developers"' },
} satisfies Record<string, Identity>;

// AKS: nodes reach the public API endpoint through the load balancer's outbound address, node agents with them.
const AKS_EGRESS = ['20.103.57.14', '20.103.57.15'];
const AKS_NODES = ['aks-nodepool1-27431890-vmss000000', 'aks-nodepool1-27431890-vmss000001'];
const aksAgent = (name: string, ua: string, k: number) => sa('kube-system', name, AKS_EGRESS[k], ua, `${name}-${AKS_NODES[k].slice(-4)}`);
const aks = {
  service: plainUser('aksService', ['system:masters', 'system:authenticated'], '20.103.100.7', 'aks-operator/v0.0.0 (linux/amd64)'),
  support: plainUser('aks-support', ['system:authenticated'], '20.103.100.8', 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8'),
  konnectivity: plainUser('system:konnectivity-server', ['system:authenticated'], '20.103.100.9', 'proxy-server/v0.0.0 (linux/amd64) kubernetes/$Format'),
  nodeclient: plainUser('nodeclient', ['system:node-bootstrapper', 'system:authenticated'], AKS_EGRESS[0], `kubelet/${K8S}`),
  masterclient: { ...plainUser('masterclient', ['system:masters', 'system:authenticated'], '198.51.100.23', KUBECTL), reason: '' },
  agents: [0, 1].flatMap((k) => [
    aksAgent('konnectivity-agent', 'proxy-agent/v0.0.0 (linux/amd64) kubernetes/$Format', k),
    aksAgent('kube-proxy', `kube-proxy/${K8S}`, k),
    aksAgent('cloud-node-manager', `cloud-node-manager/${K8S}`, k),
    aksAgent('azure-ip-masq-agent', 'ip-masq-agent/v2.5.0 (linux/amd64) kubernetes/$Format', k),
    aksAgent('csi-azuredisk-node-sa', 'azuredisk-csi-driver/v1.29.5 (linux/amd64) kubernetes/$Format', k),
    aksAgent('ama-logs', 'ama-logs/3.1.19 (linux/amd64)', k),
  ]),
  kubelets: AKS_NODES.map((n, k) => ({ ...plainUser(`system:node:${n}`, ['system:nodes', 'system:authenticated'], AKS_EGRESS[k], `kubelet/${K8S}`), reason: '' })),
} satisfies Record<string, Identity | Identity[]>;

const gke = {
  gcpController: plainUser('system:gcp-controller-manager', ['system:authenticated'], '172.16.0.2', `gcp-controller-manager/${K8S}`),
  clusterMetrics: plainUser('system:clustermetrics', ['system:authenticated'], '172.16.0.2', 'clustermetrics/v0.0.0 (linux/amd64) kubernetes/$Format'),
  l7lb: plainUser('system:l7-lb-controller', ['system:authenticated'], '172.16.0.2', 'glbc/v1.29.0 (linux/amd64) kubernetes/$Format'),
  commonWebhooks: plainUser('system:gke-common-webhooks', ['system:authenticated'], '172.16.0.2', 'gke-common-webhooks/v0.0.0 (linux/amd64)'),
  // GKE's kubelet bootstrap identity asks for the node's client certificate.
  bootstrapKubelet: plainUser('kubelet', ['system:node-bootstrapper', 'system:authenticated'], '10.128.0.31', `kubelet/${K8S}`),
  metricsAgent: sa('kube-system', 'gke-metrics-agent', '10.128.0.31', 'gke-metrics-agent/1.11.2 (linux/amd64)', 'gke-metrics-agent-k2x9q'),
  // Managed Service for Prometheus: its operator keeps its webhooks current and reads the secrets scrape configs name.
  gmpOperator: sa('gke-gmp-system', 'operator', '10.128.0.40', 'gmp-operator/v0.10.0 (linux/amd64) kubernetes/$Format', 'gmp-operator-6d8f7c9b5-x4kqz'),
} satisfies Record<string, Identity>;

// OpenShift: the platform's operators run as service accounts of openshift-* namespaces.
const openshift = {
  networkOperator: sa('openshift-network-operator', 'cluster-network-operator', '10.0.0.11', 'cluster-network-operator/v0.0.0 (linux/amd64) kubernetes/$Format', 'network-operator-6d9f8b7c5-2kqxw'),
  apiserverOperator: sa('openshift-kube-apiserver-operator', 'kube-apiserver-operator', '10.0.0.11', 'cluster-kube-apiserver-operator/v0.0.0 (linux/amd64) kubernetes/$Format', 'kube-apiserver-operator-5b8c9d7f6-x2kqm'),
  ingressOperator: sa('openshift-ingress-operator', 'ingress-operator', '10.0.0.12', 'ingress-operator/v0.0.0 (linux/amd64) kubernetes/$Format', 'ingress-operator-7c9d8b6f5-q2xkw'),
  machineConfigDaemon: sa('openshift-machine-config-operator', 'machine-config-daemon', NODES[4].ip, 'machine-config-daemon/v0.0.0 (linux/amd64) kubernetes/$Format', 'machine-config-daemon-x2kq9'),
  monitoring: sa('openshift-monitoring', 'prometheus-k8s', '10.128.2.14', 'Prometheus/2.48.0', 'prometheus-k8s-0'),
  systemAdmin: { ...plainUser('system:admin', ['system:masters', 'system:authenticated'], '10.0.0.5', 'oc/4.15.0 (linux/amd64) kubernetes/d0eaa84'), reason: '' },
} satisfies Record<string, Identity>;

// Rancher: the cluster agent impersonates Rancher's users (`u-*`); Fleet applies bundles; the webhook keeps its config.
const rancher = {
  clusterAgent: sa('cattle-system', 'cattle', '10.244.16.3', 'rancher/v2.8.3 (linux/amd64) kubernetes/$Format', 'cattle-cluster-agent-6d9f8b7c5-x2kqw'),
  fleetAgent: sa('cattle-fleet-system', 'fleet-agent', '10.244.16.4', 'fleetagent/v0.9.2 (linux/amd64) kubernetes/$Format', 'fleet-agent-7c9d8b6f5-2xkqw'),
  webhook: sa('cattle-system', 'rancher-webhook', '10.244.16.5', 'rancher-webhook/v0.4.3 (linux/amd64) kubernetes/$Format', 'rancher-webhook-5b8c9d7f6-kq2xm'),
} satisfies Record<string, Identity>;
const RANCHER_USERS = [
  { username: 'u-mo773yttt4', groups: ['system:authenticated', 'system:cattle:authenticated'] },
  { username: 'u-b4qkhsnliz', groups: ['system:authenticated', 'system:cattle:authenticated'] },
];

// ---- operators and node agents -------------------------------------------------------------

const ops = {
  argocdController: sa('argocd', 'argocd-application-controller', '10.244.6.9', 'argocd-application-controller/v2.10.7+b060053 (linux/amd64) kubernetes/$Format', 'argocd-application-controller-0'),
  argocdServer: sa('argocd', 'argocd-server', '10.244.6.10', 'argocd-server/v2.10.7+b060053 (linux/amd64) kubernetes/$Format', 'argocd-server-6f9b7c8d5-2xwzq'),
  fluxHelm: sa('flux-system', 'helm-controller', '10.244.9.4', 'helm-controller/v0.37.4 (linux/amd64) kubernetes/$Format', 'helm-controller-5f7c8b6d9-qx4mz'),
  istiod: sa('istio-system', 'istiod', '10.244.17.2', 'pilot-discovery/1.21.2', 'istiod-7d9c8b6f5-n2kpx'),
  linkerdIdentity: sa('linkerd', 'linkerd-identity', '10.244.17.8', 'controller/v0.0.0 (linux/amd64) kubernetes/$Format', 'linkerd-identity-6c9d8b7f5-kq8xz'),
  linkerdInjector: sa('linkerd', 'linkerd-proxy-injector', '10.244.17.9', 'controller/v0.0.0 (linux/amd64) kubernetes/$Format', 'linkerd-proxy-injector-5d8c7b9f6-7xkqw'),
  tigeraOperator: sa('tigera-operator', 'tigera-operator', '10.0.1.22', 'operator/v1.32.7 (linux/amd64) kubernetes/$Format', 'tigera-operator-6d8f7c9b5-x4kqz'),
  calicoNode: sa('calico-system', 'calico-node', NODES[5].ip, 'Go-http-client/2.0', 'calico-node-9x2kq'),
  cilium: sa('kube-system', 'cilium', NODES[6].ip, 'cilium-agent/1.15.4 (linux/amd64) kubernetes/$Format', 'cilium-x7k2q'),
  ciliumOperator: sa('kube-system', 'cilium-operator', '10.0.1.23', 'cilium-operator-generic/1.15.4 (linux/amd64) kubernetes/$Format', 'cilium-operator-6f8d7c9b5-m4xkq'),
  datadogClusterAgent: sa('datadog', 'datadog-cluster-agent', '10.244.18.2', 'datadog-cluster-agent/7.52.1 (linux/amd64) kubernetes/$Format', 'datadog-cluster-agent-5b9c8d7f6-m2kqx'),
  datadogAgent: sa('datadog', 'datadog', NODES[7].ip, 'datadog-agent/7.52.1 (linux/amd64) kubernetes/$Format', 'datadog-x2kq7'),
  falco: sa('falco', 'falco', NODES[1].ip, 'falco/0.37.1 (linux/amd64) kubernetes/$Format', 'falco-k2xq9'),
  karpenter: sa('karpenter', 'karpenter', '10.244.19.2', 'karpenter/v0.36.1 (linux/amd64) kubernetes/$Format', 'karpenter-6d8f7c9b5-p2xkq'),
  kedaOperator: sa('keda', 'keda-operator', '10.244.12.17', 'keda-operator/v2.13.1 (linux/amd64) kubernetes/$Format', 'keda-operator-5b9c8d7f6-m2kqx'),
  kedaMetrics: sa('keda', 'keda-operator-metrics-apiserver', '10.244.12.18', 'keda-adapter/v2.13.1 (linux/amd64) kubernetes/$Format', 'keda-operator-metrics-apiserver-7c9d-2xkq'),
  tektonWebhook: sa('tekton-pipelines', 'tekton-pipelines-webhook', '10.244.20.3', 'webhook/v0.59.0 (linux/amd64) kubernetes/$Format', 'tekton-pipelines-webhook-6d8f7c9b5-x4kqz'),
  knativeWebhook: sa('knative-serving', 'controller', '10.244.20.4', 'webhook/v1.14.0 (linux/amd64) kubernetes/$Format', 'webhook-5b9c8d7f6-m2kqx'),
  metricsServer: sa('kube-system', 'metrics-server', '10.244.0.9', 'metrics-server/v0.7.1 (linux/amd64) kubernetes/$Format', 'metrics-server-6d94bc8694-ckz2q'),
  nodeProblemDetector: sa('kube-system', 'node-problem-detector', NODES[0].ip, 'node-problem-detector/v0.8.19 (linux/amd64) kubernetes/$Format', 'node-problem-detector-2xkq9'),
  velero: sa('velero', 'velero', '10.244.12.15', 'velero-server/v1.13.2 (linux/amd64) 4d961fb', 'velero-7c9d8b6f5-x2kqm'),
  externalSecrets: sa('external-secrets', 'external-secrets', '10.244.7.14', 'external-secrets/v0.9.16 (linux/amd64) kubernetes/$Format', 'external-secrets-6b8f7d9c5-mq2lx'),
  kyvernoAdmission: sa('kyverno', 'kyverno-admission-controller', '10.244.10.7', 'kyverno/v1.11.4 (linux/amd64) kubernetes/$Format', 'kyverno-admission-controller-5d8c7b9f6-7xkqw'),
} satisfies Record<string, Identity>;

// ---- CI and people -------------------------------------------------------------------------

const ci = {
  // A CI job's service account applying manifests with kubectl into the namespaces it deploys.
  deployer: saFrom('ci', 'deployer', '10.244.13.40', KUBECTL),
  githubRunner: sa('arc-runners', 'arc-runner-set-gha-rs-kube-mode', '10.244.13.41', HELM, 'arc-runner-set-7xk2q-runner-2kq9x'),
} satisfies Record<string, Identity>;
const oncall = person('oncall-sre', ['sre'], '192.168.40.90', 'RBAC: allowed by ClusterRoleBinding "sre-view" of ClusterRole "view" to Group "sre"');
const devs = [
  { who: person('dana@corp.example', ['dev-payments'], '192.168.40.57', 'RBAC: allowed by RoleBinding "dev-payments-edit/payments" of ClusterRole "edit" to Group "dev-payments"'), namespace: 'payments' },
  { who: person('raj@corp.example', ['dev-frontend'], '192.168.40.63', 'RBAC: allowed by RoleBinding "dev-frontend-edit/web-frontend" of ClusterRole "edit" to Group "dev-frontend"'), namespace: 'web-frontend' },
];
// An auth proxy (declared in impersonating_proxies) and the people it passes on, with the groups its roles map to
// (administrators to a group bound to cluster-admin: a proxy passing on system:masters, which no RBAC change can
// revoke, stays a high alarm, KA-IMP-002).
const teleport = sa('teleport', 'teleport-kube-agent', '10.244.15.8', KUBECTL, 'teleport-kube-agent-0');
const TELEPORT_USERS = [
  { username: 'alice@corp.example', groups: ['platform-admins', 'system:authenticated'] },
  { username: 'lee@corp.example', groups: ['developers', 'system:authenticated'] },
];
const admin = person('alice@corp.example', ['platform'], '192.168.40.21', 'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform"');

// Anonymous health checks of the clouds' load balancers (GCP's checkers, Azure's probe address) and the kubelets.
const anonymousProbe = (ip: string, ua: string): Identity => ({ user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, ip, ua, reason: 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"' });

// ---- object bodies -------------------------------------------------------------------------

interface AgentSpec {
  namespace: string;
  name: string;
  image: string;
  hostPaths: string[];
  privileged?: boolean;
  hostPID?: boolean;
  hostNetwork?: boolean;
  capabilities?: string[];
  /** Labels and annotations of the tool that applies it (GitOps tracking, Helm release). */
  labels?: Json;
  annotations?: Json;
}

/** A node agent's DaemonSet as its chart or operator renders it: host paths, host namespaces, privileges. */
function nodeAgent(a: AgentSpec): Json {
  const meta: Json = { name: a.name, namespace: a.namespace, labels: { 'app.kubernetes.io/name': a.name, ...a.labels } };
  if (a.annotations !== undefined) meta.annotations = a.annotations;
  return {
    kind: 'DaemonSet', apiVersion: 'apps/v1', metadata: meta,
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': a.name } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': a.name } },
        spec: {
          serviceAccountName: a.name, hostNetwork: a.hostNetwork ?? false, hostPID: a.hostPID ?? false, priorityClassName: 'system-node-critical',
          tolerations: [{ operator: 'Exists' }],
          containers: [{
            name: a.name, image: a.image,
            securityContext: { privileged: a.privileged ?? false, ...(a.capabilities === undefined ? {} : { capabilities: { add: a.capabilities } }) },
            volumeMounts: a.hostPaths.map((p, k) => ({ name: `host-${k}`, mountPath: `/host${p}`, readOnly: true })),
          }],
          volumes: a.hostPaths.map((p, k) => ({ name: `host-${k}`, hostPath: { path: p } })),
        },
      },
    },
  };
}

const AGENTS = {
  nodeExporter: { namespace: 'monitoring', name: 'prometheus-node-exporter', image: 'quay.io/prometheus/node-exporter:v1.8.0', hostPaths: ['/proc', '/sys', '/'], hostPID: true, hostNetwork: true },
  datadog: { namespace: 'datadog', name: 'datadog', image: 'gcr.io/datadoghq/agent:7.52.1', hostPaths: ['/proc', '/sys/fs/cgroup', '/var/run/containerd', '/var/log/pods'], hostPID: true, capabilities: ['SYS_ADMIN', 'SYS_RESOURCE', 'SYS_PTRACE', 'NET_ADMIN', 'NET_BROADCAST', 'NET_RAW', 'IPC_LOCK', 'CHOWN'] },
  falco: { namespace: 'falco', name: 'falco', image: 'docker.io/falcosecurity/falco-no-driver:0.37.1', hostPaths: ['/proc', '/etc', '/dev', '/sys/module', '/run/containerd'], privileged: true },
  calicoNode: { namespace: 'calico-system', name: 'calico-node', image: 'quay.io/tigera/node:v3.27.3', hostPaths: ['/lib/modules', '/run/xtables.lock', '/var/run/calico', '/var/lib/calico', '/etc/cni/net.d', '/opt/cni/bin', '/sys/fs/bpf', '/proc'], privileged: true, hostNetwork: true },
  ovnkubeNode: { namespace: 'openshift-ovn-kubernetes', name: 'ovnkube-node', image: 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:3b1a4c7e9d2f6a8b0c5e7d9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b', hostPaths: ['/', '/var/run/openvswitch', '/etc/cni/net.d', '/var/lib/cni/bin', '/run/netns'], privileged: true, hostPID: true, hostNetwork: true },
} satisfies Record<string, AgentSpec>;

/** A GitOps controller's apply of a node agent: server-side apply patch, the whole object in request and response. */
function gitopsAgentApply(g: Generator, who: Identity, agent: AgentSpec, tracking: { labels?: Json; annotations?: Json }): void {
  const body = nodeAgent({ ...agent, ...tracking });
  g.emit(who, { verb: 'patch', target: { resource: 'daemonsets', namespace: agent.namespace, name: agent.name, group: 'apps', query: 'fieldManager=argocd-controller&force=true' }, requestObject: body, responseObject: body });
}

/** A Helm upgrade of a node agent's chart: a three-way merge patch carrying only the new image, then the release record. */
function helmAgentUpgrade(g: Generator, who: Identity, agent: AgentSpec): void {
  const image = agent.image.replace(/:[^:@]+$/, `:${g.pick(['v1.8.1', '7.53.0', '0.37.2', 'v3.27.4'])}`);
  g.emit(who, { verb: 'list', target: { resource: 'secrets', namespace: agent.namespace, query: `labelSelector=name%3D${agent.name}%2Cowner%3Dhelm%2Cstatus%3Ddeployed` } });
  g.emit(who, { verb: 'patch', target: { resource: 'daemonsets', namespace: agent.namespace, name: agent.name, group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: agent.name, image }] } } } }, responseObject: nodeAgent({ ...agent, image }) });
  g.emit(who, { verb: 'create', target: { resource: 'secrets', namespace: agent.namespace, name: `sh.helm.release.v1.${agent.name}.v${2 + g.int(40)}` } });
}

function mirrorPod(node: string, component: string): Json {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name: `${component}-${node}`, namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': '5c2c7a0f4e8d1b3a9f6e2d4c8b0a7f1e', 'kubernetes.io/config.source': 'file' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, controller: true }] },
    spec: {
      nodeName: node, hostNetwork: true, priorityClassName: 'system-node-critical',
      containers: [{ name: component, image: `registry.k8s.io/${component}:v1.29.4`, command: [component] }],
      volumes: [{ name: 'k8s-certs', hostPath: { path: '/etc/kubernetes/pki', type: 'DirectoryOrCreate' } }],
    },
  };
}

// ---- behaviours ----------------------------------------------------------------------------

const managedControlPlanes: Array<[number, Behaviour]> = [
  // EKS
  [2, (g) => g.emit(eks.podIdentityWebhook, { verb: g.pick(['get', 'watch']), target: { resource: 'serviceaccounts', namespace: g.pick(APP_NAMESPACES), name: 'default' } })],
  [1, (g) => g.emit(eks.cloudController, { verb: 'update', target: { resource: 'services', namespace: g.pick(APP_NAMESPACES), name: 'web', subresource: 'status' }, requestObject: { status: { loadBalancer: { ingress: [{ hostname: 'a1b2c3d4e5-1234567890.eu-west-1.elb.amazonaws.com' }] } } } })],
  [1, (g) => listWatch(g, eks.cloudController, { resource: g.pick(['services', 'nodes']) })],
  [2, (g) => {
    if (g.chance(0.5)) listWatch(g, eks.vpcResourceController, { resource: g.pick(['pods', 'nodes']) });
    else g.emit(eks.vpcResourceController, { verb: 'patch', target: { resource: 'pods', namespace: g.pick(APP_NAMESPACES), name: `app-${g.int(80)}` }, requestObject: { metadata: { annotations: { 'vpc.amazonaws.com/pod-eni': '[]' } } } });
  }],
  [1, (g) => g.emit(eks.authenticator, { verb: g.pick(['get', 'watch']), target: { resource: 'configmaps', namespace: 'kube-system', name: 'aws-auth' } })],
  [0.1, (g) => {
    const name = g.pick(['aws-node', 'kube-proxy', 'coredns']);
    g.emit(eks.addonManager, { verb: 'patch', target: { resource: 'serviceaccounts', namespace: 'kube-system', name }, requestObject: { metadata: { labels: { 'app.kubernetes.io/managed-by': 'eks' } } } });
    g.emit(eks.addonManager, { verb: 'patch', target: { resource: 'clusterroles', name, group: 'rbac.authorization.k8s.io' }, requestObject: { metadata: { labels: { 'app.kubernetes.io/managed-by': 'eks' } } } });
    g.emit(eks.addonManager, { verb: 'patch', target: { resource: 'clusterrolebindings', name, group: 'rbac.authorization.k8s.io' }, requestObject: { metadata: { labels: { 'app.kubernetes.io/managed-by': 'eks' } } } });
    g.emit(eks.addonManager, { verb: 'patch', target: { resource: 'configmaps', namespace: 'kube-system', name: name === 'coredns' ? 'coredns' : `${name}-config` } });
  }],
  [4, (g) => {
    if (g.chance(0.6)) listWatch(g, eks.awsNode, { resource: g.pick(['pods', 'nodes', 'namespaces']) });
    else g.emit(eks.awsNode, { verb: 'patch', target: { resource: 'pods', namespace: g.pick(APP_NAMESPACES), name: `app-${g.int(80)}` }, requestObject: { metadata: { annotations: { 'vpc.amazonaws.com/pod-ips': `10.0.3.${g.int(250)}` } } } });
  }],
  [1, (g) => g.emit(eks.ebsCsiNode, { verb: 'get', target: { resource: g.pick(['nodes', 'csinodes']), name: g.pick(NODES).name, group: g.chance(0.5) ? undefined : 'storage.k8s.io' } })],
  [1.5, (g) => g.emit(eks.admin, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['pods', 'nodes', 'deployments', 'services']), namespace: g.pick([undefined, ...APP_NAMESPACES]) } })],
  [1.5, (g) => g.emit(eks.developer, { verb: g.pick(['get', 'list', 'watch']), target: { resource: g.pick(['pods', 'deployments', 'services']), namespace: 'storefront' } })],
  [0.3, (g) => g.emit(eks.developer, { verb: 'get', target: { resource: 'pods', namespace: 'storefront', name: `catalog-6d9f8b7c54-${g.int(99)}`, subresource: 'log', query: 'container=catalog&follow=true' } })],
  // AKS
  [1, (g) => g.emit(aks.service, { verb: g.pick(['get', 'list', 'update']), target: { resource: g.pick(['nodes', 'configmaps', 'deployments']), namespace: 'kube-system', name: undefined } })],
  [0.3, (g) => g.emit(aks.support, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['pods', 'events', 'nodes']), namespace: 'kube-system' } })],
  [1, (g) => g.emit(aks.konnectivity, { verb: 'get', target: { resource: 'leases', namespace: 'kube-system', name: 'konnectivity-server', group: 'coordination.k8s.io' } })],
  [8, (g) => {
    const who = g.pick(aks.agents);
    const r = g.int(10);
    if (r < 6) listWatch(g, who, { resource: g.pick(['pods', 'nodes', 'configmaps', 'services', 'endpointslices']), group: undefined });
    else if (r < 8) g.emit(who, { verb: 'get', target: { resource: 'configmaps', namespace: 'kube-system', name: g.pick(['azure-ip-masq-agent-config', 'kube-root-ca.crt', 'container-azm-ms-agentconfig']) } });
    else g.emit(who, { verb: 'get', target: { resource: 'nodes', name: g.pick(AKS_NODES) } });
  }],
  [5, (g) => {
    const k = g.int(AKS_NODES.length);
    const r = g.int(4);
    if (r === 0) g.emit(aks.kubelets[k], { verb: 'get', target: { resource: 'configmaps', namespace: g.pick(APP_NAMESPACES), name: 'kube-root-ca.crt' } });
    else if (r === 1) g.emit(aks.kubelets[k], { verb: 'create', target: { resource: 'serviceaccounts', namespace: g.pick(APP_NAMESPACES), name: 'default', subresource: 'token' } });
    else g.emit(aks.kubelets[k], { verb: 'update', target: { resource: 'leases', namespace: 'kube-node-lease', name: AKS_NODES[k], group: 'coordination.k8s.io' } });
  }],
  [0.1, (g) => g.emit(aks.nodeclient, { verb: 'create', target: { resource: 'certificatesigningrequests', name: `node-csr-${g.rv()}`, group: 'certificates.k8s.io' }, requestObject: { kind: 'CertificateSigningRequest', spec: { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'key encipherment', 'client auth'] } } })],
  [0.5, (g) => g.emit(aks.masterclient, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['pods', 'nodes', 'deployments']), namespace: g.pick([undefined, 'kube-system']) } })],
  // GKE
  [1, (g) => listWatch(g, gke.clusterMetrics, { resource: g.pick(['nodes', 'pods', 'namespaces']) })],
  [0.5, (g) => g.emit(gke.gcpController, { verb: 'patch', target: { resource: 'nodes', name: 'gke-prod-default-pool-3a7c9e1f-x2kq', subresource: 'status' }, requestObject: { status: { conditions: [{ type: 'NetworkUnavailable', status: 'False' }] } } })],
  [0.5, (g) => g.emit(gke.l7lb, { verb: 'update', target: { resource: 'ingresses', namespace: g.pick(APP_NAMESPACES), name: 'web', group: 'networking.k8s.io', subresource: 'status' } })],
  [0.2, (g) => caBundlePatch(g, gke.commonWebhooks, 'mutatingwebhookconfigurations', 'pod-ready.config.common-webhooks.networking.gke.io', { namespace: 'kube-system', name: 'gke-common-webhooks' })],
  [0.2, (g) => {
    const name = `node-csr-${g.rv()}`;
    g.emit(gke.bootstrapKubelet, { verb: 'create', target: { resource: 'certificatesigningrequests', name, group: 'certificates.k8s.io' }, requestObject: { kind: 'CertificateSigningRequest', spec: { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'key encipherment', 'client auth'] } } });
    g.emit(gke.gcpController, { verb: 'update', target: { resource: 'certificatesigningrequests', name, group: 'certificates.k8s.io', subresource: 'approval' }, requestObject: { kind: 'CertificateSigningRequest', status: { conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved' }] } } });
  }],
  [1, (g) => listWatch(g, gke.metricsAgent, { resource: g.pick(['nodes', 'pods']) })],
  [0.2, (g) => caBundlePatch(g, gke.gmpOperator, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), 'gmp-operator.gke-gmp-system.monitoring.googleapis.com', { namespace: 'gke-gmp-system', name: 'gmp-operator' })],
  [1, (g) => listWatch(g, gke.gmpOperator, { resource: g.pick(['secrets', 'configmaps']), namespace: g.pick(['gmp-system', 'gmp-public']) })],
  // OpenShift
  [2, (g) => listWatch(g, openshift.apiserverOperator, { resource: g.pick(['secrets', 'configmaps']), namespace: g.pick(['openshift-kube-apiserver', 'openshift-config', 'openshift-config-managed']) })],
  [1, (g) => g.emit(openshift.apiserverOperator, { verb: g.pick(['get', 'update', 'create']), target: { resource: 'secrets', namespace: 'openshift-kube-apiserver', name: g.pick(['localhost-recovery-client-token', 'kube-apiserver-cert-syncer-client-cert-key', 'node-kubeconfigs']) } })],
  [1, (g) => listWatch(g, openshift.ingressOperator, { resource: g.pick(['secrets', 'deployments', 'services']), namespace: 'openshift-ingress' })],
  [0.1, (g) => {
    const body = nodeAgent(AGENTS.ovnkubeNode);
    g.emit(openshift.networkOperator, { verb: 'patch', target: { resource: 'daemonsets', namespace: 'openshift-ovn-kubernetes', name: 'ovnkube-node', group: 'apps', query: 'fieldManager=cluster-network-operator%2Foperconfig&force=true' }, requestObject: body, responseObject: body });
  }],
  [1, (g) => g.emit(openshift.machineConfigDaemon, { verb: g.pick(['get', 'patch']), target: { resource: 'nodes', name: NODES[4].name }, requestObject: { metadata: { annotations: { 'machineconfiguration.openshift.io/state': 'Done' } } } })],
  [1, (g) => g.emit(openshift.monitoring, { verb: 'get', target: { resource: 'nodes', name: g.pick(NODES).name, subresource: 'proxy', rest: 'metrics/cadvisor' } })],
  [1, (g) => listWatch(g, openshift.monitoring, { resource: g.pick(['pods', 'services', 'endpoints']) })],
  [0.3, (g) => g.emit(openshift.systemAdmin, { verb: g.pick(['get', 'list']), target: { resource: g.pick(['nodes', 'clusteroperators', 'pods']), group: undefined } })],
  // Rancher
  [3, (g) => {
    const u = g.pick(RANCHER_USERS);
    g.emit(rancher.clusterAgent, { verb: g.pick(['get', 'list', 'watch']), target: { resource: g.pick(['pods', 'deployments', 'services', 'namespaces']), namespace: g.pick(APP_NAMESPACES) }, impersonatedUser: u });
  }],
  [1, (g) => listWatch(g, rancher.clusterAgent, { resource: g.pick(['secrets', 'nodes', 'namespaces']) })],
  [1, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    const image = `registry.corp.example/${ns}/web:1.${g.int(40)}.0`;
    g.emit(rancher.fleetAgent, { verb: 'patch', target: { resource: 'deployments', namespace: ns, name: 'web', group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: 'web', image }] } } } }, responseObject: deployment(ns, 'web', image) });
  }],
  [0.2, (g) => caBundlePatch(g, rancher.webhook, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), 'rancher.cattle.io', { namespace: 'cattle-system', name: 'rancher-webhook' })],
];

const operators: Array<[number, Behaviour]> = [
  // Argo CD applies the platform's node agents (privileged, host paths) and the server reads cluster secrets.
  [0.2, (g) => gitopsAgentApply(g, ops.argocdController, AGENTS.nodeExporter, { labels: { 'app.kubernetes.io/instance': 'node-exporter' }, annotations: { 'argocd.argoproj.io/tracking-id': 'node-exporter:apps/DaemonSet:monitoring/prometheus-node-exporter' } })],
  [0.1, (g) => gitopsAgentApply(g, ops.argocdController, AGENTS.falco, { labels: { 'app.kubernetes.io/instance': 'falco' }, annotations: { 'argocd.argoproj.io/tracking-id': 'falco:apps/DaemonSet:falco/falco' } })],
  [1, (g) => listWatch(g, ops.argocdServer, { resource: 'secrets', namespace: 'argocd', query: `labelSelector=argocd.argoproj.io%2Fsecret-type%3Dcluster&resourceVersion=${g.rv()}` })],
  [0.1, (g) => gitopsAgentApply(g, ops.fluxHelm, AGENTS.datadog, { labels: { 'helm.toolkit.fluxcd.io/name': 'datadog', 'helm.toolkit.fluxcd.io/namespace': 'flux-system' } })],
  // Istio and Linkerd: istiod keeps the sidecar injector's configuration current and reads secrets (gateway certificates).
  [0.3, (g) => caBundlePatch(g, ops.istiod, g.pick(['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'] as const), g.pick(['istio-sidecar-injector', 'istio-validator-istio-system', 'istio-revision-tag-default']), { namespace: 'istio-system', name: 'istiod' })],
  [2, (g) => listWatch(g, ops.istiod, { resource: g.pick(['secrets', 'configmaps', 'services', 'endpointslices']) })],
  [1, (g) => g.emit(ops.linkerdIdentity, { verb: 'create', target: { resource: 'tokenreviews', group: 'authentication.k8s.io' } })],
  [0.5, (g) => g.emit(ops.linkerdIdentity, { verb: 'get', target: { resource: 'secrets', namespace: 'linkerd', name: 'linkerd-identity-issuer' } })],
  [1, (g) => listWatch(g, ops.linkerdInjector, { resource: g.pick(['namespaces', 'pods', 'replicasets']) })],
  // Calico and Cilium: the operator renders the CNI's privileged DaemonSet; the agents follow their objects.
  [0.1, (g) => {
    const body = nodeAgent(AGENTS.calicoNode);
    g.emit(ops.tigeraOperator, { verb: 'update', target: { resource: 'daemonsets', namespace: 'calico-system', name: 'calico-node', group: 'apps' }, requestObject: body, responseObject: body });
  }],
  [1, (g) => listWatch(g, ops.tigeraOperator, { resource: g.pick(['secrets', 'configmaps', 'daemonsets']), namespace: g.pick(['calico-system', 'tigera-operator']) })],
  [2, (g) => listWatch(g, ops.calicoNode, { resource: g.pick(['pods', 'namespaces', 'serviceaccounts', 'nodes']) })],
  [2, (g) => listWatch(g, ops.cilium, { resource: g.pick(['pods', 'namespaces', 'nodes', 'ciliumendpoints']), group: undefined })],
  [1, (g) => g.emit(ops.ciliumOperator, { verb: 'update', target: { resource: 'leases', namespace: 'kube-system', name: 'cilium-operator-resource-lock', group: 'coordination.k8s.io' } })],
  // Datadog and Falco: the cluster agent keeps its admission webhook current; the node agents read their node's pods.
  [0.2, (g) => caBundlePatch(g, ops.datadogClusterAgent, 'mutatingwebhookconfigurations', 'datadog-webhook', { namespace: 'datadog', name: 'datadog-cluster-agent-admission-controller' })],
  [1, (g) => g.emit(ops.datadogClusterAgent, { verb: g.pick(['get', 'update']), target: { resource: 'configmaps', namespace: 'datadog', name: g.pick(['datadog-leader-election', 'datadogtoken']) } })],
  [1, (g) => listWatch(g, ops.datadogClusterAgent, { resource: g.pick(['pods', 'nodes', 'services', 'namespaces']) })],
  [2, (g) => g.emit(ops.datadogAgent, { verb: 'get', target: { resource: g.pick(['nodes', 'namespaces']), name: g.pick(NODES).name } })],
  [2, (g) => listWatch(g, ops.falco, { resource: g.pick(['pods', 'namespaces', 'replicasets', 'daemonsets']), group: undefined })],
  // Autoscalers: Karpenter and cluster-autoscaler drain nodes (evictions) and remove them.
  [0.5, (g) => {
    const node = g.pick(NODES).name;
    g.emit(ops.karpenter, { verb: 'patch', target: { resource: 'nodes', name: node }, requestObject: { spec: { taints: [{ key: 'karpenter.sh/disruption', value: 'disrupting', effect: 'NoSchedule' }] } } });
    for (let k = 0; k < 3; k++) g.emit(ops.karpenter, { verb: 'create', target: { resource: 'pods', namespace: g.pick(APP_NAMESPACES), name: `app-${g.int(80)}`, subresource: 'eviction' }, requestObject: { kind: 'Eviction', apiVersion: 'policy/v1', metadata: { name: `app-${g.int(80)}` } } });
    g.emit(ops.karpenter, { verb: 'delete', target: { resource: 'nodes', name: node } });
  }],
  [1, (g) => g.emit(ops.karpenter, { verb: 'create', target: { resource: 'nodeclaims', name: `default-${g.rv()}`, group: 'karpenter.sh' } })],
  // KEDA: the operator keeps its admission webhook current; its metrics server checks tokens.
  [0.2, (g) => caBundlePatch(g, ops.kedaOperator, 'validatingwebhookconfigurations', 'keda-admission', { namespace: 'keda', name: 'keda-admission-webhooks' })],
  [1, (g) => g.emit(ops.kedaMetrics, { verb: 'create', target: { resource: g.pick(['tokenreviews', 'subjectaccessreviews']), group: g.pick(['authentication.k8s.io', 'authorization.k8s.io']) } })],
  // Kubelets authenticate and authorise callers of their own API (metrics-server, Prometheus, the API server's
  // exec and logs) through TokenReviews and SubjectAccessReviews.
  [3, (g) => {
    const kubelet = g.pick(kubelets);
    if (g.chance(0.5)) g.emit(kubelet, { verb: 'create', target: { resource: 'tokenreviews', group: 'authentication.k8s.io' } });
    else g.emit(kubelet, { verb: 'create', target: { resource: 'subjectaccessreviews', group: 'authorization.k8s.io' }, requestObject: { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { user: 'system:serviceaccount:kube-system:metrics-server', groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: { verb: 'get', resource: 'nodes', subresource: g.pick(['metrics', 'stats', 'proxy']), name: NODES[0].name } } } });
  }],
  // Tekton's and Knative's webhooks reconcile their own configurations (Knative's webhook library).
  [0.3, (g) => caBundlePatch(g, ops.tektonWebhook, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), g.pick(['webhook.pipeline.tekton.dev', 'validation.webhook.pipeline.tekton.dev', 'config.webhook.pipeline.tekton.dev']), { namespace: 'tekton-pipelines', name: 'tekton-pipelines-webhook' })],
  [0.3, (g) => caBundlePatch(g, ops.knativeWebhook, g.pick(['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const), g.pick(['webhook.serving.knative.dev', 'validation.webhook.serving.knative.dev', 'config.webhook.serving.knative.dev']), { namespace: 'knative-serving', name: 'webhook' })],
  // metrics-server and node-problem-detector.
  [2, (g) => g.emit(ops.metricsServer, { verb: 'get', target: { resource: 'nodes', name: g.pick(NODES).name, subresource: 'proxy', rest: g.pick(['metrics/resource', 'stats/summary']) } })],
  [1, (g) => {
    const node = g.pick(NODES).name;
    g.emit(ops.nodeProblemDetector, { verb: 'patch', target: { resource: 'nodes', name: node, subresource: 'status' }, requestObject: { status: { conditions: [{ type: 'KernelDeadlock', status: 'False' }] } } });
  }],
  // Velero restores an application namespace; external-secrets and Kyverno with trimmed user agents.
  [0.2, (g) => {
    const ns = g.pick(APP_NAMESPACES);
    g.emit(ops.velero, { verb: 'create', target: { resource: 'secrets', namespace: ns, name: 'app-credentials' } });
    g.emit(ops.velero, { verb: 'create', target: { resource: 'deployments', namespace: ns, name: 'web', group: 'apps' }, requestObject: deployment(ns, 'web', `registry.corp.example/${ns}/web:1.4.0`), responseObject: deployment(ns, 'web', `registry.corp.example/${ns}/web:1.4.0`) });
  }],
  [2, (g) => g.emit(trimmed(ops.externalSecrets), { verb: g.pick(['get', 'update']), target: { resource: 'secrets', namespace: g.pick(APP_NAMESPACES), name: 'db-credentials' } })],
  [1, (g) => g.emit(trimmed(ops.kyvernoAdmission), { verb: 'update', target: { resource: 'leases', namespace: 'kyverno', name: 'kyverno', group: 'coordination.k8s.io' } })],
];

/** `helm upgrade` run by a person: the release history read, the objects patched, the new release record written. */
function helmByPerson(g: Generator, who: Identity, ns: string, release: string): void {
  g.emit(who, { verb: 'list', target: { resource: 'secrets', namespace: ns, query: `labelSelector=name%3D${release}%2Cowner%3Dhelm%2Cstatus%3Ddeployed` } });
  g.emit(who, { verb: 'get', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v${1 + g.int(20)}` } });
  const image = `registry.corp.example/${ns}/${release}:1.${g.int(30)}.0`;
  g.emit(who, { verb: 'patch', target: { resource: 'deployments', namespace: ns, name: release, group: 'apps' }, requestObject: { spec: { template: { spec: { containers: [{ name: release, image }] } } } }, responseObject: deployment(ns, release, image) });
  g.emit(who, { verb: 'create', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v${21 + g.int(20)}` } });
  g.emit(who, { verb: 'update', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.${release}.v${1 + g.int(20)}` } });
}

const deployersAndPeople: Array<[number, Behaviour]> = [
  // kubectl apply by a CI service account: GET (404 the first time) then POST, or GET then PATCH.
  [2, (g) => {
    const ns = g.pick(['storefront', 'web-frontend']);
    const resource = g.pick(['deployments', 'services', 'configmaps']);
    const group = resource === 'deployments' ? 'apps' : undefined;
    const name = g.pick(['catalog', 'cart', 'search']);
    const image = `registry.corp.example/${ns}/${name}:4.${g.int(30)}.${g.int(9)}`;
    const body = resource === 'deployments' ? deployment(ns, name, image) : { kind: resource === 'services' ? 'Service' : 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns } };
    const fresh = g.chance(0.2);
    g.emit(ci.deployer, { verb: 'get', target: { resource, namespace: ns, name, group }, code: fresh ? 404 : 200 });
    if (fresh) g.emit(ci.deployer, { verb: 'create', target: { resource, namespace: ns, group, query: 'fieldManager=kubectl-client-side-apply&fieldValidation=Strict' }, requestObject: body, responseObject: body });
    else g.emit(ci.deployer, { verb: 'patch', target: { resource, namespace: ns, name, group, query: 'fieldManager=kubectl-client-side-apply&fieldValidation=Strict' }, requestObject: resource === 'deployments' ? { spec: { template: { spec: { containers: [{ name, image }] } } } } : { metadata: { annotations: { 'ci.corp.example/pipeline': String(g.int(9999)) } } }, responseObject: body });
  }],
  [0.5, (g) => g.emit(ci.deployer, { verb: 'create', target: { resource: 'selfsubjectaccessreviews', group: 'authorization.k8s.io', version: 'v1' }, requestObject: { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: 'storefront', verb: 'patch', group: 'apps', resource: 'deployments' } } } })],
  [0.5, (g) => {
    const ns = g.pick(['storefront', 'payments']);
    g.emit(ci.githubRunner, { verb: 'list', target: { resource: 'secrets', namespace: ns, query: 'labelSelector=name%3Dapi%2Cowner%3Dhelm%2Cstatus%3Ddeployed' } });
    g.emit(ci.githubRunner, { verb: 'create', target: { resource: 'secrets', namespace: ns, name: `sh.helm.release.v1.api.v${2 + g.int(80)}` } });
  }],
  // Helm upgrades of the node agents' charts by the CI runner (image bumps: the privileges do not change).
  [0.3, (g) => helmAgentUpgrade(g, ci.githubRunner, g.pick([AGENTS.datadog, AGENTS.nodeExporter, AGENTS.falco]))],
  // People with Helm: the platform admin upgrading an add-on in kube-system, a developer their own release.
  [0.3, (g) => helmByPerson(g, { ...admin, ua: HELM }, 'kube-system', g.pick(['metrics-server', 'aws-load-balancer-controller', 'ingress-nginx']))],
  [0.5, (g) => {
    const d = g.pick(devs);
    helmByPerson(g, { ...d.who, ua: HELM }, d.namespace, 'api');
  }],
  // The on-call engineer: `kubectl get -A`, logs, `kubectl top` (metrics API).
  [2, (g) => g.emit(oncall, { verb: 'list', target: { resource: g.pick(['pods', 'deployments', 'services', 'nodes', 'ingresses']), group: undefined } })],
  [1, (g) => g.emit(oncall, { verb: 'get', target: { resource: 'pods', namespace: g.pick(APP_NAMESPACES), name: `app-${g.int(80)}`, subresource: 'log', query: 'tailLines=100' } })],
  [0.5, (g) => g.emit(oncall, { verb: 'list', target: { resource: 'pods', group: 'metrics.k8s.io', version: 'v1beta1' } })],
  // Developers checking what they may do (`kubectl auth can-i`, `can-i --list`).
  [0.5, (g) => {
    const d = g.pick(devs);
    if (g.chance(0.5)) g.emit(d.who, { verb: 'create', target: { resource: 'selfsubjectaccessreviews', group: 'authorization.k8s.io' }, requestObject: { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: d.namespace, verb: 'create', resource: 'deployments', group: 'apps' } } } });
    else g.emit(d.who, { verb: 'create', target: { resource: 'selfsubjectrulesreviews', group: 'authorization.k8s.io' }, requestObject: { kind: 'SelfSubjectRulesReview', spec: { namespace: d.namespace } } });
  }],
  // Teleport's Kubernetes agent: every request of its users is impersonated, admins with their mapped groups.
  [3, (g) => {
    const u = g.pick(TELEPORT_USERS);
    const resource = g.pick(['pods', 'deployments', 'services', 'nodes']);
    g.emit(teleport, { verb: g.pick(['get', 'list', 'watch']), target: { resource, namespace: resource === 'nodes' ? undefined : g.pick([undefined, ...APP_NAMESPACES]) }, impersonatedUser: u });
  }],
  // The platform admin's occasional `--as` to check a service account's access.
  [0.1, (g) => g.emit(admin, { verb: 'list', target: { resource: 'secrets', namespace: 'storefront' }, impersonatedUser: { username: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'] }, code: 403 })],
  // Kubelets' mirror pods of the control plane's static pods (kubeadm clusters), renewed after a restart.
  [0.2, (g) => {
    const k = g.int(3);
    const node = NODES[k].name;
    const component = g.pick(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']);
    const body = mirrorPod(node, component);
    g.emit(kubelets[k], { verb: 'create', target: { resource: 'pods', namespace: 'kube-system' }, requestObject: body, responseObject: body });
  }],
  // Cloud load balancers' and probes' health checks: GCP checkers, Azure's probe address, kubelets without a header.
  [4, (g) => g.emit(anonymousProbe(g.pick(['35.191.10.12', '35.191.200.7', '130.211.0.44']), 'GoogleHC/1.0'), { verb: 'get', path: g.pick(['/healthz', '/readyz']) })],
  [3, (g) => g.emit(anonymousProbe('168.63.129.16', 'Load Balancer Agent'), { verb: 'get', path: '/healthz' })],
  [2, (g) => g.emit(anonymousProbe(g.pick(NODES).ip, ''), { verb: 'get', path: g.pick(['/livez', '/readyz']) })],
  // Control-plane and node traffic as trimmed pipelines keep it: no user agent.
  [4, (g) => {
    const k = g.int(NODES.length);
    g.emit(trimmed(kubelets[k]), { verb: 'update', target: { resource: 'leases', namespace: 'kube-node-lease', name: NODES[k].name, group: 'coordination.k8s.io' } });
  }],
  [2, (g) => g.emit(trimmed(eks.awsNode), { verb: 'get', target: { resource: 'pods', namespace: g.pick(APP_NAMESPACES), name: `app-${g.int(80)}` } })],
  [1, (g) => g.emit(trimmed(ops.istiod), { verb: 'get', target: { resource: 'configmaps', namespace: 'istio-system', name: 'istio' } })],
];

/** The behaviours this file adds to the soak's mix, with their weights. */
export const WIDER_BENIGN: Array<[number, Behaviour]> = [...managedControlPlanes, ...operators, ...deployersAndPeople];
