// Tests of the `loki` sink against a fake Loki (a real HTTP server written from the push API documentation), whose
// parsing is itself checked against an independent client, pino-loki.
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { pinoLoki } from 'pino-loki';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.ts';
import type { SinkConfig } from '../config/schema.ts';
import { FakeLoki, labelString } from '../../test/utils/fake-loki.ts';
import { alarmRecord, auditRecord } from '../../test/utils/records.ts';
import { driveSink } from '../../test/utils/sink-driver.ts';
import { DetectionEngine } from '../detect/engine.ts';
import { compileRuleTexts } from '../detect/rules.ts';
import type { OutRecord } from '../delivery/record.ts';
import { lokiSink, OVERFLOW_VALUE } from './loki.ts';
import { sendBatch, type Sink } from './types.ts';

const silent = pino({ level: 'silent' });
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function startFake(opts: Parameters<typeof FakeLoki.start>[0] = {}): Promise<FakeLoki> {
  const loki = await FakeLoki.start(opts);
  cleanup.push(() => loki.close());
  return loki;
}

/** A time `secondsAgo` before now, as the apiserver writes it (microseconds). */
function ago(secondsAgo: number, micros = 0): string {
  return new Date(Date.now() - secondsAgo * 1000).toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

const event = (i: number, at: string, extra: Record<string, unknown> = {}, source?: string) => auditRecord(i, at, extra, source);

async function makeSink(raw: Record<string, unknown>, ctx: { overflowed?: string[]; env?: Record<string, string> } = {}): Promise<Sink> {
  Object.assign(process.env, ctx.env ?? {});
  const config = parseConfig({ cluster: { name: 'prod-1' }, sinks: { loki: { kind: 'loki', ...raw } } });
  const cfg = config.sinks.loki as SinkConfig;
  const sink = await lokiSink.create(cfg as never, {
    name: 'loki', logger: silent, stateDir: tmpdir(), cluster: config.cluster, labelOverflowed: (label) => ctx.overflowed?.push(label),
  });
  cleanup.push(() => sink.close());
  return sink;
}

const signal = new AbortController().signal;

describe('fake Loki, checked against pino-loki', () => {
  it('keeps the lines pino-loki pushes, under its labels, with the tenant header', async () => {
    const loki = await startFake({ requireTenant: true, auth: { basic: { username: 'u', password: 'p' } } });
    const stream = pinoLoki({
      host: loki.url(), batching: false, labels: { app: 'cross-check' }, basicAuth: { username: 'u', password: 'p' },
      headers: { 'X-Scope-OrgID': 'team-a' }, silenceErrors: false,
    });
    const logger = pino({ level: 'info' }, stream);
    logger.info({ n: 1 }, 'first');
    logger.warn({ n: 2 }, 'second');
    await loki.receiver.waitFor((r) => r.requests.filter((q) => q.status === 204).length >= 2, 10_000, 'two pushes');
    const entries = loki.entries();
    expect(entries.map((e) => JSON.parse(e.line).msg)).toEqual(['first', 'second']);
    expect(entries[0].labels).toMatchObject({ app: 'cross-check', level: 'info' });
    expect(loki.tenants).toEqual(['team-a', 'team-a']);
    expect(BigInt(entries[0].ts)).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
  });
});

describe('loki sink', () => {
  it('pushes each record as a line of its stream, labelled by cluster, source, kind and (alarms) level and namespace, at its own time', async () => {
    const loki = await startFake();
    const sink = await makeSink({ url: loki.url() });
    const t1 = ago(30, 123);
    const batch = [event(1, t1), event(2, ago(20)), alarmRecord('alarm-1', { firstSeen: ago(40), lastSeen: ago(10), level: 'high', namespace: 'kube-system' })];
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    const req = loki.receiver.requests[0];
    expect(req.headers['content-encoding']).toBe('gzip');
    expect(req.headers['content-type']).toBe('application/json');
    const logs = loki.streams.get(labelString({ cluster: 'prod-1', source: 'audit', kind: 'log' }))!;
    expect(logs.entries.map((e) => e.line)).toEqual([batch[0].payload.toString(), batch[1].payload.toString()]);
    // Nanoseconds from the event's stageTimestamp, microseconds included.
    expect(logs.entries[0].ts).toBe(`${Date.parse(t1.replace(/(\.\d{3})\d+Z$/, '$1Z'))}123000`);
    const alarms = loki.streams.get(labelString({ cluster: 'prod-1', source: 'alarms', kind: 'alarm', level: 'high', namespace: 'kube-system' }))!;
    expect(alarms.entries).toHaveLength(1);
    expect(JSON.parse(alarms.entries[0].line).alarmID).toBe('alarm-1');
  });

  it('labels an alarm raised on a record with the namespace of its pod (containers) or of its object (k8s_events)', async () => {
    const rules = compileRuleTexts([{ name: 'r.yaml', text: `
rules:
  - { id: R-CONT, name: panic, category: runtime, level: medium, source: containers, match: { field: message, contains: panic }, output: "{message}" }
  - { id: R-EVT, name: backoff, category: runtime, level: low, source: k8s_events, match: { field: reason, equals: BackOff }, output: "{reason}" }
` }]);
    const engine = new DetectionEngine(rules, { clusterName: 'prod-1', clusterId: 'c-1' });
    const at = ago(5);
    const alarms = [
      ...engine.evaluateRecord('containers', { time: at, stream: 'stderr', message: 'panic: boom', kubernetes: { namespace: 'shop', pod: 'web-1', container: 'app' } }),
      ...engine.evaluateRecord('k8s_events', { time: at, reason: 'BackOff', message: 'restarting', involved_object: { kind: 'Pod', namespace: 'batch', name: 'job-1' } }),
    ].map((a): OutRecord => ({ id: a.id, kind: 'alarm', source: 'alarms', payload: Buffer.from(a.payload) }));
    expect(alarms).toHaveLength(2);
    const loki = await startFake();
    const sink = await makeSink({ url: loki.url() });
    expect(await sendBatch(sink, alarms, signal)).toEqual({ kind: 'delivered' });
    const labelled = [...loki.streams.values()].map((s) => [s.labels.level, s.labels.namespace]).sort();
    expect(labelled).toEqual([['low', 'batch'], ['medium', 'shop']]);
  });

  it('orders the entries of each stream by time, whatever order the batch holds them in', async () => {
    const loki = await startFake({ unorderedWrites: false });
    const sink = await makeSink({ url: loki.url(), compression: 'none' });
    const batch = [event(1, ago(10)), event(2, ago(30)), event(3, ago(20)), event(4, ago(30), {}, 'other')];
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    const sent = JSON.parse(loki.receiver.requests[0].body.toString()) as { streams: Array<{ values: string[][] }> };
    expect(sent.streams).toHaveLength(2);
    expect(sent.streams[0].values.map((v) => JSON.parse(v[1]).auditID)).toEqual(['a-2', 'a-3', 'a-1']);
  });

  it('takes labels from fixed values and record fields, and caps the distinct values of each label', async () => {
    const loki = await startFake();
    const overflowed: string[] = [];
    const sink = await makeSink({ url: loki.url(), labels: { job: { value: 'kaudit' }, verb: { field: 'verb' } }, max_label_values: 2 }, { overflowed });
    const verbs = ['get', 'list', 'watch', 'delete', 'get'];
    await sendBatch(sink, verbs.map((verb, i) => event(i, ago(10 - i), { verb })), signal);
    const byStream = Object.fromEntries([...loki.streams.values()].map((s) => [s.labels.verb, s.entries.length]));
    expect(byStream).toEqual({ get: 2, list: 1, [OVERFLOW_VALUE]: 2 });
    expect([...loki.streams.values()].every((s) => s.labels.job === 'kaudit')).toBe(true);
    expect(overflowed).toEqual(['verb', 'verb']);
  });

  it('sends the tenant header and authenticates with basic auth or a bearer token', async () => {
    const basic = await startFake({ requireTenant: true, auth: { basic: { username: '1234', password: 'glc-1' } } });
    const s1 = await makeSink({ url: basic.url(), tenant: 'team-a', auth: { basic: { username: '1234', password: { env: 'LOKI_TEST_PASSWORD' } } } }, { env: { LOKI_TEST_PASSWORD: 'glc-1' } });
    expect(await sendBatch(s1, [event(1, ago(5))], signal)).toEqual({ kind: 'delivered' });
    expect(basic.tenants).toEqual(['team-a']);
    const bearer = await startFake({ auth: { bearer: 'tok-2' } });
    const s2 = await makeSink({ url: bearer.url(), auth: { bearer: { env: 'LOKI_TEST_TOKEN' } } }, { env: { LOKI_TEST_TOKEN: 'tok-2' } });
    expect(await sendBatch(s2, [event(1, ago(5))], signal)).toEqual({ kind: 'delivered' });
    const noTenant = await makeSink({ url: basic.url(), auth: { basic: { username: '1234', password: { env: 'LOKI_TEST_PASSWORD' } } } });
    expect(await sendBatch(noTenant, [event(1, ago(5))], signal)).toEqual({ kind: 'reject', reason: 'HTTP 401: no org id' });
  });

  it('retries on 429, calls 413 and a 400 about the request size too large, and 400 about an entry invalid', async () => {
    const loki = await startFake({ maxRecvBytes: 2000, rejectOlderThanMs: 3_600_000 });
    const sink = await makeSink({ url: loki.url(), compression: 'none' });
    loki.rateLimitNext(1);
    expect(await sendBatch(sink, [event(1, ago(5))], signal)).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/^HTTP 429: Ingestion rate limit exceeded/) });
    expect(await sendBatch(sink, Array.from({ length: 8 }, (_, i) => event(i, ago(5))), signal)).toMatchObject({ kind: 'too_large', reason: 'HTTP 413: request body too large' });
    loki.receiver.script({ status: 400, body: 'rpc error: code = ResourceExhausted desc = grpc: received message larger than max (5242880 vs. 4194304)' });
    expect(await sendBatch(sink, [event(1, ago(5))], signal)).toMatchObject({ kind: 'too_large' });
    expect(await sendBatch(sink, [event(2, ago(7200))], signal)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^HTTP 400: entry for stream .* has timestamp too old/) });
  });

  it('does not duplicate a batch sent again (Loki ignores an identical entry)', async () => {
    const loki = await startFake();
    const sink = await makeSink({ url: loki.url() });
    const batch = [event(1, ago(5)), event(2, ago(4))];
    await sendBatch(sink, batch, signal);
    await sendBatch(sink, batch, signal);
    expect(loki.entries()).toHaveLength(2);
  });

  it('refuses label names Loki would refuse and an unknown label value, naming the field', () => {
    expect(() => parseConfig({ sinks: { l: { kind: 'loki', url: 'http://x', labels: { '1st': 'source' } } } })).toThrow(/sinks\.l\.labels\.1st: label names use/);
    expect(() => parseConfig({ sinks: { l: { kind: 'loki', url: 'http://x', labels: { a: 'verb' } } } })).toThrow(/sinks\.l\.labels\.a: expected one of cluster, source/);
  });
});

describe('loki sink through the delivery layer', () => {
  it('dead-letters only the entries Loki refuses as too old, with its reason, and delivers the rest', async () => {
    const loki = await startFake({ rejectOlderThanMs: 3_600_000 });
    const driven = await driveSink({ kind: 'loki', url: loki.url(), batch: { max_events: 100, max_wait: 20 } });
    cleanup.push(() => driven.close());
    await driven.driver.append(Array.from({ length: 10 }, (_, i) => event(i, i === 6 ? ago(7200) : ago(60 - i))));
    await driven.settled(10);
    expect(driven.counts).toEqual({ delivered: 9, deadLettered: 1 });
    const dead = await driven.deadLetters();
    expect(dead.map((d) => d.id)).toEqual(['a-6/ResponseComplete']);
    expect(dead[0].reason).toMatch(/^HTTP 400: entry for stream .* has timestamp too old/);
    expect(loki.entries().map((e) => JSON.parse(e.line).auditID).sort()).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-7', 'a-8', 'a-9']);
  });
});
