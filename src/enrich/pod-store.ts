// The pod and namespace metadata the main thread owns: this node's pods and all namespaces by list-and-watch, deleted
// pods kept as tombstones, pods not (yet) watched fetched by rate-limited GETs with a negative cache, and every
// lookup answered within `maxWaitMs`, enriched or not, whatever state the API server is in.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { KubernetesMetrics } from '../observe/metrics.ts';
import { ApiGets, describeApiError, requestTimeout, type GetResult } from './api-gets.ts';
import type { KubeClient } from './kube-client.ts';
import { DEFAULT_LIST_WATCH, ResourceListWatch, type ListWatchEvents, type ListWatchOptions } from './list-watch.ts';
import { OwnerResolver, type OwnerChain } from './owners.ts';
import { controllerOf, podContext, type IncludeFilters, type PodContext } from './pod-context.ts';
import { PodIndex, podKey, type PodRef, type StoreUpdate } from './pod-index.ts';

export interface PodStoreOptions {
  /** This node: its pods are watched. Unset: nothing is watched, every pod is fetched on demand (an audit-only node). */
  nodeName?: string;
  tombstoneTtlMs: number;
  tombstoneMax: number;
  /** The longest a lookup takes: then it answers "not enriched". */
  maxWaitMs: number;
  /** A pod of this node not known yet: how long to wait for the watch to bring it before a GET. */
  watchWaitMs: number;
  /** How long a 404 is believed. */
  negativeTtlMs: number;
  /** How long a pod fetched by GET (not watched), and a ReplicaSet's or Job's owner, is believed. */
  cacheTtlMs: number;
  lookupsPerSecond: number;
  lookupConcurrency: number;
  include: IncludeFilters;
  listWatch?: ListWatchOptions;
}

/** How a lookup ended, as the metric counts it: enriched from the cache (`hit`), a tombstone, or a GET; or not. */
export type LookupSource = 'hit' | 'tombstone' | 'get';
export type NotEnrichedReason = 'miss' | 'error' | 'timeout';

export type LookupResult =
  | { enriched: true; context: PodContext; source: LookupSource }
  | { enriched: false; reason: NotEnrichedReason };

export interface LookupOptions {
  /** The pod runs on this node (a container log's pod): wait briefly for the watch before a GET. */
  onThisNode: boolean;
}

const WATCH_WARNING_INTERVAL_MS = 5 * 60_000;

export class PodStore {
  readonly index: PodIndex;
  private readonly gets: ApiGets;
  private readonly owners: OwnerResolver;
  private readonly negative: LRUCache<string, true>;
  /** Owner chains resolved per pod uid; a chain still being resolved is a promise lookups can wait for. */
  private readonly chains: LRUCache<string, OwnerChain>;
  private readonly resolving = new Map<string, Promise<void>>();
  /** Lookups waiting for the watch to bring a pod, by `namespace/name`. */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Lookups waiting for the pod watch's first list (at node start it brings every pod at once: no GET each). */
  private readonly firstList = new Set<() => void>();
  /** The same for the namespace watch's first list (an agent's first records come before it, at start). */
  private readonly firstNamespaceList = new Set<() => void>();
  private namespaceWatch: ResourceListWatch<V1Namespace> | undefined;
  private readonly listeners = new Set<(u: StoreUpdate) => void>();
  private readonly watches: Array<ResourceListWatch<V1Pod> | ResourceListWatch<V1Namespace>> = [];
  private podWatch: ResourceListWatch<V1Pod> | undefined;
  private readonly client: KubeClient;
  private readonly opts: PodStoreOptions;
  private readonly metrics: KubernetesMetrics;
  private readonly log: Logger;

  constructor(client: KubeClient, opts: PodStoreOptions, metrics: KubernetesMetrics, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.metrics = metrics;
    this.log = log;
    this.index = new PodIndex({ tombstoneTtlMs: opts.tombstoneTtlMs, tombstoneMax: opts.tombstoneMax, fetchedTtlMs: opts.cacheTtlMs });
    this.gets = new ApiGets({ perSecond: opts.lookupsPerSecond, concurrency: opts.lookupConcurrency, timeoutMs: opts.maxWaitMs * 5 + 5000 });
    this.owners = new OwnerResolver(client, this.gets, opts.cacheTtlMs, (resource, r) => this.apiFailed(resource, r));
    this.negative = new LRUCache({ max: 10_000, ttl: Math.max(opts.negativeTtlMs, 1) });
    this.chains = new LRUCache({ max: opts.tombstoneMax * 4, ttl: opts.tombstoneTtlMs * 2 });
  }

  /** Starts the watches: this node's pods (when a node name is set) and every namespace. */
  start(): void {
    const lw = this.opts.listWatch ?? DEFAULT_LIST_WATCH;
    const { core, watch } = this.client;
    const bounded = requestTimeout(lw.listTimeoutMs);
    const { nodeName } = this.opts;
    if (nodeName !== undefined) {
      const fieldSelector = `spec.nodeName=${nodeName}`;
      this.podWatch = new ResourceListWatch<V1Pod>(watch, '/api/v1/pods', () => core.listPodForAllNamespaces({ fieldSelector }, bounded), fieldSelector, {
        added: (p) => this.podChanged(p),
        updated: (p) => this.podChanged(p),
        deleted: (p) => this.podDeleted(p),
      }, this.watchEvents('pods'), lw);
      this.watches.push(this.podWatch);
    }
    this.namespaceWatch = new ResourceListWatch<V1Namespace>(watch, '/api/v1/namespaces', () => core.listNamespace({}, bounded), undefined, {
      added: (n) => this.publish({ type: 'namespace', name: n.metadata?.name ?? '', labels: { ...n.metadata?.labels } }),
      updated: (n) => this.publish({ type: 'namespace', name: n.metadata?.name ?? '', labels: { ...n.metadata?.labels } }),
      deleted: (n) => this.publish({ type: 'namespace_deleted', name: n.metadata?.name ?? '' }),
    }, this.watchEvents('namespaces'), lw);
    this.watches.push(this.namespaceWatch);
    for (const w of this.watches) w.start();
  }

  async stop(): Promise<void> {
    this.gets.stop();
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  /** Everything known now, then every change as it happens: what a worker thread's mirror applies. Returns the unsubscribe. */
  subscribe(listener: (u: StoreUpdate) => void): { snapshot: StoreUpdate[]; unsubscribe: () => void } {
    this.listeners.add(listener);
    return { snapshot: this.index.snapshot(), unsubscribe: () => this.listeners.delete(listener) };
  }

  /** The labels of a namespace (from the namespace watch), deleted ones for the tombstone time. */
  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.index.namespaceLabels(name);
  }

  /** The labels of a namespace, once the namespace watch's first list is in (waiting for it within `maxWaitMs` at start). */
  async namespaceLabelsListed(name: string): Promise<Record<string, string> | undefined> {
    const w = this.namespaceWatch;
    if (w !== undefined && !w.synced && w.failing === 0) await this.waitFor(this.firstNamespaceList, this.opts.maxWaitMs);
    return this.index.namespaceLabels(name);
  }

  /** The pod's context, within `maxWaitMs`: from the cache or a tombstone, after a short wait for the watch, or by a GET. */
  async lookup(ref: PodRef, opts: LookupOptions): Promise<LookupResult> {
    const deadline = Date.now() + this.opts.maxWaitMs;
    const result = await this.find(ref, opts, deadline);
    this.metrics.lookup(result.enriched ? result.source : result.reason);
    return result;
  }

  /**
   * A pod of this node known only by its uid (a file under kubelet's /var/lib/kubelet/pods/<uid>/), within `maxWaitMs`:
   * from the watch (after its first list, and `watchWaitMs` for a pod it has not brought yet) or a tombstone. There is
   * no GET by uid, so without a working pod watch it is not enriched.
   */
  async lookupUid(uid: string): Promise<LookupResult> {
    const deadline = Date.now() + this.opts.maxWaitMs;
    const ref = { namespace: '', pod: '', pod_uid: uid };
    let known = await this.known(ref, deadline);
    const w = this.podWatch;
    if (known === undefined && w !== undefined && w.failing === 0) {
      if (!w.synced) await this.waitFor(this.firstList, deadline - Date.now());
      else await this.waitForWatch(uidKey(uid), Math.min(this.opts.watchWaitMs, deadline - Date.now()));
      known = await this.known(ref, deadline);
    }
    const result: LookupResult = known ?? { enriched: false, reason: 'miss' };
    this.metrics.lookup(result.enriched ? result.source : result.reason);
    return result;
  }

  private async find(ref: PodRef, opts: LookupOptions, deadline: number): Promise<LookupResult> {
    const known = await this.known(ref, deadline);
    if (known !== undefined) return known;
    const key = podKey(ref.namespace, ref.pod);
    if (this.negative.has(key)) return { enriched: false, reason: 'miss' };
    // The watch works (or its first list is on its way, as at node start): it brings this node's pods without a GET each.
    if (opts.onThisNode && this.podWatch !== undefined && this.podWatch.failing === 0) {
      if (!this.podWatch.synced) {
        await this.waitFor(this.firstList, deadline - Date.now());
        const listed = await this.known(ref, deadline);
        if (listed !== undefined) return listed;
      }
      await this.waitForWatch(key, Math.min(this.opts.watchWaitMs, deadline - Date.now()));
      const watched = await this.known(ref, deadline);
      if (watched !== undefined) return watched;
    }
    const fetched = await beforeDeadline(this.fetch(ref, deadline), deadline);
    return fetched ?? { enriched: false, reason: 'timeout' };
  }

  /** What the index has, once a chain being resolved for it is done (or the deadline passed). */
  private async known(ref: PodRef, deadline: number): Promise<LookupResult | undefined> {
    let found = this.index.find(ref);
    if (found === undefined) return undefined;
    const pending = this.resolving.get(found.context.pod_uid);
    if (pending !== undefined) {
      await beforeDeadline(pending, deadline);
      found = this.index.find(ref) ?? found;
    }
    return { enriched: true, context: found.context, source: found.source };
  }

  private async fetch(ref: PodRef, deadline: number): Promise<LookupResult> {
    const key = podKey(ref.namespace, ref.pod);
    const result = await this.gets.get(`pods/${key}`, (options) => this.client.core.readNamespacedPod({ namespace: ref.namespace, name: ref.pod }, options));
    if (result.kind === 'error') {
      this.apiFailed('pods', result);
      return { enriched: false, reason: 'error' };
    }
    if (result.kind === 'not_found') {
      // The watch may have had it meanwhile (a tombstone now), or it is gone for good.
      const late = this.index.find(ref);
      if (late !== undefined) return { enriched: true, context: late.context, source: late.source };
      this.negative.set(key, true);
      return { enriched: false, reason: 'miss' };
    }
    const pod = result.obj;
    const uid = pod.metadata?.uid ?? '';
    if (!this.index.isWatched(uid)) {
      const chain = await beforeDeadline(this.owners.resolve(ref.namespace, pod.metadata?.ownerReferences), deadline);
      this.publish({ type: 'pod_fetched', context: podContext(pod, chain?.chain ?? startOfChain(pod), this.opts.include) });
    }
    const found = await this.known(ref, deadline);
    // A uid that differs: the record's pod is gone and another of the same name took its place.
    if (found === undefined) return { enriched: false, reason: 'miss' };
    return found.enriched && found.source === 'hit' ? { ...found, source: 'get' } : found;
  }

  private waitForWatch(key: string, ms: number): Promise<void> {
    let set = this.waiters.get(key);
    if (set === undefined) this.waiters.set(key, (set = new Set()));
    return this.waitFor(set, ms).finally(() => {
      if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
    });
  }

  /** Resolves when one of `set`'s wake-ups is called (the caller calls them all) or after `ms`. */
  private waitFor(set: Set<() => void>, ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
    });
  }

  private podChanged(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    const chain = this.chains.get(uid);
    this.publish({ type: 'pod', context: podContext(pod, chain?.chain ?? startOfChain(pod), this.opts.include) });
    if (chain === undefined || !chain.complete) this.resolveOwners(pod);
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    this.negative.delete(key);
    for (const wake of [...(this.waiters.get(key) ?? []), ...(this.waiters.get(uidKey(uid)) ?? [])]) wake();
  }

  private podDeleted(pod: V1Pod): void {
    const chain = this.chains.get(pod.metadata?.uid ?? '');
    this.publish({ type: 'pod_deleted', context: podContext(pod, chain?.chain ?? startOfChain(pod), this.opts.include) });
  }

  /** Resolves the pod's owner chain once (per uid at a time), then republishes the pod in whatever state it is by then. */
  private resolveOwners(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    if (this.resolving.has(uid) || controllerOf(pod.metadata?.ownerReferences) === undefined) return;
    const done = this.owners.resolve(pod.metadata?.namespace ?? '', pod.metadata?.ownerReferences).then((chain) => {
      this.chains.set(uid, chain);
      const now = this.index.find({ namespace: pod.metadata?.namespace ?? '', pod: pod.metadata?.name ?? '', pod_uid: uid });
      if (now === undefined) return;
      const context = { ...now.context, owner: chain.chain.at(-1) ?? now.context.owner, owner_chain: chain.chain };
      this.publish(now.source === 'tombstone' ? { type: 'pod_deleted', context } : { type: 'pod', context });
    }).catch((err: unknown) => {
      this.log.debug({ pod: pod.metadata?.name, namespace: pod.metadata?.namespace, error: String(err) }, 'owner chain not resolved');
    }).finally(() => this.resolving.delete(uid));
    this.resolving.set(uid, done);
  }

  private publish(u: StoreUpdate): void {
    this.index.apply(u);
    for (const l of this.listeners) l(u);
  }

  private apiFailed(resource: string, r: GetResult<unknown> & { kind: 'error' }): void {
    this.metrics.apiError(resource, r.reason);
    this.log.debug({ resource, reason: r.reason, error: r.detail }, 'Kubernetes API lookup failed; records go on unenriched');
  }

  /** A warning when a watch fails (then every 5 minutes while it does), an info line when it works again. */
  private watchEvents(resource: 'pods' | 'namespaces'): ListWatchEvents {
    let failingSince: number | undefined;
    let lastWarning = -Infinity;
    const wakeListWaiters = () => {
      for (const wake of [...(resource === 'pods' ? this.firstList : this.firstNamespaceList)]) wake();
    };
    return {
      synced: () => {
        // After the ListWatch has put the listed pods in place, which it does once this list call has returned.
        setImmediate(wakeListWaiters);
        if (failingSince !== undefined) {
          this.log.info({ resource, server: this.client.server, down_s: Math.round((Date.now() - failingSince) / 1000) }, 'Kubernetes API watch works again; records are enriched');
        }
        failingSince = undefined;
      },
      restarting: (reason, err, delayMs) => {
        this.metrics.watchRestart(resource, reason);
        if (reason === 'expired') return;
        wakeListWaiters();
        const { reason: label, detail } = describeApiError(err);
        this.metrics.apiError(resource, label);
        failingSince ??= Date.now();
        if (Date.now() - lastWarning < WATCH_WARNING_INTERVAL_MS) return;
        lastWarning = Date.now();
        this.log.warn({ resource, server: this.client.server, error: detail, retry_ms: delayMs }, 'cannot list or watch the Kubernetes API; records go on, not enriched with what is missing, and the watch is retried');
      },
    };
  }
}

/** Waiters for a pod known by uid only, beside those by `namespace/name` (a uid holds no `/`). */
const uidKey = (uid: string): string => `uid:${uid}`;

/** The pod's own controller, before the rest of the chain is known. */
function startOfChain(pod: V1Pod) {
  const first = controllerOf(pod.metadata?.ownerReferences);
  return first === undefined ? [] : [first];
}

/** `p`'s value, or undefined when `deadline` (ms since the epoch) comes first; `p` goes on in the background. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
  const ms = deadline - Date.now();
  if (ms <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
