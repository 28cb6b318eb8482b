// What kubelet's container log paths say, and which containers a source reads.
import { describe, expect, it } from 'vitest';
import { containerFilter, containerLogOf, selfOf } from './container-paths.ts';

const id = 'c0ffee'.repeat(10) + 'abcd';
const none = { namespaces: [], pods: [], containers: [] };

describe('container log paths', () => {
  it('reads namespace, pod, uid, container and id from a symlink and its target, wherever the target lies', () => {
    const log = containerLogOf(`web-7d4b9-x2x9k_shop_istio-proxy-${id}.log`, '/var/log/pods/shop_web-7d4b9-x2x9k_0f6c1b1e-3c55/istio-proxy/3.log');
    expect(log).toEqual({
      meta: { namespace: 'shop', pod: 'web-7d4b9-x2x9k', pod_uid: '0f6c1b1e-3c55', container: 'istio-proxy', container_id: id },
      relative: 'shop_web-7d4b9-x2x9k_0f6c1b1e-3c55/istio-proxy/3.log',
    });
    expect(containerLogOf(`a_b_c-${id}.log`, '../../pods/b_a_u/c/0.log')?.relative).toBe('b_a_u/c/0.log');
  });

  it('leaves alone what is not kubelet\'s shape, or a name and target that disagree', () => {
    expect(containerLogOf(`web_shop_app-${id}.log`, '/var/log/pods/shop_web_u/app/0.log.20261207-104117')).toBeUndefined();
    expect(containerLogOf(`web_shop_app-${id}.log`, '/etc/shadow')).toBeUndefined();
    expect(containerLogOf(`web_shop_app-${id}.log`, '/var/log/pods/other_web_u/app/0.log')).toBeUndefined();
    expect(containerLogOf(`web_shop_app-${id}.log`, '/var/log/pods/shop_web_u/sidecar/0.log')).toBeUndefined();
    expect(containerLogOf('web.log', '/var/log/pods/shop_web_u/app/0.log')).toBeUndefined();
  });

  it('reads a container matching every non-empty include list and no exclude list, not the agent\'s own', () => {
    const meta = (namespace: string, pod: string, container: string) => ({ namespace, pod, pod_uid: 'u', container, container_id: id });
    const accepts = containerFilter({ ...none, namespaces: ['shop', 'pay*'] }, { ...none, containers: ['istio-*'] }, { namespace: 'shop', pod: 'kaudit-x' });
    expect(accepts(meta('shop', 'web', 'app'))).toBe(true);
    expect(accepts(meta('payments', 'api', 'app'))).toBe(true);
    expect(accepts(meta('kube-system', 'dns', 'app'))).toBe(false);
    expect(accepts(meta('shop', 'web', 'istio-proxy'))).toBe(false);
    expect(accepts(meta('shop', 'kaudit-x', 'app'))).toBe(false);
    expect(containerFilter(none, none, selfOf({}))(meta('kaudit', 'kaudit-x', 'kaudit'))).toBe(false);
    expect(containerFilter(none, none, selfOf({}))(meta('kaudit', 'kaudit-x', 'app'))).toBe(true);
    expect(selfOf({ POD_NAMESPACE: 'kaudit', POD_NAME: 'kaudit-x' })).toEqual({ namespace: 'kaudit', pod: 'kaudit-x' });
  });
});
