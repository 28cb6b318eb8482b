// The ClusterRole of deploy/ against what the agent really asks the API server for: an agent with enrichment on
// (container logs of this node's pods, audit events on a pod of another node) runs against the FAKE Kubernetes API
// (test/utils/fake-k8s-api.ts), and the permissions its requests needed are exactly those the role grants for them.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { corpusObject, FakeK8sApi, kubeconfigFor, permissionOf, seedCorpus } from '../utils/fake-k8s-api.ts';
import { FakeNode } from '../utils/kubelet.ts';
import { Receiver } from '../utils/receiver.ts';
import { makeTestCerts, type TestCerts } from '../utils/tls.ts';
import { REPO } from './dockerfile.ts';
import { documents } from './k8s-schema.ts';

const TOKEN = 'fake-service-account-token';
let certs: TestCerts;
beforeAll(async () => {
  certs = await makeTestCerts();
});
afterAll(async () => {
  await certs.cleanup();
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** `group/resource verb` for every permission the rules grant. */
function granted(rules: Rule[]): Set<string> {
  return new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res} ${v}`)))));
}

describe('deploy/daemonset.yaml ClusterRole', () => {
  it('grants exactly what enrichment calls: every request it made allowed, no permission on its resources unused (fake API)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-rbac-'));
    const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
    const rx = await Receiver.start();
    let agent: AgentProcess | undefined;
    try {
      seedCorpus(api);
      // A Job's pod on this node (its Job read for the CronJob), a Deployment's (its ReplicaSet read), and a pod on
      // another node that an audit event names (read by GET).
      api.put('jobs', corpusObject('owners/get-job-running.json'));
      const jobPod = api.put('pods', corpusObject('owners/get-pod-of-job-running.json'));
      const ledger = corpusObject('get-pod.json');
      const elsewhere = structuredClone(ledger);
      elsewhere.metadata.name = 'ledger-api-8665cc4c74-zz9q1';
      delete elsewhere.metadata.uid;
      elsewhere.spec!.nodeName = 'node-2';
      api.put('pods', elsewhere);
      const node = await new FakeNode(dir).init();
      for (const [p, container] of [[jobPod, 'export'], [ledger, 'api']] as const) {
        const [c] = await node.pod(p.metadata.namespace!, p.metadata.name, [container], p.metadata.uid);
        await c.print(['started']);
      }
      const audit = join(dir, 'audit.log');
      await appendFile(audit, `${JSON.stringify({
        kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: 'b3c2a1d0-0000-4000-8000-000000000001', stage: 'ResponseStarted',
        requestURI: `/api/v1/namespaces/payments/pods/${elsewhere.metadata.name}/exec?command=sh`, verb: 'create',
        user: { username: 'breakglass' }, sourceIPs: ['127.0.0.143'], objectRef: { resource: 'pods', namespace: 'payments', name: elsewhere.metadata.name, apiVersion: 'v1', subresource: 'exec' },
        responseStatus: { metadata: {}, code: 101 }, requestReceivedTimestamp: '2026-11-22T12:06:50.997471Z', stageTimestamp: '2026-11-22T12:06:51.045502Z',
      })}\n`);
      const kubeconfig = join(dir, 'kubeconfig.yaml');
      await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
      const config = await writeAgentConfig(dir, {
        state_dir: join(dir, 'state'), http: null, detection: { enabled: false },
        kubernetes: { enabled: true, kubeconfig, node_name: 'node-1', max_wait: '10s' },
        sources: { pods: { kind: 'containers', path: node.links, pods_path: node.pods }, audit: { kind: 'audit', path: audit } },
        sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
      });
      agent = AgentProcess.run(config);
      const enriched = () => (rx.documents() as Array<{ kubernetes?: { owner?: { kind: string } } }>).filter((d) => d.kubernetes?.owner !== undefined).map((d) => d.kubernetes!.owner!.kind);
      const end = Date.now() + 60_000;
      while (enriched().length < 3) {
        if (Date.now() > end || agent.child.exitCode !== null) throw new Error(`records not enriched: ${JSON.stringify(rx.documents())}; ${agent.logs().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(enriched().sort()).toEqual(['CronJob', 'Deployment', 'Deployment']);

      const used = new Set(api.requests.map((r) => {
        const p = permissionOf(r);
        if (p === undefined) throw new Error(`a request the fake does not serve: ${r.method} ${r.path}`);
        return `${p.group}/${p.resource} ${p.verb}`;
      }));
      const role = documents(await readFile(join(REPO, 'deploy/daemonset.yaml'), 'utf8')).find((o) => o.kind === 'ClusterRole') as unknown as { rules: Rule[] };
      const grants = granted(role.rules);
      expect([...used].filter((u) => !grants.has(u))).toEqual([]);
      // Other sources may add rules for their own resources; on the resources enrichment reads, nothing unused.
      const mine = new Set([...used].map((u) => u.split(' ')[0]));
      expect([...grants].filter((g) => mine.has(g.split(' ')[0])).sort()).toEqual([...used].sort());
      expect([...used].sort()).toEqual(['/namespaces list', '/namespaces watch', '/pods get', '/pods list', '/pods watch', 'apps/replicasets get', 'batch/jobs get']);
    } finally {
      await agent?.kill9();
      await rx.close();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
