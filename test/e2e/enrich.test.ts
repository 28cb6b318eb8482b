// End to end: Kubernetes context on container log records and audit events, with the real agent process, a node's
// log directories laid out as kubelet does, a real HTTP receiver and the FAKE Kubernetes API (test/utils/fake-k8s-api.ts,
// payloads recorded from a real kube-apiserver): a short-lived Job pod deleted before its log is read, the API down
// at start, a node start with 100 pods, selection by label, audit events on pods.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { corpusObject, FakeK8sApi, kubeconfigFor, seedCorpus, type K8sObject } from '../utils/fake-k8s-api.ts';
import { FakeNode } from '../utils/kubelet.ts';
import { Receiver } from '../utils/receiver.ts';
import { until as untilWithin } from '../utils/until.ts';
import { makeTestCerts, type TestCerts } from '../utils/tls.ts';

const TOKEN = 'fake-service-account-token';
let certs: TestCerts;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  certs = await makeTestCerts();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await certs.cleanup();
});

interface Record_ {
  message?: string;
  kubernetes?: Record<string, unknown> & { pod?: string; enriched?: boolean };
  objectRef?: { name?: string };
}

/** A fake API seeded with the recorded namespaces, pods and owners, a node, a receiver, and an agent config using them. */
async function setUp(opts: { sources?: (node: FakeNode, dir: string) => Record<string, unknown>; kubernetes?: Record<string, unknown>; more?: Record<string, unknown> } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-enrich-e2e-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
  cleanup.push(() => api.close());
  seedCorpus(api);
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
  const node = await new FakeNode(dir).init();
  const rx = await Receiver.start();
  cleanup.push(() => rx.close());
  const settings: Record<string, unknown> = {
    state_dir: join(dir, 'state'),
    http: null,
    detection: { enabled: false },
    kubernetes: { enabled: true, kubeconfig, node_name: 'node-1', max_wait: '10s', watch_wait: '2s', ...opts.kubernetes },
    sources: opts.sources?.(node, dir) ?? { pods: { kind: 'containers', path: node.links, pods_path: node.pods, poll_interval: 200 } },
    sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
    ...opts.more,
  };
  const config = await writeAgentConfig(dir, settings);
  /** Writes the config again with `change` applied (a running agent reloads it). */
  const rewrite = (change: Record<string, unknown>) => writeAgentConfig(dir, { ...settings, ...change });
  const records = () => rx.documents() as Record_[];
  const run = () => {
    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
    });
    return agent;
  };
  /** Waits for `done`, failing at once when the agent exits; a failure shows the records so far and the agent's log. */
  const until = (what: string, done: () => boolean | Promise<boolean>, agent: AgentProcess, ms = 60_000) => untilWithin(what, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited while waiting for ${what}`);
    return done();
  }, ms).catch((err: Error) => {
    throw new Error(`${err.message}: ${records().length} records; ${agent.logs().slice(-3000)}`);
  });
  return { dir, api, node, rx, records, run, until, rewrite };
}

const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} line ${i}`);
const ofPod = (records: Record_[], pod: string) => records.filter((r) => r.kubernetes?.pod === pod);

/** A copy of a recorded pod under another name and uid, owned by the ReplicaSet `owner`, with these labels. */
function podOf(template: K8sObject, name: string, owner: string, labels: Record<string, string> = { app: owner }): K8sObject {
  const copy = structuredClone(template);
  copy.metadata.name = name;
  copy.metadata.uid = `uid-${name}`;
  copy.metadata.labels = labels;
  const refs = copy.metadata.ownerReferences as Array<{ name: string; uid: string }>;
  refs[0] = { ...refs[0], name: owner, uid: `uid-${owner}` };
  return copy;
}

/** A CronJob's Job and its pod appear in the API, the agent sees them (it GETs the Job once), and both are deleted. */
async function shortLivedJob(api: FakeK8sApi, agent: AgentProcess, until: (what: string, done: () => boolean, agent: AgentProcess) => Promise<unknown>) {
  await agent.started();
  await until('the pod watch', () => api.openWatches('pods') > 0, agent);
  const job = corpusObject('owners/get-job-running.json');
  const pod = corpusObject('owners/get-pod-of-job-running.json');
  api.put('jobs', job);
  api.put('pods', pod);
  await until('the Job lookup', () => api.requestsTo(`/apis/batch/v1/namespaces/demo/jobs/${job.metadata.name}`).length > 0, agent);
  await new Promise((r) => setTimeout(r, 500));
  api.delete('pods', 'demo', pod.metadata.name);
  api.delete('jobs', 'demo', job.metadata.name);
  return { job, pod };
}

describe('container records with Kubernetes context (fake API)', () => {
  it('enriches every line of a short-lived CronJob pod deleted from the API before its log file is read', async () => {
    const { api, node, records, run, until } = await setUp();
    const agent = run();
    const { job, pod } = await shortLivedJob(api, agent, until);
    // Only now does the container's log appear on the node: 100 lines, read after the pod is gone from the API.
    const [c] = await node.pod('demo', pod.metadata.name, ['export'], pod.metadata.uid);
    await c.print(lines('export', 100));
    await until('100 records', () => ofPod(records(), pod.metadata.name).length >= 100, agent);

    const got = ofPod(records(), pod.metadata.name);
    expect(got.map((r) => r.message)).toEqual(lines('export', 100));
    for (const r of got) {
      expect(r.kubernetes).toMatchObject({
        namespace: 'demo', pod: pod.metadata.name, pod_uid: pod.metadata.uid, container: 'export', enriched: true, node: 'node-1',
        labels: { 'job-name': job.metadata.name },
        owner: { kind: 'CronJob', name: 'report-export' },
        owner_chain: [{ kind: 'Job', name: job.metadata.name }, { kind: 'CronJob', name: 'report-export' }],
        namespace_labels: { 'kubernetes.io/metadata.name': 'demo' },
      });
      expect(r.kubernetes!.image).toEqual(expect.any(String));
    }
    // The pod was never fetched by name: the watch brought it, its tombstone answered.
    expect(api.requestsTo(`/api/v1/namespaces/demo/pods/${pod.metadata.name}`)).toHaveLength(0);
  });

  it('keeps the pod store, and the tombstone of a Job pod deleted before the reload, across a config reload', async () => {
    const { api, node, records, run, until, rewrite } = await setUp({ more: { config_reload_interval: '200ms' } });
    const agent = run();
    const { job, pod } = await shortLivedJob(api, agent, until);
    // A changed config restarts the pipeline; the kubernetes section is the same, so the store goes on.
    await rewrite({ config_reload_interval: '300ms' });
    await until('the pipeline restarted', () => agent.logEntries().filter((e) => e.msg === 'kaudit started').length >= 2, agent);
    const [c] = await node.pod('demo', pod.metadata.name, ['export'], pod.metadata.uid);
    await c.print(lines('export', 10));
    await until('10 records', () => ofPod(records(), pod.metadata.name).length >= 10, agent);
    for (const r of ofPod(records(), pod.metadata.name)) {
      expect(r.kubernetes).toMatchObject({ enriched: true, owner: { kind: 'CronJob', name: 'report-export' }, owner_chain: [{ kind: 'Job', name: job.metadata.name }, { kind: 'CronJob', name: 'report-export' }] });
    }
    // One list of the node's pods for both configs.
    expect(api.requestsTo('/api/v1/pods', { watch: false })).toHaveLength(1);
  });

  it('delivers lines at once, not enriched, while the API is down at start, and enriches them once it answers', async () => {
    const { api, node, records, run, until } = await setUp({ kubernetes: { max_wait: '1s', watch_wait: '500ms' } });
    const pod = corpusObject('get-pod.json');
    api.setDown(true);
    const [c] = await node.pod('payments', pod.metadata.name, ['api'], pod.metadata.uid);
    await c.print(lines('down', 20));
    const agent = run();
    await until('20 records while the API is down', () => ofPod(records(), pod.metadata.name).length >= 20, agent);
    for (const r of ofPod(records(), pod.metadata.name)) {
      expect(r.kubernetes).toEqual({ namespace: 'payments', pod: pod.metadata.name, pod_uid: pod.metadata.uid, container: 'api', container_id: c.id, enriched: false });
    }
    api.setDown(false);
    await c.print(lines('up', 20));
    await until('20 more records', () => ofPod(records(), pod.metadata.name).length >= 40, agent);
    // Lines read before the API answered again may go out unenriched; once it answers, they are enriched.
    await until('a line enriched after the API came back', async () => {
      await c.print(['probe']);
      await new Promise((r) => setTimeout(r, 300));
      return ofPod(records(), pod.metadata.name).some((r) => r.message === 'probe' && r.kubernetes?.enriched === true);
    }, agent);
    const last = ofPod(records(), pod.metadata.name).at(-1)!;
    expect(last.kubernetes).toMatchObject({
      enriched: true, labels: { app: 'ledger-api' }, owner: { kind: 'Deployment', name: 'ledger-api' }, node: 'node-1',
    });
  });

  it('follows a pod\'s label change after its container was found: later lines carry the new labels', async () => {
    const { api, node, records, run, until } = await setUp();
    const pod = api.put('pods', podOf(corpusObject('get-pod.json'), 'ledger-api-relabelled', 'ledger-api-8665cc4c74', { app: 'ledger-api', track: 'stable' }));
    const [c] = await node.pod('payments', pod.metadata.name, ['api'], pod.metadata.uid);
    await c.print(lines('before', 10));
    const agent = run();
    await until('10 records', () => ofPod(records(), pod.metadata.name).length >= 10, agent);
    // The watch brings a MODIFIED pod: a label changed, one added, one removed.
    const changed = structuredClone(pod);
    changed.metadata.labels = { app: 'ledger-api', track: 'canary', rollout: '42' };
    api.put('pods', changed);
    await new Promise((r) => setTimeout(r, 500));
    await c.print(lines('after', 10));
    await until('20 records', () => ofPod(records(), pod.metadata.name).length >= 20, agent);
    await agent.stop();
    const labelsOf = (tag: string) => ofPod(records(), pod.metadata.name).filter((r) => r.message?.startsWith(tag)).map((r) => r.kubernetes?.labels);
    expect(labelsOf('before')).toEqual(Array(10).fill({ app: 'ledger-api', track: 'stable' }));
    expect(labelsOf('after')).toEqual(Array(10).fill({ app: 'ledger-api', track: 'canary', rollout: '42' }));
  });

  it('starts on a node with 100 pods of 10 ReplicaSets with one list and one GET per ReplicaSet, not one request per pod', async () => {
    const { api, node, records, run, until } = await setUp();
    const template = corpusObject('get-pod.json');
    const rsTemplate = corpusObject('get-replicaset.json');
    const pods: K8sObject[] = [];
    for (let r = 0; r < 10; r++) {
      const rs = structuredClone(rsTemplate);
      rs.metadata.name = `svc-${r}-5d9c7b`;
      rs.metadata.uid = `uid-svc-${r}-5d9c7b`;
      (rs.metadata.ownerReferences as Array<{ name: string }>)[0].name = `svc-${r}`;
      api.put('replicasets', rs);
      for (let i = 0; i < 10; i++) pods.push(api.put('pods', podOf(template, `svc-${r}-5d9c7b-p${i}`, rs.metadata.name)));
    }
    for (const p of pods) {
      const [c] = await node.pod('payments', p.metadata.name, ['api'], p.metadata.uid);
      await c.print(lines(p.metadata.name, 5));
    }
    api.resetCounts();
    const agent = run();
    await until('500 records', () => records().filter((r) => r.kubernetes?.pod?.startsWith('svc-')).length >= 500, agent, 120_000);
    const got = records().filter((r) => r.kubernetes?.pod?.startsWith('svc-'));
    expect(got.filter((r) => r.kubernetes?.enriched !== true)).toEqual([]);
    expect(got.find((r) => r.kubernetes?.pod === 'svc-3-5d9c7b-p7')?.kubernetes?.owner).toEqual({ kind: 'Deployment', name: 'svc-3' });
    // One list of the node's pods (and a watch), no GET of a pod; one GET per ReplicaSet, a few at a time.
    const nonWatch = api.requests.filter((r) => !r.watch);
    expect(nonWatch.filter((r) => r.path === '/api/v1/pods')).toHaveLength(1);
    expect(nonWatch.filter((r) => r.path.startsWith('/api/v1/namespaces/payments/pods/'))).toHaveLength(0);
    const rsGets = nonWatch.filter((r) => r.path.startsWith('/apis/apps/v1/namespaces/payments/replicasets/svc-'));
    expect(new Set(rsGets.map((r) => r.path)).size).toBe(10);
    expect(rsGets.length).toBe(10);
    expect(api.maxInFlightOf('replicasets')).toBeLessThanOrEqual(4);
  });

  it('reads containers by pod label: include and exclude selectors, and other kaudit pods left out by default', async () => {
    // Two sources over the node: `webs` selects by label; `all` reads everything (kaudit pods too), so its records
    // show when the first listing's decisions are made.
    const containers = (node: FakeNode, more: Record<string, unknown>) => ({ kind: 'containers', path: node.links, pods_path: node.pods, poll_interval: 200, ...more });
    const { api, node, records, run, until } = await setUp({
      sources: (n) => ({
        webs: containers(n, { include: { labels: ['app=web*'] }, exclude: { labels: ['track=canary'] } }),
        all: containers(n, { exclude_self: false }),
      }),
    });
    const template = corpusObject('get-pod.json');
    const pods = [
      podOf(template, 'web-1', 'web-rs', { app: 'web' }),
      podOf(template, 'web-canary', 'web-rs', { app: 'web', track: 'canary' }),
      podOf(template, 'batch-1', 'batch-rs', { app: 'batch' }),
      podOf(template, 'kaudit-other', 'kaudit-rs', { app: 'web', 'app.kubernetes.io/name': 'kaudit' }),
    ].map((p) => api.put('pods', p));
    for (const p of pods) {
      const [c] = await node.pod('payments', p.metadata.name, ['api'], p.metadata.uid);
      await c.print(lines(p.metadata.name, 3));
    }
    const agent = run();
    await until('every line through `all` and web-1\'s through `webs`', () => records().length >= 15 && ofPod(records(), 'web-1').length >= 6, agent);
    await agent.stop();
    const count = (pod: string) => ofPod(records(), pod).length;
    expect({ web: count('web-1'), canary: count('web-canary'), batch: count('batch-1'), kaudit: count('kaudit-other') })
      .toEqual({ web: 6, canary: 3, batch: 3, kaudit: 3 });
  });
});

/** An audit event as the apiserver writes it (the shape of the recorded exec in ../shared/corpus/real-apiserver). */
function auditEvent(i: number, verb: string, objectRef: Record<string, string>): string {
  return JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    stage: 'ResponseComplete', requestURI: `/api/v1/namespaces/${objectRef.namespace ?? ''}/${objectRef.resource}`, verb,
    user: { username: 'breakglass', groups: ['system:masters', 'system:authenticated'] }, sourceIPs: ['127.0.0.143'],
    userAgent: 'kubectl/v1.26.1 (linux/amd64) kubernetes/8f94681', objectRef: { apiVersion: 'v1', ...objectRef },
    responseStatus: { metadata: {}, code: 200 }, requestReceivedTimestamp: '2026-11-22T12:06:50.997471Z', stageTimestamp: '2026-11-22T12:06:51.045502Z',
  });
}

describe('audit events with Kubernetes context (fake API)', () => {
  it('gives events on a pod its node, labels, images and owner, namespaced events their namespace labels, by GET on a node that watches no pods', async () => {
    const { dir, api, records, run, until } = await setUp({
      kubernetes: { node_name: undefined },
      sources: (_, d) => ({ audit: { kind: 'audit', path: join(d, 'audit.log') } }),
    });
    const pod = corpusObject('get-pod.json');
    const execs = Array.from({ length: 20 }, (_, i) => auditEvent(i, 'create', { resource: 'pods', namespace: 'payments', name: pod.metadata.name, subresource: 'exec' }));
    const others = [
      auditEvent(100, 'get', { resource: 'configmaps', namespace: 'payments', name: 'ledger-config' }),
      auditEvent(101, 'list', { resource: 'nodes' }),
      auditEvent(102, 'create', { resource: 'pods', namespace: 'payments', name: 'gone-pod', subresource: 'exec' }),
    ];
    await appendFile(join(dir, 'audit.log'), `${[...execs, ...others].join('\n')}\n`);
    const agent = run();
    await until('23 events', () => records().length >= 23, agent);
    const byId = (i: number) => records().find((r) => (r as { auditID?: string }).auditID?.endsWith(String(i).padStart(12, '0')))!;
    const namespaceLabels = { 'kubernetes.io/metadata.name': 'payments' };
    for (let i = 0; i < 20; i++) {
      expect(byId(i).kubernetes).toMatchObject({
        namespace_labels: expect.objectContaining(namespaceLabels), node: 'node-1', labels: { app: 'ledger-api' },
        images: [expect.any(String)], owner: { kind: 'Deployment', name: 'ledger-api' },
        owner_chain: [{ kind: 'ReplicaSet', name: 'ledger-api-8665cc4c74' }, { kind: 'Deployment', name: 'ledger-api' }],
      });
    }
    expect(byId(100).kubernetes).toEqual({ namespace_labels: expect.objectContaining(namespaceLabels) });
    expect(byId(101).kubernetes).toBeUndefined();
    // A pod the API does not have: its namespace's labels only.
    expect(byId(102).kubernetes).toEqual({ namespace_labels: expect.objectContaining(namespaceLabels) });
    // No pod watch without a node name; the pod fetched once for its 20 events.
    expect(api.requestsTo('/api/v1/pods')).toHaveLength(0);
    expect(api.requestsTo(`/api/v1/namespaces/payments/pods/${pod.metadata.name}`)).toHaveLength(1);
  });

  it('gives an alarm on an exec into a known pod the pod\'s labels and owner, in its evidence and in the event it carries', async () => {
    const { dir, records, run, until } = await setUp({
      kubernetes: { node_name: undefined },
      sources: (_, d) => ({ audit: { kind: 'audit', path: join(d, 'audit.log') } }),
      more: { detection: { enabled: true, system_rules: false, rules: ['site.yaml'] } },
    });
    await writeFile(join(dir, 'site.yaml'), [
      'rules:',
      '  - id: SITE-EXEC-001',
      '    name: Exec into a pod',
      '    category: command-execution',
      '    level: high',
      '    match: { all: [ { field: objectRef.resource, equals: pods }, { field: objectRef.subresource, equals: exec } ] }',
      '    aggregate_by: [objectRef.name]',
      '    output: "exec into {objectRef.namespace}/{objectRef.name}"',
      '',
    ].join('\n'));
    const pod = corpusObject('get-pod.json');
    await appendFile(join(dir, 'audit.log'), `${[
      auditEvent(1, 'create', { resource: 'pods', namespace: 'payments', name: pod.metadata.name, subresource: 'exec' }),
      auditEvent(2, 'create', { resource: 'pods', namespace: 'payments', name: 'gone-pod', subresource: 'exec' }),
    ].join('\n')}\n`);
    const agent = run();
    type Alarm = { kind?: string; evidence?: { name?: string; kubernetes?: Record<string, unknown> }; event?: { kubernetes?: Record<string, unknown> } };
    const alarms = () => (records() as Alarm[]).filter((r) => r.kind === 'kaudit.Alarm');
    await until('2 alarms', () => alarms().length >= 2, agent);
    await agent.stop();
    const known = alarms().find((a) => a.evidence?.name === pod.metadata.name)!;
    const context = {
      node: 'node-1', labels: { app: 'ledger-api', 'pod-template-hash': '8665cc4c74' }, owner: { kind: 'Deployment', name: 'ledger-api' },
      owner_chain: [{ kind: 'ReplicaSet', name: 'ledger-api-8665cc4c74' }, { kind: 'Deployment', name: 'ledger-api' }],
      namespace_labels: expect.objectContaining({ 'kubernetes.io/metadata.name': 'payments' }),
    };
    expect(known.evidence!.kubernetes).toMatchObject(context);
    expect(known.event!.kubernetes).toMatchObject(context);
    // A pod the API does not have: its namespace's labels only, as on the forwarded event.
    const gone = alarms().find((a) => a.evidence?.name === 'gone-pod')!;
    expect(gone.evidence!.kubernetes).toEqual({ namespace_labels: expect.objectContaining({ 'kubernetes.io/metadata.name': 'payments' }) });
  });
});
