// What kubelet's container log paths say: the pod, namespace, uid, container and container id, and which to read.
import { basename, dirname, join, matchesGlob } from 'node:path';

/** The pod context a container log file carries in its path (the record's `kubernetes` object). */
export interface ContainerMeta {
  namespace: string;
  pod: string;
  pod_uid: string;
  container: string;
  container_id: string;
}

/** A container log to read: where (under the pods directory), and what its path says. */
export interface ContainerLog {
  meta: ContainerMeta;
  /** `<ns>_<pod>_<uid>/<container>/<n>.log`, relative to the pods directory. */
  relative: string;
}

/** `<pod>_<namespace>_<container>-<container id>.log`: names and ids never hold `_`, container ids never `-`. */
const LINK_NAME = /^([^_]+)_([^_]+)_(.+)-([^-_]+)\.log$/;
/** `<namespace>_<pod>_<uid>/<container>/<n>.log`, the last three parts of a link's target. */
const POD_DIR = /^([^_]+)_([^_]+)_([^_]+)$/;
const RESTART_FILE = /^\d+\.log$/;

/**
 * The container log a symlink in kubelet's directory stands for, from its name and its target (read under the pods
 * directory whatever the target's prefix: the host's /var/log/pods may be mounted elsewhere). Undefined when either
 * is not kubelet's shape, or they disagree.
 */
export function containerLogOf(linkName: string, target: string): ContainerLog | undefined {
  const link = LINK_NAME.exec(linkName);
  const file = basename(target);
  const containerDir = dirname(target);
  const pod = POD_DIR.exec(basename(dirname(containerDir)));
  if (link === null || pod === null || !RESTART_FILE.test(file)) return undefined;
  const [, podName, namespace, container, containerId] = link;
  if (pod[1] !== namespace || pod[2] !== podName || basename(containerDir) !== container) return undefined;
  return {
    meta: { namespace, pod: podName, pod_uid: pod[3], container, container_id: containerId },
    relative: join(basename(dirname(containerDir)), container, file),
  };
}

export interface NameGlobs {
  namespaces: string[];
  pods: string[];
  containers: string[];
  /** Pod label selectors: `key` (has the label) or `key=glob`; they need the pod's labels (see labelFilter). */
  labels?: string[];
}

/** Whether a container is read: it matches every non-empty include list, no exclude list, and is not the agent's own. */
export function containerFilter(include: NameGlobs, exclude: NameGlobs, self: { namespace: string; pod: string } | { container: string } | undefined): (m: ContainerMeta) => boolean {
  const any = (globs: string[], name: string) => globs.some((g) => matchesGlob(name, g));
  return (m) => {
    if (include.namespaces.length > 0 && !any(include.namespaces, m.namespace)) return false;
    if (include.pods.length > 0 && !any(include.pods, m.pod)) return false;
    if (include.containers.length > 0 && !any(include.containers, m.container)) return false;
    if (any(exclude.namespaces, m.namespace) || any(exclude.pods, m.pod) || any(exclude.containers, m.container)) return false;
    if (self === undefined) return true;
    return 'pod' in self ? !(self.namespace === m.namespace && self.pod === m.pod) : self.container !== m.container;
  };
}

/**
 * The agent's own pod, from the downward API (POD_NAMESPACE and POD_NAME, as deploy/daemonset.yaml sets them); without
 * them, any container named kaudit. Its own log would otherwise feed itself: each line it logs about a line read
 * would be read again.
 */
export function selfOf(env: NodeJS.ProcessEnv): { namespace: string; pod: string } | { container: string } {
  const namespace = env.POD_NAMESPACE;
  const pod = env.POD_NAME;
  return namespace && pod ? { namespace, pod } : { container: 'kaudit' };
}

/** The label the agent's own pods carry (deploy/): any kaudit pod of the node, not only this one, is its own kind. */
export const SELF_LABEL = 'app.kubernetes.io/name=kaudit';

/**
 * Whether a pod's labels let its containers be read: they match a selector of a non-empty include list and none of
 * the exclude list (with `excludeSelf`, kaudit's own label too). Undefined when there is nothing to check, so that
 * no lookup is made for it.
 */
export function labelFilter(include: string[], exclude: string[], excludeSelf: boolean): ((labels: Record<string, string>) => boolean) | undefined {
  const excluded = excludeSelf ? [...exclude, SELF_LABEL] : exclude;
  if (include.length === 0 && excluded.length === 0) return undefined;
  const selectors = (list: string[]) => list.map(labelSelector);
  const inc = selectors(include);
  const exc = selectors(excluded);
  return (labels) => (inc.length === 0 || inc.some((m) => m(labels))) && !exc.some((m) => m(labels));
}

function labelSelector(s: string): (labels: Record<string, string>) => boolean {
  const eq = s.indexOf('=');
  if (eq < 0) return (labels) => Object.hasOwn(labels, s);
  const key = s.slice(0, eq);
  const glob = s.slice(eq + 1);
  return (labels) => Object.hasOwn(labels, key) && matchesGlob(labels[key], glob);
}
