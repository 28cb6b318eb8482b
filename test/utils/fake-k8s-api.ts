// A FAKE Kubernetes API server for tests (no real API server can run here), faithful to what a kube-apiserver v1.26
// answered in ../shared/corpus/k8s-api (payloads, status bodies, headers, watch framing): list with resourceVersion,
// watch streams (one JSON event per chunk: ADDED, MODIFIED, DELETED, BOOKMARK; an ERROR 410 event for a too-old
// resourceVersion, the list's 410 for resourceVersionMatch=Exact), GET by name, 404 with the recorded Status body, a
// field selector on spec.nodeName, bearer-token auth over TLS, and controls for tests: latency, outages, compaction,
// cutting watches, and a log of requests with the most at once. New resources are one line in RESOURCES. Events (core
// and events.k8s.io) as recorded in events/: no BOOKMARKs, etcd's 410 text; create (POST) and update (PUT) with the
// recorded 201/409 AlreadyExists/409 Conflict on a stale resourceVersion, as for the Leases in leases/.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export const K8S_CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus/k8s-api');

interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  /** Not in the apiserver's watch cache (events: list and watch go to etcd): no BOOKMARKs, etcd's 410 text. */
  uncached?: boolean;
}

/** The resources the fake serves, by plural name (events.k8s.io events, leases: add a line). */
export const RESOURCES: Record<string, ResourceType> = {
  pods: { group: '', version: 'v1', kind: 'Pod', namespaced: true },
  namespaces: { group: '', version: 'v1', kind: 'Namespace', namespaced: false },
  replicasets: { group: 'apps', version: 'v1', kind: 'ReplicaSet', namespaced: true },
  deployments: { group: 'apps', version: 'v1', kind: 'Deployment', namespaced: true },
  daemonsets: { group: 'apps', version: 'v1', kind: 'DaemonSet', namespaced: true },
  statefulsets: { group: 'apps', version: 'v1', kind: 'StatefulSet', namespaced: true },
  jobs: { group: 'batch', version: 'v1', kind: 'Job', namespaced: true },
  cronjobs: { group: 'batch', version: 'v1', kind: 'CronJob', namespaced: true },
  // Core events and events.k8s.io events share a plural: the grouped one is keyed `<plural>.<group>` (see typeOf).
  events: { group: '', version: 'v1', kind: 'Event', namespaced: true, uncached: true },
  'events.events.k8s.io': { group: 'events.k8s.io', version: 'v1', kind: 'Event', namespaced: true, uncached: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', namespaced: true },
};

export interface K8sObject {
  kind?: string;
  apiVersion?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: Record<string, unknown> & { nodeName?: string };
  [k: string]: unknown;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: URLSearchParams;
  watch: boolean;
}

interface ChangeEvent {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: K8sObject;
  /** The state before, so a filtered watch can tell an object moving into or out of its selector. */
  before: K8sObject | undefined;
}

interface Watcher {
  resource: string;
  namespace: string | undefined;
  matches: (o: K8sObject) => boolean;
  res: ServerResponse;
  bookmarks: boolean;
  timers: NodeJS.Timeout[];
}

// Constant per caller on a real API server (API Priority and Fairness); the recorded values.
const PF_HEADERS = {
  'X-Kubernetes-Pf-Flowschema-Uid': 'fa72faaf-05bb-4f04-8b85-14cc7cfaa1ee',
  'X-Kubernetes-Pf-Prioritylevel-Uid': 'e1b77f30-a647-442b-9d1d-d9e8f67fc6e0',
};

/** Bodies up to Go's 2 KiB response buffer went with Content-Length, larger ones chunked (corpus README, "Framing"). */
const CHUNKED_ABOVE = 2048;

export interface FakeK8sApiOptions {
  cert: Buffer;
  key: Buffer;
  /** Bearer token the fake requires (401 otherwise). */
  token: string;
  /** Seconds between BOOKMARK events on a watch that asked for them (the real one: about 60). */
  bookmarkSeconds?: number;
}

export class FakeK8sApi {
  readonly requests: RequestLogEntry[] = [];
  /** Most non-watch requests being served at once since the last `resetCounts`, in all and by resource. */
  maxInFlight = 0;
  private inFlight = 0;
  private readonly inFlightBy = new Map<string, { now: number; max: number }>();
  private rv = 1000;
  /** Watches from a resourceVersion below this get 410 (what the watch cache no longer holds). */
  private oldestRv = 0;
  private readonly objects = new Map<string, Map<string, K8sObject>>();
  private readonly history: ChangeEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private latencyMs = 0;
  private down = false;
  private stalled = false;
  /** API groups answered 404 as an apiserver that does not serve them (e.g. events.k8s.io on an old cluster). */
  private readonly unservedGroups = new Set<string>();
  private readonly server: Server;
  private readonly token: string;
  private readonly bookmarkMs: number;
  url = '';

  private constructor(opts: FakeK8sApiOptions) {
    this.token = opts.token;
    this.bookmarkMs = (opts.bookmarkSeconds ?? 60) * 1000;
    this.server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => void this.handle(req, res));
    // Raw TCP sockets, so that an outage or close also ends connections still in their TLS handshake.
    this.server.on('connection', (s: Socket) => {
      if (this.down) {
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: FakeK8sApiOptions, port = 0): Promise<FakeK8sApi> {
    const api = new FakeK8sApi(opts);
    await api.listen(port);
    return api;
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) this.endWatch(w);
    for (const s of this.sockets) s.destroy();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ---- controls -------------------------------------------------------------------------------------------------

  /** Every answer waits this long first (watches too, before their headers). */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** An outage: every connection (open ones and new ones) is reset until `setDown(false)`. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) for (const s of this.sockets) s.destroy();
  }

  /** Watches from now on get their 200 and headers, then nothing at all, never ending: a half-open connection. */
  stallWatches(stalled: boolean): void {
    this.stalled = stalled;
  }

  /** Paths of `group` are answered 404 from now on, as by an apiserver that does not serve the group. */
  unserve(group: string): void {
    this.unservedGroups.add(group);
  }

  /** What etcd compaction plus a watch cache that moved on does: watches from any resourceVersion before now get 410. */
  compact(): void {
    this.oldestRv = this.rv + 1;
  }

  /** Ends every open watch cleanly (the zero-length chunk), as the server does at `timeoutSeconds`. */
  endWatches(): void {
    for (const w of this.watchers) this.endWatch(w);
  }

  /** Watches of `resource` being served now. */
  openWatches(resource: string): number {
    return [...this.watchers].filter((w) => w.resource === resource).length;
  }

  resetCounts(): void {
    this.requests.length = 0;
    this.maxInFlight = 0;
    this.inFlightBy.clear();
  }

  /** Most non-watch requests for `resource` (`pods`, `replicasets`) served at once since the last `resetCounts`. */
  maxInFlightOf(resource: string): number {
    return this.inFlightBy.get(resource)?.max ?? 0;
  }

  /** Requests made so far, optionally only those whose path starts with `prefix`. */
  requestsTo(prefix: string, opts: { watch?: boolean } = {}): RequestLogEntry[] {
    return this.requests.filter((r) => r.path.startsWith(prefix) && (opts.watch === undefined || r.watch === opts.watch));
  }

  // ---- objects --------------------------------------------------------------------------------------------------

  /** Creates or replaces an object (a new resourceVersion), telling the watches. */
  put(resource: string, obj: K8sObject): K8sObject {
    const type = RESOURCES[resource];
    if (type === undefined) throw new Error(`fake API: unknown resource ${resource}`);
    const byKey = this.objectsOf(resource);
    const key = keyOf(obj);
    const before = byKey.get(key);
    const stored: K8sObject = structuredClone(obj);
    stored.kind = type.kind;
    stored.apiVersion = type.group === '' ? type.version : `${type.group}/${type.version}`;
    stored.metadata.uid ??= randomUUID();
    stored.metadata.resourceVersion = String(++this.rv);
    byKey.set(key, stored);
    this.emit({ rv: this.rv, resource, type: before === undefined ? 'ADDED' : 'MODIFIED', object: stored, before });
    return stored;
  }

  /** Deletes an object: its watches get DELETED with its last state, GETs get 404 from now on. */
  delete(resource: string, namespace: string | undefined, name: string): void {
    const byKey = this.objectsOf(resource);
    const key = namespace === undefined ? name : `${namespace}/${name}`;
    const before = byKey.get(key);
    if (before === undefined) throw new Error(`fake API: no ${resource} ${key} to delete`);
    byKey.delete(key);
    const last = structuredClone(before);
    last.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, resource, type: 'DELETED', object: last, before });
  }

  get(resource: string, namespace: string | undefined, name: string): K8sObject | undefined {
    return this.objectsOf(resource).get(namespace === undefined ? name : `${namespace}/${name}`);
  }

  private objectsOf(resource: string): Map<string, K8sObject> {
    let m = this.objects.get(resource);
    if (m === undefined) this.objects.set(resource, (m = new Map()));
    return m;
  }

  private emit(ev: ChangeEvent): void {
    this.history.push(ev);
    for (const w of this.watchers) {
      const out = eventFor(w, ev);
      if (out !== undefined) writeEvent(w.res, out);
    }
  }

  // ---- HTTP -----------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, watch });
    const target = parsePath(url.pathname);
    let counter = { now: 0, max: 0 };
    if (!watch) {
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      const resource = target?.resource ?? '';
      counter = this.inFlightBy.get(resource) ?? counter;
      this.inFlightBy.set(resource, counter);
      counter.max = Math.max(counter.max, ++counter.now);
    }
    try {
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (this.down || res.destroyed) {
        res.destroy();
        return;
      }
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      const method = req.method ?? 'GET';
      if (target === undefined || this.unservedGroups.has(RESOURCES[target.resource]!.group) || !['GET', 'POST', 'PUT'].includes(method)) {
        send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
        return;
      }
      if (method !== 'GET') this.write(res, method, target, await readJson(req));
      else if (target.name !== undefined) this.getOne(res, target.resource, target.namespace, target.name);
      else if (watch) this.watch(req, res, target.resource, target.namespace, url.searchParams);
      else this.list(res, target.resource, target.namespace, url.searchParams);
    } finally {
      if (!watch) {
        this.inFlight--;
        counter.now--;
      }
    }
  }

  /**
   * POST (create: 201, or 409 AlreadyExists) and PUT (update: 200; 409 Conflict when the body's resourceVersion is
   * not the stored one; 404 when there is none), as recorded for Leases.
   */
  private write(res: ServerResponse, method: string, target: { resource: string; namespace?: string; name?: string }, body: K8sObject | undefined): void {
    const name = target.name ?? body?.metadata?.name;
    if (body === undefined || name === undefined || (method === 'PUT') !== (target.name !== undefined)) {
      send(res, 400, status(400, 'BadRequest', 'fake API: expected a JSON object, POSTed to its collection or PUT to its name'));
      return;
    }
    const obj: K8sObject = { ...body, metadata: { ...body.metadata, name, ...(target.namespace === undefined ? {} : { namespace: target.namespace }) } };
    const stored = this.get(target.resource, target.namespace, name);
    const type = RESOURCES[target.resource]!;
    const qualified = `${target.resource.split('.')[0]}${type.group === '' ? '' : `.${type.group}`}`;
    const details = type.group === '' ? { name, kind: target.resource } : { name, group: type.group, kind: target.resource.split('.')[0] };
    if (method === 'POST' && stored !== undefined) {
      send(res, 409, { ...status(409, 'AlreadyExists', `${qualified} "${name}" already exists`), details });
      return;
    }
    if (method === 'PUT' && stored === undefined) {
      send(res, 404, { ...status(404, 'NotFound', `${qualified} "${name}" not found`), details });
      return;
    }
    if (method === 'PUT' && obj.metadata.resourceVersion !== stored!.metadata.resourceVersion) {
      send(res, 409, {
        ...status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`),
        details,
      });
      return;
    }
    if (method === 'POST') {
      delete obj.metadata.resourceVersion;
      obj.metadata.uid = randomUUID();
      obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    } else {
      obj.metadata.uid = stored!.metadata.uid;
    }
    send(res, method === 'POST' ? 201 : 200, this.put(target.resource, obj));
  }

  private getOne(res: ServerResponse, resource: string, namespace: string | undefined, name: string): void {
    const obj = this.get(resource, namespace, name);
    if (obj !== undefined) {
      send(res, 200, obj);
      return;
    }
    const group = RESOURCES[resource]!.group;
    const qualified = group === '' ? resource : `${resource}.${group}`;
    send(res, 404, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `${qualified} "${name}" not found`, reason: 'NotFound',
      details: group === '' ? { name, kind: resource } : { name, group, kind: resource }, code: 404,
    });
  }

  private list(res: ServerResponse, resource: string, namespace: string | undefined, q: URLSearchParams): void {
    const matches = selector(q.get('fieldSelector'));
    if (matches === undefined) {
      send(res, 400, status(400, 'BadRequest', `fake API: unsupported fieldSelector ${q.get('fieldSelector')}`));
      return;
    }
    const rv = q.get('resourceVersion');
    if (q.get('resourceVersionMatch') === 'Exact' && rv !== null && Number(rv) < this.oldestRv) {
      send(res, 410, status(410, 'Expired', 'The resourceVersion for the provided list is too old.'));
      return;
    }
    const type = RESOURCES[resource]!;
    const items = [...this.objectsOf(resource).values()]
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matches(o))
      // List items carry no kind/apiVersion of their own (as recorded).
      .map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    send(res, 200, {
      kind: `${type.kind}List`, apiVersion: type.group === '' ? type.version : `${type.group}/${type.version}`,
      metadata: { resourceVersion: String(this.rv) }, items,
    });
  }

  private watch(req: IncomingMessage, res: ServerResponse, resource: string, namespace: string | undefined, q: URLSearchParams): void {
    const matches = selector(q.get('fieldSelector'));
    if (matches === undefined) {
      send(res, 400, status(400, 'BadRequest', `fake API: unsupported fieldSelector ${q.get('fieldSelector')}`));
      return;
    }
    res.writeHead(200, headers({ 'Content-Type': 'application/json' }));
    res.flushHeaders();
    if (this.stalled) return;
    const rvParam = q.get('resourceVersion');
    const from = rvParam === null || rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && from < this.oldestRv) {
      // As recorded: HTTP 200, one ERROR event, then the end of the stream.
      const message = RESOURCES[resource]!.uncached ? 'The resourceVersion for the provided watch is too old.' : `too old resource version: ${from} (${this.oldestRv})`;
      writeEvent(res, { type: 'ERROR', object: status(410, 'Expired', message) });
      res.end();
      return;
    }
    const w: Watcher = { resource, namespace, matches, res, bookmarks: q.get('allowWatchBookmarks') === 'true' && !RESOURCES[resource]!.uncached, timers: [] };
    if (from === undefined) {
      for (const o of this.objectsOf(resource).values()) {
        if ((namespace === undefined || o.metadata.namespace === namespace) && matches(o)) writeEvent(res, { type: 'ADDED', object: o });
      }
    } else {
      for (const ev of this.history) {
        if (ev.rv <= from) continue;
        const out = eventFor(w, ev);
        if (out !== undefined) writeEvent(res, out);
      }
    }
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? '1800');
    w.timers.push(setTimeout(() => this.endWatch(w), timeout * 1000));
    if (w.bookmarks) {
      const kind = RESOURCES[resource]!;
      w.timers.push(setInterval(() => writeEvent(res, {
        type: 'BOOKMARK',
        object: { kind: kind.kind, apiVersion: kind.group === '' ? kind.version : `${kind.group}/${kind.version}`, metadata: { resourceVersion: String(this.rv), creationTimestamp: null }, spec: { containers: null }, status: {} },
      }), this.bookmarkMs));
    }
    req.on('close', () => this.endWatch(w));
  }

  private endWatch(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.destroyed) w.res.end();
  }

  // ---- seeds from the corpus ------------------------------------------------------------------------------------

  /** Loads a recorded object (a GET's body) or every item of a recorded list, keeping its content, not its resourceVersion. */
  seed(resource: string, corpusFile: string): K8sObject[] {
    const body = JSON.parse(readFileSync(path.join(K8S_CORPUS, corpusFile), 'utf8')) as K8sObject & { items?: K8sObject[] };
    const objs = body.items ?? [body];
    return objs.map((o) => this.put(resource, o));
  }
}

/** Recorded objects of a real cluster: the namespaces, node-1's pods and their owners (Deployment → ReplicaSet, CronJob → Job, DaemonSet, StatefulSet). */
export function seedCorpus(api: FakeK8sApi): void {
  api.seed('namespaces', 'list-namespaces.json');
  api.seed('deployments', 'get-deployment.json');
  api.seed('replicasets', 'get-replicaset.json');
  api.seed('pods', 'get-pod.json');
  api.seed('daemonsets', 'owners/get-daemonset.json');
  api.seed('statefulsets', 'owners/get-statefulset.json');
  api.seed('pods', 'owners/list-pods-node-1.json');
  api.seed('cronjobs', 'owners/get-cronjob.json');
}

/** A recorded object from the corpus, parsed (for tests that create it later, e.g. a Job and its pod). */
export function corpusObject(file: string): K8sObject {
  return JSON.parse(readFileSync(path.join(K8S_CORPUS, file), 'utf8')) as K8sObject;
}

/** The RBAC permission a logged request needed: its API group, resource and verb (get, list, watch). */
export function permissionOf(r: RequestLogEntry): { group: string; resource: string; verb: string } | undefined {
  const target = parsePath(r.path);
  if (target === undefined) return undefined;
  const verb = r.watch ? 'watch' : target.name === undefined ? 'list' : 'get';
  return { group: RESOURCES[target.resource]!.group, resource: target.resource, verb };
}

function keyOf(o: K8sObject): string {
  return o.metadata.namespace === undefined ? o.metadata.name : `${o.metadata.namespace}/${o.metadata.name}`;
}

function parsePath(p: string): { resource: string; namespace?: string; name?: string } | undefined {
  const core = p.match(/^\/api\/v1\/(.*)$/);
  const grouped = p.match(/^\/apis\/([^/]+)\/([^/]+)\/(.*)$/);
  const rest = core?.[1] ?? grouped?.[3];
  if (rest === undefined) return undefined;
  const segs = rest.split('/').filter((s) => s !== '');
  let namespace: string | undefined;
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    namespace = segs[1];
    segs.splice(0, 2);
  }
  const [plural, name, ...more] = segs;
  // A grouped resource whose plural the core group also has is keyed `<plural>.<group>` (events.k8s.io events).
  const resource = plural !== undefined && grouped !== null && RESOURCES[`${plural}.${grouped[1]}`] !== undefined ? `${plural}.${grouped[1]}` : plural;
  const type = resource === undefined ? undefined : RESOURCES[resource];
  if (type === undefined || more.length > 0) return undefined;
  if (type.group !== (grouped?.[1] ?? '') || (grouped !== null && type.version !== grouped[2])) return undefined;
  return { resource: resource!, ...(namespace === undefined ? {} : { namespace }), ...(name === undefined ? {} : { name }) };
}

/** The field selectors the fake understands: none, `spec.nodeName=X`, `metadata.name=X`, `metadata.namespace=X`. */
function selector(s: string | null): ((o: K8sObject) => boolean) | undefined {
  if (s === null || s === '') return () => true;
  const m = s.match(/^(spec\.nodeName|metadata\.name|metadata\.namespace)=(.*)$/);
  if (m === null) return undefined;
  const [, field, value] = m;
  if (field === 'spec.nodeName') return (o) => (o.spec?.nodeName ?? '') === value;
  if (field === 'metadata.name') return (o) => o.metadata.name === value;
  return (o) => o.metadata.namespace === value;
}

/** What a watcher sees of a change: an object moving into its selector is ADDED, one moving out is DELETED. */
function eventFor(w: Watcher, ev: ChangeEvent): { type: string; object: K8sObject } | undefined {
  if (ev.resource !== w.resource) return undefined;
  if (w.namespace !== undefined && ev.object.metadata.namespace !== w.namespace) return undefined;
  const now = ev.type !== 'DELETED' && w.matches(ev.object);
  const was = ev.before !== undefined && w.matches(ev.before);
  if (ev.type === 'DELETED') return was ? { type: 'DELETED', object: ev.object } : undefined;
  if (now && !was) return { type: 'ADDED', object: ev.object };
  if (now && was) return { type: 'MODIFIED', object: ev.object };
  if (!now && was) return { type: 'DELETED', object: ev.object };
  return undefined;
}

/** A request's JSON body, or undefined when it is not a JSON object. */
async function readJson(req: IncomingMessage): Promise<K8sObject | undefined> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  try {
    const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as K8sObject;
    return body !== null && typeof body === 'object' && typeof body.metadata === 'object' ? body : undefined;
  } catch {
    return undefined;
  }
}

function writeEvent(res: ServerResponse, ev: unknown): void {
  // One write, one chunk: each watch event is exactly one chunk on the wire, as recorded.
  if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(ev)}\n`);
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function headers(extra: Record<string, string>): Record<string, string> {
  return { 'Audit-Id': randomUUID(), 'Cache-Control': 'no-cache, private', ...extra, ...PF_HEADERS };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  const h = headers({ 'Content-Type': 'application/json' });
  if (Buffer.byteLength(text) <= CHUNKED_ABOVE) h['Content-Length'] = String(Buffer.byteLength(text));
  res.writeHead(code, h);
  res.end(text);
}

/** A kubeconfig file for the fake: its URL, the CA that signed its certificate, the bearer token. */
export function kubeconfigFor(api: FakeK8sApi, caFile: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ${api.url}
    certificate-authority: ${caFile}
users:
- name: kaudit
  user:
    token: ${token}
contexts:
- name: fake
  context: { cluster: fake, user: kaudit }
current-context: fake
`;
}
