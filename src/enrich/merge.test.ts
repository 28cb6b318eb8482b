// What records get: a container log record and real audit events merged with the context of a recorded pod, and the
// `kubernetes` config section's defaults and errors.
import { describe, expect, it } from 'vitest';
import { corpusObject } from '../../test/utils/fake-k8s-api.ts';
import { configSchema } from '../config/schema.ts';
import { realApiserverLines } from '../parse/test-corpus.ts';
import { storeOptions } from './index.ts';
import { auditPodRef, enrichAuditEvent, enrichContainerRecord, type AuditEventLike } from './merge.ts';
import { keyFilter, podContext, type PodContext } from './pod-context.ts';
import type { V1Pod } from '@kubernetes/client-node';

// payments/ledger-api-8665cc4c74-mw2vm as the real API server returned it, owned by ReplicaSet → Deployment.
const recordedPod = corpusObject('get-pod.json') as unknown as V1Pod;
const chain = [{ kind: 'ReplicaSet', name: 'ledger-api-8665cc4c74' }, { kind: 'Deployment', name: 'ledger-api' }];
const allLabels = { labels: keyFilter(['*']), annotations: keyFilter([]) };
const ledger: PodContext = podContext(recordedPod, chain, allLabels);
const paymentsLabels = { 'kubernetes.io/metadata.name': 'payments' };

describe('container records', () => {
  const record = {
    time: '2026-11-22T12:05:01.123456789Z', stream: 'stdout', message: 'GET /healthz 200',
    kubernetes: { namespace: 'payments', pod: 'ledger-api-8665cc4c74-mw2vm', pod_uid: recordedPod.metadata!.uid!, container: recordedPod.spec!.containers[0]!.name, container_id: 'containerd://4f1c' },
  };

  it('get the image of their container, the node, labels, the top-level owner and the namespace labels beside the fields of their path', () => {
    const out = enrichContainerRecord(record, ledger, paymentsLabels);
    expect(out).toEqual({
      ...record,
      kubernetes: {
        ...record.kubernetes,
        enriched: true,
        image: recordedPod.spec!.containers[0]!.image,
        node: 'node-1',
        labels: recordedPod.metadata!.labels,
        owner: { kind: 'Deployment', name: 'ledger-api' },
        owner_chain: chain,
        namespace_labels: paymentsLabels,
      },
    });
    expect(record.kubernetes).not.toHaveProperty('enriched');
  });

  it('of a pod not known are marked not enriched and keep what their path gave', () => {
    expect(enrichContainerRecord(record, undefined, undefined).kubernetes).toEqual({ ...record.kubernetes, enriched: false });
  });

  it('carry only the labels and annotations the include lists name', () => {
    const annotated = structuredClone(recordedPod);
    annotated.metadata!.annotations = { 'prometheus.io/scrape': 'true', 'kubectl.kubernetes.io/restartedAt': 'x' };
    const ctx = podContext(annotated, chain, { labels: keyFilter(['app', 'pod-template-*']), annotations: keyFilter(['prometheus.io/*']) });
    const k = enrichContainerRecord(record, ctx, undefined).kubernetes;
    expect(Object.keys(k.labels ?? {}).sort()).toEqual(Object.keys(recordedPod.metadata!.labels!).filter((l) => l === 'app' || l.startsWith('pod-template-')).sort());
    expect(k.annotations).toEqual({ 'prometheus.io/scrape': 'true' });
  });
});

describe('audit events', () => {
  const events = realApiserverLines().map((l) => JSON.parse(l) as AuditEventLike & { auditID: string });
  const logOfLedger = events.find((e) => e.objectRef?.subresource === 'log' && e.objectRef.name === 'ledger-api-8665cc4c74-mw2vm')!;

  it('on a pod (exec, attach, portforward, log, create, delete) name that pod; other events name none', () => {
    expect(auditPodRef(logOfLedger)).toEqual({ namespace: 'payments', pod: 'ledger-api-8665cc4c74-mw2vm' });
    const exec = events.find((e) => e.objectRef?.subresource === 'exec')!;
    expect(auditPodRef(exec)).toEqual({ namespace: exec.objectRef!.namespace, pod: exec.objectRef!.name });
    const onPods = events.filter((e) => auditPodRef(e) !== undefined);
    for (const e of onPods) {
      const ref = e.objectRef!;
      expect(ref.resource).toBe('pods');
      expect(ref.subresource === undefined ? ['create', 'delete'] : ['exec', 'attach', 'portforward', 'log']).toContain(ref.subresource ?? e.verb);
    }
    expect(events.some((e) => e.objectRef?.resource === 'pods' && e.verb === 'get' && e.objectRef.subresource === undefined && auditPodRef(e) !== undefined)).toBe(false);
  });

  it('on a pod get its node, labels, images and top-level owner, and their namespace\'s labels', () => {
    const out = enrichAuditEvent(logOfLedger, ledger, paymentsLabels);
    expect(out.kubernetes).toEqual({
      namespace_labels: paymentsLabels,
      node: 'node-1',
      labels: recordedPod.metadata!.labels,
      images: [...new Set(recordedPod.spec!.containers.map((c) => c.image))],
      owner: { kind: 'Deployment', name: 'ledger-api' },
      owner_chain: chain,
    });
    expect(out.auditID).toBe(logOfLedger.auditID);
  });

  it('namespaced but not on a pod get the namespace labels only; with nothing known they are left as they are', () => {
    const configmap = events.find((e) => e.objectRef?.resource === 'configmaps' && e.objectRef.namespace !== undefined)!;
    expect(enrichAuditEvent(configmap, undefined, { team: 'a' }).kubernetes).toEqual({ namespace_labels: { team: 'a' } });
    expect(enrichAuditEvent(configmap, undefined, undefined)).toBe(configmap);
  });
});

describe('the kubernetes config section', () => {
  it('is off by default, with the documented defaults, and the node name from NODE_NAME when not set', () => {
    const k = configSchema.parse({}).kubernetes;
    expect(k).toMatchObject({ enabled: false, tombstone_ttl: 600_000, max_wait: 2000, watch_wait: 1000, labels: ['*'], annotations: [], lookups: { per_second: 20, concurrency: 4 } });
    expect(storeOptions(k, { NODE_NAME: 'node-1' }).nodeName).toBe('node-1');
    expect(storeOptions({ ...k, node_name: 'cp-1' }, { NODE_NAME: 'node-1' }).nodeName).toBe('cp-1');
    expect(storeOptions(k, {}).nodeName).toBeUndefined();
  });

  it('names each wrong field and why', () => {
    const r = configSchema.safeParse({ kubernetes: { max_wait: '1s', watch_wait: '5s', tombstone_ttl: '1s', labels: ['app', 'not a key'], lookups: { per_second: 0 }, node: 'x' } });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual(expect.arrayContaining([
      'kubernetes.tombstone_ttl: expected a duration from 10s to 24h, found 1s',
      'kubernetes.labels.1: expected a key such as app.kubernetes.io/name, a prefix ending in * such as app.kubernetes.io/*, or *',
      'kubernetes.lookups.per_second: expected a whole number from 1 to 1000, found 0',
      expect.stringMatching(/^kubernetes: Unrecognized key: "node"/),
    ]));
    const order = configSchema.safeParse({ kubernetes: { max_wait: '1s', watch_wait: '5s' } });
    expect(order.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['kubernetes.watch_wait: expected at most max_wait']);
  });
});
