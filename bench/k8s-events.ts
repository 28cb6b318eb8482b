// The k8s_events source: events/s the real `kaudit run` forwards from the FAKE Kubernetes API (test/utils/fake-k8s-api.ts),
// first from its list (events there before the agent starts), then from its watch (events written while it watches),
// made from the recorded events (../shared/corpus/k8s-api/events) with fresh names and uids; the agent's CPU seconds.
// Usage: npm run bench:source:k8s-events -- [--events N] [--rules on|off]
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess, writeAgentConfig } from '../test/utils/agent.ts';
import { FakeK8sApi, K8S_CORPUS, kubeconfigFor, type K8sObject } from '../test/utils/fake-k8s-api.ts';
import { ProcSampler } from '../test/utils/proc.ts';
import { Receiver } from '../test/utils/receiver.ts';
import { makeTestCerts } from '../test/utils/tls.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' }, rules: { type: 'string', default: 'on' } } });
const events = Number(values.events);
const TOKEN = 'bench-token';
const RESOURCE = 'events.events.k8s.io';
const templates = (JSON.parse(readFileSync(join(K8S_CORPUS, 'events/list-events-v1-warnings.json'), 'utf8')) as { items: K8sObject[] }).items;

/** The i-th event: a recorded one under a new name (the fake gives it a uid and a resourceVersion). */
function event(i: number): K8sObject {
  const e = structuredClone(templates[i % templates.length]!);
  e.metadata = { name: `bench-${i}.18eee6f000000000`, namespace: e.metadata.namespace };
  return e;
}

const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-events-'));
const certs = await makeTestCerts();
const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
const rx = await Receiver.start();
try {
  for (let i = 0; i < events; i++) api.put(RESOURCE, event(i));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'), http: null, detection: { enabled: values.rules === 'on' }, kubernetes: { kubeconfig },
    sources: { events: { kind: 'k8s_events', leader_election: { enabled: false } } },
    sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['events'], batch: { max_wait: 50 } } },
  });
  const agent = AgentProcess.run(config);
  await agent.started(60_000);
  const sampler = new ProcSampler(agent.pid, 100).start();
  const report = (phase: string, n: number, seconds: number, cpu: number) => process.stdout.write(
    `${phase.padEnd(6)} ${Math.round(n / seconds).toLocaleString('en-US').padStart(8)} events/s  ${cpu.toFixed(2)} CPU s (${((cpu / n) * 1e6).toFixed(1)} µs/event)\n`);
  process.stdout.write(`${events.toLocaleString('en-US')} events listed, then as many watched; detection ${values.rules}\n`);
  let cpu = sampler.last?.cpuSeconds ?? 0;
  let started = performance.now();
  await rx.waitForDocuments(events, 600_000);
  let now = sampler.sampleNow()?.cpuSeconds ?? 0;
  report('list', events, (performance.now() - started) / 1000, now - cpu);
  cpu = now;
  started = performance.now();
  for (let i = events; i < 2 * events; i++) api.put(RESOURCE, event(i));
  await rx.waitForDocuments(2 * events, 600_000);
  now = sampler.sampleNow()?.cpuSeconds ?? 0;
  report('watch', events, (performance.now() - started) / 1000, now - cpu);
  sampler.stop();
  await agent.stop();
} finally {
  await rx.close();
  await api.close();
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
}
