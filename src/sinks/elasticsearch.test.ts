// Tests of the `elasticsearch` sink against a fake Elasticsearch (a real HTTP server written from the _bulk API
// documentation), whose parsing is itself checked against the official client's bulk helper.
import { tmpdir } from 'node:os';
import { Client } from '@elastic/elasticsearch';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.ts';
import type { SinkConfig } from '../config/schema.ts';
import { FakeElasticsearch } from '../../test/utils/fake-elasticsearch.ts';
import { alarmRecord, auditRecord } from '../../test/utils/records.ts';
import { driveSink } from '../../test/utils/sink-driver.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { elasticsearchSink } from './elasticsearch.ts';
import { sendBatch, type Sink } from './types.ts';

const silent = pino({ level: 'silent' });
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function startFake(opts: Parameters<typeof FakeElasticsearch.start>[0] = {}): Promise<FakeElasticsearch> {
  const es = await FakeElasticsearch.start(opts);
  cleanup.push(() => es.close());
  return es;
}

const DAY = '2026-11-22T12:04:13.095123Z';
const event = (i: number, at = DAY, extra: Record<string, unknown> = {}) => auditRecord(i, at, extra);
const alarm = (id: string, count: number) => alarmRecord(id, { count, firstSeen: '2026-11-21T23:59:59.000001Z', lastSeen: '2026-11-22T00:10:00.000000Z' });

async function makeSink(raw: Record<string, unknown>, env: Record<string, string> = {}): Promise<Sink> {
  Object.assign(process.env, env);
  const cfg = parseConfig({ sinks: { es: { kind: 'elasticsearch', ...raw } } }).sinks.es as SinkConfig;
  const sink = await elasticsearchSink.create(cfg as never, { name: 'es', logger: silent, stateDir: tmpdir() });
  cleanup.push(() => sink.close());
  return sink;
}

const signal = new AbortController().signal;

describe('fake Elasticsearch, checked against the official client', () => {
  it('stores what the official bulk helper sends, answers its 429s so that it retries, and refuses a document its mapping cannot take', async () => {
    const es = await startFake({ auth: { apiKey: 'a2V5OnNlY3JldA==' } });
    es.map('logs', 'n', 'long');
    es.rejectNextDocuments(2);
    const client = new Client({ node: es.url(), auth: { apiKey: 'a2V5OnNlY3JldA==' }, compression: true });
    cleanup.push(() => client.close());
    const docs = [...Array.from({ length: 20 }, (_, i) => ({ n: i, name: `doc-${i}` })), { n: 'not a number' }];
    const dropped: Array<{ status: number; type?: string }> = [];
    const stats = await client.helpers.bulk<Record<string, unknown>>({
      datasource: docs,
      onDocument: (d) => [{ create: { _index: 'logs', _id: String(d.n) } }, d] as never,
      onDrop: (d) => { dropped.push({ status: d.status, type: (d.error as { type?: string } | null)?.type }); },
      retries: 3, wait: 10,
    });
    expect(stats.successful).toBe(20);
    expect(dropped).toEqual([{ status: 400, type: 'document_parsing_exception' }]);
    expect(es.docs('logs').size).toBe(20);
    expect(es.docs('logs').get('7')?.source).toEqual({ n: 7, name: 'doc-7' });
    expect(es.actions.filter((a) => a.status === 429)).toHaveLength(2);
    // gzip, as the client sent it, was decoded.
    expect(es.receiver.requests.some((r) => r.headers['content-encoding'] === 'gzip')).toBe(true);
  });

  it('answers 401 with a security_exception, as the client reads it, when the credentials are wrong', async () => {
    const es = await startFake({ auth: { basic: { username: 'elastic', password: 'right' } } });
    const client = new Client({ node: es.url(), auth: { username: 'elastic', password: 'wrong' } });
    cleanup.push(() => client.close());
    await expect(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, { a: 1 }] })).rejects.toMatchObject({ meta: { statusCode: 401 }, message: /security_exception/ });
    expect(es.allDocs()).toHaveLength(0);
  });
});

describe('elasticsearch sink', () => {
  it('writes each record to the index of its day under its own id, with @timestamp, gzipped', async () => {
    const es = await startFake();
    const sink = await makeSink({ url: es.url() });
    const batch = [event(1), event(2, '2026-11-23T00:00:01.5Z'), alarm('alarm-1', 1)];
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    expect(es.receiver.requests[0].headers['content-encoding']).toBe('gzip');
    expect(es.receiver.requests[0].url).toBe('/_bulk');
    const day1 = es.docs('kaudit-audit-2026.11.22');
    expect([...day1.keys()]).toEqual(['a-1/ResponseComplete']);
    expect(day1.get('a-1/ResponseComplete')!.source).toEqual({ '@timestamp': '2026-11-22T12:04:13.095123Z', ...JSON.parse(batch[0].payload.toString()) });
    expect([...es.docs('kaudit-audit-2026.11.23').keys()]).toEqual(['a-2/ResponseComplete']);
    // An alarm goes to the alarm index of its first hit's day.
    expect(es.docs('kaudit-alarms-2026.11.21').get('alarm-1')!.source.count).toBe(1);
    expect(es.actions.map((a) => a.op)).toEqual(['create', 'create', 'index']);
  });

  it('does not duplicate a batch sent again, and lets an alarm update replace its document', async () => {
    const es = await startFake();
    const sink = await makeSink({ url: es.url(), index: 'audit-%Y-%m', alarm_index: 'alarms', compression: 'none' });
    const batch = [event(1), event(2), alarm('alarm-1', 1)];
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    expect(await sendBatch(sink, [...batch.slice(0, 2), alarm('alarm-1', 5)], signal)).toEqual({ kind: 'delivered' });
    expect(es.docs('audit-2026-11').size).toBe(2);
    expect(es.actions.filter((a) => a.status === 409)).toHaveLength(2);
    expect(es.docs('alarms').get('alarm-1')).toMatchObject({ version: 5, source: { count: 5 } });
    // An older update arriving late (batches in flight at once, a batch sent again) does not replace the newer one.
    expect(await sendBatch(sink, [alarm('alarm-1', 3)], signal)).toEqual({ kind: 'delivered' });
    expect(es.docs('alarms').get('alarm-1')).toMatchObject({ version: 5, source: { count: 5 } });
  });

  it('retries the batch when documents are refused with 429, and ends with each document once', async () => {
    const es = await startFake();
    const sink = await makeSink({ url: es.url() });
    es.rejectNextDocuments(1);
    const batch = [event(1), event(2), event(3)];
    const first = await sendBatch(sink, batch, signal);
    expect(first).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/1 of 3 documents.*item 429 es_rejected_execution_exception/) });
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    expect(es.docs('kaudit-audit-2026.11.22').size).toBe(3);
  });

  it('names the records a mapping refuses, with Elasticsearch\'s error type and reason', async () => {
    const es = await startFake();
    es.map('kaudit-audit-2026.11.22', 'user', 'text');
    const sink = await makeSink({ url: es.url() });
    const verdict = await sendBatch(sink, [event(1, undefined, { verb: 'get' }), event(2)], signal);
    expect(verdict).toMatchObject({ kind: 'partial', refused: [{ index: 0, reason: expect.stringMatching(/^item 400 document_parsing_exception: .*failed to parse field \[user\] of type \[text\]/) }, { index: 1 }] });
  });

  it('calls a body over http.max_content_length too large, and a request ES cannot read invalid', async () => {
    const es = await startFake({ maxContentLength: 600 });
    const sink = await makeSink({ url: es.url(), compression: 'none' });
    expect(await sendBatch(sink, [event(1), event(2)], signal)).toMatchObject({ kind: 'too_large', reason: 'HTTP 413' });
    expect(await sendBatch(sink, [event(1)], signal)).toEqual({ kind: 'delivered' });
  });

  it('authenticates with basic auth, an API key or a bearer token, from secrets', async () => {
    for (const [auth, config] of [
      [{ basic: { username: 'kaudit', password: 'pw-1' } }, { basic: { username: 'kaudit', password: { env: 'ES_TEST_PASSWORD' } } }],
      [{ apiKey: 'aWQ6a2V5' }, { api_key: { env: 'ES_TEST_API_KEY' } }],
      [{ bearer: 'tok-1' }, { bearer: { env: 'ES_TEST_TOKEN' } }],
    ] as const) {
      const es = await startFake({ auth });
      const sink = await makeSink({ url: es.url(), auth: config }, { ES_TEST_PASSWORD: 'pw-1', ES_TEST_API_KEY: 'aWQ6a2V5', ES_TEST_TOKEN: 'tok-1' });
      expect(await sendBatch(sink, [event(1)], signal)).toEqual({ kind: 'delivered' });
    }
    const es = await startFake({ auth: { bearer: 'other' } });
    const sink = await makeSink({ url: es.url(), auth: { bearer: { env: 'ES_TEST_TOKEN' } } });
    const refused = await sendBatch(sink, [event(1)], signal);
    expect(refused).toMatchObject({ kind: 'reject', reason: expect.stringMatching(/^HTTP 401: .*security_exception.*unable to authenticate/) });
    expect(JSON.stringify(refused)).not.toContain('tok-1');
  });

  it('sends to the bulk API under a path prefix and through an ingest pipeline', async () => {
    const es = await startFake();
    const sink = await makeSink({ url: `${es.url()}/es/`, pipeline: 'audit-geoip' });
    await sendBatch(sink, [event(1)], signal);
    expect(es.receiver.requests[0].url).toBe('/es/_bulk?pipeline=audit-geoip');
  });

  it('refuses index names Elasticsearch would refuse, and unknown date tokens, naming the field', () => {
    expect(() => parseConfig({ sinks: { es: { kind: 'elasticsearch', url: 'http://x', index: 'Audit-%Y' } } })).toThrow(/sinks\.es\.index: index names are lowercase/);
    expect(() => parseConfig({ sinks: { es: { kind: 'elasticsearch', url: 'http://x', alarm_index: 'a-%j' } } })).toThrow(/sinks\.es\.alarm_index: unknown date token/);
    expect(() => parseConfig({ sinks: { es: { kind: 'elasticsearch', url: 'http://x', auth: { bearer: { env: 'A' }, api_key: { env: 'B' } } } } })).toThrow(/exactly one of/);
  });
});

describe('elasticsearch sink over TLS', () => {
  let certs: TestCerts;
  beforeAll(async () => {
    certs = await makeTestCerts();
  });
  afterAll(async () => {
    await certs.cleanup();
  });

  it('verifies the server against ca_file, and refuses an unknown one', async () => {
    const es = await startFake({ tls: { cert: certs.server.cert, key: certs.server.key } });
    const trusted = await makeSink({ url: es.url(), tls: { ca_file: certs.caFile } });
    expect(await sendBatch(trusted, [event(1)], signal)).toEqual({ kind: 'delivered' });
    const untrusted = await makeSink({ url: es.url() });
    expect(await sendBatch(untrusted, [event(2)], signal)).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/) });
  });
});

describe('elasticsearch sink through the delivery layer', () => {
  it('dead-letters only the documents the mapping refuses, with the reason, and delivers the rest of the batch', async () => {
    const es = await startFake();
    es.map('kaudit-audit-2026.11.22', 'verb', 'long');
    const driven = await driveSink({ kind: 'elasticsearch', url: es.url(), batch: { max_events: 100, max_wait: 20 } });
    cleanup.push(() => driven.close());
    const batch = Array.from({ length: 10 }, (_, i) => event(i, undefined, { verb: i === 3 || i === 7 ? 'list' : 5 }));
    await driven.driver.append(batch);
    await driven.settled(10);
    expect(driven.counts).toEqual({ delivered: 8, deadLettered: 2 });
    // One request: the refused documents were named in the bulk answer, no bisection was needed.
    expect(es.receiver.requests).toHaveLength(1);
    const dead = await driven.deadLetters();
    expect(dead.map((d) => d.id)).toEqual(['a-3/ResponseComplete', 'a-7/ResponseComplete']);
    expect(dead[0].reason).toMatch(/^item 400 document_parsing_exception: .*failed to parse field \[verb\] of type \[long\]/);
    expect(dead[0].record.auditID).toBe('a-3');
    expect(es.docs('kaudit-audit-2026.11.22').size).toBe(8);
  });
});
