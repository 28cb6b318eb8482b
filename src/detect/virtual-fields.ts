// Virtual fields of audit events: user.node, user.serviceaccount, exec.command / exec.container, the pod specs and
// containers a request or response carries, and a patch's body as an object whatever the patch type.
import type { AuditEvent } from '../parse/audit.ts';
import { decodeQuery } from '../parse/patterns.ts';
import { isObject, type Json } from './json.ts';

/**
 * `user.node`: the node name of a node identity as the Node authorizer and NodeRestriction see one:
 * username `system:node:<name>` in group `system:nodes`.
 */
export function nodeNameOf(user: { username?: string; groups?: string[] } | undefined): string | undefined {
  const name = user?.username;
  if (typeof name !== 'string' || !name.startsWith('system:node:') || name.length === 'system:node:'.length) return undefined;
  return Array.isArray(user!.groups) && user!.groups.includes('system:nodes') ? name.slice('system:node:'.length) : undefined;
}

/**
 * `user.serviceaccount.namespace` / `.name`: the service account of a service-account identity as RBAC sees one:
 * username `system:serviceaccount:<namespace>:<name>` in group `system:serviceaccounts`.
 */
export function serviceAccountOf(user: { username?: string; groups?: string[] } | undefined): { namespace: string; name: string } | undefined {
  const name = user?.username;
  if (typeof name !== 'string' || !name.startsWith('system:serviceaccount:')) return undefined;
  const rest = name.slice('system:serviceaccount:'.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return undefined;
  if (!Array.isArray(user!.groups) || !user!.groups.includes('system:serviceaccounts')) return undefined;
  return { namespace: rest.slice(0, colon), name: rest.slice(colon + 1) };
}

export const serviceAccountPart = (key: string | undefined): 'namespace' | 'name' | undefined =>
  key === 'namespace' || key === 'name' ? key : undefined;


/**
 * exec/attach: every `command=` of the query string, decoded and joined by spaces, and the `container=` value; without
 * them, the `command` and `container` of a request body (as hand-written and converted events carry them; the
 * apiserver logs exec with no body).
 */
export function execOf(event: AuditEvent): { command?: string; container?: string } | undefined {
  const sub = event.head.objectRef?.subresource;
  if (sub !== 'exec' && sub !== 'attach') return undefined;
  const uri = event.head.requestURI;
  const q = uri.indexOf('?');
  const commands: string[] = [];
  let container: string | undefined;
  for (const pair of q === -1 ? [] : uri.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : decodeQuery(pair.slice(eq + 1));
    if (key === 'command') commands.push(value);
    else if (key === 'container') container = value;
  }
  if (commands.length === 0 && event.hasRequestObject) {
    const body = event.full().requestObject as { command?: unknown; container?: unknown } | null;
    if (Array.isArray(body?.command)) commands.push(...body.command.filter((c): c is string => typeof c === 'string'));
    if (container === undefined && typeof body?.container === 'string') container = body.container;
  }
  return { command: commands.length > 0 ? commands.join(' ') : undefined, container };
}

const TEMPLATE_KINDS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'], DaemonSet: ['spec', 'template', 'spec'], StatefulSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'], ReplicationController: ['spec', 'template', 'spec'], Job: ['spec', 'template', 'spec'],
  PodTemplate: ['template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};
const RESOURCE_KINDS: Record<string, string> = {
  pods: 'Pod', deployments: 'Deployment', daemonsets: 'DaemonSet', statefulsets: 'StatefulSet', replicasets: 'ReplicaSet',
  replicationcontrollers: 'ReplicationController', jobs: 'Job', cronjobs: 'CronJob', podtemplates: 'PodTemplate',
};

function specOf(obj: unknown, resource: string | undefined): unknown[] {
  if (!isObject(obj)) return [];
  const kind = typeof obj.kind === 'string' && TEMPLATE_KINDS[obj.kind] ? obj.kind : resource ? RESOURCE_KINDS[resource] : undefined;
  if (!kind) return [];
  let cur: unknown = obj;
  for (const k of TEMPLATE_KINDS[kind]) {
    if (!isObject(cur)) return [];
    cur = cur[k];
  }
  return isObject(cur) ? [cur] : [];
}

// The response holds the whole object after a patch (the request only the delta), so it wins when it has a spec.
// A write to the status subresource cannot change the spec (the apiserver drops spec changes there): its request
// body says nothing about the spec, and is not parsed for one — kubelets' pod status patches are among the most
// frequent writes of a cluster. Its response, when logged, still shows the object as it is.
export function podSpecsOf(event: AuditEvent): unknown[] {
  const status = event.head.objectRef?.subresource === 'status';
  // The cheap test first: finding out whether a response body is there parses the request body, and a pod create
  // with a request body is parsed whole right below anyway.
  if ((status || !event.hasRequestObject) && !event.hasResponseObject) return [];
  const full = event.full();
  const resource = event.head.objectRef?.resource;
  const fromResponse = specOf(full.responseObject, resource);
  if (fromResponse.length > 0 || status) return fromResponse;
  // A JSON patch logged without its response: the spec its operations write.
  return specOf(Array.isArray(full.requestObject) ? patchBodyOf(event) : full.requestObject, resource);
}

export function containersOf(event: AuditEvent, specs: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const spec of specs) {
    for (const key of ['containers', 'initContainers', 'ephemeralContainers']) {
      const list = (spec as Json)[key];
      if (Array.isArray(list)) for (const c of list) if (isObject(c)) out.push(c);
    }
  }
  // A JSON patch to pods/ephemeralcontainers: the added containers are the operations' values.
  if (event.head.objectRef?.subresource === 'ephemeralcontainers' && specs.length === 0 && event.hasRequestObject) {
    const body = event.full().requestObject;
    if (Array.isArray(body)) {
      for (const op of body) {
        if (!isObject(op) || typeof op.path !== 'string' || !op.path.includes('ontainers')) continue;
        if (isObject(op.value)) out.push(op.value);
        else if (Array.isArray(op.value)) for (const c of op.value) if (isObject(c)) out.push(c);
      }
    }
  }
  return out;
}

/**
 * `patch_body`: what a write's request body sets, as an object. A merge, strategic-merge or apply body is that object
 * already; a JSON patch (a list of operations) becomes the object its `add` and `replace` operations build from nothing
 * (`/spec/template/spec/containers/0/securityContext/privileged: true` →
 * `{spec: {template: {spec: {containers: [{securityContext: {privileged: true}}]}}}}`), so one condition reads every
 * patch type and an operation's path and value are never taken from two different operations.
 */
export function patchBodyOf(event: AuditEvent): unknown {
  if (!event.hasRequestObject) return undefined;
  const body = event.full().requestObject;
  if (!Array.isArray(body)) return body;
  const root: Json = {};
  for (const op of body) {
    if (!isObject(op) || (op.op !== 'add' && op.op !== 'replace') || typeof op.path !== 'string' || !('value' in op)) continue;
    // RFC 6901 pointer: `/`-separated, `~1` is `/`, `~0` is `~`.
    const keys = op.path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (keys.length === 0) continue;
    let cur: Json | unknown[] = root;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const last = i === keys.length - 1;
      // A list index (or `-`, the end of a list) makes its parent a list; the element goes at the end of what is built.
      const index = key === '-' || /^[0-9]+$/.test(key);
      if (Array.isArray(cur)) {
        if (!index) break;
        if (last) {
          cur.push(op.value);
          break;
        }
        const next: Json | unknown[] = /^[0-9]+$|^-$/.test(keys[i + 1]) ? [] : {};
        cur.push(next);
        cur = next;
        continue;
      }
      if (last) {
        cur[key] = op.value as Json[string];
        break;
      }
      const existing = cur[key];
      const wantList = /^[0-9]+$|^-$/.test(keys[i + 1]);
      if (wantList ? Array.isArray(existing) : isObject(existing)) cur = existing as Json | unknown[];
      else {
        const next: Json | unknown[] = wantList ? [] : {};
        cur[key] = next as Json[string];
        cur = next;
      }
    }
  }
  return root;
}
