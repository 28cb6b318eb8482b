// End to end: per-sink alarm filters (least level, categories, rules) beside `inputs`, in the real agent: each sink's
// buffer gets exactly the alarms its filter lets through, and the archive gets everything.
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

let seq = 0;
function event(verb: string, resource: string, user: string): string {
  const id = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const now = new Date().toISOString();
  return JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: id, stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/payments/${resource}`, verb, user: { username: user, groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.30.0', objectRef: { resource, namespace: 'payments', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 }, requestReceivedTimestamp: now, stageTimestamp: now,
  });
}

const RULES = `rules:
  - { id: T-HIGH, name: configmap created, category: tampering, level: high, match: { all: [ { field: verb, equals: create }, { field: objectRef.resource, equals: configmaps } ] }, aggregate_by: [user.username] }
  - { id: T-MEDIUM, name: secret read, category: credential-access, level: medium, match: { all: [ { field: verb, equals: get }, { field: objectRef.resource, equals: secrets } ] }, aggregate_by: [user.username] }
  - { id: T-LOW, name: secrets listed, category: credential-access, level: low, match: { all: [ { field: verb, equals: list }, { field: objectRef.resource, equals: secrets } ] }, aggregate_by: [user.username] }
`;

interface Alarm { kind: string; rule: { id: string } }

describe('alarm filters per sink', () => {
  it('routes each alarm to the sinks whose filter takes it, once into each buffer, and everything to the archive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-alarm-routing-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'logs'));
    const log = join(dir, 'logs', 'kubernetes.audit');
    await writeFile(log, '');
    await writeFile(join(dir, 'rules.yaml'), RULES);
    const rx = { archive: await Receiver.start(), pager: await Receiver.start(), creds: await Receiver.start(), low: await Receiver.start(), chat: await Receiver.start() };
    for (const r of Object.values(rx)) cleanup.push(() => r.close());
    const port = await freePort();
    const sink = (r: Receiver, extra: Record<string, unknown>) => ({ kind: 'http', url: r.url(), batch: { max_wait: 20 }, ...extra });
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: { listen: `127.0.0.1:${port}` },
      sources: { audit: { kind: 'audit', path: log, poll_interval: 100 } },
      detection: { system_rules: false, rules: [join(dir, 'rules.yaml')], update_interval: '1h' },
      sinks: {
        archive: sink(rx.archive, { inputs: ['*'] }),
        pager: sink(rx.pager, { inputs: ['alarms'], alarms: { min_level: 'high' } }),
        creds: sink(rx.creds, { inputs: ['alarms'], alarms: { min_level: 'medium', categories: ['credential-access'] } }),
        low: sink(rx.low, { inputs: ['alarms'], alarms: { rules: ['T-LOW'] } }),
        // A chat webhook: one message per request, whatever batch.max_events says.
        chat: sink(rx.chat, { inputs: ['alarms'], alarms: { min_level: 'high' }, preset: 'webhook', batch: { max_events: 100, max_wait: 500 } }),
      },
    });
    const agent = AgentProcess.run(config);
    cleanup.push(() => agent.stop());
    await agent.started();
    const lines: string[] = [];
    for (const user of ['alice', 'bob', 'carol']) {
      lines.push(event('create', 'configmaps', user), event('get', 'secrets', user), event('list', 'secrets', user), event('get', 'pods', user));
    }
    await appendFile(log, `${lines.join('\n')}\n`);

    const alarmsOf = (r: Receiver) => (r.documents() as Alarm[]).filter((d) => d.kind === 'kaudit.Alarm').map((d) => d.rule.id).sort();
    await rx.archive.waitFor((r) => r.documentCount >= 12 + 9, 20_000, 'every event and alarm in the archive');
    await rx.pager.waitForDocuments(3, 20_000);
    await rx.creds.waitForDocuments(3, 20_000);
    await rx.low.waitForDocuments(3, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(alarmsOf(rx.archive)).toEqual([...Array(3).fill('T-HIGH'), ...Array(3).fill('T-LOW'), ...Array(3).fill('T-MEDIUM')]);
    expect(rx.archive.acceptedAuditIds()).toHaveLength(12);
    expect(alarmsOf(rx.pager)).toEqual(['T-HIGH', 'T-HIGH', 'T-HIGH']);
    expect(rx.pager.documentCount).toBe(3);
    expect(alarmsOf(rx.creds)).toEqual(['T-MEDIUM', 'T-MEDIUM', 'T-MEDIUM']);
    expect(rx.creds.documentCount).toBe(3);
    expect(alarmsOf(rx.low)).toEqual(['T-LOW', 'T-LOW', 'T-LOW']);
    expect(rx.low.documentCount).toBe(3);
    await rx.chat.waitForDocuments(3, 20_000);
    expect(rx.chat.requests).toHaveLength(3);
    expect(rx.chat.documents()).toEqual(['alice', 'bob', 'carol'].map(() => ({ text: expect.stringMatching(/^\[high\] configmap created \(T-HIGH\), cluster default: /) })));
    // The filter acts before the buffers: each sink's buffer took only its own alarms, each once.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const recordsIn = (s: string) => Number(new RegExp(`^kaudit_sink_records_in_total\\{sink="${s}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect({ archive: recordsIn('archive'), pager: recordsIn('pager'), creds: recordsIn('creds'), low: recordsIn('low'), chat: recordsIn('chat') })
      .toEqual({ archive: 21, pager: 3, creds: 3, low: 3, chat: 3 });
    await agent.stop();
  });

  it('refuses an alarm filter on a sink whose inputs take no alarms, and an unknown level, naming the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-alarm-routing-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const check = async (sink: Record<string, unknown>) => {
      const config = await writeAgentConfig(dir, { state_dir: join(dir, 'state'), sinks: { a: { kind: 'stdout', ...sink } } });
      return runCli(['check-config', config]);
    };
    const noAlarms = await check({ inputs: ['audit'], alarms: { min_level: 'high' } });
    expect(noAlarms.code).toBe(2);
    expect(noAlarms.stderr).toMatch(/sinks\.a\.alarms: an alarm filter on a sink whose inputs take no alarms \(add alarms to inputs\)/);
    const badLevel = await check({ inputs: ['alarms'], alarms: { min_level: 'critical' } });
    expect(badLevel.code).toBe(2);
    expect(badLevel.stderr).toMatch(/sinks\.a\.alarms\.min_level: expected one of "note", "low", "medium", "high", found string "critical"/);
  });
});
