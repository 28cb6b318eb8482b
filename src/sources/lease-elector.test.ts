// Leader election over a Lease against the FAKE Kubernetes API (test/utils/fake-k8s-api.ts: create 201 / 409
// AlreadyExists, update 409 Conflict on a stale resourceVersion, as recorded in ../shared/corpus/k8s-api/leases): one
// leader at a time, a leader that cannot renew steps down before another takes over, a stop hands over at once.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeK8sApi, kubeconfigFor } from '../../test/utils/fake-k8s-api.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { until } from '../../test/utils/until.ts';
import { connect } from '../enrich/kube-client.ts';
import { LeaseElector } from './lease-elector.ts';

const TOKEN = 'fake-lease-token';
const NS = 'kaudit-system';
const NAME = 'kaudit-events-leader';

let certs: TestCerts;
let dir: string;
beforeAll(async () => {
  certs = await makeTestCerts();
  dir = await mkdtemp(path.join(tmpdir(), 'kaudit-lease-'));
});
afterAll(async () => {
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
});
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Candidates on one fake API; `log` records every start and stop of leading, `leading` the most leaders at once. */
async function election(names: string[]) {
  const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
  cleanup.push(() => api.close());
  const kubeconfig = path.join(dir, `kubeconfig-${Date.now()}`);
  await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
  const log: string[] = [];
  const state = { now: 0, most: 0 };
  const electors = names.map((name) => {
    const e = new LeaseElector(connect(kubeconfig).coordination, {
      namespace: NS, name: NAME, identity: `${name}_0000`, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200,
    }, {
      started: () => {
        log.push(`${name} started`);
        state.most = Math.max(state.most, ++state.now);
      },
      stopped: () => {
        log.push(`${name} stopped`);
        state.now--;
      },
      failed: () => {},
    });
    cleanup.push(() => e.stop());
    return e;
  });
  const holder = () => (api.get('leases', NS, NAME)?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  return { api, log, state, electors, holder };
}

describe('Lease leader election against the fake API', () => {
  it('creates the Lease when there is none; of two candidates one leads, the other stands by', async () => {
    const { api, electors, holder, state } = await election(['a', 'b']);
    for (const e of electors) e.start();
    await until('a leader', () => electors.some((e) => e.leading));
    await new Promise((r) => setTimeout(r, 1000)); // several rounds of both
    expect(electors.filter((e) => e.leading)).toHaveLength(1);
    expect(state.most).toBe(1);
    const leader = electors.find((e) => e.leading)!;
    expect(holder()).toBe(leader.identity);
    expect(api.get('leases', NS, NAME)!.spec).toMatchObject({ leaseDurationSeconds: 2, leaseTransitions: 0 });
    // The loser's create got 409 AlreadyExists, or its update 409 Conflict: both were tried.
    expect(api.requestsTo(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`).some((r) => r.method === 'POST')).toBe(true);
  });

  it('a leader that cannot renew steps down at its renew deadline, before another takes over', async () => {
    const { api, electors, log, state } = await election(['a', 'b']);
    electors[0]!.start();
    await until('a leading', () => electors[0]!.leading);
    electors[1]!.start();
    await new Promise((r) => setTimeout(r, 600));
    // The API server goes away for longer than the lease: the leader must stop leading on its own.
    api.setDown(true);
    await until('a stepping down', () => !electors[0]!.leading, 10_000);
    api.setDown(false);
    await until('a new leader', () => electors.some((e) => e.leading), 10_000);
    expect(state.most).toBe(1);
    expect(log.slice(0, 2)).toEqual(['a started', 'a stopped']);
  });

  it('a stop releases the Lease: a standby takes it at its next try, the transitions counted', async () => {
    const { api, electors, log, holder } = await election(['a', 'b']);
    electors[0]!.start();
    await until('a leading', () => electors[0]!.leading);
    electors[1]!.annotate({ 'kaudit.io/events-resource-version': '999' });
    electors[1]!.start();
    electors[0]!.annotate({ 'kaudit.io/events-resource-version': '1234' });
    await electors[0]!.stop();
    expect(holder()).toBe('');
    expect(api.get('leases', NS, NAME)!.metadata.annotations).toEqual({ 'kaudit.io/events-resource-version': '1234' });
    await until('b leading', () => electors[1]!.leading, 10_000);
    expect(log).toEqual(['a started', 'b started']);
    expect(api.get('leases', NS, NAME)!.spec).toMatchObject({ holderIdentity: 'b_0000', leaseTransitions: 1 });
    // What b was given before it led is not written: the Lease keeps what its leader left.
    expect(api.get('leases', NS, NAME)!.metadata.annotations).toEqual({ 'kaudit.io/events-resource-version': '1234' });
  });
});
