// How a record gets its Kubernetes context: pure functions that merge a pod's context and its namespace's labels
// into a container log record or an audit event (the fields are listed in docs/kubernetes.md, "Record fields").
import type { Labels, Owner, PodContext } from './pod-context.ts';
import type { PodRef } from './pod-index.ts';

/** What a container log record knows from its file's path alone (/var/log/pods/<ns>_<pod>_<uid>/<container>/). */
export interface ContainerRef {
  namespace: string;
  pod: string;
  pod_uid: string;
  container: string;
  container_id?: string;
}

export interface ContainerKubernetesFields extends ContainerRef {
  /** False when the pod's context was not known within the lookup bound: only the path's fields are there. */
  enriched: boolean;
  image?: string;
  node?: string;
  labels?: Labels;
  annotations?: Labels;
  owner?: Owner;
  owner_chain?: Owner[];
  namespace_labels?: Labels;
}

/** The record with `kubernetes` completed from `pod` (undefined: not known) and its namespace's labels. */
export function enrichContainerRecord<R extends { kubernetes: ContainerRef }>(
  record: R,
  pod: PodContext | undefined,
  namespaceLabels: Labels | undefined,
): Omit<R, 'kubernetes'> & { kubernetes: ContainerKubernetesFields } {
  const fromPath = record.kubernetes;
  const k: ContainerKubernetesFields = { ...fromPath, enriched: pod !== undefined };
  if (pod !== undefined) {
    const image = pod.images[fromPath.container];
    if (image !== undefined) k.image = image;
    if (pod.node !== undefined) k.node = pod.node;
    k.labels = pod.labels;
    if (Object.keys(pod.annotations).length > 0) k.annotations = pod.annotations;
    k.owner = pod.owner;
    k.owner_chain = pod.owner_chain;
  }
  if (namespaceLabels !== undefined) k.namespace_labels = namespaceLabels;
  return { ...record, kubernetes: k };
}

/** A host file's `kubernetes` object: what its path says (the pod's uid, the volume) and, once known, the pod's context. */
export interface FileKubernetesFields {
  pod_uid: string;
  volume?: string;
  /** Present only with `kubernetes.enabled`: false when the pod was not known within the lookup bound. */
  enriched?: boolean;
  namespace?: string;
  pod?: string;
  node?: string;
  labels?: Labels;
  annotations?: Labels;
  images?: string[];
  owner?: Owner;
  owner_chain?: Owner[];
  namespace_labels?: Labels;
}

/** `fromPath` completed from `pod` (undefined: not known) and its namespace's labels. */
export function enrichFileRecord(fromPath: { pod_uid: string; volume?: string }, pod: PodContext | undefined, namespaceLabels: Labels | undefined): FileKubernetesFields {
  const k: FileKubernetesFields = { ...fromPath, enriched: pod !== undefined };
  if (pod === undefined) return k;
  k.namespace = pod.namespace;
  k.pod = pod.pod;
  if (pod.node !== undefined) k.node = pod.node;
  k.labels = pod.labels;
  if (Object.keys(pod.annotations).length > 0) k.annotations = pod.annotations;
  k.images = [...new Set(Object.values(pod.images))];
  k.owner = pod.owner;
  k.owner_chain = pod.owner_chain;
  if (namespaceLabels !== undefined) k.namespace_labels = namespaceLabels;
  return k;
}

/** The parts of an audit event these functions read. */
export interface AuditEventLike {
  verb?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseObject?: { kind?: string; metadata?: { name?: string } };
}

export interface AuditKubernetesFields {
  namespace_labels?: Labels;
  /** The pod's, for events on a pod. */
  node?: string;
  labels?: Labels;
  images?: string[];
  owner?: Owner;
  owner_chain?: Owner[];
}

/** Subresources of a pod whose events name a pod that runs (or ran). */
const POD_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'log']);

/** The pod an audit event acts on (exec, attach, portforward, log, create, delete), or undefined for other events. */
export function auditPodRef(event: AuditEventLike): PodRef | undefined {
  const ref = event.objectRef;
  if (ref?.resource !== 'pods' || ref.namespace === undefined) return undefined;
  const sub = ref.subresource;
  const onPod = sub === undefined ? event.verb === 'create' || event.verb === 'delete' : POD_SUBRESOURCES.has(sub);
  if (!onPod) return undefined;
  // A create with generateName has its name only in the response.
  const name = ref.name ?? (event.responseObject?.kind === 'Pod' ? event.responseObject.metadata?.name : undefined);
  return name === undefined ? undefined : { namespace: ref.namespace, pod: name };
}

/** The event with a `kubernetes` object: its namespace's labels, and for an event on a pod the pod's context. Unchanged when there is nothing to add. */
export function enrichAuditEvent<E extends AuditEventLike>(event: E, pod: PodContext | undefined, namespaceLabels: Labels | undefined): E & { kubernetes?: AuditKubernetesFields } {
  if (pod === undefined && namespaceLabels === undefined) return event;
  const k: AuditKubernetesFields = {};
  if (namespaceLabels !== undefined) k.namespace_labels = namespaceLabels;
  if (pod !== undefined) {
    if (pod.node !== undefined) k.node = pod.node;
    k.labels = pod.labels;
    k.images = [...new Set(Object.values(pod.images))];
    k.owner = pod.owner;
    k.owner_chain = pod.owner_chain;
  }
  return { ...event, kubernetes: k };
}
