// End to end: rules on container records and on ingress access logs in the real agent, tailing CRI files laid out as
// kubelet lays them out, alarms and records at a real HTTP receiver; and the config and rule errors an operator sees.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { FakeNode } from '../utils/kubelet.ts';
import { Receiver } from '../utils/receiver.ts';
import { until } from '../utils/until.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function tmp(what: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `kaudit-record-rules-${what}-`));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A site rule on one workload's output, as docs/rules.md shows. */
const SITE_RULE = `rules:
  - id: SITE-LEDGER-AUTH
    name: Ledger refused a signature
    category: credential-access
    level: medium
    source: containers
    scope: { namespaces: [payments] }
    match:
      all:
        - { field: kubernetes.container, equals: ledger }
        - { field: message, regex: 'signature verification failed for key [0-9a-f]{8}' }
    aggregate_by: [kubernetes.pod]
    output: "{kubernetes.namespace}/{kubernetes.pod}: {message}"
`;

const access = (ip: string, path: string, status: number, ua: string) =>
  `${ip} - - [07/Dec/2026:10:41:17 +0000] "GET ${path} HTTP/1.1" ${status} 150 "-" "${ua}" 300 0.002 [shop-web-80] [] 10.244.1.17:8080 150 0.002 ${status} 4f3e2d1c`;

interface Alarm { rule: { id: string }; source?: string; summary: string; evidence: Record<string, any> }

describe('rules on records in the agent', () => {
  it('a real agent tailing CRI files raises the shipped and site alarms on container and ingress lines, and none on ordinary ones', async () => {
    const dir = await tmp('agent');
    const node = await new FakeNode(dir).init();
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    await writeFile(join(dir, 'site.yaml'), SITE_RULE);
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      detection: { rules: ['site.yaml'], update_interval: 0 },
      sources: {
        pods: {
          kind: 'containers', path: node.links, pods_path: node.pods, poll_interval: 200,
          ingress: { namespaces: ['ingress-nginx'], containers: ['controller'] },
        },
      },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['alarms', 'pods'], batch: { max_wait: 50 } } },
    });
    const [ledger] = await node.pod('payments', 'ledger-0', ['ledger']);
    const [web] = await node.pod('shop', 'web-7d4b9-x2x9k', ['app']);
    const [controller] = await node.pod('ingress-nginx', 'ingress-nginx-controller-5c8d66c76d-4gq7s', ['controller']);
    await ledger.print(['request 1 ok', 'signature verification failed for key 0a1b2c3d', 'request 3 ok']);
    await web.print(['Starting web server on :8080', 'connecting to postgres://app:hunter2secret@db.shop.svc:5432/shop', 'GET /healthz 200']);
    await controller.print([
      'I1207 10:41:17.000000       7 controller.go:190] "Configuration changes detected, backend reload required"',
      access('198.51.100.7', '/products/42', 200, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0'),
      access('203.0.113.66', '/.git/config', 404, 'Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))'),
    ]);
    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
    });
    const docs = () => rx.documents() as Array<Record<string, any>>;
    const alarms = () => docs().filter((d) => d.kind === 'kaudit.Alarm') as unknown as Alarm[];
    await until('9 records and 4 alarms', () => docs().length - alarms().length >= 9 && alarms().length >= 4);
    await new Promise((r) => setTimeout(r, 500)); // anything more would arrive now
    expect(alarms().map((a) => [a.rule.id, a.source]).sort()).toEqual([
      ['KA-CLOG-001', 'containers'], ['KA-INGRESS-001', 'ingress'], ['KA-INGRESS-003', 'ingress'], ['SITE-LEDGER-AUTH', 'containers'],
    ]);
    const byRule = (id: string) => alarms().find((a) => a.rule.id === id)!;
    expect(byRule('SITE-LEDGER-AUTH').summary).toBe('payments/ledger-0: signature verification failed for key 0a1b2c3d');
    expect(byRule('KA-CLOG-001').evidence).toMatchObject({ redacted: true, kubernetes: { namespace: 'shop', pod: 'web-7d4b9-x2x9k', container: 'app' } });
    expect(JSON.stringify(docs())).not.toContain('hunter2secret');
    expect(byRule('KA-INGRESS-001').evidence.ingress).toMatchObject({ client_ip: '203.0.113.66', path: '/.git/config', status: 404, upstream_name: 'shop-web-80' });
    // The forwarded records: ingress fields on the controller's access lines only.
    const records = docs().filter((d) => d.kind !== 'kaudit.Alarm');
    expect(records.filter((r) => r.ingress !== undefined).map((r) => r.ingress.path)).toEqual(['/products/42', '/.git/config']);
    expect((await agent.stop()).code).toBe(0);
  });

  it('check-config names the field of a wrong source: in a rule file and of an ingress format it cannot read', async () => {
    const dir = await tmp('config');
    await writeFile(join(dir, 'site.yaml'), SITE_RULE.replace('source: containers', 'source: container'));
    const badRule = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null, detection: { rules: ['site.yaml'] },
      sources: { pods: { kind: 'containers', path: join(dir, 'links'), pods_path: join(dir, 'pods') } },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), inputs: ['*'] } },
    }, 'bad-rule.yaml');
    const rule = await runCli(['check-config', badRule]);
    expect(rule.code).toBe(2);
    expect(rule.stderr.trim()).toMatch(/site\.yaml: rules\[0\] \(SITE-LEDGER-AUTH\)\.source: unknown source "container" \(expected audit, containers, ingress, k8s_events, syslog, files\)$/);

    const badFormat = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null,
      sources: { pods: { kind: 'containers', path: join(dir, 'links'), pods_path: join(dir, 'pods'), ingress: { pods: ['ingress-*'], format: '$remote_addr$request' } } },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), inputs: ['*'] } },
    }, 'bad-format.yaml');
    const format = await runCli(['check-config', badFormat]);
    expect(format.code).toBe(2);
    expect(format.stderr.trim()).toBe(`kaudit: invalid config: ${badFormat}: sources.pods.ingress.format: cannot read lines of this log_format: $remote_addr and $request have nothing between them: where one ends cannot be told`);
    const noPick = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null,
      sources: { pods: { kind: 'containers', path: join(dir, 'links'), pods_path: join(dir, 'pods'), ingress: { format: 'default' } } },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), inputs: ['*'] } },
    }, 'no-pick.yaml');
    const pick = await runCli(['check-config', noPick]);
    expect(pick.code).toBe(2);
    expect(pick.stderr.trim()).toBe(`kaudit: invalid config: ${noPick}: sources.pods.ingress: expected at least one of namespaces, pods, containers: which containers are ingress controllers`);
  });
});
