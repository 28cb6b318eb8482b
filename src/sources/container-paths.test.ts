// What kubelet's container log paths say, and which containers a source reads.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import { containerFilter, containerLogOf, labelFilter, selfOf } from './container-paths.ts';

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

describe('selection by pod label', () => {
  it('reads a pod matching a selector of a non-empty include list and none of the exclude list, kaudit\'s own left out', () => {
    const accepts = labelFilter(['app=web*', 'tier'], ['track=canary'], true)!;
    expect(accepts({ app: 'web' })).toBe(true);
    expect(accepts({ app: 'webshop', team: 'x' })).toBe(true);
    expect(accepts({ tier: '' })).toBe(true);
    expect(accepts({ app: 'batch' })).toBe(false);
    expect(accepts({ app: 'web', track: 'canary' })).toBe(false);
    expect(accepts({ app: 'web', 'app.kubernetes.io/name': 'kaudit' })).toBe(false);
    expect(labelFilter([], [], false)).toBeUndefined();
    expect(labelFilter([], [], true)!({ 'app.kubernetes.io/name': 'kaudit' })).toBe(false);
    expect(labelFilter([], [], true)!({})).toBe(true);
  });

  it('refuses label selectors without kubernetes.enabled, naming the field', () => {
    const config = (enabled: boolean) => configSchema.safeParse({ kubernetes: { enabled }, sources: { pods: { kind: 'containers', exclude: { labels: ['app=noisy'] } } } });
    const refused = config(false);
    expect(refused.success).toBe(false);
    expect(refused.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['sources.pods.exclude.labels', expect.stringMatching(/^pod labels come from the Kubernetes API: set kubernetes.enabled: true/)]]);
    expect(config(true).success).toBe(true);
  });
});
