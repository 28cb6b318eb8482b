// End to end: the real agent delivers to a fake Elasticsearch and a fake Loki through their outages (503, per-item
// 429s, rate limits, refused connections) and a kill -9, losing nothing and duplicating nothing; what a backend refuses
// for good lands in the sink's dead-letter file with the backend's reason.
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { FakeElasticsearch } from '../utils/fake-elasticsearch.ts';
import { FakeLoki } from '../utils/fake-loki.ts';
import type { Receiver } from '../utils/receiver.ts';
import { until } from '../utils/until.ts';

const SEED = 1818;
const YEAR_MS = 365 * 24 * 3_600_000;
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A state directory, an empty live audit log, and an agent config with `sinks`. */
async function setup(sinks: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-esloki-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'logs'));
  const log = join(dir, 'logs', 'kubernetes.audit');
  await writeFile(log, '');
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'), http: null, checkpoint_interval: 100, shutdown_grace: 2000,
    sources: { audit: { kind: 'audit', path: log, poll_interval: 100 } },
    sinks,
    ...extra,
  });
  const start = () => {
    const agent = AgentProcess.run(config);
    cleanup.push(() => agent.stop());
    return agent;
  };
  let next = 0;
  const lines: string[] = [];
  const write = async (n: number) => {
    const batch = Array.from({ length: n }, () => auditLine(next++, SEED));
    lines.push(...batch);
    await appendFile(log, `${batch.join('\n')}\n`);
  };
  return { dir, start, write, lines, deadLetter: (sink: string) => join(dir, 'state', 'dead-letter', `${sink}.ndjson`) };
}

/** `auditID/stage` of each line: the stable record id. */
const recordIds = (lines: string[]) => lines.map((l) => { const e = JSON.parse(l); return `${e.auditID}/${e.stage}`; });

/**
 * The outage every sink must ride out: 200 events delivered, then `faults` (scripted refusals, waited for) while
 * 200 more are written, the backend down while 200 more are, the agent killed with -9 meanwhile, the backend back,
 * a new agent, 100 more. Resolves with the running agent once `delivered` (record ids on the backend) has them all.
 */
async function rideOutage(t: Awaited<ReturnType<typeof setup>>, receiver: Receiver, delivered: () => string[], faults: () => Promise<void>): Promise<{ agent: AgentProcess; want: string[] }> {
  let agent = t.start();
  await agent.started();
  await t.write(200);
  await until('the first 200 events', () => delivered().length === 200);
  const faulted = faults();
  await t.write(200);
  await faulted;
  await receiver.goDown();
  await t.write(200);
  await sleep(500);
  await agent.kill9();
  await receiver.comeBack();
  agent = t.start();
  await t.write(100);
  const want = recordIds(t.lines);
  await until('every event', () => delivered().length >= want.length, 60_000);
  await sleep(300);
  return { agent, want };
}

const delivery = { batch: { max_events: 50, max_wait: 50 }, retry: { initial_backoff: 50, max_backoff: 300 } };

async function readDeadLetter(path: string): Promise<Array<{ id: string; reason: string; record: Record<string, unknown> }>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l));
}

describe('elasticsearch sink, end to end', () => {
  it('loses and duplicates nothing through 503s, refused documents, a refused connection and a kill -9', async () => {
    const es = await FakeElasticsearch.start({ auth: { apiKey: 'a2FpdDpzZWNyZXQ=' } });
    cleanup.push(() => es.close());
    const t = await setup({ es: { kind: 'elasticsearch', url: es.url(), auth: { api_key: { env: 'KAUDIT_TEST_ES_KEY' } }, ...delivery } });
    process.env.KAUDIT_TEST_ES_KEY = 'a2FpdDpzZWNyZXQ=';
    const logIds = () => [...es.indices].filter(([name]) => name.startsWith('kaudit-audit-')).flatMap(([, docs]) => [...docs.keys()]);

    const { agent, want } = await rideOutage(t, es.receiver, logIds, async () => {
      es.receiver.script(503, 503, { status: 500, body: '{"error":"boom"}' });
      es.rejectNextDocuments(70);
      await until('documents refused with 429', () => es.actions.filter((a) => a.status === 429).length === 70);
    });
    expect(logIds().sort()).toEqual([...want].sort());
    // Documents sent again (after the 429s and the kill) were found there already, not written twice.
    expect(es.actions.filter((a) => a.op === 'create' && a.status === 201)).toHaveLength(want.length);
    expect(await readDeadLetter(t.deadLetter('es'))).toEqual([]);
    // The alarms the shipped rules raised are in their own index.
    expect([...es.indices.keys()].some((name) => name.startsWith('kaudit-alarms-'))).toBe(true);
    await agent.stop();
  });

  it('puts the documents the mapping refuses in the dead-letter file with Elasticsearch\'s reason, and the rest in the index', async () => {
    const es = await FakeElasticsearch.start();
    cleanup.push(() => es.close());
    const t = await setup({ es: { kind: 'elasticsearch', url: es.url(), index: 'audit', inputs: ['audit'], ...delivery } });
    // An explicit mapping that the subresource of some events (`status`, `exec`, …) cannot go into.
    es.map('audit', 'objectRef.subresource', 'long');
    const agent = t.start();
    await agent.started();
    await t.write(300);
    const refused = t.lines.filter((l) => JSON.parse(l).objectRef?.subresource !== undefined);
    expect(refused.length).toBeGreaterThan(0);
    await until('every event delivered or dead-lettered', async () => es.docs('audit').size + (await readDeadLetter(t.deadLetter('es'))).length === 300);
    const dead = await readDeadLetter(t.deadLetter('es'));
    expect(dead.map((d) => d.id).sort()).toEqual(recordIds(refused).sort());
    expect(dead[0].reason).toMatch(/^item 400 document_parsing_exception: .*failed to parse field \[objectRef\.subresource\] of type \[long\]/);
    expect(dead[0].record.auditID).toBe(JSON.parse(refused[0]).auditID);
    expect(es.docs('audit').size).toBe(300 - refused.length);
    await agent.stop();
  });
});

describe('loki sink, end to end', () => {
  it('loses and duplicates nothing through rate limits, 503s, a refused connection and a kill -9', async () => {
    // The generated events are dated 2026-11-22: this Loki accepts entries up to a year old (a backfill setting).
    const loki = await FakeLoki.start({ requireTenant: true, rejectOlderThanMs: YEAR_MS });
    cleanup.push(() => loki.close());
    const t = await setup({ loki: { kind: 'loki', url: loki.url(), tenant: 'security', inputs: ['audit'], ...delivery } });
    const ids = () => loki.entries().map((e) => { const d = JSON.parse(e.line); return `${d.auditID}/${d.stage}`; });

    const { agent, want } = await rideOutage(t, loki.receiver, ids, async () => {
      loki.rateLimitNext(3);
      loki.receiver.script(503, 503);
      await until('three rate-limited pushes', () => loki.receiver.requests.filter((r) => r.status === 429).length === 3);
    });
    expect(ids().sort()).toEqual([...want].sort());
    expect(new Set(loki.tenants)).toEqual(new Set(['security']));
    expect(await readDeadLetter(t.deadLetter('loki'))).toEqual([]);
    await agent.stop();
  });

  it('puts the entries Loki refuses in the dead-letter file with Loki\'s reason, and the rest in their streams', async () => {
    const loki = await FakeLoki.start({ rejectOlderThanMs: YEAR_MS, maxLineSize: 4096 });
    cleanup.push(() => loki.close());
    const t = await setup({ loki: { kind: 'loki', url: loki.url(), inputs: ['audit'], ...delivery } });
    const agent = t.start();
    await agent.started();
    await t.write(300);
    const tooLong = t.lines.filter((l) => Buffer.byteLength(l) > 4096);
    expect(tooLong.length).toBeGreaterThan(0);
    await until('every event delivered or dead-lettered', async () => loki.entries().length + (await readDeadLetter(t.deadLetter('loki'))).length === 300);
    const dead = await readDeadLetter(t.deadLetter('loki'));
    expect(dead.map((d) => d.id).sort()).toEqual(recordIds(tooLong).sort());
    expect(dead[0].reason).toMatch(/^HTTP 400: Max entry size '4096' bytes exceeded for stream/);
    expect(loki.entries()).toHaveLength(300 - tooLong.length);
    await agent.stop();
  });

  it('labels streams with the configured cluster name, and sends a label\'s values beyond max_label_values as _overflow_, counted', async () => {
    const loki = await FakeLoki.start({ rejectOlderThanMs: YEAR_MS });
    cleanup.push(() => loki.close());
    const port = await freePort();
    const t = await setup(
      { loki: { kind: 'loki', url: loki.url(), inputs: ['audit'], labels: { cluster: 'cluster', verb: { field: 'verb' } }, max_label_values: 2, ...delivery } },
      { cluster: { name: 'prod-eu' }, http: { listen: `127.0.0.1:${port}` } },
    );
    const agent = t.start();
    await agent.started();
    await t.write(300);
    await until('every event', () => loki.entries().length === 300);
    const verbs = t.lines.map((l) => JSON.parse(l).verb as string);
    const kept = [...new Set(verbs)].slice(0, 2);
    const streams = [...loki.streams.values()];
    expect(streams.every((st) => st.labels.cluster === 'prod-eu')).toBe(true);
    expect(new Set(streams.map((st) => st.labels.verb))).toEqual(new Set([...kept, '_overflow_']));
    const overflowed = verbs.filter((v) => !kept.includes(v)).length;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain(`kaudit_sink_label_overflow_total{sink="loki",label="verb"} ${overflowed}`);
    expect(agent.logEntries().filter((e) => /label verb reached max_label_values/.test(String(e.msg)))).toHaveLength(1);
    await agent.stop();
  });
});
