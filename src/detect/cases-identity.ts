// Test material: attack variants and benign look-alikes for the identity and control-plane categories (anonymous access,
// user agents, failed authentication, credentials and tokens, impersonation, RBAC, admission webhooks, events), shaped
// like the real v1.26 capture's events but with other actors, outcomes, request shapes and audit levels.
import { identities, req, role, roleBinding, type Raw } from './attack-cases.ts';

/** One attack action: its events (a burst has several) must raise an alarm of any level in its category. */
export interface IdentityCase { category: string; what: string; events: Raw[] }
/** A benign look-alike: its events must raise no high or medium alarm. */
export interface BenignCase { what: string; events: Raw[] }

const { mallory, dana, podToken, ci, anonymous, node1, controller, eks, aks } = identities;

const person = (username: string, groups: string[], ip: string, extra: Raw = {}) => ({
  user: { username, groups: [...groups, 'system:authenticated'], ...extra }, sourceIPs: [ip], userAgent: 'kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625',
});
/** A person signed in through OIDC, as the apiserver's OIDC authenticator names her. */
const oidc = person('https://login.corp.example#7f3a9c', ['oidc:platform', 'oidc:sre'], '10.20.4.18');
/** kubeadm's admin.conf and an AKS admin kubeconfig: shared credentials in system:masters. */
const kubeadmAdmin = person('kubernetes-admin', ['kubeadm:cluster-admins'], '192.168.7.20');
const aksAdmin = person('masterclient', ['system:masters'], '20.31.7.40');
/** An EKS IAM role mapped to a user, and a GKE Google account. */
const eksAdmin = person('arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice', ['eks:cluster-admins'], '52.23.10.7', { extra: { accessKeyId: ['ASIAXXXXEXAMPLE'], sessionName: ['alice'] } });
const gkeUser = person('bob@corp.example', [], '34.105.9.12');
/** A pod's token copied out and used from the internet, and the same token used from another pod. */
const stolenToken = { ...podToken, sourceIPs: ['198.51.100.77'], userAgent: 'kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3' };
const foreignPod = { user: { username: 'system:serviceaccount:web-frontend:frontend', groups: ['system:serviceaccounts', 'system:serviceaccounts:web-frontend', 'system:authenticated'], extra: { 'authentication.kubernetes.io/pod-name': ['frontend-6c9f7-x2v9q'] } }, sourceIPs: ['10.244.2.31'], userAgent: 'Go-http-client/2.0' };
/** A kube-system add-on's token taken from its pod and used with kubectl. */
const kubeSystemToken = { user: { username: 'system:serviceaccount:kube-system:coredns', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] }, sourceIPs: ['10.244.0.12'], userAgent: 'kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f' };
const noUser = { user: {}, stage: 'ResponseStarted', annotations: undefined };

/** A request on a non-resource path (`/api`, `/metrics`, `/livez`): no objectRef. */
function path(uri: string, code = 200, verb = 'get'): Raw {
  return { verb, requestURI: uri, level: 'Metadata', objectRef: undefined, responseStatus: code >= 400 ? { metadata: {}, status: 'Failure', reason: reasonOf(code), code } : { metadata: {}, code }, ...(code === 403 ? { annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } } : {}) };
}
const reasonOf = (code: number) => ({ 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'AlreadyExists', 422: 'Invalid', 429: 'TooManyRequests' } as Record<number, string>)[code] ?? 'InternalError';
/** `req` with the status the apiserver gives for `code` (reason and message), and no authorization annotation on 401. */
function fail(verb: string, resource: string, code: number, o: Parameters<typeof req>[2] = {}): Raw {
  const r = req(verb, resource, { ...o, code });
  const status = r.responseStatus as Raw;
  return { ...r, responseStatus: { ...status, reason: reasonOf(code), message: code === 401 ? 'Unauthorized' : status.message }, ...(code === 401 ? { annotations: undefined, stage: 'ResponseStarted' } : {}) };
}
/** A refused impersonation as the apiserver logs it: the original request, no annotations, the impersonation message. */
function impersonationRefused(who: Raw, kind: string, name: string, request: Raw): Raw {
  const group = kind === 'uids' || kind.startsWith('userextras/') ? 'authentication.k8s.io' : '';
  const message = `${kind} "${name}" is forbidden: User "${(who.user as { username: string }).username}" cannot impersonate resource "${kind}" in API group "${group}" at the cluster scope`;
  return { ...who, ...request, level: 'Request', responseStatus: { metadata: {}, status: 'Failure', message, reason: 'Forbidden', details: { name, kind }, code: 403 }, responseObject: undefined, annotations: undefined };
}
const as = (username: string, ...groups: string[]) => ({ impersonatedUser: { username, groups: [...groups, 'system:authenticated'] } });
/** `n` requests of one burst, a second apart. */
function burst(n: number, make: (i: number) => Raw): Raw[] {
  return Array.from({ length: n }, (_, i) => ({ ...make(i), requestReceivedTimestamp: `2026-11-22T12:40:${String(i).padStart(2, '0')}.000000Z`, stageTimestamp: `2026-11-22T12:40:${String(i).padStart(2, '0')}.002000Z` }));
}
const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleName: string, subjects: Raw[]) => ({ kind, apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name, ...(kind === 'RoleBinding' ? { namespace: 'payments' } : {}) }, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName } });
const apply = { query: 'fieldManager=kubectl&force=true' };
const tokenRequest = (expirationSeconds: number, bound?: Raw) => ({ kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds, boundObjectRef: bound ?? null }, status: { token: '', expirationTimestamp: null } });
const webhook = (kind: string, name: string, url: string) => ({ kind, apiVersion: 'admissionregistration.k8s.io/v1', metadata: { name }, webhooks: [{ name: `${name}.corp.example`, clientConfig: { url }, rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }], failurePolicy: 'Ignore', sideEffects: 'None', admissionReviewVersions: ['v1'] }] });
const eventsUri = (ns: string, group = true) => (group ? `/apis/events.k8s.io/v1/namespaces/${ns}/events` : `/api/v1/namespaces/${ns}/events`);
function eventDelete(verb: string, ns: string, code: number, group: boolean, name?: string, level = 'Metadata'): Raw {
  const r = code >= 400 ? fail(verb, 'events', code, { ns, name, level }) : req(verb, 'events', { ns, name, level });
  return { ...r, requestURI: `${eventsUri(ns, group)}${name ? `/${name}` : ''}`, objectRef: { resource: 'events', namespace: ns, ...(name ? { name } : {}), ...(group ? { apiGroup: 'events.k8s.io' } : {}), apiVersion: 'v1' } };
}
const webhookRes = (resource: string, group = 'admissionregistration.k8s.io', version = 'v1') => (r: Raw): Raw => ({ ...r, requestURI: (r.requestURI as string).replace('/api/v1/', `/apis/${group}/${version}/`), objectRef: { ...(r.objectRef as Raw), resource, apiGroup: group, apiVersion: version } });

const c = (category: string, what: string, ...events: Raw[]): IdentityCase => ({ category, what, events });

export const IDENTITY_CASES: IdentityCase[] = [
  // ---- anonymous_access
  c('anonymous_access', 'anonymous list of all pods, refused', { ...anonymous, ...fail('list', 'pods', 403) }),
  c('anonymous_access', 'anonymous get of a guessed secret, 404 (a binding lets it read, the name is wrong)', { ...anonymous, ...fail('get', 'secrets', 404, { ns: 'default', name: 'db-password', level: 'Metadata' }) }),
  c('anonymous_access', 'anonymous /metrics scrape allowed', { ...anonymous, sourceIPs: ['203.0.113.40'], ...path('/metrics') }),
  c('anonymous_access', 'anonymous /api discovery refused, X-Forwarded-For spoofed', { ...anonymous, sourceIPs: ['10.0.0.1', '127.0.0.1', '198.51.100.9'], ...path('/api', 403) }),
  c('anonymous_access', 'anonymous /openapi/v2 allowed', { ...anonymous, userAgent: 'Go-http-client/1.1', ...path('/openapi/v2?timeout=32s') }),
  c('anonymous_access', 'anonymous bare /livez from a laptop with curl', { ...anonymous, sourceIPs: ['192.168.1.33'], ...path('/livez') }),
  c('anonymous_access', 'anonymous websocket exec (get) into a pod, refused', { ...anonymous, ...fail('get', 'pods', 403, { ns: 'payments', name: 'ledger-api-0', sub: 'exec', query: 'command=id&stdout=true' }) }),
  c('anonymous_access', 'anonymous create of a pod rejected by admission (422)', { ...anonymous, ...fail('create', 'pods', 422, { ns: 'default', level: 'Request' }) }),
  c('anonymous_access', 'anonymous watch of configmaps allowed (logged at ResponseStarted)', { ...anonymous, stage: 'ResponseStarted', ...req('watch', 'configmaps', { ns: 'kube-system', level: 'Metadata', query: 'watch=true' }) }),
  c('anonymous_access', 'anonymous /readyz?verbose from a scanner', { ...anonymous, userAgent: 'Mozilla/5.0 (compatible; CensysInspect/1.1)', sourceIPs: ['167.94.138.44'], ...path('/readyz?verbose') }),

  c('anonymous_access', 'anonymous request without a user agent on the API root, refused', { ...anonymous, userAgent: undefined, ...path('/', 403) }),

  // ---- exceptional_user_agent
  c('exceptional_user_agent', 'kube-hunter fingerprinting /version', { ...anonymous, userAgent: 'kube-hunter/0.6.8', sourceIPs: ['198.51.100.9'], ...path('/version') }),
  c('exceptional_user_agent', 'Go-http-client reading secrets with a person\'s token', { ...dana, userAgent: 'Go-http-client/1.1', ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) }),
  c('exceptional_user_agent', 'curl with a pod token from the internet on another namespace', { ...stolenToken, userAgent: 'curl/7.68.0', ...req('list', 'pods', { ns: 'kube-system', level: 'Request' }) }),
  c('exceptional_user_agent', 'python-requests probing a missing secret (404)', { ...mallory, userAgent: 'python-requests/2.28.1', ...fail('get', 'secrets', 404, { ns: 'payments', name: 'aws-credentials', level: 'Metadata' }) }),
  c('exceptional_user_agent', 'PowerShell listing deployments', { ...mallory, userAgent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.3031', ...req('list', 'deployments', { ns: 'payments', level: 'Request' }) }),
  c('exceptional_user_agent', 'kubectl 1.20 by the kubeadm admin', { ...kubeadmAdmin, userAgent: 'kubectl/v1.20.0 (linux/amd64) kubernetes/af46c47', ...req('get', 'nodes', { level: 'Request' }) }),
  c('exceptional_user_agent', 'no user agent on a stolen pod token', { ...stolenToken, userAgent: undefined, ...req('list', 'secrets', { ns: 'payments', level: 'Metadata' }) }),
  c('exceptional_user_agent', 'kubeletctl-style scanner refused on nodes/proxy', { ...mallory, userAgent: 'kubeletctl/1.11', ...fail('get', 'nodes', 403, { name: 'node-1', sub: 'proxy' }) }),
  c('exceptional_user_agent', 'wfuzz enumerating API paths anonymously', { ...anonymous, userAgent: 'Wfuzz/3.1.0', ...path('/apis/batch/v1', 403) }),
  c('exceptional_user_agent', 'a pod token with kubectl', { ...foreignPod, userAgent: 'kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f', ...req('get', 'pods', { ns: 'web-frontend', level: 'Request' }) }),
  c('exceptional_user_agent', 'okhttp on an RBAC read by an EKS user, refused', { ...eksAdmin, userAgent: 'okhttp/4.12.0', ...fail('list', 'clusterrolebindings', 403) }),

  c('exceptional_user_agent', 'a browser with a pod\'s token (pasted into a proxy tool)', { ...stolenToken, userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0', ...req('list', 'namespaces', { level: 'Request' }) }),
  c('exceptional_user_agent', 'no user agent on an anonymous resource request', { ...anonymous, userAgent: undefined, ...fail('list', 'nodes', 403) }),
  c('exceptional_user_agent', 'LeakIX crawler anonymously', { ...anonymous, userAgent: 'l9explore/1.2.2', sourceIPs: ['193.142.146.35'], ...path('/api/v1/namespaces', 403) }),

  c('exceptional_user_agent', 'an anonymous python client asking /version', { ...anonymous, userAgent: 'python-requests/2.31.0', sourceIPs: ['198.51.100.23'], ...path('/version') }),

  // ---- failed_auth_burst
  c('failed_auth_burst', '12 random tokens from the internet (401)', ...burst(12, () => ({ ...noUser, sourceIPs: ['198.51.100.9'], userAgent: 'python-requests/2.31.0', ...fail('get', 'namespaces', 401, { level: 'Metadata' }) }))),
  c('failed_auth_burst', '5 guessed tokens from the internet (401)', ...burst(5, () => ({ ...noUser, sourceIPs: ['203.0.113.66'], userAgent: 'kubectl/v1.27.4 (linux/amd64) kubernetes/fa3d799', ...fail('list', 'secrets', 401, { ns: 'default', level: 'Metadata' }) }))),
  c('failed_auth_burst', '6 replays of a deleted service account\'s token from inside', ...burst(6, () => ({ ...noUser, sourceIPs: ['10.244.3.19'], userAgent: 'Go-http-client/2.0', ...fail('list', 'configmaps', 401, { ns: 'payments', level: 'Metadata' }) }))),
  c('failed_auth_burst', 'a contractor refused 4 times', ...burst(4, (i) => ({ ...mallory, ...fail('get', ['secrets', 'pods', 'deployments', 'configmaps'][i], 403, { ns: 'kube-system', name: 'x', level: 'Metadata' }) }))),
  c('failed_auth_burst', 'a stolen pod token refused 8 times across namespaces', ...burst(8, (i) => ({ ...stolenToken, ...fail('list', 'secrets', 403, { ns: `team-${i}`, level: 'Metadata' }) }))),
  c('failed_auth_burst', 'anonymous scanner refused on 5 paths', ...burst(5, (i) => ({ ...anonymous, ...path(['/api/v1/pods', '/apis', '/api/v1/secrets', '/apis/apps/v1/deployments', '/logs'][i], 403) }))),
  c('failed_auth_burst', 'mixed burst: 8 of 20 from one address refused as unauthenticated', ...burst(20, (i) => (i % 5 < 2 ? { ...noUser, sourceIPs: ['198.51.100.120'], userAgent: 'curl/8.4.0', ...fail('get', 'pods', 401, { ns: 'default', level: 'Metadata' }) } : { ...anonymous, sourceIPs: ['198.51.100.120'], ...path('/version') }))),
  c('failed_auth_burst', 'a node certificate refused on other nodes\' secrets 4 times', ...burst(4, (i) => ({ ...node1, ...fail('get', 'secrets', 403, { ns: 'payments', name: `s-${i}`, level: 'Metadata' }) }))),
  c('failed_auth_burst', 'OIDC person refused impersonating 3 times', ...burst(3, () => impersonationRefused(oidc, 'users', 'platform-admin', req('list', 'nodes', { level: 'Request' })))),

  // ---- credential_access
  c('credential_access', 'a foreign pod token reads a payments secret', { ...foreignPod, ...req('get', 'secrets', { ns: 'payments', name: 'ledger-db', level: 'Metadata' }) }),
  c('credential_access', 'a pod token lists secrets cluster-wide, refused', { ...podToken, ...fail('list', 'secrets', 403, { level: 'Metadata' }) }),
  c('credential_access', 'a foreign pod token guesses a secret name (404)', { ...foreignPod, ...fail('get', 'secrets', 404, { ns: 'payments', name: 'stripe-api-key', level: 'Metadata' }) }),
  c('credential_access', 'the kubeadm admin watches secrets in kube-system', { ...kubeadmAdmin, ...req('watch', 'secrets', { ns: 'kube-system', level: 'Metadata', query: 'watch=true' }) }),
  c('credential_access', 'a contractor refused overwriting a secret', { ...mallory, ...fail('update', 'secrets', 403, { ns: 'payments', name: 'regcred', level: 'Metadata' }) }),
  c('credential_access', 'a refused CSR approval', { ...mallory, ...fail('update', 'certificatesigningrequests', 403, { name: 'mallory-admin', sub: 'approval' }) }),
  c('credential_access', 'a node-looking CSR created by a person (v1beta1)', { ...mallory, ...req('create', 'certificatesigningrequests', { name: 'node-csr-x', body: { kind: 'CertificateSigningRequest', apiVersion: 'certificates.k8s.io/v1beta1', metadata: { name: 'node-csr-x' }, spec: { request: 'LS0t', signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['client auth'] } } }) }),
  c('credential_access', 'configmaps listed in all namespaces by a GKE user', { ...gkeUser, ...req('list', 'configmaps', { level: 'Metadata' }) }),
  c('credential_access', 'secrets deleted by collection by a person', { ...aksAdmin, ...req('deletecollection', 'secrets', { ns: 'payments', level: 'Metadata' }) }),
  c('credential_access', 'a secret read with a replayed token (401)', { ...noUser, sourceIPs: ['10.244.3.19'], ...fail('get', 'secrets', 401, { ns: 'payments', name: 'db', level: 'Metadata' }) }),

  c('credential_access', 'a foreign workload reads another namespace\'s ConfigMap', { ...foreignPod, ...req('get', 'configmaps', { ns: 'payments', name: 'ledger-config', level: 'Metadata' }) }),
  c('credential_access', 'a person watches secrets cluster-wide (ResponseStarted only)', { ...gkeUser, stage: 'ResponseStarted', ...req('watch', 'secrets', { level: 'Metadata', query: 'watch=true' }) }),
  c('credential_access', 'a CSR created with a revoked token (401)', { ...noUser, sourceIPs: ['10.244.3.19'], ...fail('create', 'certificatesigningrequests', 401) }),

  c('credential_access', 'a kube-system add-on\'s token lists every secret with kubectl', { ...kubeSystemToken, ...req('list', 'secrets', { level: 'Metadata' }) }),

  // ---- token_request
  c('token_request', 'a person mints a token for a kube-system controller (Metadata)', { ...oidc, ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'replicaset-controller', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a stolen pod token mints a token for another account with a year\'s expiry', { ...stolenToken, ...req('create', 'serviceaccounts', { ns: 'payments', name: 'ledger-admin', sub: 'token', body: tokenRequest(31536000) }) }),
  c('token_request', 'a contractor refused a token', { ...mallory, ...fail('create', 'serviceaccounts', 403, { ns: 'payments', name: 'report-gen', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a token for an account that does not exist (404)', { ...stolenToken, ...fail('create', 'serviceaccounts', 404, { ns: 'kube-system', name: 'cluster-admin', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a token with an invalid expiry (422)', { ...mallory, ...fail('create', 'serviceaccounts', 422, { ns: 'payments', name: 'report-gen', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a node certificate asks a token not bound to a pod (refused by NodeRestriction)', { ...node1, ...fail('create', 'serviceaccounts', 403, { ns: 'kube-system', name: 'default', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'the kubeadm admin mints a token from a laptop', { ...kubeadmAdmin, ...req('create', 'serviceaccounts', { ns: 'monitoring', name: 'prometheus', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a token requested with a revoked credential (401)', { ...noUser, sourceIPs: ['203.0.113.66'], ...fail('create', 'serviceaccounts', 401, { ns: 'kube-system', name: 'default', sub: 'token', level: 'Metadata' }) }),
  c('token_request', 'a long-lived token Secret for a service account by a workload', { ...foreignPod, ...req('create', 'secrets', { ns: 'web-frontend', name: 'frontend-token', body: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'frontend-token', annotations: { 'kubernetes.io/service-account.name': 'frontend' } }, type: 'kubernetes.io/service-account-token' } }) }),

  c('token_request', 'a node\'s kubeconfig used with kubectl to mint a pod\'s token', { ...node1, userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681', sourceIPs: ['127.0.0.143'], ...req('create', 'serviceaccounts', { ns: 'payments', name: 'report-gen', sub: 'token', level: 'Metadata' }) }),

  c('token_request', 'a kube-system add-on\'s token mints a controller\'s token with curl', { ...kubeSystemToken, userAgent: 'curl/8.5.0', ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'clusterrole-aggregation-controller', sub: 'token', level: 'Metadata' }) }),

  // ---- impersonation
  c('impersonation', 'a person acts as another user', { ...oidc, ...as('raj@corp.example', 'dev-frontend'), ...req('list', 'pods', { ns: 'web-frontend', level: 'Request' }) }),
  c('impersonation', 'acting as a node', { ...mallory, ...as('system:node:node-1', 'system:nodes'), ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) }),
  c('impersonation', 'acting as system:masters by group only', { ...kubeadmAdmin, ...as('ops-bot', 'system:masters'), ...req('list', 'secrets', { level: 'Metadata' }) }),
  c('impersonation', 'acting with a uid and extra scopes', { ...oidc, impersonatedUser: { username: 'alice@corp.example', uid: '9a1e', groups: ['system:authenticated'], extra: { scopes: ['view', 'development'] } }, ...req('get', 'configmaps', { ns: 'payments', name: 'app', level: 'Metadata' }) }),
  c('impersonation', 'refused impersonating a group', impersonationRefused(mallory, 'groups', 'system:masters', req('list', 'secrets', { level: 'Metadata' }))),
  c('impersonation', 'refused impersonating a service account', impersonationRefused(dana, 'serviceaccounts', 'default', req('get', 'pods', { ns: 'kube-system', level: 'Request' }))),
  c('impersonation', 'refused impersonating a uid', impersonationRefused(stolenToken, 'uids', '9a1e', req('list', 'pods', { level: 'Request' }))),
  c('impersonation', 'impersonated request refused by RBAC for the assumed identity', { ...dana, ...as('system:serviceaccount:payments:report-gen', 'system:serviceaccounts', 'system:serviceaccounts:payments'), ...fail('list', 'secrets', 403, { ns: 'kube-system', level: 'Metadata' }) }),
  c('impersonation', 'a stolen pod token impersonating the kubeadm admin', { ...stolenToken, ...as('kubernetes-admin', 'kubeadm:cluster-admins'), ...req('list', 'nodes', { level: 'Request' }) }),
  c('impersonation', 'acting as a kube-system account that is not a controller', { ...eksAdmin, ...as('system:serviceaccount:kube-system:default', 'system:serviceaccounts', 'system:serviceaccounts:kube-system'), ...req('create', 'pods', { ns: 'kube-system', level: 'Metadata' }) }),
  c('impersonation', 'impersonated write that the object rejected (409)', { ...oidc, ...as('system:serviceaccount:argocd:argocd-server'), ...fail('create', 'secrets', 409, { ns: 'argocd', name: 'argocd-secret', level: 'Metadata' }) }),

  // ---- anonymous_permission_change
  c('anonymous_permission_change', 'server-side apply of a binding to system:unauthenticated', { ...kubeadmAdmin, ...req('patch', 'clusterrolebindings', { name: 'public-status', body: binding('ClusterRoleBinding', 'public-status', 'view', [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }]), ...apply }) }),
  c('anonymous_permission_change', 'a strategic-merge patch adding system:anonymous', { ...mallory, ...req('patch', 'rolebindings', { ns: 'payments', name: 'readers', body: { subjects: [{ kind: 'User', name: 'system:anonymous' }] }, response: binding('RoleBinding', 'readers', 'view', [{ kind: 'User', name: 'system:anonymous' }]) }) }),
  c('anonymous_permission_change', 'a JSON patch setting a subject\'s name to system:anonymous', { ...mallory, ...req('patch', 'rolebindings', { ns: 'payments', name: 'readers', body: [{ op: 'replace', path: '/subjects/0/name', value: 'system:anonymous' }] }) }),
  c('anonymous_permission_change', 'a JSON patch replacing every subject by the unauthenticated group, at Request level', { ...dana, ...req('patch', 'clusterrolebindings', { name: 'status-readers', level: 'Request', body: [{ op: 'replace', path: '/subjects', value: [{ kind: 'Group', name: 'system:unauthenticated' }] }] }) }),
  c('anonymous_permission_change', 'an update (PUT) of a binding to system:authenticated with edit', { ...aksAdmin, ...req('update', 'rolebindings', { ns: 'payments', name: 'everyone', body: binding('RoleBinding', 'everyone', 'edit', [{ kind: 'Group', name: 'system:authenticated' }]) }) }),
  c('anonymous_permission_change', 'the ClusterRole unauthenticated users hold widened', { ...mallory, ...req('patch', 'clusterroles', { name: 'system:public-info-viewer', body: [{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] } }] }) }),
  c('anonymous_permission_change', 'a binding to system:anonymous made by the anonymous user itself', { ...anonymous, ...roleBinding('RoleBinding', 'anon', 'edit', [{ kind: 'User', name: 'system:anonymous' }]) }),
  c('anonymous_permission_change', 'a binding to every service account by a pod token', { ...stolenToken, ...roleBinding('ClusterRoleBinding', 'sa-read', 'view', [{ kind: 'Group', name: 'system:serviceaccounts' }]) }),
  c('anonymous_permission_change', 'a binding to system:unauthenticated created by a service account (v1beta1)', { ...ci, ...roleBinding('ClusterRoleBinding', 'health-public', 'system:monitoring', [{ kind: 'Group', name: 'system:unauthenticated' }]), requestURI: '/apis/rbac.authorization.k8s.io/v1beta1/clusterrolebindings', objectRef: { resource: 'clusterrolebindings', name: 'health-public', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1beta1' } }),

  // ---- cluster_admin_binding
  c('cluster_admin_binding', 'server-side apply of a cluster-admin ClusterRoleBinding', { ...oidc, ...req('patch', 'clusterrolebindings', { name: 'oncall-admin', body: binding('ClusterRoleBinding', 'oncall-admin', 'cluster-admin', [{ kind: 'User', name: 'https://login.corp.example#7f3a9c' }]), ...apply }) }),
  c('cluster_admin_binding', 'a RoleBinding to cluster-admin for a pod token', { ...stolenToken, ...roleBinding('RoleBinding', 'ops', 'cluster-admin', [{ kind: 'ServiceAccount', name: 'report-gen', namespace: 'payments' }]) }),
  c('cluster_admin_binding', 'a JSON patch adding a subject to a binding, at Request level (roleRef not visible)', { ...mallory, ...req('patch', 'clusterrolebindings', { name: 'cluster-admin', level: 'Request', body: [{ op: 'add', path: '/subjects/-', value: { kind: 'User', name: 'mallory' } }] }) }),
  c('cluster_admin_binding', 'a cluster-admin binding at Metadata level by a service account', { ...ci, ...req('create', 'clusterrolebindings', { name: 'deployer-admin', level: 'Metadata' }) }),
  c('cluster_admin_binding', 'a cluster-admin binding refused', { ...foreignPod, ...fail('create', 'clusterrolebindings', 403) }),
  c('cluster_admin_binding', 'a cluster-admin binding that already exists (409), body logged', { ...mallory, ...req('create', 'clusterrolebindings', { name: 'mallory-admin', code: 409, body: binding('ClusterRoleBinding', 'mallory-admin', 'cluster-admin', [{ kind: 'User', name: 'mallory' }]) }) }),
  c('cluster_admin_binding', 'an update (PUT) of a cluster-admin binding\'s subjects', { ...aksAdmin, ...req('update', 'clusterrolebindings', { name: 'admins', body: binding('ClusterRoleBinding', 'admins', 'cluster-admin', [{ kind: 'Group', name: 'contractors' }]) }) }),
  c('cluster_admin_binding', 'admin granted cluster-wide to a group', { ...eksAdmin, ...roleBinding('ClusterRoleBinding', 'devs-admin', 'admin', [{ kind: 'Group', name: 'developers' }]) }),
  c('cluster_admin_binding', 'a binding to a controller\'s role', { ...mallory, ...roleBinding('ClusterRoleBinding', 'tokens', 'system:controller:token-cleaner', [{ kind: 'User', name: 'mallory' }]) }),
  c('cluster_admin_binding', 'a node certificate creating a binding', { ...node1, ...fail('create', 'rolebindings', 403, { ns: 'kube-system' }) }),

  c('cluster_admin_binding', 'a kube-system add-on\'s token binds cluster-admin', { ...kubeSystemToken, ...roleBinding('ClusterRoleBinding', 'coredns-admin', 'cluster-admin', [{ kind: 'User', name: 'mallory' }]) }),

  // ---- rbac_wildcard
  c('rbac_wildcard', 'a ClusterRole with nonResourceURLs *', { ...mallory, ...role('metrics-all', [{ nonResourceURLs: ['*'], verbs: ['get'] }]) }),
  c('rbac_wildcard', 'a ClusterRole on pods/* (exec, attach, portforward)', { ...dana, ...role('pod-debug', [{ apiGroups: [''], resources: ['pods/*'], verbs: ['create', 'get'] }]) }),
  c('rbac_wildcard', 'an aggregated ClusterRole collecting admin rights', { ...mallory, ...role('shadow-admin', [], { body: { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'shadow-admin' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] }, rules: [] } }) }),
  c('rbac_wildcard', 'a JSON patch adding the * verb to a rule', { ...foreignPod, ...req('patch', 'clusterroles', { name: 'frontend-reader', body: [{ op: 'add', path: '/rules/0/verbs/-', value: '*' }] }) }),
  c('rbac_wildcard', 'a strategic-merge patch with wildcard resources on a Role', { ...mallory, ...req('patch', 'roles', { ns: 'payments', name: 'ops', body: { rules: [{ apiGroups: [''], resources: ['*'], verbs: ['get', 'list'] }] } }) }),
  c('rbac_wildcard', 'a Role with the escalate verb by server-side apply', { ...oidc, ...req('patch', 'roles', { ns: 'payments', name: 'role-admin', body: { kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'role-admin', namespace: 'payments' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'bind'] }] }, ...apply }) }),
  c('rbac_wildcard', 'a ClusterRole created at Metadata level by a person', { ...kubeadmAdmin, ...req('create', 'clusterroles', { name: 'breakglass', level: 'Metadata' }) }),
  c('rbac_wildcard', 'a wildcard Role refused', { ...mallory, ...fail('create', 'roles', 403, { ns: 'payments' }) }),
  c('rbac_wildcard', 'a ClusterRole labelled to aggregate into admin with wildcard verbs', { ...ci, ...role('extra-admin', [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }], { body: { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'extra-admin', labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }] } }) }),
  c('rbac_wildcard', 'a ClusterRole with impersonate on users', { ...gkeUser, ...role('act-as', [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }]) }),

  c('rbac_wildcard', 'a JSON patch replacing all rules with a wildcard rule', { ...mallory, ...req('patch', 'clusterroles', { name: 'viewer', body: [{ op: 'replace', path: '/rules', value: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }] }) }),
  c('rbac_wildcard', 'a merge patch labelling a ClusterRole to aggregate into admin', { ...foreignPod, ...req('patch', 'clusterroles', { name: 'secret-writer', body: { metadata: { labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } } } }) }),
  c('rbac_wildcard', 'a JSON patch adding an aggregate-to-admin label', { ...ci, ...req('patch', 'clusterroles', { name: 'node-admin', body: [{ op: 'add', path: '/metadata/labels/rbac.authorization.k8s.io~1aggregate-to-admin', value: 'true' }] }) }),

  c('rbac_wildcard', 'a kube-system add-on\'s token creates a wildcard ClusterRole', { ...kubeSystemToken, ...role('system:coredns-ext', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]) }),

  // ---- admission_webhook
  c('admission_webhook', 'a mutating webhook on every resource by a person', { ...oidc, ...webhookRes('mutatingwebhookconfigurations')(req('create', 'mutatingwebhookconfigurations', { name: 'sidecar', body: webhook('MutatingWebhookConfiguration', 'sidecar', 'https://203.0.113.7:8443/mutate') })) }),
  c('admission_webhook', 'a validating webhook patched to failurePolicy Ignore', { ...mallory, ...webhookRes('validatingwebhookconfigurations')(req('patch', 'validatingwebhookconfigurations', { name: 'gatekeeper-validating-webhook-configuration', body: [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }] })) }),
  c('admission_webhook', 'a validating webhook deleted', { ...kubeadmAdmin, ...webhookRes('validatingwebhookconfigurations')(req('delete', 'validatingwebhookconfigurations', { name: 'kyverno-resource-validating-webhook-cfg', level: 'Metadata' })) }),
  c('admission_webhook', 'mutating webhooks deleted by collection', { ...stolenToken, ...webhookRes('mutatingwebhookconfigurations')(req('deletecollection', 'mutatingwebhookconfigurations', { level: 'Metadata' })) }),
  c('admission_webhook', 'a ValidatingAdmissionPolicyBinding deleted (v1beta1)', { ...mallory, ...webhookRes('validatingadmissionpolicybindings', 'admissionregistration.k8s.io', 'v1beta1')(req('delete', 'validatingadmissionpolicybindings', { name: 'deny-privileged', level: 'Metadata' })) }),
  c('admission_webhook', 'a ValidatingAdmissionPolicy create refused', { ...mallory, ...webhookRes('validatingadmissionpolicies')(fail('create', 'validatingadmissionpolicies', 403)) }),
  c('admission_webhook', 'a mutating webhook rejected as invalid (422)', { ...dana, ...webhookRes('mutatingwebhookconfigurations')(fail('create', 'mutatingwebhookconfigurations', 422)) }),
  c('admission_webhook', 'a MutatingAdmissionPolicy created', { ...eksAdmin, ...webhookRes('mutatingadmissionpolicies', 'admissionregistration.k8s.io', 'v1alpha1')(req('create', 'mutatingadmissionpolicies', { name: 'inject', level: 'Metadata' })) }),
  c('admission_webhook', 'a webhook update (PUT) by a service account at Metadata level', { ...foreignPod, ...webhookRes('validatingwebhookconfigurations')(req('update', 'validatingwebhookconfigurations', { name: 'policy', level: 'Metadata' })) }),
  c('admission_webhook', 'a webhook delete with a revoked token (401)', { ...noUser, sourceIPs: ['10.244.3.19'], ...webhookRes('mutatingwebhookconfigurations')(fail('delete', 'mutatingwebhookconfigurations', 401, { name: 'istio-sidecar-injector' })) }),

  c('admission_webhook', 'a kube-system add-on\'s token creates a mutating webhook', { ...kubeSystemToken, ...webhookRes('mutatingwebhookconfigurations')(req('create', 'mutatingwebhookconfigurations', { name: 'dns-inject', body: webhook('MutatingWebhookConfiguration', 'dns-inject', 'https://203.0.113.7/m') })) }),

  // ---- events_deleted
  c('events_deleted', 'one core event deleted by a person', { ...mallory, ...eventDelete('delete', 'payments', 200, false, 'ledger-api-0.17a2b3c4d5e6f708') }),
  c('events_deleted', 'core events deleted by collection by a pod token', { ...stolenToken, ...eventDelete('deletecollection', 'payments', 200, false) }),
  c('events_deleted', 'events.k8s.io events deleted by collection by the kubeadm admin', { ...kubeadmAdmin, ...eventDelete('deletecollection', 'kube-system', 200, true) }),
  c('events_deleted', 'an event already gone (404)', { ...mallory, ...eventDelete('delete', 'payments', 404, false, 'ledger-api-0.17a2b3c4d5e6f708') }),
  c('events_deleted', 'events deletion refused', { ...foreignPod, ...eventDelete('deletecollection', 'web-frontend', 403, true) }),
  c('events_deleted', 'events deletion with a revoked token (401)', { ...noUser, sourceIPs: ['10.244.3.19'], ...eventDelete('delete', 'kube-system', 401, true, 'x.17a2') }),
  c('events_deleted', 'an event deleted by a node certificate', { ...node1, ...eventDelete('delete', 'payments', 200, false, 'ledger-api-0.17a2') }),
  c('events_deleted', 'events deletion failing in storage (500)', { ...eksAdmin, ...eventDelete('deletecollection', 'payments', 500, true) }),
  c('events_deleted', 'an event deleted at RequestResponse level by an OIDC person', { ...oidc, ...eventDelete('delete', 'storefront', 200, true, 'cart.17a2', 'RequestResponse') }),
  c('events_deleted', 'a kube-system add-on\'s token deletes events', { ...kubeSystemToken, ...eventDelete('deletecollection', 'kube-system', 200, true) }),
  c('exceptional_user_agent', 'a kube-system add-on\'s token with kubectl', { ...kubeSystemToken, ...req('get', 'pods', { ns: 'kube-system', level: 'Request' }) }),
];

export const IDENTITY_BENIGN: BenignCase[] = [
  { what: 'a kubelet\'s pod-bound TokenRequest', events: [{ ...node1, ...req('create', 'serviceaccounts', { ns: 'payments', name: 'report-gen', sub: 'token', body: tokenRequest(3607, { kind: 'Pod', apiVersion: 'v1', name: 'report-gen-d7d67cfb6-tbqjw', uid: 'b3c1' }) }) }] },
  { what: 'kube-probe and cloud health checkers on /livez and /readyz', events: [{ ...anonymous, userAgent: 'kube-probe/1.29', sourceIPs: ['10.0.1.5'], ...path('/livez') }, { ...anonymous, userAgent: 'ELB-HealthChecker/2.0', sourceIPs: ['10.0.3.4'], ...path('/readyz') }] },
  { what: 'an anonymous /version from inside the cluster', events: [{ ...anonymous, ...path('/version') }] },
  { what: 'a developer listing and reading secrets in her namespace', events: [{ ...dana, ...req('list', 'secrets', { ns: 'payments', level: 'Metadata' }) }, { ...dana, ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) }] },
  { what: 'a developer refused twice', events: burst(2, () => ({ ...dana, ...fail('get', 'pods', 403, { ns: 'kube-system', level: 'Request' }) })) },
  { what: 'a workload\'s generic client in its own namespace, including a 404', events: [{ ...foreignPod, ...req('get', 'configmaps', { ns: 'web-frontend', name: 'frontend', level: 'Metadata' }) }, { ...foreignPod, ...fail('get', 'configmaps', 404, { ns: 'web-frontend', name: 'frontend-flags', level: 'Metadata' }) }] },
  { what: 'kubectl auth can-i and whoami by a person', events: [{ ...dana, ...req('create', 'selfsubjectaccessreviews', { body: { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', resource: 'deployments', namespace: 'payments' } } } }) }] },
  { what: 'an admin\'s occasional --as of a developer', events: [{ ...oidc, ...as('dana@corp.example', 'dev-payments'), ...req('list', 'pods', { ns: 'payments', level: 'Request' }) }] },
  { what: 'a declared OIDC proxy impersonating users', events: [{ user: { username: 'system:serviceaccount:kube-oidc-proxy:kube-oidc-proxy', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-oidc-proxy', 'system:authenticated'] }, sourceIPs: ['10.244.0.9'], userAgent: 'kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625', ...as('alice@corp.example', 'dev'), ...req('list', 'pods', { ns: 'payments', level: 'Request' }) }] },
  { what: 'a CI deployer binding view and creating a Role in its namespace', events: [{ ...ci, ...roleBinding('RoleBinding', 'app-view', 'view', [{ kind: 'ServiceAccount', name: 'app', namespace: 'payments' }]) }, { ...ci, ...req('create', 'roles', { ns: 'payments', name: 'app', body: { kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'app' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'update'] }] } }) }] },
  { what: 'a developer removing a subject from her namespace\'s admin binding', events: [{ ...dana, ...req('patch', 'rolebindings', { ns: 'payments', name: 'payments-admin', body: [{ op: 'remove', path: '/subjects/1' }], response: binding('RoleBinding', 'payments-admin', 'admin', [{ kind: 'User', name: 'dana@corp.example' }]) }) }] },
  { what: 'the aggregation controller filling the admin role', events: [{ ...controller('clusterrole-aggregation-controller'), ...req('update', 'clusterroles', { name: 'admin', body: { kind: 'ClusterRole', metadata: { name: 'admin' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] }, rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }] } }) }] },
  { what: 'an operator\'s ClusterRole without aggregation, read-only, by a person', events: [{ ...dana, ...role('crd-viewer', [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] }]) }] },
  { what: 'a person\'s view RoleBinding for a colleague', events: [{ ...dana, ...roleBinding('RoleBinding', 'raj-view', 'view', [{ kind: 'User', name: 'raj@corp.example' }]) }] },
  { what: 'cert-manager\'s cainjector writing a webhook\'s CA bundle', events: [{ user: { username: 'system:serviceaccount:cert-manager:cert-manager-cainjector', groups: ['system:serviceaccounts', 'system:serviceaccounts:cert-manager', 'system:authenticated'] }, sourceIPs: ['10.244.1.7'], userAgent: 'cainjector/v1.14.4 (linux/amd64) kubernetes/$Format', ...webhookRes('validatingwebhookconfigurations')(req('update', 'validatingwebhookconfigurations', { name: 'cert-manager-webhook', level: 'Metadata' })) }] },
  { what: 'controllers and kubelets creating events, a person listing them', events: [{ ...node1, ...req('create', 'events', { ns: 'payments', level: 'Metadata' }) }, { ...dana, ...req('list', 'events', { ns: 'payments', level: 'Metadata' }) }] },
  { what: 'the namespace controller deleting a namespace\'s events', events: [{ ...controller('namespace-controller'), ...eventDelete('deletecollection', 'old-team', 200, true) }] },
  { what: 'a kubelet\'s single 401 after certificate rotation', events: [{ ...noUser, sourceIPs: ['10.0.4.17'], userAgent: 'kubelet/v1.29.3 (linux/amd64) kubernetes/6813625', ...fail('get', 'nodes', 401, { name: 'node-3', level: 'Metadata' }) }] },
  { what: 'a managed control plane minting tokens and binding roles', events: [{ ...eks('addon-manager'), ...req('create', 'serviceaccounts', { ns: 'kube-system', name: 'aws-node', sub: 'token', level: 'Metadata' }) }, { ...aks, ...roleBinding('ClusterRoleBinding', 'aks-service-rolebinding', 'cluster-admin', [{ kind: 'User', name: 'aksService' }]) }] },
  { what: 'a person\'s current kubectl reading pods', events: [{ ...oidc, ...req('list', 'pods', { ns: 'payments', level: 'Request' }) }] },
  { what: 'an aggregated API server reading the authentication ConfigMap', events: [{ user: { username: 'system:serviceaccount:monitoring:metrics-server', groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'] }, sourceIPs: ['10.244.1.40'], userAgent: 'metrics-server/v0.7.0 (linux/amd64) kubernetes/$Format', ...req('list', 'configmaps', { ns: 'kube-system', query: 'fieldSelector=metadata.name%3Dextension-apiserver-authentication', level: 'Metadata' }) }] },
  { what: 'a chart\'s view-aggregated ClusterRole installed by CI', events: [{ ...ci, ...role('widgets-view', [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] }], { body: { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'widgets-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] }] } }) }] },
  { what: 'a node\'s boot script labelling its own Node with kubectl', events: [{ ...node1, userAgent: 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625', ...req('patch', 'nodes', { name: 'node-1', body: { metadata: { labels: { 'node.kubernetes.io/lifecycle': 'spot' } } } }) }] },
  { what: 'kube-system add-ons and controllers with their own clients', events: [{ ...controller('clusterrole-aggregation-controller'), ...req('update', 'clusterroles', { name: 'admin', level: 'Metadata' }) }, { user: { username: 'system:serviceaccount:kube-system:coredns', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] }, sourceIPs: ['10.244.0.12'], userAgent: 'coredns/v1.11.1 (linux/amd64) kubernetes/$Format', ...req('list', 'secrets', { ns: 'kube-system', level: 'Metadata' }) }] },
  { what: 'the apiserver itself on its health endpoints', events: [{ user: { username: 'system:apiserver', groups: ['system:masters'] }, sourceIPs: ['127.0.0.1'], userAgent: 'kube-apiserver/v1.29.3 (linux/amd64) kubernetes/6813625', ...path('/readyz', 500) }] },
];

/** One rule's labelled pair, each side a list of requests (a rate rule needs several): the hit raises it, the near miss does not. */
export interface IdentityRuleCase { rule: string; behaviour: string; hit: Raw[]; miss: Raw[]; missWhy: string }

const r = (rule: string, behaviour: string, hit: Raw | Raw[], miss: Raw | Raw[], missWhy: string): IdentityRuleCase =>
  ({ rule, behaviour, hit: Array.isArray(hit) ? hit : [hit], miss: Array.isArray(miss) ? miss : [miss], missWhy });

/** The rules added or widened for the variants above, one behaviour at a time. */
export const IDENTITY_RULE_CASES: IdentityRuleCase[] = [
  r('KA-ANON-001', 'an anonymous watch seen only at ResponseStarted', { ...anonymous, stage: 'ResponseStarted', ...req('watch', 'configmaps', { ns: 'kube-system', level: 'Metadata', query: 'watch=true' }) },
    { ...anonymous, stage: 'ResponseStarted', ...path('/readyz') }, 'an anonymous health check'),
  r('KA-ANON-002', 'an anonymous read of a guessed name (404)', { ...anonymous, ...fail('get', 'secrets', 404, { ns: 'default', name: 'db', level: 'Metadata' }) },
    { ...anonymous, ...path('/livez', 500) }, 'a failing health check'),
  r('KA-UA-003', 'a person\'s script guessing a secret name (404)', { ...mallory, userAgent: 'python-requests/2.28.1', ...fail('get', 'secrets', 404, { ns: 'payments', name: 'aws', level: 'Metadata' }) },
    { ...foreignPod, ...fail('get', 'configmaps', 404, { ns: 'web-frontend', name: 'flags', level: 'Metadata' }) }, 'a workload\'s client missing its own ConfigMap'),
  r('KA-UA-003', 'PowerShell refused', { ...mallory, userAgent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.3031', ...fail('list', 'secrets', 403, { ns: 'kube-system', level: 'Metadata' }) },
    { ...mallory, userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0', ...fail('list', 'secrets', 403, { ns: 'kube-system', level: 'Metadata' }) }, 'a browser refused'),
  r('KA-UA-008', 'kube-hunter asking /version', { ...anonymous, userAgent: 'kube-hunter/0.6.8', ...path('/version') },
    { ...anonymous, userAgent: 'kube-hunter/0.6.8', ...fail('list', 'pods', 403) }, 'the same tool on a resource (KA-UA-001\'s)'),
  r('KA-UA-006', 'an anonymous resource request without a user agent', { ...anonymous, userAgent: undefined, ...fail('list', 'nodes', 403) },
    { ...anonymous, userAgent: undefined, ...path('/readyz') }, 'an anonymous health check without one'),
  r('KA-UA-009', 'a browser with a pod\'s token', { ...stolenToken, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', ...req('list', 'namespaces', { level: 'Request' }) },
    { ...dana, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', ...req('list', 'namespaces', { level: 'Request' }) }, 'a person\'s browser (a dashboard signed in with OIDC)'),
  r('KA-CRED-023', 'a workload reading another namespace\'s ConfigMap', { ...foreignPod, userAgent: 'frontend/v1.4.0 (linux/amd64) kubernetes/$Format', ...req('get', 'configmaps', { ns: 'payments', name: 'ledger-config', level: 'Metadata' }) },
    { ...foreignPod, userAgent: 'frontend/v1.4.0 (linux/amd64) kubernetes/$Format', ...req('get', 'configmaps', { ns: 'kube-system', name: 'extension-apiserver-authentication', level: 'Metadata' }) }, 'the API servers\' authentication ConfigMap'),
  r('KA-CRED-001', 'a watch of every secret seen only at ResponseStarted', { ...gkeUser, stage: 'ResponseStarted', ...req('watch', 'secrets', { level: 'Metadata', query: 'watch=true' }) },
    { ...gkeUser, stage: 'ResponseStarted', ...req('watch', 'configmaps', { ns: 'payments', level: 'Metadata', query: 'watch=true' }) }, 'a watch of one namespace\'s ConfigMaps'),
  r('KA-UA-008', 'an anonymous curl of /version', { ...anonymous, ...path('/version') },
    { ...anonymous, userAgent: 'kube-probe/1.29', ...path('/livez') }, 'the kubelet\'s probe'),
  r('KA-CRED-024', 'a node\'s credential used with kubectl', { ...node1, userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681', ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) },
    { ...node1, ...req('get', 'secrets', { ns: 'payments', name: 'db', level: 'Metadata' }) }, 'the kubelet reading its pod\'s secret'),
  r('KA-RBAC-001', 'a kube-system add-on\'s token binding cluster-admin with kubectl', { ...kubeSystemToken, ...roleBinding('ClusterRoleBinding', 'dns-admin', 'cluster-admin', [{ kind: 'User', name: 'mallory' }]) },
    { ...kubeSystemToken, userAgent: 'coredns/v1.11.1 (linux/amd64) kubernetes/$Format', ...roleBinding('ClusterRoleBinding', 'dns-admin', 'cluster-admin', [{ kind: 'User', name: 'mallory' }]) }, 'the same account with its own client'),
  r('KA-BRUTE-005', '4 requests from one address refused as unauthenticated', burst(4, () => ({ ...noUser, sourceIPs: ['203.0.113.66'], ...fail('list', 'secrets', 401, { ns: 'default', level: 'Metadata' }) })),
    burst(3, () => ({ ...noUser, sourceIPs: ['203.0.113.67'], ...fail('list', 'secrets', 401, { ns: 'default', level: 'Metadata' }) })), 'three'),
  r('KA-CRED-003', 'a refused secret overwrite', { ...mallory, ...fail('update', 'secrets', 403, { ns: 'payments', name: 'regcred', level: 'Metadata' }) },
    { ...ci, ...fail('get', 'secrets', 404, { ns: 'ci', name: 'sh.helm.release.v1.web.v3', level: 'Metadata' }) }, 'a deployer checking its own namespace for a release'),
  r('KA-CRED-003', 'a foreign workload guessing a secret (404)', { ...foreignPod, ...fail('get', 'secrets', 404, { ns: 'payments', name: 'stripe', level: 'Metadata' }) },
    { ...node1, ...fail('get', 'secrets', 404, { ns: 'payments', name: 'stripe', level: 'Metadata' }) }, 'a kubelet racing a deleted secret'),
  r('KA-CRED-005', 'a TokenRequest rejected as invalid (422)', { ...mallory, ...fail('create', 'serviceaccounts', 422, { ns: 'payments', name: 'report-gen', sub: 'token', level: 'Metadata' }) },
    { ...mallory, ...fail('get', 'serviceaccounts', 404, { ns: 'payments', name: 'report-gen', level: 'Metadata' }) }, 'a missing service account read'),
  r('KA-CRED-022', 'a refused CSR approval', { ...mallory, ...fail('update', 'certificatesigningrequests', 403, { name: 'mallory-admin', sub: 'approval' }) },
    { ...controller('certificate-controller'), ...fail('update', 'certificatesigningrequests', 403, { name: 'csr-x', sub: 'approval' }) }, 'a kube-system controller'),
  r('KA-IMP-001', 'an impersonated request refused by RBAC', { ...dana, ...as('system:serviceaccount:payments:report-gen'), ...fail('list', 'secrets', 403, { ns: 'kube-system', level: 'Metadata' }) },
    { ...dana, ...fail('list', 'secrets', 403, { ns: 'kube-system', level: 'Metadata' }) }, 'the same request without impersonation'),
  r('KA-ANONPERM-001', 'a JSON patch naming a subject system:anonymous', { ...mallory, ...req('patch', 'rolebindings', { ns: 'payments', name: 'readers', body: [{ op: 'replace', path: '/subjects/0/name', value: 'system:anonymous' }] }) },
    { ...mallory, ...req('patch', 'rolebindings', { ns: 'payments', name: 'readers', body: [{ op: 'replace', path: '/metadata/annotations/owner', value: 'system:anonymous' }] }) }, 'an annotation with that value'),
  r('KA-ANONPERM-005', 'a rule added to system:public-info-viewer', { ...mallory, ...req('patch', 'clusterroles', { name: 'system:public-info-viewer', body: [{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['secrets'], verbs: ['get'] } }] }) },
    { user: { username: 'system:apiserver', groups: ['system:masters'] }, sourceIPs: ['127.0.0.1'], ...req('update', 'clusterroles', { name: 'system:public-info-viewer', level: 'Metadata' }) }, 'the apiserver reconciling it'),
  r('KA-RBAC-002', 'nonResourceURLs * in a ClusterRole', { ...mallory, ...role('metrics-all', [{ nonResourceURLs: ['*'], verbs: ['get'] }]) },
    { ...mallory, ...role('metrics', [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]) }, 'one named URL'),
  r('KA-RBAC-002', 'a JSON patch adding the * verb', { ...dana, ...req('patch', 'clusterroles', { name: 'reader', body: [{ op: 'add', path: '/rules/0/verbs/-', value: '*' }] }) },
    { ...dana, ...req('patch', 'clusterroles', { name: 'reader', body: [{ op: 'add', path: '/metadata/labels/tier', value: '*' }] }) }, 'a label whose value is *'),
  r('KA-RBAC-002', 'a JSON patch replacing all rules with a wildcard one', { ...mallory, ...req('patch', 'clusterroles', { name: 'viewer', body: [{ op: 'replace', path: '/rules', value: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }] }) },
    { ...mallory, ...req('patch', 'clusterroles', { name: 'viewer', body: [{ op: 'replace', path: '/rules', value: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] }] }) }, 'the same patch with a read-only rule'),
  r('KA-RBAC-012', 'a JSON patch adding an aggregate-to-admin label', { ...ci, ...req('patch', 'clusterroles', { name: 'node-admin', body: [{ op: 'add', path: '/metadata/labels/rbac.authorization.k8s.io~1aggregate-to-admin', value: 'true' }] }) },
    { ...ci, ...req('patch', 'clusterroles', { name: 'node-admin', body: [{ op: 'add', path: '/metadata/labels/team', value: 'platform' }] }) }, 'another label'),
  r('KA-RBAC-004', 'a binding create that conflicts (409)', { ...mallory, ...fail('create', 'clusterrolebindings', 409) },
    { ...mallory, ...fail('get', 'clusterrolebindings', 404, { name: 'x' }) }, 'a read of a missing binding'),
  r('KA-RBAC-012', 'an aggregated ClusterRole selecting admin\'s labels', { ...mallory, ...role('shadow', [], { body: { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'shadow' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] }, rules: [] } }) },
    { ...controller('clusterrole-aggregation-controller'), ...req('update', 'clusterroles', { name: 'admin', body: { kind: 'ClusterRole', metadata: { name: 'admin' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] }, rules: [] } }) }, 'the aggregation controller'),
  r('KA-RBAC-013', 'a person creating a ClusterRole at Metadata level', { ...kubeadmAdmin, ...req('create', 'clusterroles', { name: 'breakglass', level: 'Metadata' }) },
    { ...ci, ...req('create', 'roles', { ns: 'payments', name: 'app', level: 'Metadata' }) }, 'the CI deployer'),
  r('KA-EVADE-003', 'a refused ValidatingAdmissionPolicy', { ...mallory, ...webhookRes('validatingadmissionpolicies')(fail('create', 'validatingadmissionpolicies', 403)) },
    { ...mallory, ...webhookRes('validatingadmissionpolicies')(fail('get', 'validatingadmissionpolicies', 404, { name: 'x' })) }, 'a read of a missing policy'),
  r('KA-EVADE-001', 'a MutatingAdmissionPolicy created', { ...mallory, ...webhookRes('mutatingadmissionpolicies', 'admissionregistration.k8s.io', 'v1alpha1')(req('create', 'mutatingadmissionpolicies', { name: 'inject', level: 'Metadata' })) },
    { ...mallory, ...webhookRes('mutatingadmissionpolicies', 'admissionregistration.k8s.io', 'v1alpha1')(req('list', 'mutatingadmissionpolicies', { level: 'Metadata' })) }, 'listing them'),
  r('KA-EVADE-008', 'an event delete that found nothing (404)', { ...mallory, ...eventDelete('delete', 'payments', 404, false, 'x.17a2') },
    { ...mallory, ...eventDelete('delete', 'payments', 200, false, 'x.17a2') }, 'the delete that succeeded (KA-EVADE-004\'s)'),
];
