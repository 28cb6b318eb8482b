// The pod and namespace contexts known now, changed only by plain update messages: the main thread's store applies
// them as its watches and GETs learn things, and a worker thread's mirror applies the same messages (a snapshot,
// then the stream), so both answer the same synchronous lookups.
import { LRUCache } from 'lru-cache';
import type { Labels, PodContext } from './pod-context.ts';

/** One change, serialisable as it is (structured clone or JSON): what the store sends a worker's mirror. */
export type StoreUpdate =
  /** A pod of this node, from the watch (added or changed). */
  | { type: 'pod'; context: PodContext }
  /** A pod fetched by a GET (not watched): kept for `fetchedTtlMs`. */
  | { type: 'pod_fetched'; context: PodContext }
  /** A pod deleted: kept as a tombstone for `tombstoneTtlMs`, with its last context. */
  | { type: 'pod_deleted'; context: PodContext }
  | { type: 'namespace'; name: string; labels: Labels }
  | { type: 'namespace_deleted'; name: string };

/** A pod as records name it: from a container log's path (namespace, pod, uid) or an audit event's objectRef (no uid). */
export interface PodRef {
  namespace: string;
  pod: string;
  /** When given, only this pod matches: a StatefulSet pod deleted and created again has a new uid under the same name. */
  pod_uid?: string;
}

export interface Found {
  context: PodContext;
  /** `tombstone`: the pod is deleted and this is its last context. */
  source: 'hit' | 'tombstone';
}

export interface PodIndexOptions {
  tombstoneTtlMs: number;
  /** Most deleted pods kept; the oldest go first (a few hundred bytes each). */
  tombstoneMax: number;
  fetchedTtlMs: number;
}

export const podKey = (namespace: string, pod: string): string => `${namespace}/${pod}`;

export class PodIndex {
  private readonly live = new Map<string, PodContext>();
  private readonly liveByName = new Map<string, string>();
  private readonly tombstones: LRUCache<string, PodContext>;
  private readonly tombstonesByName: LRUCache<string, string>;
  private readonly fetched: LRUCache<string, PodContext>;
  private readonly namespaces = new Map<string, Labels>();
  private readonly deletedNamespaces: LRUCache<string, Labels>;

  constructor(opts: PodIndexOptions) {
    const tombstone = { max: opts.tombstoneMax, ttl: opts.tombstoneTtlMs };
    this.tombstones = new LRUCache(tombstone);
    this.tombstonesByName = new LRUCache(tombstone);
    this.deletedNamespaces = new LRUCache(tombstone);
    this.fetched = new LRUCache({ max: opts.tombstoneMax, ttl: opts.fetchedTtlMs });
  }

  apply(u: StoreUpdate): void {
    switch (u.type) {
      case 'pod': {
        const c = u.context;
        const key = podKey(c.namespace, c.pod);
        const previous = this.liveByName.get(key);
        if (previous !== undefined && previous !== c.pod_uid) this.live.delete(previous);
        this.live.set(c.pod_uid, c);
        this.liveByName.set(key, c.pod_uid);
        return;
      }
      case 'pod_fetched':
        this.fetched.set(podKey(u.context.namespace, u.context.pod), u.context);
        return;
      case 'pod_deleted': {
        const c = u.context;
        const key = podKey(c.namespace, c.pod);
        this.live.delete(c.pod_uid);
        if (this.liveByName.get(key) === c.pod_uid) this.liveByName.delete(key);
        this.tombstones.set(c.pod_uid, c);
        this.tombstonesByName.set(key, c.pod_uid);
        return;
      }
      case 'namespace':
        this.namespaces.set(u.name, u.labels);
        this.deletedNamespaces.delete(u.name);
        return;
      case 'namespace_deleted': {
        const labels = this.namespaces.get(u.name);
        this.namespaces.delete(u.name);
        if (labels !== undefined) this.deletedNamespaces.set(u.name, labels);
        return;
      }
    }
  }

  /** The pod's context if known: live (watched or fetched) first, then its tombstone. */
  find(ref: PodRef): Found | undefined {
    const key = podKey(ref.namespace, ref.pod);
    const uid = ref.pod_uid ?? this.liveByName.get(key) ?? this.fetched.get(key)?.pod_uid ?? this.tombstonesByName.get(key);
    if (uid === undefined) return undefined;
    const live = this.live.get(uid) ?? matching(this.fetched.get(key), uid);
    if (live !== undefined) return { context: live, source: 'hit' };
    const gone = this.tombstones.get(uid);
    return gone === undefined ? undefined : { context: gone, source: 'tombstone' };
  }

  /** Whether a watched pod of this node is live (not fetched, not a tombstone). */
  isWatched(uid: string): boolean {
    return this.live.has(uid);
  }

  namespaceLabels(name: string): Labels | undefined {
    return this.namespaces.get(name) ?? this.deletedNamespaces.get(name);
  }

  /** Everything known now, as updates a fresh mirror applies in order (tombstones keep their remaining lifetime only approximately: a full TTL from now). */
  snapshot(): StoreUpdate[] {
    const out: StoreUpdate[] = [];
    for (const [name, labels] of this.namespaces) out.push({ type: 'namespace', name, labels });
    for (const context of this.live.values()) out.push({ type: 'pod', context });
    for (const context of this.fetched.values()) out.push({ type: 'pod_fetched', context });
    for (const context of this.tombstones.values()) out.push({ type: 'pod_deleted', context });
    return out;
  }

  get size(): { live: number; tombstones: number; fetched: number } {
    return { live: this.live.size, tombstones: this.tombstones.size, fetched: this.fetched.size };
  }
}

function matching(c: PodContext | undefined, uid: string): PodContext | undefined {
  return c !== undefined && c.pod_uid === uid ? c : undefined;
}
