// What the agent's records get from the pod store, as the text the pipeline splices in: a container block's
// `kubernetes` object, a container pod's labels (include/exclude by label), and the `kubernetes` object of audit
// events on pods and in namespaces. Every answer comes within the store's max_wait, enriched or not.
import type { ContainerMeta } from '../sources/container-paths.ts';
import { enrichAuditEvent, enrichContainerRecord, enrichFileRecord } from './merge.ts';
import type { Labels, PodContext } from './pod-context.ts';
import { podKey } from './pod-index.ts';
import type { PodStore } from './pod-store.ts';

/** A namespaced audit event as its parser reports it: its namespace, and the pod when it acts on one. */
export interface AuditRef {
  namespace: string;
  pod?: string;
}

/** The last `kubernetes` text built for a container, reused while its pod's context and namespace labels are the same objects. */
interface Built {
  pod: PodContext | undefined;
  namespaceLabels: Labels | undefined;
  json: string;
}

export class RecordContext {
  private readonly store: PodStore;
  private readonly built = new WeakMap<ContainerMeta, Built>();

  constructor(store: PodStore) {
    this.store = store;
  }

  /** The `kubernetes` object (JSON) for a block of the container's lines: one lookup per block, not per line. */
  async containerKubernetes(meta: ContainerMeta): Promise<string> {
    const [pod, namespaceLabels] = await Promise.all([this.podOf(meta), this.store.namespaceLabelsListed(meta.namespace)]);
    const last = this.built.get(meta);
    if (last !== undefined && last.pod === pod && last.namespaceLabels === namespaceLabels) return last.json;
    const json = JSON.stringify(enrichContainerRecord({ kubernetes: meta }, pod, namespaceLabels).kubernetes);
    this.built.set(meta, { pod, namespaceLabels, json });
    return json;
  }

  /** The labels of the container's pod, or undefined when they are not known within max_wait. */
  async podLabels(meta: ContainerMeta): Promise<Labels | undefined> {
    return (await this.podOf(meta))?.labels;
  }

  /** The `kubernetes` object (JSON) for a block of a host file in a pod's directory (known by the pod's uid only). */
  async fileKubernetes(fromPath: { pod_uid: string; volume?: string }): Promise<string> {
    const r = await this.store.lookupUid(fromPath.pod_uid);
    const pod = r.enriched ? r.context : undefined;
    const namespaceLabels = pod === undefined ? undefined : await this.store.namespaceLabelsListed(pod.namespace);
    return JSON.stringify(enrichFileRecord(fromPath, pod, namespaceLabels));
  }

  /** The `kubernetes` object (JSON) of each audit event, undefined where nothing is known; each pod looked up once. */
  async auditKubernetes(refs: readonly AuditRef[]): Promise<Array<string | undefined>> {
    const lookups = new Map<string, Promise<PodContext | undefined>>();
    for (const r of refs) {
      if (r.pod === undefined) continue;
      const key = podKey(r.namespace, r.pod);
      if (!lookups.has(key)) lookups.set(key, this.store.lookup({ namespace: r.namespace, pod: r.pod }, { onThisNode: false }).then((x) => (x.enriched ? x.context : undefined)));
    }
    const pods = new Map<string, PodContext | undefined>();
    const namespaces = new Map<string, Labels | undefined>();
    await Promise.all([
      ...[...lookups].map(async ([key, p]) => pods.set(key, await p)),
      ...[...new Set(refs.map((r) => r.namespace))].map(async (ns) => namespaces.set(ns, await this.store.namespaceLabelsListed(ns))),
    ]);
    return refs.map((r) => {
      const pod = r.pod === undefined ? undefined : pods.get(podKey(r.namespace, r.pod));
      const k = enrichAuditEvent({}, pod, namespaces.get(r.namespace)).kubernetes;
      return k === undefined ? undefined : JSON.stringify(k);
    });
  }

  private async podOf(meta: ContainerMeta): Promise<PodContext | undefined> {
    const r = await this.store.lookup({ namespace: meta.namespace, pod: meta.pod, pod_uid: meta.pod_uid }, { onThisNode: true });
    return r.enriched ? r.context : undefined;
  }
}
