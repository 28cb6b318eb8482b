// objectRefOfURI: the object a resource request's URI names, as the apiserver's audit objectRef has it.
import { describe, expect, it } from 'vitest';
import { objectRefOfURI } from './request-uri.ts';

describe('objectRefOfURI', () => {
  it.each([
    ['/api/v1/namespaces/payments/pods/web-0/exec?command=sh&stdin=true', { resource: 'pods', namespace: 'payments', name: 'web-0', apiVersion: 'v1', subresource: 'exec' }],
    ['/api/v1/secrets?limit=500', { resource: 'secrets', apiVersion: 'v1' }],
    ['/api/v1/namespaces/payments/serviceaccounts/report-gen/token', { resource: 'serviceaccounts', namespace: 'payments', name: 'report-gen', apiVersion: 'v1', subresource: 'token' }],
    ['/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/backdoor', { resource: 'clusterrolebindings', name: 'backdoor', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }],
    ['/apis/apps/v1/namespaces/kube-system/daemonsets', { resource: 'daemonsets', namespace: 'kube-system', apiGroup: 'apps', apiVersion: 'v1' }],
    // A namespace's own URI: the apiserver logs it as both the namespace and the object.
    ['/api/v1/namespaces/payments', { resource: 'namespaces', namespace: 'payments', name: 'payments', apiVersion: 'v1' }],
    ['/api/v1/namespaces/old-team/finalize', { resource: 'namespaces', namespace: 'old-team', name: 'old-team', apiVersion: 'v1', subresource: 'finalize' }],
    ['/api/v1/namespaces', { resource: 'namespaces', apiVersion: 'v1' }],
    ['/api/v1/watch/namespaces/payments/secrets', { resource: 'secrets', namespace: 'payments', apiVersion: 'v1' }],
    ['/api/v1/nodes/node-1/proxy/metrics%2Fcadvisor', { resource: 'nodes', name: 'node-1', apiVersion: 'v1', subresource: 'proxy' }],
  ])('%s', (uri, ref) => {
    expect(objectRefOfURI(uri)).toEqual(ref);
  });

  it.each(['/healthz', '/readyz?verbose', '/version', '/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/openapi/v2', '/.well-known/openid-configuration', ''])(
    'names no object for the non-resource URL %j', (uri) => {
      expect(objectRefOfURI(uri)).toBeUndefined();
    });
});
