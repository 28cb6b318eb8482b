// Test material: audit events in the shapes managed clusters and log pipelines give them (EKS, AKS, GKE identities;
// trimmed events without auditID, stage, level or objectRef; short user agents; proxies in sourceIPs), written for
// kaudit from the public rule sets' descriptions of each behaviour: positives with the category they must raise, and
// near misses that must raise no high or medium alarm.

export type Line = Record<string, unknown>;

/** One labelled event: `category` it must raise (any level; by `rule` when given), or `quiet` (no high or medium alarm). */
export interface PipelineCase { what: string; event: Line; category?: string; rule?: string; quiet?: true }

const ev = (o: Line): Line => ({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...o });
const person = (username: string) => ({ user: { username } });
const ok = (code = 200) => ({ responseStatus: { code } });
const denied = (code = 403) => ({ responseStatus: { code, message: 'forbidden' } });
// AKS's admin kubeconfig user and its address as the apiserver sees it behind the konnectivity proxy.
const aksAdmin = { user: { username: 'masterclient', groups: ['system:masters', 'system:authenticated'] }, sourceIPs: ['52.160.41.7', '10.224.0.4'] };
const eksRole = { user: { username: 'arn:aws:sts::111122223333:assumed-role/platform-ops/jane', groups: ['system:authenticated'] } };

export const PIPELINE_CASES: PipelineCase[] = [
  // ---- command execution
  { what: 'AKS admin kubeconfig exec (websocket get, ResponseStarted only)', category: 'command-execution',
    event: ev({ level: 'Request', stage: 'ResponseStarted', verb: 'get', ...aksAdmin, userAgent: 'kubectl/v1.30.2', requestURI: '/api/v1/namespaces/shop/pods/cart-5d9c/exec?command=sh&stdin=true&tty=true', ...ok(101) }) },
  { what: 'EKS exec without objectRef (trimmed)', category: 'command-execution',
    event: ev({ verb: 'create', ...eksRole, sourceIPs: ['198.51.100.14'], requestURI: '/api/v1/namespaces/default/pods/web-0/exec?command=id', ...ok(101) }) },
  { what: 'exec refused to a person', category: 'command-execution',
    event: ev({ verb: 'create', ...person('contractor@example.org'), requestURI: '/api/v1/namespaces/prod/pods/db-0/exec?command=bash', ...denied() }) },
  { what: 'exec reading the EKS workload-identity token, the command in a request body', category: 'command-execution', rule: 'KA-EXEC-005',
    event: ev({ verb: 'create', ...person('intruder@example.org'), sourceIPs: ['10.0.1.50'], objectRef: { resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'irsa-app' }, ...ok(101),
      requestObject: { command: ['cat', '/var/run/secrets/eks.amazonaws.com/serviceaccount/token'], container: 'app', stdout: true } }) },
  { what: 'exec archiving the service-account directory, the command in a request body', category: 'command-execution', rule: 'KA-EXEC-005',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'pods', subresource: 'exec', namespace: 'default', name: 'api' }, ...ok(101),
      requestObject: { command: ['tar', 'czf', '-', '/var/run/secrets/kubernetes.io/serviceaccount'] } }) },
  { what: 'kubectl cp out of a pod (tar to stdout, answered 200)', category: 'command-execution',
    event: ev({ verb: 'create', ...person('intruder@example.org'), requestURI: '/api/v1/namespaces/prod/pods/web-0/exec?command=tar&command=cf&command=-&command=%2Fapp%2Fconfig%2Fdb.json&container=web&stdout=true', ...ok() }) },
  { what: 'an interactive shell, the command in a request body', category: 'command-execution', rule: 'KA-EXEC-001',
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'pods', subresource: 'exec', namespace: 'default', name: 'dbg' }, ...ok(101),
      requestObject: { command: ['/bin/sh'], stdin: true, tty: true } }) },
  { what: 'pod read (no subresource)', quiet: true,
    event: ev({ verb: 'get', ...person('dev@example.org'), objectRef: { resource: 'pods', namespace: 'prod', name: 'db-0' }, ...ok() }) },

  // ---- credentials
  { what: 'cluster-wide secret list, trimmed (no auditID, stage, objectRef)', category: 'credential-access',
    event: ev({ verb: 'list', ...person('intruder@example.org'), sourceIPs: ['203.0.113.77'], userAgent: 'kubectl/v1.29.0', requestURI: '/api/v1/secrets?limit=500', ...ok() }) },
  { what: 'cluster-wide secret watch by an assumed IAM role', category: 'credential-access',
    event: ev({ verb: 'watch', ...eksRole, objectRef: { resource: 'secrets' }, requestURI: '/api/v1/secrets?watch=true', ...ok() }) },
  { what: 'TokenRequest by a person, trimmed', category: 'credential-access',
    event: ev({ verb: 'create', ...person('ops@example.org'), requestURI: '/api/v1/namespaces/prod/serviceaccounts/backup/token', ...ok(201) }) },
  { what: 'TokenRequest by AKS admin kubeconfig in kube-system', category: 'credential-access',
    event: ev({ verb: 'create', ...aksAdmin, objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system', name: 'cluster-autoscaler' }, ...ok(201) }) },
  { what: 'secret read refused (401 from AKS, no user)', category: 'credential-access',
    event: ev({ verb: 'get', user: {}, sourceIPs: ['1.2.3.4'], objectRef: { resource: 'secrets', namespace: 'default', name: 'api-token' }, responseStatus: { code: 401, message: 'Unauthorized' } }) },
  { what: 'secret guessed (404)', category: 'credential-access',
    event: ev({ verb: 'get', ...person('intruder@example.org'), objectRef: { resource: 'secrets', namespace: 'prod', name: 'db-root' }, responseStatus: { code: 404 } }) },
  { what: 'service account refused a secret', category: 'credential-access',
    event: ev({ verb: 'get', user: { username: 'system:serviceaccount:default:app' }, objectRef: { resource: 'secrets', namespace: 'prod', name: 'admin-token' }, ...denied() }) },
  { what: 'a person listing the secrets of an application namespace', category: 'credential-access',
    event: ev({ verb: 'list', ...person('developer@example.org'), objectRef: { resource: 'secrets', namespace: 'production' }, requestURI: '/api/v1/namespaces/production/secrets', ...ok() }) },
  { what: 'configmap refused (not a secret)', quiet: true,
    event: ev({ verb: 'get', ...person('dev@example.org'), objectRef: { resource: 'configmaps', namespace: 'default', name: 'app' }, ...denied() }) },
  { what: 'refused cluster-wide secret list', quiet: true,
    event: ev({ verb: 'list', ...person('intruder@example.org'), objectRef: { resource: 'secrets' }, ...denied() }) },
  { what: 'service account object created (not a token)', quiet: true,
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'serviceaccounts', namespace: 'production', name: 'new-sa' }, ...ok(201) }) },
  { what: 'the controller manager minting a kube-system token', quiet: true,
    event: ev({ verb: 'create', user: { username: 'system:kube-controller-manager' }, objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system', name: 'attachdetach-controller' }, ...ok(201) }) },
  { what: 'kube-system controller listing secrets cluster-wide', quiet: true,
    event: ev({ verb: 'list', user: { username: 'system:serviceaccount:kube-system:namespace-controller' }, objectRef: { resource: 'secrets' }, requestURI: '/api/v1/secrets', ...ok() }) },

  // ---- RBAC
  { what: 'ClusterRoleBinding to cluster-admin (trimmed)', category: 'rbac-escalation',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'clusterrolebindings', name: 'ops-backdoor', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { kind: 'ClusterRoleBinding', metadata: { name: 'ops-backdoor' }, roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'intruder@example.org' }] } }) },
  { what: 'ClusterRoleBinding to a role named system:masters', category: 'rbac-escalation',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'clusterrolebindings', name: 'pe', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: 'system:masters' }, subjects: [{ kind: 'ServiceAccount', name: 'evil', namespace: 'default' }] } }) },
  { what: 'ClusterRoleBinding to the controller manager\'s role', category: 'rbac-escalation',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'clusterrolebindings', name: 'cm', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { roleRef: { kind: 'ClusterRole', name: 'system:kube-controller-manager' }, subjects: [{ kind: 'ServiceAccount', name: 'evil', namespace: 'default' }] } }) },
  { what: 'ClusterRole reading every resource of the core group', category: 'rbac-escalation',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'clusterroles', name: 'all-reader', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { kind: 'ClusterRole', rules: [{ apiGroups: [''], resources: ['*'], verbs: ['get', 'list', 'watch'] }] } }) },
  { what: 'Role with every verb on secrets in one rule of several', category: 'rbac-escalation',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'roles', namespace: 'prod', name: 'mixed', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { kind: 'Role', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }, { apiGroups: ['*'], resources: ['secrets'], verbs: ['*'] }] } }) },
  { what: 'ClusterRole reading deployments in every API group', quiet: true,
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'clusterroles', name: 'api-reader', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { kind: 'ClusterRole', rules: [{ apiGroups: ['*'], resources: ['deployments'], verbs: ['get', 'list'] }] } }) },
  { what: 'ClusterRoleBinding to view', quiet: true,
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'clusterrolebindings', name: 'view-binding', apiGroup: 'rbac.authorization.k8s.io' }, ...ok(201),
      requestObject: { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'auditor@example.org' }] } }) },
  { what: 'reading a ClusterRoleBinding', quiet: true,
    event: ev({ verb: 'get', ...person('admin@example.org'), objectRef: { resource: 'clusterrolebindings', name: 'admin-binding' }, ...ok() }) },

  // ---- workloads and cluster configuration
  { what: 'pod created in kube-public (AKS, no apiVersion in objectRef)', category: 'suspicious-container',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'pods', namespace: 'kube-public', name: 'crypto' }, ...ok(201),
      requestObject: { kind: 'Pod', spec: { containers: [{ name: 'm', image: 'cryptominer:latest' }] } } }) },
  { what: 'pod created in kube-node-lease', category: 'suspicious-container',
    event: ev({ verb: 'create', ...person('intruder@example.org'), objectRef: { resource: 'pods', namespace: 'kube-node-lease', name: 'hidden' }, ...ok(201),
      requestObject: { kind: 'Pod', spec: { containers: [{ name: 'a', image: 'alpine:latest' }] } } }) },
  { what: 'a container that may run as root (runAsNonRoot false)', category: 'suspicious-container',
    event: ev({ verb: 'create', ...person('developer@example.org'), objectRef: { resource: 'pods', namespace: 'default', name: 'r' }, ...ok(201),
      requestObject: { kind: 'Pod', spec: { containers: [{ name: 'nginx', image: 'nginx', securityContext: { runAsNonRoot: false } }] } } }) },
  { what: 'a privileged pod whose create conflicted (409)', quiet: true,
    event: ev({ verb: 'create', objectRef: { resource: 'pods', namespace: 'default' }, responseStatus: { code: 409, status: 'Failure' },
      requestObject: { kind: 'Pod', spec: { containers: [{ name: 'nginx', securityContext: { privileged: true } }] } } }) },
  { what: 'EKS node manager evicting a kube-system pod (429)', quiet: true,
    event: ev({ verb: 'create', user: { username: 'eks:node-manager' }, sourceIPs: ['34.210.208.192'], userAgent: 'Kubernetes Java Client/18.0.0-SNAPSHOT',
      objectRef: { resource: 'pods', subresource: 'eviction', namespace: 'kube-system', name: 'metrics-server-86c5f959ff-rcxtk' }, responseStatus: { code: 429, reason: 'TooManyRequests' } }) },
  { what: 'a person\'s pod in an application namespace', quiet: true,
    event: ev({ verb: 'create', ...person('developer@example.org'), objectRef: { resource: 'pods', namespace: 'production', name: 'app' }, ...ok(201),
      requestObject: { kind: 'Pod', spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } } }) },
  { what: 'mutating webhook created by a person', category: 'defense-evasion',
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'mutatingwebhookconfigurations', name: 'custom-mutator', apiGroup: 'admissionregistration.k8s.io' }, ...ok(201) }) },
  { what: 'webhook create refused', quiet: true,
    event: ev({ verb: 'create', ...person('admin@example.org'), objectRef: { resource: 'validatingwebhookconfigurations', name: 'x' }, ...denied() }) },

  // ---- anonymous and system principals
  { what: 'anonymous pod read allowed from a public address', category: 'anonymous-access',
    event: ev({ verb: 'get', user: { username: 'system:anonymous' }, sourceIPs: ['8.8.8.8'], userAgent: 'kubectl/v1.25.4', objectRef: { resource: 'pods', namespace: 'default', name: 'test' }, ...ok(),
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "oops" of ClusterRole "view" to User "system:anonymous"' } }) },
  { what: 'AWS load balancer health check, anonymous', quiet: true,
    event: ev({ verb: 'get', user: { username: 'system:anonymous' }, sourceIPs: ['10.0.1.100'], userAgent: 'ELB-HealthChecker/2.0', requestURI: '/healthz', ...ok() }) },
  { what: 'kube-system service account token used from a public address', category: 'credential-access',
    event: ev({ verb: 'get', user: { username: 'system:serviceaccount:kube-system:coredns', groups: ['system:serviceaccounts', 'system:authenticated'] }, sourceIPs: ['1.2.3.4'], objectRef: { resource: 'endpointslices' }, ...ok() }) },
  { what: 'EKS node in a public subnet asking for a pod\'s token', quiet: true,
    event: ev({ verb: 'create', user: { username: 'system:node:ip-192-168-3-178.us-west-2.compute.internal', groups: ['system:nodes', 'system:authenticated'] }, sourceIPs: ['54.212.83.236'],
      objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'default', name: 'app' }, ...ok(201) }) },
  { what: 'EKS add-on manager reading deployments from AWS', quiet: true,
    event: ev({ verb: 'get', user: { username: 'eks:addon-manager', groups: ['system:authenticated'] }, sourceIPs: ['35.163.244.48'], objectRef: { resource: 'deployments', namespace: 'kube-system' }, ...ok() }) },
  { what: 'an in-cluster pod whose request passed a proxy (public address first)', quiet: true,
    event: ev({ verb: 'watch', user: { username: 'system:serviceaccount:default:app' }, sourceIPs: ['54.212.83.236', '10.0.1.5'], objectRef: { resource: 'endpoints', namespace: 'default' }, ...ok() }) },
  { what: 'anonymous refused WebDAV probe from the internet', quiet: true,
    event: ev({ verb: 'propfind', user: { username: 'system:anonymous' }, sourceIPs: ['176.65.134.20'], requestURI: '/', ...denied() }) },
];
