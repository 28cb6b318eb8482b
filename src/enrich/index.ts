// The enrich stage's entry: the `kubernetes` config section turned into a started pod metadata store.
import type { Logger } from 'pino';
import type { KubernetesConfig } from '../config/schema.ts';
import type { KubernetesMetrics } from '../observe/metrics.ts';
import { connect } from './kube-client.ts';
import { keyFilter } from './pod-context.ts';
import { PodStore, type PodStoreOptions } from './pod-store.ts';

export { KubeConfigError } from './kube-client.ts';
export { enrichAuditEvent, enrichContainerRecord, auditPodRef } from './merge.ts';
export { PodIndex, type StoreUpdate, type PodRef } from './pod-index.ts';
export type { LookupResult, PodStore } from './pod-store.ts';
export { RecordContext, type AuditRef } from './record-context.ts';

/** The store's options from the config; the node name falls back to NODE_NAME (set from the downward API in deploy/). */
export function storeOptions(k: KubernetesConfig, env: NodeJS.ProcessEnv = process.env): PodStoreOptions {
  const nodeName = k.node_name ?? (env.NODE_NAME || undefined);
  return {
    ...(nodeName === undefined ? {} : { nodeName }),
    tombstoneTtlMs: k.tombstone_ttl,
    tombstoneMax: k.tombstone_max,
    maxWaitMs: k.max_wait,
    watchWaitMs: k.watch_wait,
    negativeTtlMs: k.negative_ttl,
    cacheTtlMs: k.cache_ttl,
    lookupsPerSecond: k.lookups.per_second,
    lookupConcurrency: k.lookups.concurrency,
    include: { labels: keyFilter(k.labels), annotations: keyFilter(k.annotations) },
  };
}

/** Connects (throws KubeConfigError naming the field when the client cannot be configured) and starts the watches. */
export function startPodStore(k: KubernetesConfig, metrics: KubernetesMetrics, log: Logger): PodStore {
  const client = connect(k.kubeconfig);
  const opts = storeOptions(k);
  const store = new PodStore(client, opts, metrics, log.child({ component: 'kubernetes' }));
  log.info({ server: client.server, node: opts.nodeName ?? null }, opts.nodeName === undefined
    ? 'Kubernetes metadata: no node name (kubernetes.node_name or NODE_NAME), so no pod is watched; pods are looked up by GET'
    : 'Kubernetes metadata: watching this node\'s pods and all namespaces');
  store.start();
  return store;
}
