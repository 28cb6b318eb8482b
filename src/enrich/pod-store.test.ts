// The pod metadata store against the FAKE Kubernetes API (test/utils/fake-k8s-api.ts, payloads recorded from a real
// kube-apiserver): owner chains, tombstones of short-lived Job pods, an API down at start, 410 relists, the negative
// cache, and the rate limit, each counted at the fake.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { corpusObject, FakeK8sApi, kubeconfigFor, seedCorpus, type K8sObject } from '../../test/utils/fake-k8s-api.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { Metrics } from '../observe/metrics.ts';
import { connect } from './kube-client.ts';
import { keyFilter } from './pod-context.ts';
import { PodIndex, type StoreUpdate } from './pod-index.ts';
import { PodStore, type PodStoreOptions } from './pod-store.ts';

const TOKEN = 'fake-service-account-token';

let certs: TestCerts;
let dir: string;
const running: Array<{ api: FakeK8sApi; store: PodStore }> = [];

beforeAll(async () => {
  certs = await makeTestCerts();
  dir = await mkdtemp(path.join(tmpdir(), 'kaudit-enrich-'));
});

afterEach(async () => {
  for (const { api, store } of running.splice(0)) {
    await store.stop();
    await api.close();
  }
});

afterAll(async () => {
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
});

interface Setup {
  api: FakeK8sApi;
  store: PodStore;
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
}

/** A fake API (seeded with the recorded objects unless `seed` is false) and a store on it, not started. */
async function setup(opts: Partial<PodStoreOptions> = {}, seed = true): Promise<Setup> {
  const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
  if (seed) seedCorpus(api);
  const kubeconfig = path.join(dir, `kubeconfig-${running.length}-${Date.now()}`);
  await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
  const metrics = new Metrics();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  const store = new PodStore(connect(kubeconfig), {
    nodeName: 'node-1',
    tombstoneTtlMs: 600_000,
    tombstoneMax: 1000,
    // Generous bounds, so that a loaded machine's slow answers do not read as "not enriched"; the test of the bound sets its own.
    maxWaitMs: 30_000,
    watchWaitMs: 500,
    negativeTtlMs: 60_000,
    cacheTtlMs: 300_000,
    lookupsPerSecond: 1000,
    lookupConcurrency: 4,
    include: { labels: keyFilter(['*']), annotations: keyFilter([]) },
    listWatch: { watchSeconds: 300, silenceMs: 360_000, listTimeoutMs: 60_000, initialBackoffMs: 100, maxBackoffMs: 400 },
    ...opts,
  }, metrics.kubernetes(), pino({ level: 'debug' }, sink));
  running.push({ api, store });
  return { api, store, metrics, logs };
}

const onNode = { onThisNode: true };

async function lookupsBy(metrics: Metrics): Promise<Record<string, number>> {
  return (await metrics.totals()).kaudit_kubernetes_lookups_total ?? {};
}

/** A copy of a recorded object under another name (and a fresh uid), optionally with its owner renamed. */
function renamed(obj: K8sObject, name: string, owner?: string): K8sObject {
  const copy = structuredClone(obj);
  copy.metadata.name = name;
  delete copy.metadata.uid;
  const refs = copy.metadata.ownerReferences as Array<{ name: string; uid: string }> | undefined;
  if (owner !== undefined && refs?.[0] !== undefined) refs[0] = { ...refs[0], name: owner, uid: `uid-${owner}` };
  return copy;
}

describe('owner chains', () => {
  it('gives the top-level workload of the recorded pods: Deployment through its ReplicaSet, CronJob through its Job, DaemonSet, StatefulSet, and a mirror pod\'s node', async () => {
    const { api, store } = await setup();
    api.put('jobs', corpusObject('owners/get-job-running.json'));
    api.put('pods', corpusObject('owners/get-pod-of-job-running.json'));
    store.start();

    const owner = async (namespace: string, pod: string) => {
      const r = await store.lookup({ namespace, pod }, onNode);
      if (!r.enriched) throw new Error(`${namespace}/${pod} not enriched: ${r.reason}`);
      return { owner: r.context.owner, chain: r.context.owner_chain };
    };
    expect(await owner('payments', 'ledger-api-8665cc4c74-mw2vm')).toEqual({
      owner: { kind: 'Deployment', name: 'ledger-api' },
      chain: [{ kind: 'ReplicaSet', name: 'ledger-api-8665cc4c74' }, { kind: 'Deployment', name: 'ledger-api' }],
    });
    expect(await owner('demo', 'report-export-29943768-677x8')).toEqual({
      owner: { kind: 'CronJob', name: 'report-export' },
      chain: [{ kind: 'Job', name: 'report-export-29943768' }, { kind: 'CronJob', name: 'report-export' }],
    });
    expect((await owner('demo', 'node-agent-4swdn')).owner).toEqual({ kind: 'DaemonSet', name: 'node-agent' });
    expect((await owner('demo', 'ledger-db-0')).owner).toEqual({ kind: 'StatefulSet', name: 'ledger-db' });
    expect((await owner('kube-system', 'nginx-proxy-node-1')).owner).toEqual({ kind: 'Node', name: 'node-1' });
    // Top-level owners (Deployment, CronJob) are named by their child's owner reference: never fetched.
    expect(api.requestsTo('/apis/apps/v1/namespaces/payments/deployments/')).toHaveLength(0);
    expect(api.requestsTo('/apis/batch/v1/namespaces/demo/cronjobs/')).toHaveLength(0);
  });

  it('resolves 100 pods of 5 ReplicaSets at node start with one GET per ReplicaSet and none per pod', async () => {
    const { api, store } = await setup({ lookupConcurrency: 2 });
    const rs = corpusObject('get-replicaset.json');
    const pod = corpusObject('get-pod.json');
    for (let r = 0; r < 5; r++) {
      api.put('replicasets', renamed(rs, `ledger-api-rs${r}`));
      for (let p = 0; p < 20; p++) api.put('pods', renamed(pod, `ledger-api-rs${r}-pod${p}`, `ledger-api-rs${r}`));
    }
    api.resetCounts();
    // A slow first list (longer than watch_wait): lookups wait for it rather than GET each pod.
    api.setLatency(800);
    store.start();

    const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      store.lookup({ namespace: 'payments', pod: `ledger-api-rs${Math.floor(i / 20)}-pod${i % 20}` }, onNode)));
    for (const r of results) {
      expect(r.enriched && r.context.owner).toEqual({ kind: 'Deployment', name: 'ledger-api' });
    }
    api.setLatency(0);
    // Later pods of the same ReplicaSets (a rollout's next replicas) come with the watch: their owners are cached.
    for (let r = 0; r < 5; r++) api.put('pods', renamed(pod, `ledger-api-rs${r}-later`, `ledger-api-rs${r}`));
    for (let r = 0; r < 5; r++) {
      const later = await store.lookup({ namespace: 'payments', pod: `ledger-api-rs${r}-later` }, onNode);
      expect(later.enriched && later.context.owner).toEqual({ kind: 'Deployment', name: 'ledger-api' });
    }
    const rsGets = api.requestsTo('/apis/apps/v1/namespaces/payments/replicasets/').map((r) => r.path);
    expect(rsGets.filter((p) => p.includes('ledger-api-rs')).sort()).toEqual([0, 1, 2, 3, 4].map((r) => `/apis/apps/v1/namespaces/payments/replicasets/ledger-api-rs${r}`));
    expect(api.requestsTo('/api/v1/namespaces/payments/pods/')).toHaveLength(0);
    expect(api.maxInFlightOf('replicasets')).toBeLessThanOrEqual(2);
  });
});

describe('tombstones', () => {
  it('a CronJob\'s short-lived Job pod deleted from the API before any lookup is still enriched with its namespace, pod, labels, Job and CronJob', async () => {
    const { api, store, metrics } = await setup();
    const mirror = new PodIndex({ tombstoneTtlMs: 600_000, tombstoneMax: 1000, fetchedTtlMs: 300_000 });
    store.start();
    const { snapshot } = store.subscribe((u: StoreUpdate) => mirror.apply(structuredClone(u)));
    for (const u of snapshot) mirror.apply(u);

    // The recorded lifecycle: Job created by the CronJob, its pod running then Succeeded, then the Job deleted with
    // Background propagation and the garbage collector deleting the pod.
    api.put('jobs', corpusObject('owners/get-job-running.json'));
    api.put('pods', corpusObject('owners/get-pod-of-job-running.json'));
    api.put('pods', corpusObject('owners/get-pod-of-job-succeeded.json'));
    await vi.waitFor(() => expect(store.index.find({ namespace: 'demo', pod: 'report-export-29943768-677x8' })?.context.owner.kind).toBe('CronJob'), { timeout: 10_000 });
    api.delete('jobs', 'demo', 'report-export-29943768');
    api.delete('pods', 'demo', 'report-export-29943768-677x8');
    await vi.waitFor(() => expect(store.index.find({ namespace: 'demo', pod: 'report-export-29943768-677x8' })?.source).toBe('tombstone'), { timeout: 10_000 });
    api.resetCounts();

    const r = await store.lookup({ namespace: 'demo', pod: 'report-export-29943768-677x8', pod_uid: '81ea4ad9-b3b1-4b11-b6ca-87d9ed04c453' }, onNode);
    expect(r).toMatchObject({
      enriched: true,
      source: 'tombstone',
      context: {
        namespace: 'demo',
        pod: 'report-export-29943768-677x8',
        pod_uid: '81ea4ad9-b3b1-4b11-b6ca-87d9ed04c453',
        node: 'node-1',
        labels: { 'job-name': 'report-export-29943768', 'controller-uid': '03c44923-8caa-428f-81bf-c99f068ffb02' },
        owner: { kind: 'CronJob', name: 'report-export' },
        owner_chain: [{ kind: 'Job', name: 'report-export-29943768' }, { kind: 'CronJob', name: 'report-export' }],
      },
    });
    expect(api.requests).toHaveLength(0);
    expect(await lookupsBy(metrics)).toMatchObject({ tombstone: 1 });
    expect(store.namespaceLabels('demo')).toEqual({ 'kubernetes.io/metadata.name': 'demo' });
    // A worker's mirror, fed the snapshot and the update stream (structured-cloned), answers the same.
    expect(mirror.find({ namespace: 'demo', pod: 'report-export-29943768-677x8' })).toEqual(store.index.find({ namespace: 'demo', pod: 'report-export-29943768-677x8' }));
    expect(mirror.namespaceLabels('demo')).toEqual(store.namespaceLabels('demo'));
  });
});

describe('API server trouble', () => {
  it('API down at start: lookups answer "not enriched" within max_wait (reset and slow), then enriched once the API answers; one warning', async () => {
    const { api, store, metrics, logs } = await setup({ maxWaitMs: 1000, watchWaitMs: 100 });
    api.setDown(true);
    store.start();

    const down = await store.lookup({ namespace: 'demo', pod: 'ledger-db-0' }, onNode);
    expect(down).toEqual({ enriched: false, reason: 'error' });
    api.setDown(false);
    api.setLatency(4000);
    const slow = await store.lookup({ namespace: 'demo', pod: 'ledger-db-0' }, onNode);
    expect(slow).toEqual({ enriched: false, reason: 'timeout' });
    api.setLatency(0);

    // Enriched at once by a GET, then from the watch once its retried list succeeds (the info line says so).
    await vi.waitFor(async () => {
      const r = await store.lookup({ namespace: 'demo', pod: 'ledger-db-0' }, onNode);
      expect(r.enriched && r.source).toMatch(/^(hit|get)$/);
      expect(logs.some((l) => String(l.msg).startsWith('Kubernetes API watch works again') && l.resource === 'pods')).toBe(true);
    }, { timeout: 30_000, interval: 200 });
    expect(store.index.isWatched('fb01ce67-8d84-4965-b4a6-adc1decb2301')).toBe(true);
    const restarts = (await metrics.totals()).kaudit_kubernetes_watch_restarts_total ?? {};
    expect(restarts['pods/error']).toBeGreaterThanOrEqual(1);
    const byResult = await lookupsBy(metrics);
    expect(byResult.error).toBeGreaterThanOrEqual(1);
    expect(byResult.timeout).toBeGreaterThanOrEqual(1);
    const warnings = logs.filter((l) => l.level === 40 && String(l.msg).startsWith('cannot list or watch') && l.resource === 'pods');
    expect(warnings).toHaveLength(1);
  });

  it('a watch answered 410 Gone relists: a pod added and one deleted while it was away are both known, without a GET', async () => {
    const { api, store, metrics } = await setup();
    store.start();
    await vi.waitFor(() => expect(api.openWatches('pods')).toBe(1), { timeout: 10_000 });
    expect(store.index.find({ namespace: 'demo', pod: 'node-agent-4swdn' })).toBeDefined();

    // The watch ends; while the store is between watches the pods change and the history it would resume from is compacted.
    api.endWatches();
    api.put('pods', renamed(corpusObject('owners/get-pod-of-statefulset.json'), 'ledger-db-1'));
    api.delete('pods', 'demo', 'node-agent-4swdn');
    api.compact();
    await vi.waitFor(async () => {
      const restarts = (await metrics.totals()).kaudit_kubernetes_watch_restarts_total ?? {};
      expect(restarts['pods/expired']).toBeGreaterThanOrEqual(1);
      expect(store.index.find({ namespace: 'demo', pod: 'ledger-db-1' })).toBeDefined();
    }, { timeout: 10_000 });
    const watches = api.requestsTo('/api/v1/pods', { watch: true });
    api.resetCounts();

    expect(await store.lookup({ namespace: 'demo', pod: 'ledger-db-1' }, onNode)).toMatchObject({ enriched: true, source: 'hit', context: { owner: { kind: 'StatefulSet', name: 'ledger-db' } } });
    expect(await store.lookup({ namespace: 'demo', pod: 'node-agent-4swdn' }, onNode)).toMatchObject({ enriched: true, source: 'tombstone', context: { owner: { kind: 'DaemonSet', name: 'node-agent' } } });
    expect(await store.lookup({ namespace: 'demo', pod: 'ledger-db-0' }, onNode)).toMatchObject({ enriched: true, source: 'hit' });
    expect(api.requestsTo('/api/v1/namespaces/')).toHaveLength(0);
    // Every watch asked for bookmarks and a server-side end.
    expect(watches.length).toBeGreaterThanOrEqual(2);
    for (const w of watches) expect([w.query.get('allowWatchBookmarks'), w.query.get('timeoutSeconds'), w.query.get('fieldSelector')]).toEqual(['true', '300', 'spec.nodeName=node-1']);
  });

  it('a log file\'s pod not known yet is waited for on the watch, not fetched', async () => {
    const { api, store } = await setup({ watchWaitMs: 20_000 });
    store.start();
    await vi.waitFor(() => expect(store.index.find({ namespace: 'demo', pod: 'ledger-db-0' })).toBeDefined(), { timeout: 10_000 });

    const waiting = store.lookup({ namespace: 'demo', pod: 'ledger-db-7' }, onNode);
    await new Promise((r) => setTimeout(r, 100));
    api.put('pods', renamed(corpusObject('owners/get-pod-of-statefulset.json'), 'ledger-db-7'));
    expect(await waiting).toMatchObject({ enriched: true, source: 'hit', context: { pod: 'ledger-db-7', owner: { kind: 'StatefulSet', name: 'ledger-db' } } });
    expect(api.requestsTo('/api/v1/namespaces/demo/pods/')).toHaveLength(0);
  });

  it('a watch gone silent (a half-open connection) is given up after silenceMs and started again', async () => {
    const { api, store, metrics } = await setup({ listWatch: { watchSeconds: 300, silenceMs: 1000, listTimeoutMs: 60_000, initialBackoffMs: 100, maxBackoffMs: 400 } });
    api.stallWatches(true);
    store.start();
    await vi.waitFor(() => expect(api.requestsTo('/api/v1/pods', { watch: true }).length).toBeGreaterThanOrEqual(2), { timeout: 20_000 });
    api.stallWatches(false);

    api.put('pods', renamed(corpusObject('owners/get-pod-of-statefulset.json'), 'after-the-stall'));
    await vi.waitFor(() => expect(store.index.find({ namespace: 'demo', pod: 'after-the-stall' })).toBeDefined(), { timeout: 20_000 });
    expect((await metrics.totals()).kaudit_kubernetes_watch_restarts_total?.['pods/error']).toBeGreaterThanOrEqual(1);
  });

  it('a pod the API does not have is asked for once: the 404 is cached, and the watch bringing it later wins', async () => {
    const { api, store, metrics } = await setup();
    store.start();
    await vi.waitFor(() => expect(store.index.find({ namespace: 'demo', pod: 'ledger-db-0' })).toBeDefined(), { timeout: 10_000 });

    const ref = { namespace: 'demo', pod: 'late-pod' };
    expect(await store.lookup(ref, { onThisNode: false })).toEqual({ enriched: false, reason: 'miss' });
    expect(await store.lookup(ref, { onThisNode: false })).toEqual({ enriched: false, reason: 'miss' });
    expect(api.requestsTo('/api/v1/namespaces/demo/pods/late-pod')).toHaveLength(1);
    expect(await lookupsBy(metrics)).toMatchObject({ miss: 2 });

    api.put('pods', renamed(corpusObject('owners/get-pod-of-statefulset.json'), 'late-pod'));
    await vi.waitFor(async () => expect(await store.lookup(ref, onNode)).toMatchObject({ enriched: true, source: 'hit' }), { timeout: 10_000 });
  });

  it('GETs for pods not watched are rate-limited: never more at once than lookups.concurrency, one per pod however many lookups wait', async () => {
    const { api, store, metrics } = await setup({ nodeName: undefined, lookupConcurrency: 3, maxWaitMs: 30_000 });
    const pod = corpusObject('get-pod.json');
    for (let i = 0; i < 40; i++) api.put('pods', renamed(pod, `audit-target-${i}`));
    api.setLatency(20);
    store.start();

    const refs = Array.from({ length: 40 }, (_, i) => ({ namespace: 'payments', pod: `audit-target-${i}` }));
    const results = await Promise.all([...refs, ...refs].map((ref) => store.lookup(ref, { onThisNode: false })));
    expect(results.every((r) => r.enriched && r.context.owner.kind === 'Deployment')).toBe(true);
    expect(api.requestsTo('/api/v1/namespaces/payments/pods/')).toHaveLength(40);
    expect(api.maxInFlightOf('pods')).toBeLessThanOrEqual(3);
    expect(api.maxInFlightOf('pods')).toBeGreaterThanOrEqual(2);
    const byResult = await lookupsBy(metrics);
    expect((byResult.get ?? 0) + (byResult.hit ?? 0)).toBe(80);
  });
});
