// What a record learns about its pod: the fragment built once from a Pod object (and its resolved owner chain)
// when the pod appears or changes, never per record. Plain data, so it can be copied to a worker thread as it is.
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export type Labels = Record<string, string>;

export interface Owner {
  kind: string;
  name: string;
}

export interface PodContext {
  namespace: string;
  pod: string;
  pod_uid: string;
  /** Absent while the pod is not scheduled. */
  node?: string;
  labels: Labels;
  /** Only the annotations the include list names (none by default). */
  annotations: Labels;
  /** Image of each container, init and ephemeral containers included, by container name. */
  images: Record<string, string>;
  /** The top-level workload (Deployment, CronJob, DaemonSet, StatefulSet, ...), or the pod itself when nothing owns it. */
  owner: Owner;
  /** The controllers from the pod's own up to the top-level one (`[Job, CronJob]`); empty for a bare pod. */
  owner_chain: Owner[];
}

/** Which keys of labels or annotations are kept: exact keys, `prefix*`, or `*` for all. */
export type KeyFilter = (key: string) => boolean;

export function keyFilter(include: readonly string[]): KeyFilter {
  if (include.includes('*')) return () => true;
  const exact = new Set(include.filter((k) => !k.endsWith('*')));
  const prefixes = include.filter((k) => k.endsWith('*')).map((k) => k.slice(0, -1));
  if (prefixes.length === 0) return (key) => exact.has(key);
  return (key) => exact.has(key) || prefixes.some((p) => key.startsWith(p));
}

export function pickKeys(map: Labels | undefined, keep: KeyFilter): Labels {
  const out: Labels = {};
  if (map === undefined) return out;
  for (const [k, v] of Object.entries(map)) if (keep(k)) out[k] = v;
  return out;
}

/** The pod's controller (the owner reference marked `controller`), as the start of its owner chain. */
export function controllerOf(refs: readonly V1OwnerReference[] | undefined): Owner | undefined {
  const ref = refs?.find((r) => r.controller === true) ?? refs?.[0];
  return ref === undefined ? undefined : { kind: ref.kind, name: ref.name };
}

export interface IncludeFilters {
  labels: KeyFilter;
  annotations: KeyFilter;
}

/** The context of `pod`, with `chain` the owner chain resolved for it (see owners.ts). */
export function podContext(pod: V1Pod, chain: readonly Owner[], include: IncludeFilters): PodContext {
  const meta = pod.metadata ?? {};
  const images: Record<string, string> = {};
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]) {
    if (c.image !== undefined) images[c.name] = c.image;
  }
  const name = meta.name ?? '';
  const ctx: PodContext = {
    namespace: meta.namespace ?? '',
    pod: name,
    pod_uid: meta.uid ?? '',
    labels: pickKeys(meta.labels, include.labels),
    annotations: pickKeys(meta.annotations, include.annotations),
    images,
    owner: chain.at(-1) ?? { kind: 'Pod', name },
    owner_chain: [...chain],
  };
  if (pod.spec?.nodeName) ctx.node = pod.spec.nodeName;
  return ctx;
}
