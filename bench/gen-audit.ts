// Generator of realistic kube-apiserver audit events (audit.k8s.io/v1 JSON lines), deterministic from a seed.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';

/*
 * Mix per 1000 events, modelled on the real capture in ../shared/corpus/real-apiserver
 * (leases and control-plane reads dominate) but with the leases logged at RequestResponse,
 * as a "log everything" policy does, so a line averages about 1.7 KB.
 */
const MIX: ReadonlyArray<readonly [number, (r: Rng, c: Ctx) => string]> = [
  [310, leaseUpdate], // ~2.8 KB: request and response Lease bodies
  [100, leaseGet], // leader election reads its lease before renewing it
  [180, resourceGet],
  [70, resourceList],
  [65, resourceWatch],
  [50, nonResourceGet],
  [55, podStatusPatch], // Request level, patch body
  [30, endpointSliceUpdate],
  [30, eventCreate],
  [20, tokenRequest],
  [25, podCreate], // RequestResponse, ~6 KB
  [15, configMapCreate],
  [30, notFound],
  [10, conflict],
  [5, forbidden],
  [5, unauthenticated],
];

const MIX_TOTAL = MIX.reduce((s, [w]) => s + w, 0);
const MIX_TABLE: Array<(r: Rng, c: Ctx) => string> = [];
for (const [w, f] of MIX) for (let k = 0; k < w; k++) MIX_TABLE.push(f);

/** Events start here and advance ~2.5 ms each (a busy apiserver writes a few hundred events/s). */
const BASE_TIME_US = Date.UTC(2026, 10, 22, 12, 0, 0) * 1000;
const STEP_US = 2500;

export const DEFAULT_SEED = 1;
/** Bumped whenever the output changes, so cached benchmark data is regenerated. */
export const GENERATOR_VERSION = 1;

/** The i-th event of the stream for `seed`, without the trailing newline. The same (i, seed) gives the same line. */
export function auditLine(i: number, seed: number = DEFAULT_SEED): string {
  const r = rngFor(i, seed);
  const ctx: Ctx = { i, id: uuid(r), recvUs: BASE_TIME_US + i * STEP_US + r.int(STEP_US), rv: 1_000_000 + i * 3 };
  return MIX_TABLE[r.int(MIX_TOTAL)](r, ctx);
}

/** The auditID of `auditLine(i, seed)`, without building the line. */
export function auditIdFor(i: number, seed: number = DEFAULT_SEED): string {
  return uuid(rngFor(i, seed));
}

/** Lines `from` … `from + n - 1` of the stream for `seed`. */
export function* generateAuditLines(n: number, seed: number = DEFAULT_SEED, from = 0): Generator<string> {
  for (let i = from; i < from + n; i++) yield auditLine(i, seed);
}

/** Writes n lines to `file` (via a temp name, so an interrupted run leaves no partial file behind). */
export function writeAuditFile(file: string, n: number, seed: number = DEFAULT_SEED): { lines: number; bytes: number } {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    // Join ~4 MiB of lines per write: one syscall per line would dominate the run time.
    let parts: string[] = [];
    let pending = 0;
    for (let i = 0; i < n; i++) {
      const line = auditLine(i, seed) + '\n';
      parts.push(line);
      pending += line.length;
      if (pending >= 4 * 1024 * 1024) {
        bytes += writeSync(fd, parts.join(''));
        parts = [];
        pending = 0;
      }
    }
    if (parts.length > 0) bytes += writeSync(fd, parts.join(''));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return { lines: n, bytes };
}

// ---- deterministic randomness ---------------------------------------------------------------

interface Rng {
  u32(): number;
  /** 0 … n-1 */
  int(n: number): number;
  pick<T>(a: readonly T[]): T;
}

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** mulberry32, seeded per line so any line can be produced on its own. */
function rngFor(i: number, seed: number): Rng {
  let s = fmix32(fmix32(seed ^ 0x9e3779b9) ^ fmix32((i + 0x6a09e667) | 0) ^ Math.floor(i / 0x100000000));
  const u32 = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    u32,
    int: (n) => Math.floor((u32() / 0x100000000) * n),
    pick: (a) => a[Math.floor((u32() / 0x100000000) * a.length)],
  };
}

const HEX: string[] = [];
for (let b = 0; b < 256; b++) HEX.push(b.toString(16).padStart(2, '0'));

function hex32(x: number): string {
  return HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];
}

/** A version-4 UUID drawn from the line's generator. */
function uuid(r: Rng): string {
  const a = hex32(r.u32());
  const b = hex32(r.u32());
  const c = hex32(r.u32());
  const d = hex32(r.u32());
  const variant = '89ab'[parseInt(c[0], 16) & 3];
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

/** A UUID fixed by a name, for objects that keep their uid across events. */
function stableUid(name: string): string {
  let h = 0x811c9dc5;
  for (let k = 0; k < name.length; k++) h = Math.imul(h ^ name.charCodeAt(k), 0x01000193);
  return uuid(rngFor(h >>> 0, 0x5eed));
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
function suffix(r: Rng, n: number): string {
  let s = '';
  for (let k = 0; k < n; k++) s += NAME_CHARS[r.int(NAME_CHARS.length)];
  return s;
}

// ---- time ----------------------------------------------------------------------------------

/** metav1.MicroTime: always six fractional digits, UTC. */
function microTime(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = us - ms * 1000;
  return new Date(ms).toISOString().slice(0, 23) + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z';
}

/** metav1.Time: whole seconds. */
function secondsTime(us: number): string {
  return new Date(Math.floor(us / 1e6) * 1000).toISOString().slice(0, 19) + 'Z';
}

// ---- the cluster ---------------------------------------------------------------------------

interface Ctx {
  i: number;
  id: string;
  recvUs: number;
  /** A resourceVersion that grows with the stream. */
  rv: number;
}

interface Actor {
  user: string; // the `user` object, JSON
  ip: string;
  ua: string;
  reason: string; // authorization.k8s.io/reason value, JSON-escaped
}

const K8S = 'v1.29.4 (linux/amd64) kubernetes/55019c8';
const CREATED = '2026-10-02T07:41:12Z';
// Cloud-style node names: long, and repeated many times in a node lease event.
const NODES = Array.from({ length: 12 }, (_, k) => ({
  name: `ip-10-0-1-${11 + k}.eu-west-1.compute.internal`,
  ip: `10.0.1.${11 + k}`,
}));
const NAMESPACES = ['default', 'kube-system', 'monitoring', 'payments', 'storefront', 'web-frontend', 'argocd', 'ingress-nginx'];
const APPS = [
  { ns: 'payments', app: 'ledger', image: 'registry.corp.example/payments/ledger:3.14.2', rs: '6d9f8b7c54' },
  { ns: 'payments', app: 'checkout', image: 'registry.corp.example/payments/checkout:1.8.0', rs: '5b7c9d4f86' },
  { ns: 'storefront', app: 'catalog', image: 'registry.corp.example/storefront/catalog:2.3.1', rs: '7f4d5c9b8d' },
  { ns: 'storefront', app: 'cart', image: 'registry.corp.example/storefront/cart:2.0.7', rs: '84c6b5d9f7' },
  { ns: 'web-frontend', app: 'frontend', image: 'registry.corp.example/web/frontend:5.2.0', rs: 'b78dcdc47' },
  { ns: 'monitoring', app: 'node-exporter', image: 'quay.io/prometheus/node-exporter:v1.7.0', rs: '' },
  { ns: 'ingress-nginx', app: 'ingress-nginx-controller', image: 'registry.k8s.io/ingress-nginx/controller:v1.10.1', rs: '6c8f5d7b9b' },
];
const CONFIGMAPS = ['kube-root-ca.crt', 'coredns', 'kube-proxy', 'app-config', 'feature-flags', 'extension-apiserver-authentication'];
const SECRETS = ['db-credentials', 'tls-cert', 'registry-pull', 'api-token'];

function crb(role: string, subjectKind: string, subject: string): string {
  return `RBAC: allowed by ClusterRoleBinding \\"${role}\\" of ClusterRole \\"${role}\\" to ${subjectKind} \\"${subject}\\"`;
}

function saUser(ns: string, name: string, pod?: string): string {
  const extra = pod
    ? `,"extra":{"authentication.kubernetes.io/pod-name":["${pod}"],"authentication.kubernetes.io/pod-uid":["${stableUid(pod)}"]}`
    : '';
  return `{"username":"system:serviceaccount:${ns}:${name}","uid":"${stableUid(`sa/${ns}/${name}`)}","groups":["system:serviceaccounts","system:serviceaccounts:${ns}","system:authenticated"]${extra}}`;
}

function controller(name: string): Actor {
  return {
    user: saUser('kube-system', name),
    ip: '10.0.0.10',
    ua: `kube-controller-manager/${K8S}/system:serviceaccount:kube-system:${name}`,
    reason: crb(`system:controller:${name}`, 'ServiceAccount', `${name}/kube-system`),
  };
}

const KCM: Actor = {
  user: '{"username":"system:kube-controller-manager","groups":["system:authenticated"]}',
  ip: '10.0.0.10',
  ua: `kube-controller-manager/${K8S}/leader-election`,
  reason: crb('system:kube-controller-manager', 'User', 'system:kube-controller-manager'),
};
const SCHEDULER: Actor = {
  user: '{"username":"system:kube-scheduler","groups":["system:authenticated"]}',
  ip: '10.0.0.10',
  ua: `kube-scheduler/${K8S}/leader-election`,
  reason: crb('system:kube-scheduler', 'User', 'system:kube-scheduler'),
};
const APISERVER: Actor = {
  user: `{"username":"system:apiserver","uid":"${stableUid('apiserver')}","groups":["system:authenticated","system:masters"]}`,
  ip: '::1',
  ua: `kube-apiserver/${K8S}`,
  reason: '',
};
const kubelets: Actor[] = NODES.map((n) => ({
  user: `{"username":"system:node:${n.name}","groups":["system:nodes","system:authenticated"]}`,
  ip: n.ip,
  ua: `kubelet/${K8S}`,
  reason: '',
}));
const WORKLOADS: Actor[] = [
  {
    user: saUser('monitoring', 'prometheus', 'prometheus-k8s-0'),
    ip: '10.244.3.17',
    ua: 'prometheus/2.51.2',
    reason: crb('prometheus-k8s', 'ServiceAccount', 'prometheus/monitoring'),
  },
  {
    user: saUser('argocd', 'argocd-application-controller', 'argocd-application-controller-0'),
    ip: '10.244.5.9',
    ua: 'argocd-application-controller/v2.10.7+b060053 (linux/amd64) kubernetes/$Format',
    reason: crb('argocd-application-controller', 'ServiceAccount', 'argocd-application-controller/argocd'),
  },
  {
    user: saUser('kube-system', 'coredns', 'coredns-76f75df574-7x9wq'),
    ip: '10.244.0.3',
    ua: 'coredns/v1.11.1 (linux/amd64) kubernetes/$Format',
    reason: crb('system:coredns', 'ServiceAccount', 'coredns/kube-system'),
  },
  {
    user: saUser('ingress-nginx', 'ingress-nginx', 'ingress-nginx-controller-6c8f5d7b9b-l2kqz'),
    ip: '10.244.2.41',
    ua: 'nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd3669daa3a14d9de3e3cdb371b4c518',
    reason: crb('ingress-nginx', 'ServiceAccount', 'ingress-nginx/ingress-nginx'),
  },
];
const HUMANS: Actor[] = [
  {
    user: '{"username":"alice@corp.example","uid":"1001","groups":["platform","system:authenticated"]}',
    ip: '192.168.40.21',
    ua: `kubectl/${K8S}`,
    reason: crb('cluster-admin', 'Group', 'platform'),
  },
  {
    user: '{"username":"dana@corp.example","uid":"3101","groups":["dev-payments","system:authenticated"]}',
    ip: '192.168.40.57',
    ua: `kubectl/${K8S}`,
    reason: 'RBAC: allowed by RoleBinding \\"dana-edit/payments\\" of ClusterRole \\"edit\\" to User \\"dana@corp.example\\"',
  },
  {
    user: saUser('ci', 'gitlab-runner'),
    ip: '192.168.50.4',
    ua: 'helm/v3.14.4 (linux/amd64) kubernetes/$Format',
    reason: 'RBAC: allowed by RoleBinding \\"ci-deployer/storefront\\" of Role \\"ci-deployer\\" to ServiceAccount \\"gitlab-runner/ci\\"',
  },
];
const READERS: Actor[] = [
  ...kubelets,
  ...WORKLOADS,
  ...WORKLOADS,
  ...HUMANS,
  controller('replicaset-controller'),
  controller('deployment-controller'),
  controller('generic-garbage-collector'),
  controller('resourcequota-controller'),
  controller('endpointslice-controller'),
  SCHEDULER,
  APISERVER,
];

// ---- event assembly (Go field order) -------------------------------------------------------

const OK = '{"metadata":{},"code":200}';
const CREATED_STATUS = '{"metadata":{},"code":201}';

function annotationsFor(a: Actor, decision = 'allow', extra = ''): string {
  return `{"authorization.k8s.io/decision":"${decision}","authorization.k8s.io/reason":"${a.reason}"${extra}}`;
}

function event(
  c: Ctx,
  r: Rng,
  level: string,
  stage: string,
  uri: string,
  verb: string,
  a: Actor,
  objectRef: string | null,
  status: string,
  requestObject: string | null,
  responseObject: string | null,
  latencyUs: number,
  annotations: string | null,
): string {
  return (
    `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"${level}","auditID":"${c.id}","stage":"${stage}",` +
    `"requestURI":"${uri}","verb":"${verb}","user":${a.user},"sourceIPs":["${a.ip}"],"userAgent":"${a.ua}",` +
    (objectRef === null ? '' : `"objectRef":${objectRef},`) +
    `"responseStatus":${status},` +
    (requestObject === null ? '' : `"requestObject":${requestObject},`) +
    (responseObject === null ? '' : `"responseObject":${responseObject},`) +
    `"requestReceivedTimestamp":"${microTime(c.recvUs)}","stageTimestamp":"${microTime(c.recvUs + latencyUs + r.int(400))}"` +
    (annotations === null ? '' : `,"annotations":${annotations}`) +
    '}'
  );
}

/** objectRef in Go order: resource, namespace, name, uid, apiGroup, apiVersion, then `tail` (resourceVersion, subresource). */
function ref(
  resource: string,
  ns: string | null,
  name: string | null,
  apiGroup: string,
  apiVersion: string,
  tail = '',
  uid: string | null = null,
): string {
  return (
    `{"resource":"${resource}"` +
    (ns === null ? '' : `,"namespace":"${ns}"`) +
    (name === null ? '' : `,"name":"${name}"`) +
    (uid === null ? '' : `,"uid":"${uid}"`) +
    (apiGroup === '' ? '' : `,"apiGroup":"${apiGroup}"`) +
    `,"apiVersion":"${apiVersion}"${tail}}`
  );
}

function failure(code: number, reason: string, message: string, details: string): string {
  return `{"metadata":{},"status":"Failure","message":"${message}","reason":"${reason}","details":${details},"code":${code}}`;
}

// ---- event kinds ---------------------------------------------------------------------------

function leaseObject(
  ns: string,
  name: string,
  rv: number,
  manager: string,
  holder: string,
  duration: number,
  renewUs: number,
  owner: string,
  labels: string,
): string {
  const fields =
    ns === 'kube-node-lease'
      ? '{"f:metadata":{"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"' + stableUid(`node/${name}`) + '\\"}":{}}},"f:spec":{"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:renewTime":{}}}'
      : '{"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}';
  const acquire = ns === 'kube-node-lease' ? '' : `"acquireTime":"2026-11-20T06:12:44.018271Z",`;
  const transitions = ns === 'kube-node-lease' ? '' : ',"leaseTransitions":3';
  return (
    `{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"${name}","namespace":"${ns}",` +
    `"uid":"${stableUid(`lease/${ns}/${name}`)}","resourceVersion":"${rv}","creationTimestamp":"${CREATED}"${labels}${owner},` +
    `"managedFields":[{"manager":"${manager}","operation":"Update","apiVersion":"coordination.k8s.io/v1",` +
    `"time":"${secondsTime(renewUs)}","fieldsType":"FieldsV1","fieldsV1":${fields}}]},` +
    `"spec":{"holderIdentity":"${holder}","leaseDurationSeconds":${duration},${acquire}"renewTime":"${microTime(renewUs)}"${transitions}}}`
  );
}

function leaseTarget(r: Rng): { a: Actor; ns: string; name: string; manager: string; holder: string; duration: number; owner: string; labels: string } {
  const k = r.int(10);
  if (k < 6) {
    const n = r.int(NODES.length);
    const node = NODES[n];
    return {
      a: kubelets[n],
      ns: 'kube-node-lease',
      name: node.name,
      manager: 'kubelet',
      holder: node.name,
      duration: 40,
      owner: `,"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"${node.name}","uid":"${stableUid(`node/${node.name}`)}"}]`,
      labels: '',
    };
  }
  if (k < 8) {
    return { a: KCM, ns: 'kube-system', name: 'kube-controller-manager', manager: 'kube-controller-manager', holder: 'cp-1_8a4f1c52-3b7e-4d7e-9c1a-51f0e2d7b6aa', duration: 15, owner: '', labels: '' };
  }
  if (k < 9) {
    return { a: SCHEDULER, ns: 'kube-system', name: 'kube-scheduler', manager: 'kube-scheduler', holder: 'cp-1_0c7d2e91-6f4a-4b3c-8e5d-2a9b7f1c3e40', duration: 15, owner: '', labels: '' };
  }
  const name = 'kube-apiserver-3nqsmkvuhoqh6pzxwjqkxrgb6e';
  return {
    a: APISERVER,
    ns: 'kube-system',
    name,
    manager: 'kube-apiserver',
    holder: `${name}_6a8c0f3e-95d2-4c61-b1a7-3e2f4d9c8b17`,
    duration: 3600,
    owner: '',
    labels: ',"labels":{"apiserver.kubernetes.io/identity":"kube-apiserver","kubernetes.io/hostname":"cp-1"}',
  };
}

function leaseUpdate(r: Rng, c: Ctx): string {
  const t = leaseTarget(r);
  const uri = `/apis/coordination.k8s.io/v1/namespaces/${t.ns}/leases/${t.name}?timeout=${t.ns === 'kube-node-lease' ? '10s' : '5s'}`;
  const objRef = ref('leases', t.ns, t.name, 'coordination.k8s.io', 'v1', `,"resourceVersion":"${c.rv}"`, stableUid(`lease/${t.ns}/${t.name}`));
  const req = leaseObject(t.ns, t.name, c.rv, t.manager, t.holder, t.duration, c.recvUs - 300, t.owner, t.labels);
  const resp = leaseObject(t.ns, t.name, c.rv + 1, t.manager, t.holder, t.duration, c.recvUs - 300, t.owner, t.labels);
  return event(c, r, 'RequestResponse', 'ResponseComplete', uri, 'update', t.a, objRef, OK, req, resp, 2500 + r.int(4000), annotationsFor(t.a));
}

function leaseGet(r: Rng, c: Ctx): string {
  const a = r.int(2) === 0 ? KCM : SCHEDULER;
  const name = a === KCM ? 'kube-controller-manager' : 'kube-scheduler';
  const uri = `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}?timeout=5s`;
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'get', a, ref('leases', 'kube-system', name, 'coordination.k8s.io', 'v1'), OK, null, null, 900 + r.int(1500), annotationsFor(a));
}

function podName(r: Rng): { ns: string; name: string; app: (typeof APPS)[number] } {
  const app = r.pick(APPS);
  const name = app.rs === '' ? `${app.app}-${suffix(r, 5)}` : `${app.app}-${app.rs}-${suffix(r, 5)}`;
  return { ns: app.ns, name, app };
}

function resourceGet(r: Rng, c: Ctx): string {
  const a = r.pick(READERS);
  const level = r.int(3) === 0 ? 'Request' : 'Metadata';
  const k = r.int(6);
  let uri: string;
  let objRef: string;
  if (k === 0) {
    const p = podName(r);
    uri = `/api/v1/namespaces/${p.ns}/pods/${p.name}`;
    objRef = ref('pods', p.ns, p.name, '', 'v1');
  } else if (k === 1) {
    const ns = r.pick(NAMESPACES);
    const cm = r.pick(CONFIGMAPS);
    uri = `/api/v1/namespaces/${ns}/configmaps/${cm}`;
    objRef = ref('configmaps', ns, cm, '', 'v1');
  } else if (k === 2) {
    const node = r.pick(NODES).name;
    uri = `/api/v1/nodes/${node}?resourceVersion=0\\u0026timeout=10s`;
    objRef = ref('nodes', null, node, '', 'v1');
  } else if (k === 3) {
    const ns = r.pick(NAMESPACES);
    const s = r.pick(SECRETS);
    uri = `/api/v1/namespaces/${ns}/secrets/${s}`;
    objRef = ref('secrets', ns, s, '', 'v1');
  } else if (k === 4) {
    uri = '/api/v1/namespaces/default/services/kubernetes';
    objRef = ref('services', 'default', 'kubernetes', '', 'v1');
  } else {
    const app = r.pick(APPS);
    uri = `/apis/apps/v1/namespaces/${app.ns}/deployments/${app.app}`;
    objRef = ref('deployments', app.ns, app.app, 'apps', 'v1');
  }
  return event(c, r, level, 'ResponseComplete', uri, 'get', a, objRef, OK, null, null, 600 + r.int(2500), annotationsFor(a));
}

const LISTED = [
  ['pods', '', 'v1'],
  ['configmaps', '', 'v1'],
  ['services', '', 'v1'],
  ['endpointslices', 'discovery.k8s.io', 'v1'],
  ['replicasets', 'apps', 'v1'],
  ['secrets', '', 'v1'],
] as const;

function resourceList(r: Rng, c: Ctx): string {
  const a = r.pick(READERS);
  const [res, group, ver] = r.pick(LISTED);
  const ns = r.pick(NAMESPACES);
  const prefix = group === '' ? `/api/${ver}` : `/apis/${group}/${ver}`;
  const uri = `${prefix}/namespaces/${ns}/${res}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dhelm\\u0026limit=500\\u0026resourceVersion=0`;
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'list', a, ref(res, ns, null, group, ver), OK, null, null, 1500 + r.int(6000), annotationsFor(a));
}

function resourceWatch(r: Rng, c: Ctx): string {
  const a = r.pick(READERS);
  const [res, group, ver] = r.pick(LISTED);
  const prefix = group === '' ? `/api/${ver}` : `/apis/${group}/${ver}`;
  const timeout = 300 + r.int(300);
  const uri = `${prefix}/${res}?allowWatchBookmarks=true\\u0026resourceVersion=${c.rv - r.int(5000)}\\u0026timeout=${Math.floor(timeout / 60)}m${timeout % 60}s\\u0026timeoutSeconds=${timeout}\\u0026watch=true`;
  const started = r.int(2) === 0;
  const latency = started ? 300 + r.int(700) : timeout * 1_000_000;
  const recvShift = started ? 0 : latency; // a completed watch was opened minutes earlier
  const cc: Ctx = { ...c, recvUs: c.recvUs - recvShift };
  return event(cc, r, 'Metadata', started ? 'ResponseStarted' : 'ResponseComplete', uri, 'watch', a, ref(res, null, null, group, ver), OK, null, null, latency, annotationsFor(a));
}

const NON_RESOURCE = ['/api', '/apis', '/apis/apps/v1', '/apis/batch/v1', '/apis/coordination.k8s.io/v1', '/healthz', '/readyz', '/livez', '/version', '/openapi/v2?timeout=32s'];

function nonResourceGet(r: Rng, c: Ctx): string {
  const a = r.pick(READERS);
  const uri = r.pick(NON_RESOURCE);
  const reason = crb('system:discovery', 'Group', 'system:authenticated');
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'get', a, null, OK, null, null, 200 + r.int(900), annotationsFor({ ...a, reason }));
}

function podStatusPatch(r: Rng, c: Ctx): string {
  const n = r.int(NODES.length);
  const p = podName(r);
  const t = secondsTime(c.recvUs - 2_000_000);
  const container = p.app.app;
  const body =
    `{"metadata":{"uid":"${stableUid(`pod/${p.name}`)}"},"status":{"$setElementOrder/conditions":[{"type":"Initialized"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"PodScheduled"}],` +
    `"conditions":[{"lastProbeTime":null,"lastTransitionTime":"${t}","status":"True","type":"Ready"},{"lastProbeTime":null,"lastTransitionTime":"${t}","status":"True","type":"ContainersReady"}],` +
    `"containerStatuses":[{"containerID":"containerd://${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}",` +
    `"image":"${p.app.image}","imageID":"${p.app.image.split(':')[0]}@sha256:${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}${hex32(r.u32())}",` +
    `"lastState":{},"name":"${container}","ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"${t}"}}}],` +
    `"phase":"Running","podIP":"10.244.${n}.${2 + r.int(250)}","podIPs":[{"ip":"10.244.${n}.${2 + r.int(250)}"}]}}`;
  const uri = `/api/v1/namespaces/${p.ns}/pods/${p.name}/status`;
  const objRef = ref('pods', p.ns, p.name, '', 'v1', ',"subresource":"status"');
  return event(c, r, 'Request', 'ResponseComplete', uri, 'patch', kubelets[n], objRef, OK, body, null, 3000 + r.int(5000), annotationsFor(kubelets[n]));
}

function endpointSliceUpdate(r: Rng, c: Ctx): string {
  const a = controller('endpointslice-controller');
  const app = r.pick(APPS);
  const name = `${app.app}-${suffix(r, 5)}`;
  const uri = `/apis/discovery.k8s.io/v1/namespaces/${app.ns}/endpointslices/${name}`;
  const objRef = ref('endpointslices', app.ns, name, 'discovery.k8s.io', 'v1', `,"resourceVersion":"${c.rv - 7}"`, stableUid(`eps/${name}`));
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'update', a, objRef, OK, null, null, 2000 + r.int(4000), annotationsFor(a));
}

function eventCreate(r: Rng, c: Ctx): string {
  const ns = r.pick(NAMESPACES);
  const a = r.int(2) === 0 ? SCHEDULER : controller('replicaset-controller');
  const uri = `/apis/events.k8s.io/v1/namespaces/${ns}/events`;
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'create', a, ref('events', ns, null, 'events.k8s.io', 'v1'), CREATED_STATUS, null, null, 1500 + r.int(3000), annotationsFor(a));
}

function tokenRequest(r: Rng, c: Ctx): string {
  const n = r.int(NODES.length);
  const p = podName(r);
  const uri = `/api/v1/namespaces/${p.ns}/serviceaccounts/default/token`;
  const objRef = ref('serviceaccounts', p.ns, 'default', '', 'v1', ',"subresource":"token"');
  return event(c, r, 'Metadata', 'ResponseComplete', uri, 'create', kubelets[n], objRef, CREATED_STATUS, null, null, 2000 + r.int(3000), annotationsFor(kubelets[n]));
}

function podSpec(p: ReturnType<typeof podName>, full: boolean, vol: string): string {
  const c = p.app.app;
  const mounts = full ? `,"volumeMounts":[{"name":"${vol}","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]` : '';
  const volumes = full
    ? `"volumes":[{"name":"${vol}","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],`
    : '';
  const tail = full
    ? `,"serviceAccountName":"default","serviceAccount":"default","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"`
    : ',"securityContext":{},"schedulerName":"default-scheduler","enableServiceLinks":true';
  return (
    `{${volumes}"containers":[{"name":"${c}","image":"${p.app.image}","ports":[{"containerPort":8080,"protocol":"TCP"}],` +
    `"resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}${mounts},` +
    `"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],` +
    `"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst"${tail}}`
  );
}

function podCreate(r: Rng, c: Ctx): string {
  const a = controller('replicaset-controller');
  const p = podName(r);
  const rsName = `${p.app.app}-${p.app.rs || 'x'}`;
  const owner = `"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"${rsName}","uid":"${stableUid(`rs/${rsName}`)}","controller":true,"blockOwnerDeletion":true}]`;
  const labels = `"labels":{"app":"${p.app.app}","pod-template-hash":"${p.app.rs}"}`;
  const vol = `kube-api-access-${suffix(r, 5)}`;
  const created = secondsTime(c.recvUs);
  const req = `{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"${rsName}-","creationTimestamp":null,${labels},${owner}},"spec":${podSpec(p, false, vol)},"status":{}}`;
  const resp =
    `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"${p.name}","generateName":"${rsName}-","namespace":"${p.ns}","uid":"${stableUid(`pod/${p.name}`)}",` +
    `"resourceVersion":"${c.rv}","creationTimestamp":"${created}",${labels},${owner},"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"${created}","fieldsType":"FieldsV1",` +
    `"fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"${stableUid(`rs/${rsName}`)}\\"}":{}}},` +
    `"f:spec":{"f:containers":{"k:{\\"name\\":\\"${p.app.app}\\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\\"containerPort\\":8080,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":{".":{},"f:cpu":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}]},` +
    `"spec":${podSpec(p, true, vol)},"status":{"phase":"Pending","qosClass":"Burstable"}}`;
  const ann = annotationsFor(a, 'allow', ',"pod-security.kubernetes.io/enforce-policy":"privileged:latest"');
  return event(c, r, 'RequestResponse', 'ResponseComplete', `/api/v1/namespaces/${p.ns}/pods`, 'create', a, ref('pods', p.ns, null, '', 'v1'), CREATED_STATUS, req, resp, 4000 + r.int(6000), ann);
}

function configMapCreate(r: Rng, c: Ctx): string {
  const a = r.pick(HUMANS);
  const ns = r.pick(NAMESPACES);
  const name = `app-config-${suffix(r, 5)}`;
  const data = `"data":{"LOG_LEVEL":"info","FEATURE_CHECKOUT_V2":"true","CACHE_TTL":"300s","UPSTREAM_URL":"http://ledger.payments.svc.cluster.local:8080"}`;
  const created = secondsTime(c.recvUs);
  const req = `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"${name}","namespace":"${ns}","creationTimestamp":null,"labels":{"app.kubernetes.io/managed-by":"Helm"}},${data}}`;
  const resp =
    `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"${name}","namespace":"${ns}","uid":"${stableUid(`cm/${name}`)}","resourceVersion":"${c.rv}","creationTimestamp":"${created}","labels":{"app.kubernetes.io/managed-by":"Helm"},` +
    `"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"${created}","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:CACHE_TTL":{},"f:FEATURE_CHECKOUT_V2":{},"f:LOG_LEVEL":{},"f:UPSTREAM_URL":{}},"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/managed-by":{}}}}}]},${data}}`;
  return event(c, r, 'RequestResponse', 'ResponseComplete', `/api/v1/namespaces/${ns}/configmaps?fieldManager=kubectl-create\\u0026fieldValidation=Strict`, 'create', a, ref('configmaps', ns, null, '', 'v1'), CREATED_STATUS, req, resp, 3000 + r.int(4000), annotationsFor(a));
}

function notFound(r: Rng, c: Ctx): string {
  const a = r.pick(READERS);
  const ns = r.pick(NAMESPACES);
  const name = `app-config-${suffix(r, 5)}`;
  const status = failure(404, 'NotFound', `configmaps \\"${name}\\" not found`, `{"name":"${name}","kind":"configmaps"}`);
  return event(c, r, 'Metadata', 'ResponseComplete', `/api/v1/namespaces/${ns}/configmaps/${name}`, 'get', a, ref('configmaps', ns, name, '', 'v1'), status, null, null, 800 + r.int(1500), annotationsFor(a));
}

function conflict(r: Rng, c: Ctx): string {
  const a = controller('endpointslice-controller');
  const app = r.pick(APPS);
  const name = `${app.app}-${suffix(r, 5)}`;
  const status = failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on endpointslices.discovery.k8s.io \\"${name}\\": the object has been modified; please apply your changes to the latest version and try again`,
    `{"name":"${name}","group":"discovery.k8s.io","kind":"endpointslices"}`,
  );
  const objRef = ref('endpointslices', app.ns, name, 'discovery.k8s.io', 'v1', `,"resourceVersion":"${c.rv - 40}"`, stableUid(`eps/${name}`));
  return event(c, r, 'Metadata', 'ResponseComplete', `/apis/discovery.k8s.io/v1/namespaces/${app.ns}/endpointslices/${name}`, 'update', a, objRef, status, null, null, 1500 + r.int(2000), annotationsFor(a));
}

function forbidden(r: Rng, c: Ctx): string {
  const a: Actor = {
    user: '{"username":"kim@corp.example","uid":"4410","groups":["interns","system:authenticated"]}',
    ip: '192.168.40.88',
    ua: `kubectl/${K8S}`,
    reason: '',
  };
  const ns = r.pick(NAMESPACES);
  const status = failure(
    403,
    'Forbidden',
    `secrets is forbidden: User \\"kim@corp.example\\" cannot list resource \\"secrets\\" in API group \\"\\" in the namespace \\"${ns}\\"`,
    '{"kind":"secrets"}',
  );
  return event(c, r, 'Metadata', 'ResponseComplete', `/api/v1/namespaces/${ns}/secrets?limit=500`, 'list', a, ref('secrets', ns, null, '', 'v1'), status, null, null, 400 + r.int(600), annotationsFor(a, 'forbid'));
}

function unauthenticated(r: Rng, c: Ctx): string {
  const a: Actor = { user: '{}', ip: `203.0.113.${1 + r.int(250)}`, ua: 'Go-http-client/2.0', reason: '' };
  const status = '{"metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}';
  // Failed authentication: ResponseStarted only, empty user, no annotations.
  return event(c, r, 'Metadata', 'ResponseStarted', '/api/v1/namespaces/kube-system/secrets', 'list', a, ref('secrets', 'kube-system', null, '', 'v1'), status, null, null, 100 + r.int(300), null);
}

// ---- CLI -----------------------------------------------------------------------------------

if (import.meta.main) {
  const [out, nArg, seedArg] = process.argv.slice(2);
  const n = Number(nArg);
  if (!out || !Number.isInteger(n) || n < 0) {
    process.stderr.write('usage: node bench/gen-audit.ts OUT_FILE N [SEED]\n');
    process.exit(2);
  }
  const seed = seedArg === undefined ? DEFAULT_SEED : Number(seedArg);
  const t0 = performance.now();
  const { lines, bytes } = writeAuditFile(out, n, seed);
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${out}: ${lines} events, ${(bytes / 1e6).toFixed(1)} MB, mean ${lines ? (bytes / lines).toFixed(0) : 0} bytes/line (${s.toFixed(1)} s)\n`,
  );
}
