// Cost of Kubernetes metadata: lookups per second from a warm cache (the store's async lookup, the index's synchronous
// find a worker's mirror uses, and find + merge into a container record), and the memory 500 pods of this node take.
// The pods come from the FAKE Kubernetes API (test/utils/fake-k8s-api.ts, recorded payloads) run in a child process,
// so the RSS measured is the store's process alone.
// Usage: npm run bench:enrich -- [--pods 500] [--lookups 200000]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { connect } from '../src/enrich/kube-client.ts';
import { enrichContainerRecord } from '../src/enrich/merge.ts';
import { keyFilter } from '../src/enrich/pod-context.ts';
import { PodStore } from '../src/enrich/pod-store.ts';
import { Metrics } from '../src/observe/metrics.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '500' },
    lookups: { type: 'string', default: '200000' },
    'serve-fake': { type: 'boolean', default: false },
  },
});
const PODS = Number(values.pods);

if (values['serve-fake']) {
  await serveFake();
} else {
  await measure();
}

/** Child role: the fake API with PODS pods of 50 ReplicaSets on node-1; prints the kubeconfig's path. */
async function serveFake(): Promise<void> {
  const { FakeK8sApi, corpusObject, kubeconfigFor, seedCorpus } = await import('../test/utils/fake-k8s-api.ts');
  const { makeTestCerts } = await import('../test/utils/tls.ts');
  const certs = await makeTestCerts();
  const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: 'bench' });
  seedCorpus(api);
  const rs = corpusObject('get-replicaset.json');
  const pod = corpusObject('get-pod.json');
  for (let r = 0; r < 50; r++) {
    const set = structuredClone(rs);
    set.metadata.name = `bench-rs${r}`;
    delete set.metadata.uid;
    api.put('replicasets', set);
  }
  for (let i = 0; i < PODS; i++) {
    const p = structuredClone(pod);
    p.metadata.name = `bench-pod-${i}`;
    delete p.metadata.uid;
    (p.metadata.ownerReferences as Array<{ name: string }>)[0]!.name = `bench-rs${i % 50}`;
    api.put('pods', p);
  }
  const file = `${certs.dir}/kubeconfig`;
  writeFileSync(file, kubeconfigFor(api, certs.caFile, 'bench'));
  process.stdout.write(`${file}\n`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await api.close();
    await certs.cleanup();
    process.exit(0);
  });
}

function status(field: string): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return Number(m?.[1] ?? 0) / 1024;
}

async function measure(): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, import.meta.filename, '--serve-fake', '--pods', String(PODS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const kubeconfig = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));

  globalThis.gc?.();
  const before = { rss: status('VmRSS'), heap: process.memoryUsage().heapUsed / 2 ** 20 };
  const store = new PodStore(connect(kubeconfig), {
    nodeName: 'node-1', tombstoneTtlMs: 600_000, tombstoneMax: 10_000, maxWaitMs: 10_000, watchWaitMs: 5000,
    negativeTtlMs: 30_000, cacheTtlMs: 300_000, lookupsPerSecond: 20, lookupConcurrency: 4,
    include: { labels: keyFilter(['*']), annotations: keyFilter([]) },
  }, new Metrics().kubernetes(), pino({ level: 'warn' }));
  const started = performance.now();
  store.start();
  const refs = Array.from({ length: PODS }, (_, i) => ({ namespace: 'payments', pod: `bench-pod-${i}` }));
  const first = await Promise.all(refs.map((r) => store.lookup(r, { onThisNode: true })));
  const warmMs = performance.now() - started;
  const enriched = first.filter((r) => r.enriched && r.context.owner.kind === 'Deployment').length;
  globalThis.gc?.();
  const warm = { rss: status('VmRSS'), heap: process.memoryUsage().heapUsed / 2 ** 20 };

  const n = Number(values.lookups);
  let t = performance.now();
  for (let i = 0; i < n; i++) await store.lookup(refs[i % PODS]!, { onThisNode: true });
  const asyncPerS = n / ((performance.now() - t) / 1000);

  t = performance.now();
  let hits = 0;
  for (let i = 0; i < n; i++) if (store.index.find(refs[i % PODS]!) !== undefined) hits++;
  const findPerS = n / ((performance.now() - t) / 1000);

  const record = { time: '2026-11-22T12:05:01.123456789Z', stream: 'stdout', message: 'GET /healthz 200', kubernetes: { namespace: 'payments', pod: '', pod_uid: '', container: 'api', container_id: 'containerd://4f1c' } };
  t = performance.now();
  let size = 0;
  for (let i = 0; i < n; i++) {
    const ref = refs[i % PODS]!;
    const found = store.index.find(ref);
    const out = enrichContainerRecord({ ...record, kubernetes: { ...record.kubernetes, pod: ref.pod } }, found?.context, store.namespaceLabels(ref.namespace));
    size += out.kubernetes.enriched ? 1 : 0;
  }
  const mergePerS = n / ((performance.now() - t) / 1000);

  console.log(`pods on the node: ${PODS} (50 ReplicaSets); enriched with their Deployment: ${enriched}; cold start to all resolved: ${warmMs.toFixed(0)} ms`);
  console.log(`store.lookup (async, warm cache):      ${Math.round(asyncPerS).toLocaleString('en')} lookups/s`);
  console.log(`index.find (sync, as a worker mirror): ${Math.round(findPerS).toLocaleString('en')} lookups/s (${hits} hits)`);
  console.log(`find + merge into a container record:  ${Math.round(mergePerS).toLocaleString('en')} records/s (${size} enriched)`);
  console.log(`memory: RSS ${before.rss.toFixed(1)} → ${warm.rss.toFixed(1)} MiB, peak RSS (VmHWM) ${status('VmHWM').toFixed(1)} MiB; V8 heap used ${before.heap.toFixed(1)} → ${warm.heap.toFixed(1)} MiB${globalThis.gc ? ' (after gc)' : ' (run with --expose-gc for heap after gc)'}`);
  await store.stop();
  child.stdin!.end();
}
