// The k8s_events source in real agent processes against the FAKE Kubernetes API (test/utils/fake-k8s-api.ts) serving
// the events a real kube-apiserver v1.26 recorded (../shared/corpus/k8s-api/events: lists, the watch replayed event by
// event, no BOOKMARKs, 410 on a compacted resourceVersion) and its Leases (404, 201, 409 on a stale resourceVersion):
// each event forwarded once across a relist, a restart and a leader killed with kill -9.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kustomize } from '../deploy/k8s-schema.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { FakeK8sApi, K8S_CORPUS, kubeconfigFor, type K8sObject, type RequestLogEntry } from '../utils/fake-k8s-api.ts';
import { freePort } from '../utils/ports.ts';
import { certsForTestFile } from '../utils/tls.ts';
import { until } from '../utils/until.ts';

const TOKEN = 'fake-events-reader-token';
const V1 = 'events.events.k8s.io';
/** deploy/cluster's namespace, whose RBAC the agents' requests are checked against. */
const LEASE_NS = 'kaudit';
const LEASE = 'kaudit-events-leader';
const MARK = 'kaudit.io/events-resource-version';
/** Short, client-go-shaped timings so that a hand-over happens within the test. */
/** How long a step may take on a loaded machine (the agents share two cores with the test and the fake). */
const WAIT = 60_000;
const ELECTION = { namespace: LEASE_NS, lease_duration: '2s', renew_deadline: '1500ms', retry_period: '300ms' };

const certs = certsForTestFile();

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function fakeApi(): Promise<FakeK8sApi> {
  const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
  cleanup.push(() => api.close());
  return api;
}

/** The recorded watch's events, in order (ADDED and MODIFIED), for the fake to serve one by one. */
function recordedWatch(file: string): Array<{ type: string; object: K8sObject }> {
  return readFileSync(join(K8S_CORPUS, 'events', file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: K8sObject });
}

/** A new Warning event made from a recorded one (a fresh name and uid). */
function freshEvent(api: FakeK8sApi, resource: string, name: string): K8sObject {
  const [template] = recordedWatch(resource === V1 ? 'watch-events-v1.jsonl' : 'watch-core-events.jsonl');
  const e = structuredClone(template!.object);
  e.metadata = { ...e.metadata, name, uid: undefined, resourceVersion: undefined };
  return api.put(resource, e);
}

/** `uid/count` of every event record the file sink wrote, with how often. */
async function delivered(...files: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.includes('"involved_object"') || line.includes('"kaudit.Alarm"')) continue; // records, not alarms
      const r = JSON.parse(line) as { event: { uid: string }; count: number };
      const key = `${r.event.uid}/${r.count}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

/** `uid/count` of every event the fake has served so far (each state of each event). */
function identities(objects: readonly K8sObject[]): string[] {
  return objects.map((o) => `${o.metadata.uid}/${(o.series as { count?: number } | undefined)?.count ?? (o.count as number | undefined) ?? (o.deprecatedCount as number | undefined) ?? 1}`);
}

function lease(api: FakeK8sApi): K8sObject | undefined {
  return api.get('leases', LEASE_NS, LEASE);
}

async function agentSetup(api: FakeK8sApi, name: string, source: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), `kaudit-events-${name}-`));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
  const out = join(dir, 'out.ndjson');
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: null,
    checkpoint_interval: '100ms',
    kubernetes: { kubeconfig },
    sources: { events: { kind: 'k8s_events', leader_election: ELECTION, ...source } },
    sinks: { out: { kind: 'file', path: out, batch: { max_wait: 20 } } },
    ...top,
  });
  const start = () => {
    const agent = AgentProcess.run(config, [], { POD_NAME: `kaudit-${name}` });
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    return agent;
  };
  return { out, start };
}

type PolicyRule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

/** The RBAC rules deploy/cluster grants the agent's service account: cluster-wide, and in each Role's namespace. */
function clusterDeployRules(): Array<{ namespace?: string; rule: PolicyRule }> {
  const objects = kustomize(join(import.meta.dirname, '../../deploy/cluster')) as Array<K8sObject & { rules?: PolicyRule[] }>;
  return objects.flatMap((o) => (o.kind === 'ClusterRole' ? o.rules!.map((rule) => ({ rule }))
    : o.kind === 'Role' ? o.rules!.map((rule) => ({ namespace: o.metadata.namespace, rule })) : []));
}

/** The request in RBAC's terms (as the API server's request-info resolver puts it), and whether `rules` allow it. */
function allowed(r: RequestLogEntry, rules: ReturnType<typeof clusterDeployRules>): boolean {
  const m = r.path.match(/^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?$/);
  if (m === null) return false;
  const [, group = '', namespace, resource, name] = m;
  const verb = r.method === 'POST' ? 'create' : r.method === 'PUT' ? 'update' : name !== undefined ? 'get' : r.watch ? 'watch' : 'list';
  return rules.some(({ namespace: ns, rule }) => (ns === undefined || ns === namespace)
    && rule.apiGroups.includes(group) && rule.resources.includes(resource!) && rule.verbs.includes(verb)
    // A rule naming objects allows only requests that name one of them: never a create or a list.
    && (rule.resourceNames === undefined || (name !== undefined && rule.resourceNames.includes(name))));
}

/** Every identity exactly once, and nothing else. */
function expectOnce(got: Map<string, number>, want: readonly string[]): void {
  expect([...got.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect([...got.keys()].sort()).toEqual([...new Set(want)].sort());
}

describe('k8s_events source against the fake Kubernetes API', () => {
  it('forwards the recorded list and watch once each, relists after a 410 and restarts without forwarding again', async () => {
    const api = await fakeApi();
    const served = api.seed(V1, 'events/list-events-v1.json');
    const a = await agentSetup(api, 'solo');
    let agent = a.start();
    await agent.started(WAIT);
    await until('the 15 listed events at the sink', async () => (await delivered(a.out)).size === 15, WAIT);
    expect(lease(api)!.spec).toMatchObject({ holderIdentity: expect.stringMatching(/^kaudit-solo_/), leaseDurationSeconds: 2 });

    // The recorded watch, event by event: new Warnings, and the combined FailedCreate counted up 2..6.
    for (const w of recordedWatch('watch-events-v1.jsonl')) served.push(api.put(V1, w.object));
    await until('the watched events at the sink', async () => (await delivered(a.out)).size === new Set(identities(served)).size, WAIT);
    expectOnce(await delivered(a.out), identities(served));
    // The shipped rules on events ran in the agent: the recorded warnings' alarms are at the sink too.
    const alarms = (await readFile(a.out, 'utf8')).split('\n').filter((l) => l.includes('"kaudit.Alarm"')).map((l) => JSON.parse(l) as { source: string; rule: { id: string } });
    expect(new Set(alarms.map((x) => `${x.source} ${x.rule.id}`))).toEqual(new Set(['k8s_events KA-EVT-006', 'k8s_events KA-EVT-007', 'k8s_events KA-EVT-011']));
    expect(api.requestsTo('/apis/events.k8s.io/v1/events', { watch: true }).every((r) => r.query.get('allowWatchBookmarks') === 'true')).toBe(true);

    // An outage, an event written meanwhile, and compaction: the watch, started again from its resourceVersion, gets
    // the recorded ERROR 410, and the source relists: the new event is forwarded, the others not again.
    const lists = () => api.requestsTo('/apis/events.k8s.io/v1/events', { watch: false }).filter((r) => !r.query.has('limit')).length;
    const listsBefore = lists();
    api.setDown(true);
    served.push(freshEvent(api, V1, 'during-outage.18eee6000000000a'));
    api.compact();
    api.setDown(false);
    await agent.waitForLog(/410 Gone/, WAIT);
    await until('the event written during the outage', async () => (await delivered(a.out)).size === new Set(identities(served)).size, WAIT);
    expect(lists()).toBeGreaterThan(listsBefore);
    expectOnce(await delivered(a.out), identities(served));

    // A restart lists everything again: only what changed while the agent was down is forwarded.
    expect((await agent.stop()).code).toBe(0);
    expect(lease(api)!.spec).toMatchObject({ holderIdentity: '' }); // released for a standby
    served.push(freshEvent(api, V1, 'while-down.18eee6000000000b'));
    agent = a.start();
    await agent.started(WAIT);
    await until('the event written while the agent was down', async () => (await delivered(a.out)).size === new Set(identities(served)).size, WAIT);
    await agent.waitForLog(/^became the events leader/, WAIT);
    expectOnce(await delivered(a.out), identities(served));
    expect((await agent.stop()).code).toBe(0);
  }, 240_000);

  it('two agents: exactly one forwards; when it is killed (kill -9) the other takes the Lease and nothing is lost or forwarded twice', async () => {
    const api = await fakeApi();
    const served = api.seed(V1, 'events/list-events-v1.json');
    const one = await agentSetup(api, 'one');
    const two = await agentSetup(api, 'two');
    const agents = { one: one.start(), two: two.start() };
    await Promise.all([agents.one.started(WAIT), agents.two.started(WAIT)]);
    await until('the 15 listed events at a sink', async () => (await delivered(one.out, two.out)).size === 15, WAIT);
    const holder = String((lease(api)!.spec as { holderIdentity: string }).holderIdentity);
    const [leader, standby] = holder.startsWith('kaudit-one_') ? (['one', 'two'] as const) : (['two', 'one'] as const);
    const outOf = { one: one.out, two: two.out };

    const watch = recordedWatch('watch-events-v1.jsonl');
    for (const w of watch.slice(0, 10)) served.push(api.put(V1, w.object));
    const lastRv = Number(served.at(-1)!.metadata.resourceVersion);
    await until('the first watched events at the leader', async () => (await delivered(outOf[leader])).size === new Set(identities(served)).size, WAIT);
    // The leader has written its mark to the Lease (what the next leader starts from).
    await until('the mark on the Lease', () => Number((lease(api)!.metadata.annotations as Record<string, string> | undefined)?.[MARK]) >= lastRv, WAIT);
    expect((await delivered(outOf[standby])).size).toBe(0); // the standby forwards nothing

    await agents[leader].kill9();
    const lastRenew = Date.parse(String((lease(api)!.spec as { renewTime: string }).renewTime));
    // An event while no one leads: the next leader's list has it.
    served.push(freshEvent(api, V1, 'no-leader.18eee6000000000c'));
    await agents[standby].waitForLog(/^became the events leader/, WAIT);
    const taken = lease(api)!.spec as { holderIdentity: string; acquireTime: string; leaseTransitions: number };
    expect(taken.holderIdentity.startsWith(`kaudit-${standby}_`)).toBe(true);
    expect(taken.leaseTransitions).toBe(1);
    // Not before the lease duration had passed since the dead leader's last renewal (client-go's rule).
    expect(Date.parse(taken.acquireTime) - lastRenew).toBeGreaterThanOrEqual(2000);
    // The rest of the recorded watch, the combined event's counts included, to the new leader once it watches.
    await until('the new leader watching', () => api.openWatches(V1) === 1, WAIT);
    for (const w of watch.slice(10)) served.push(api.put(V1, w.object));
    await until('every event at one sink or the other', async () => (await delivered(one.out, two.out)).size === new Set(identities(served)).size, WAIT);
    expectOnce(await delivered(one.out, two.out), identities(served));
    expect((await agents[standby].stop()).code).toBe(0);
    // deploy/cluster's RBAC allows every request the two agents made (events, and create, get, update of the Lease).
    const rules = clusterDeployRules();
    const made = new Set(api.requests.map((r) => `${r.method} ${r.path}${r.watch ? ' (watch)' : ''}`));
    expect([...made].filter((m) => !allowed(api.requests.find((r) => `${r.method} ${r.path}${r.watch ? ' (watch)' : ''}` === m)!, rules))).toEqual([]);
    expect(made).toEqual(new Set([
      'GET /apis/events.k8s.io/v1/events', 'GET /apis/events.k8s.io/v1/events (watch)',
      `GET /apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/${LEASE}`, `POST /apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases`,
      `PUT /apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/${LEASE}`,
    ]));
  }, 240_000);

  it('killed (kill -9) after making events durable but before saving its state: restarted, it forwards them again and its buffer drops them', async () => {
    const api = await fakeApi();
    const served = api.seed(V1, 'events/list-events-v1.json');
    // No Lease, and a state file saved only at a clean stop: the kill always falls between forward and checkpoint.
    const a = await agentSetup(api, 'kill', { leader_election: { enabled: false } }, { checkpoint_interval: '10m' });
    let agent = a.start();
    await agent.started(WAIT);
    await until('the 15 listed events at the sink', async () => (await delivered(a.out)).size === 15, WAIT);
    // The buffer saves what the sink acknowledged within 50 ms; a kill before that is the buffer's own repeat, not this one.
    await new Promise((r) => setTimeout(r, 500));
    await agent.kill9();
    served.push(freshEvent(api, V1, 'after-kill.18eee6000000000d'));
    agent = a.start();
    await agent.started(WAIT);
    await until('the event written after the kill', async () => (await delivered(a.out)).size === 16, WAIT);
    // The 15 were listed and handed over again, with the same record ids: the sink buffer knew them.
    await new Promise((r) => setTimeout(r, 500));
    expectOnce(await delivered(a.out), identities(served));
    expect((await agent.stop()).code).toBe(0);
  }, 240_000);

  it('is unready while it leads and cannot reach the events API, and ready once it lists them', async () => {
    const api = await fakeApi();
    api.seed(V1, 'events/list-events-v1.json');
    api.setDown(true);
    const port = await freePort();
    const a = await agentSetup(api, 'down', { leader_election: { enabled: false } }, { http: { listen: `127.0.0.1:${port}` } });
    const agent = a.start();
    await agent.started(WAIT);
    const readyz = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    await until('/readyz 503 naming the events source', async () => {
      const r = await readyz();
      return r.status === 503 && r.body.includes('sources.events: cannot list or watch Kubernetes events');
    }, WAIT);
    api.setDown(false);
    await until('the 15 listed events at the sink', async () => (await delivered(a.out)).size === 15, WAIT);
    await until('/readyz 200', async () => (await readyz()).status === 200, WAIT);
    expect((await agent.stop()).code).toBe(0);
  }, 240_000);

  it('falls back to core v1 events when the API server does not serve events.k8s.io', async () => {
    const api = await fakeApi();
    api.unserve('events.k8s.io');
    const served = api.seed('events', 'events/list-core-events.json');
    const a = await agentSetup(api, 'core', { leader_election: { enabled: false } });
    const agent = a.start();
    await agent.waitForLog(/events\.k8s\.io\/v1 not served; reading core v1 events/, WAIT);
    await until('the 15 listed events at the sink', async () => (await delivered(a.out)).size === 15, WAIT);
    for (const w of recordedWatch('watch-core-events.jsonl')) served.push(api.put('events', w.object));
    await until('the core events at the sink', async () => (await delivered(a.out)).size === new Set(identities(served)).size, WAIT);
    expectOnce(await delivered(a.out), identities(served));
    const records = (await readFile(a.out, 'utf8')).trim().split('\n').filter((l) => !l.includes('"kaudit.Alarm"')).map((l) => JSON.parse(l) as { api: string; message: string });
    expect(new Set(records.map((r) => r.api))).toEqual(new Set(['v1']));
    expect(records.some((r) => r.message.startsWith('(combined from similar events)'))).toBe(true);
    expect(api.requestsTo('/apis/coordination.k8s.io')).toEqual([]); // no Lease without leader election
    expect((await agent.stop()).code).toBe(0);
  }, 240_000);
});
