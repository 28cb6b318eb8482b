// The object a resource request's URI names, read as the apiserver's request-info resolver reads it: for events that
// carry a requestURI but no objectRef (hand-made, or trimmed by a log pipeline).
import type { ObjectRef } from './audit.ts';

// Subresources of a namespace itself (`/api/v1/namespaces/x/status`), not resources inside it.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * `/api/v1/namespaces/payments/pods/web-0/exec?command=sh` → pods, payments, web-0, exec (core group);
 * `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings` → clusterrolebindings in that group. Undefined for
 * non-resource URLs (`/healthz`, `/version`, `/api`, `/apis/apps/v1` discovery, `/openapi/v2`).
 */
export function objectRefOfURI(uri: string): ObjectRef | undefined {
  const q = uri.indexOf('?');
  const parts = (q === -1 ? uri : uri.slice(0, q)).split('/').filter((p) => p !== '').map(decodePart);
  let rest: string[];
  let apiGroup: string | undefined;
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    [apiVersion, ...rest] = parts.slice(1);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    [apiGroup, apiVersion, ...rest] = parts.slice(1);
  } else {
    return undefined;
  }
  // The deprecated watch prefix: `/api/v1/watch/namespaces/x/pods`.
  if (rest[0] === 'watch') rest = rest.slice(1);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (resource === undefined) return undefined;
  const ref: ObjectRef = { resource };
  // A namespace's own URI (`/api/v1/namespaces/x`) names it as the namespace and the object, as the apiserver logs it.
  if (namespace !== undefined) ref.namespace = namespace;
  if (name !== undefined) ref.name = name;
  if (apiGroup !== undefined) ref.apiGroup = apiGroup;
  ref.apiVersion = apiVersion;
  if (subresource !== undefined) ref.subresource = subresource;
  return ref;
}

function decodePart(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}
