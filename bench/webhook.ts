// The audit webhook source: events/s the real `kaudit run` takes from an apiserver-like client (EventLists of
// --batch generated events posted one after another over one keep-alive HTTPS connection, each answered once durable),
// with the agent's CPU seconds and peak RSS; the same events through the audit file for comparison.
// Usage: npm run bench:webhook -- [--events N] [--batch B] [--rules on|off]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { AgentProcess, writeAgentConfig } from '../test/utils/agent.ts';
import { freePort } from '../test/utils/ports.ts';
import { ProcSampler } from '../test/utils/proc.ts';
import { Receiver } from '../test/utils/receiver.ts';
import { makeTestCerts } from '../test/utils/tls.ts';
import { auditLine } from './gen-audit.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    /** Events per post: the apiserver's --audit-webhook-batch-max-size is 400. */
    batch: { type: 'string', default: '400' },
    rules: { type: 'string', default: 'on' },
  },
});
const events = Number(values.events);
const batch = Number(values.batch);
const lines = Array.from({ length: events }, (_, i) => auditLine(i));
const mb = Buffer.byteLength(lines.join('\n')) / 1e6;

/** Runs the agent on `source` until the receiver has every event; events/s, CPU seconds and peak RSS. */
async function measure(name: string, source: Record<string, unknown>, feed: (port: number) => Promise<void>, dir: string): Promise<void> {
  const rx = await Receiver.start();
  const port = await freePort();
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, `state-${name}`),
    http: null,
    detection: { enabled: values.rules === 'on' },
    sources: { audit: { ...source, ...(source.kind === 'audit_webhook' ? { listen: `127.0.0.1:${port}` } : {}) } },
    // Raw events only (detection still runs on every one): the count of documents is the count of events.
    sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 } } },
  }, `${name}.yaml`);
  const agent = AgentProcess.run(config, [], { WEBHOOK_TOKEN: 'bench-token' });
  await agent.started(60_000);
  const sampler = new ProcSampler(agent.pid, 100).start();
  const cpuBefore = sampler.last?.cpuSeconds ?? 0;
  const started = performance.now();
  await feed(port);
  await rx.waitForDocuments(events, 600_000);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (sampler.sampleNow()?.cpuSeconds ?? 0) - cpuBefore;
  sampler.stop();
  await agent.stop();
  await rx.close();
  process.stdout.write(`${name.padEnd(8)} ${Math.round(events / seconds).toLocaleString('en-US').padStart(8)} events/s  ${(mb / seconds).toFixed(1).padStart(6)} MB/s  `
    + `${cpu.toFixed(2)} CPU s (${((cpu / events) * 1e6).toFixed(1)} µs/event)  peak RSS ${Math.round(sampler.peakRssBytes / 2 ** 20)} MiB\n`);
}

const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-webhook-'));
const certs = await makeTestCerts();
try {
  process.stdout.write(`${events.toLocaleString('en-US')} events (${mb.toFixed(1)} MB), detection ${values.rules}, posts of ${batch}\n`);
  // The apiserver's posts: EventLists whose items carry no kind/apiVersion, sent one at a time on one connection.
  const bodies: Buffer[] = [];
  for (let i = 0; i < events; i += batch) {
    const items = lines.slice(i, i + batch).map((l) => {
      const { kind: _k, apiVersion: _a, ...item } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(item);
    });
    bodies.push(Buffer.from(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`));
  }
  await measure('webhook', {
    kind: 'audit_webhook', tls: { cert_file: certs.server.certFile, key_file: certs.server.keyFile }, bearer_token: { env: 'WEBHOOK_TOKEN' },
  }, async (port) => {
    const client = new Client(`https://127.0.0.1:${port}`, { connect: { ca: certs.ca } });
    for (const body of bodies) {
      const res = await client.request({ method: 'POST', path: '/k8s-audit?timeout=30s', body, headers: { 'content-type': 'application/json', authorization: 'Bearer bench-token' } });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`post answered ${res.statusCode}`);
    }
    await client.close();
  }, dir);
  // The same events written to the audit file before the agent starts (read from the head).
  const log = join(dir, 'kubernetes.audit');
  await writeFile(log, `${lines.join('\n')}\n`);
  await measure('file', { kind: 'audit', path: log }, async () => {}, dir);
} finally {
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
}
