// A pod's owner chain up to its top-level workload: Pod → ReplicaSet → Deployment, Pod → Job → CronJob; DaemonSet,
// StatefulSet and others own their pods directly. Only ReplicaSets and Jobs are fetched (their owner reference names
// the top level), each once per cache lifetime through the rate-limited GETs, so a node of 100 pods costs one GET per
// ReplicaSet or Job, not per pod.
import type { V1OwnerReference } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import type { ApiGets, GetResult, RequestOptions } from './api-gets.ts';
import type { KubeClient } from './kube-client.ts';
import { controllerOf, type Owner } from './pod-context.ts';

type FetchOwned = (c: KubeClient, namespace: string, name: string, options: RequestOptions) => Promise<{ metadata?: { ownerReferences?: V1OwnerReference[] } }>;

/** Kinds whose own controller is looked up, and how. */
const INTERMEDIATE: Record<string, FetchOwned> = {
  ReplicaSet: (c, namespace, name, options) => c.apps.readNamespacedReplicaSet({ namespace, name }, options),
  Job: (c, namespace, name, options) => c.batch.readNamespacedJob({ namespace, name }, options),
};

/** Deep enough for every built-in chain; a custom controller owning a Deployment ends the chain at the Deployment. */
const MAX_DEPTH = 4;

export interface OwnerChain {
  chain: Owner[];
  /** False when a lookup failed (API error): the chain stops at what is known, and is worth resolving again later. */
  complete: boolean;
}

export class OwnerResolver {
  /** `Kind/namespace/name` of an intermediate object → its controller (`none`: it has none, or it is gone). */
  private readonly parents: LRUCache<string, Owner | { none: true }>;
  private readonly client: KubeClient;
  private readonly gets: ApiGets;
  private readonly failed: (resource: string, result: GetResult<unknown> & { kind: 'error' }) => void;

  constructor(client: KubeClient, gets: ApiGets, cacheTtlMs: number, failed: (resource: string, result: GetResult<unknown> & { kind: 'error' }) => void) {
    this.client = client;
    this.gets = gets;
    this.failed = failed;
    this.parents = new LRUCache({ max: 10_000, ttl: cacheTtlMs });
  }

  async resolve(namespace: string, refs: readonly V1OwnerReference[] | undefined): Promise<OwnerChain> {
    const chain: Owner[] = [];
    let next = controllerOf(refs);
    while (next !== undefined && chain.length < MAX_DEPTH) {
      chain.push(next);
      const fetchOwner = INTERMEDIATE[next.kind];
      if (fetchOwner === undefined) break;
      const parent = await this.parentOf(next, namespace, fetchOwner);
      if (parent === 'error') return { chain, complete: false };
      next = parent;
    }
    return { chain, complete: true };
  }

  private async parentOf(owner: Owner, namespace: string, fetchOwner: FetchOwned): Promise<Owner | undefined | 'error'> {
    const key = `${owner.kind}/${namespace}/${owner.name}`;
    const cached = this.parents.get(key);
    if (cached !== undefined) return 'none' in cached ? undefined : cached;
    const result = await this.gets.get(key, (options) => fetchOwner(this.client, namespace, owner.name, options));
    if (result.kind === 'error') {
      this.failed(owner.kind === 'Job' ? 'jobs' : 'replicasets', result);
      return 'error';
    }
    const parent = result.kind === 'found' ? controllerOf(result.obj.metadata?.ownerReferences) : undefined;
    this.parents.set(key, parent ?? { none: true });
    return parent;
  }
}
