// Tests of the `sls` sink against the fake SLS, and of the fake against the official SLS Node SDK (@alicloud/log).
import { Agent, request, type IncomingMessage } from 'node:http';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { deflateSync } from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Client, { type SlsSdkError } from '@alicloud/log';
import { compressSync } from 'lz4-napi';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { ERRORS, FakeSls, lz4BlockDecode, type FakeSlsOptions } from '../../test/utils/fake-sls.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { parseConfig } from '../config/load.ts';
import type { OutRecord } from '../delivery/record.ts';
import { MAX_LOGS, slsSink, target, verdictFor } from './sls.ts';
import { encodeLogGroup, flatten, RAW_KEY, timeOf } from './sls-log-group.ts';
import { authorization, contentMd5 } from './sls-sign.ts';
import { sendBatch, type Sink } from './types.ts';

const KEY_ID = 'LTAI5tTestKeyId0001';
const SECRET = 'test-secret-Fq9sdf8a7sdf6';
const STS_ID = 'STS.NTestTemporaryKey';
const STS_SECRET = 'sts-secret-0a9s8d7f';
const STS_TOKEN = 'CAIS-sts-token-example-value==';
const PROJECT = 'k8s-log-c0ffee';
const LOGSTORE = 'audit-c0ffee';

const logger = pino({ level: 'silent' });
let dir: string;
const fakes: FakeSls[] = [];
const sinks: Array<Sink<unknown>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-sls-'));
});
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  delete process.env.SLS_TEST_ID;
  delete process.env.SLS_TEST_SECRET;
  delete process.env.SLS_TEST_TOKEN;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fake(extra: Partial<FakeSlsOptions> = {}): Promise<FakeSls> {
  const f = await FakeSls.start({
    keys: { [KEY_ID]: { secret: SECRET }, [STS_ID]: { secret: STS_SECRET, token: STS_TOKEN } },
    projects: { [PROJECT]: [LOGSTORE] },
    ...extra,
  });
  fakes.push(f);
  return f;
}

async function sink(f: FakeSls, options: Record<string, unknown> = {}, creds = { id: KEY_ID, secret: SECRET, token: undefined as string | undefined }): Promise<Sink<unknown>> {
  process.env.SLS_TEST_ID = creds.id;
  process.env.SLS_TEST_SECRET = creds.secret;
  if (creds.token !== undefined) process.env.SLS_TEST_TOKEN = creds.token;
  const raw = {
    endpoint: f.endpoint(),
    project: PROJECT,
    logstore: LOGSTORE,
    access_key_id: { env: 'SLS_TEST_ID' },
    access_key_secret: { env: 'SLS_TEST_SECRET' },
    ...(creds.token === undefined ? {} : { security_token: { env: 'SLS_TEST_TOKEN' } }),
    ...options,
  };
  const s = await slsSink.create(slsSink.options.parse(raw), { name: 'sls', logger, stateDir: dir });
  sinks.push(s);
  return s;
}

function records(n: number, from = 0): OutRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const line = auditLine(from + k);
    return { id: `r${from + k}`, kind: 'log', source: 'audit', payload: Buffer.from(line) };
  });
}

const signal = new AbortController().signal;

/** An SDK client aimed at the fake: `<project>.localhost` is resolved to the fake's address by the agent. */
function sdk(f: FakeSls, creds: { accessKeyId: string; accessKeySecret: string; securityToken?: string }): { client: Client; agent: Agent } {
  const lookup = (_host: string, opts: { all?: boolean }, cb: (err: Error | null, address: unknown, family?: number) => void): void => {
    if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  };
  const agent = new Agent({ lookup: lookup as never });
  return { client: new Client({ ...creds, endpoint: `http://localhost:${f.port()}` }), agent };
}

describe('the fake SLS against the official SDK (@alicloud/log)', () => {
  it("accepts the SDK's PutLogs and decodes its LogGroup: logs, time, contents, topic, source, tags", async () => {
    const f = await fake();
    const { client, agent } = sdk(f, { accessKeyId: KEY_ID, accessKeySecret: SECRET });
    await client.postLogStoreLogs(PROJECT, LOGSTORE, {
      logs: [{ timestamp: 1_764_000_000, timestampNsPart: 123_456_000, content: { verb: 'create', 'user.username': 'alice' } }],
      topic: 'k8s-audit',
      source: 'node-a',
      tags: [{ cluster: 'prod' }],
    }, { agent });
    expect(f.groups).toHaveLength(1);
    expect(f.groups[0]).toMatchObject({
      project: PROJECT, logstore: LOGSTORE, topic: 'k8s-audit', source: 'node-a', tags: { cluster: 'prod' },
      logs: [{ time: 1_764_000_000, timeNs: 123_456_000, contents: { verb: 'create', 'user.username': 'alice' } }],
    });
    agent.destroy();
  });

  it("accepts the SDK's STS request (security token) and refuses it without the token", async () => {
    const f = await fake();
    const good = sdk(f, { accessKeyId: STS_ID, accessKeySecret: STS_SECRET, securityToken: STS_TOKEN });
    await good.client.postLogStoreLogs(PROJECT, LOGSTORE, { logs: [{ timestamp: 1_764_000_000, content: { a: 'b' } }] }, { agent: good.agent });
    const bad = sdk(f, { accessKeyId: STS_ID, accessKeySecret: STS_SECRET, securityToken: 'not-the-token' });
    const err = await bad.client.postLogStoreLogs(PROJECT, LOGSTORE, { logs: [{ timestamp: 1_764_000_000, content: { a: 'b' } }] }, { agent: bad.agent })
      .then(() => undefined, (e: SlsSdkError) => e);
    expect(f.groups).toHaveLength(1);
    expect(err?.code).toBe('Unauthorized');
    good.agent.destroy();
    bad.agent.destroy();
  });

  it("refuses the SDK's request signed with another secret (SignatureNotMatch) and one for a missing logstore", async () => {
    const f = await fake();
    const wrong = sdk(f, { accessKeyId: KEY_ID, accessKeySecret: 'not-the-secret' });
    const badSig = await wrong.client.postLogStoreLogs(PROJECT, LOGSTORE, { logs: [{ timestamp: 1_764_000_000, content: { a: 'b' } }] }, { agent: wrong.agent })
      .then(() => undefined, (e: SlsSdkError) => e);
    expect(badSig?.code).toBe('SignatureNotMatch');
    const right = sdk(f, { accessKeyId: KEY_ID, accessKeySecret: SECRET });
    const noStore = await right.client.postLogStoreLogs(PROJECT, 'no-such-store', { logs: [{ timestamp: 1_764_000_000, content: { a: 'b' } }] }, { agent: right.agent })
      .then(() => undefined, (e: SlsSdkError) => e);
    expect(noStore?.code).toBe('LogStoreNotExist');
    expect(f.groups).toHaveLength(0);
    wrong.agent.destroy();
    right.agent.destroy();
  });
});

/** A PutLogs request built by hand (signed with the sink's signer), so that one thing in it can be wrong. */
async function handMade(f: FakeSls, raw: Buffer, change: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; code: string }> {
  const body = change.body ?? deflateSync(raw);
  const headers: Record<string, string> = {
    'content-type': 'application/x-protobuf', 'content-md5': contentMd5(body), date: new Date().toUTCString(),
    'x-log-apiversion': '0.6.0', 'x-log-signaturemethod': 'hmac-sha1', 'x-log-bodyrawsize': String(raw.length), 'x-log-compresstype': 'deflate',
    ...change.headers,
  };
  const path = `/logstores/${LOGSTORE}/shards/lb`;
  headers.authorization = authorization({ method: 'POST', path, headers, accessKeyId: KEY_ID, accessKeySecret: SECRET });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: f.port(), method: 'POST', path, headers: { ...headers, host: `${PROJECT}.127.0.0.1` } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
  let text = '';
  for await (const c of res) text += String(c);
  return { status: res.statusCode ?? 0, code: text === '' ? '' : (JSON.parse(text) as { errorCode: string }).errorCode };
}

describe('the fake SLS refuses what the service refuses', () => {
  it('a body whose Content-MD5 or raw size does not match, a body that does not decompress or decode, an old Date', async () => {
    const f = await fake();
    const raw = await encodeLogGroup(records(3), { topic: '', source: 'n', tags: {} });
    expect(await handMade(f, raw)).toEqual({ status: 200, code: '' });
    expect(await handMade(f, raw, { headers: { 'content-md5': contentMd5(Buffer.from('other')) } })).toMatchObject({ status: 400, code: 'ParameterInvalid' });
    expect(await handMade(f, raw, { headers: { 'x-log-bodyrawsize': String(raw.length + 1) } })).toMatchObject({ status: 400, code: 'InvalidBodyRawSize' });
    expect(await handMade(f, raw, { body: Buffer.from('not deflate') })).toMatchObject({ status: 400, code: 'PostBodyUncompressError' });
    expect(await handMade(f, raw, { headers: { 'x-log-compresstype': 'lz4' } })).toMatchObject({ status: 400, code: 'PostBodyUncompressError' });
    const junk = Buffer.from([0x0a, 0xff, 0xff]);
    expect(await handMade(f, junk, { body: deflateSync(junk) })).toMatchObject({ status: 400, code: 'PostBodyInvalid' });
    expect(await handMade(f, raw, { headers: { date: new Date(Date.now() - 20 * 60_000).toUTCString() } })).toMatchObject({ status: 400, code: 'RequestTimeExpired' });
    expect(f.groups).toHaveLength(1);
  });
});

describe('sls sink', () => {
  it.each(['deflate', 'lz4', 'none'])('delivers a batch the fake accepts (%s): one log per record, fields flattened, the raw JSON in `content`', async (compression) => {
    const f = await fake();
    const s = await sink(f, { compression, topic: 'k8s-audit', source: 'node-a', tags: { cluster: 'prod' } });
    const batch = records(50);
    expect(await sendBatch(s, batch, signal)).toEqual({ kind: 'delivered' });
    expect(f.groups).toHaveLength(1);
    const g = f.groups[0];
    expect(g).toMatchObject({ project: PROJECT, logstore: LOGSTORE, topic: 'k8s-audit', source: 'node-a', tags: { cluster: 'prod' }, compressType: compression === 'none' ? '' : compression });
    expect(g.logs).toHaveLength(50);
    const event = JSON.parse(auditLine(0));
    const log = g.logs[0];
    expect(log.contents[RAW_KEY]).toBe(auditLine(0));
    expect(log.contents).toMatchObject({
      verb: event.verb,
      'user.username': event.user.username,
      'user.groups': JSON.stringify(event.user.groups),
      'objectRef.resource': event.objectRef.resource,
      'responseStatus.code': String(event.responseStatus.code),
      sourceIPs: JSON.stringify(event.sourceIPs),
      auditID: event.auditID,
      stage: event.stage,
      'annotations.authorization.k8s.io/decision': event.annotations['authorization.k8s.io/decision'],
    });
    const at = Date.parse(event.stageTimestamp);
    expect(log.time).toBe(Math.floor(at / 1000));
    expect(log.timeNs).toBe(Number(/\.(\d+)Z$/.exec(event.stageTimestamp)![1].padEnd(9, '0')));
    if (compression !== 'none') expect(g.wireBytes).toBeLessThan(g.rawSize);
  });

  it('signs STS requests with the security token', async () => {
    const f = await fake();
    const s = await sink(f, {}, { id: STS_ID, secret: STS_SECRET, token: STS_TOKEN });
    expect(await sendBatch(s, records(3), signal)).toEqual({ kind: 'delivered' });
    expect(f.logs()).toHaveLength(3);
  });

  it('flattens an alarm the same way, timed by its lastSeen', async () => {
    const f = await fake();
    const s = await sink(f);
    const alarm = {
      kind: 'kaudit.Alarm', alarmID: 'a1', rule: { id: 'K8S-001', name: 'exec into a pod', level: 'high', category: 'command_execution' },
      cluster: { name: 'prod', id: '' }, firstSeen: '2026-11-22T12:00:00.000001Z', lastSeen: '2026-11-22T12:05:00.250000Z', count: 3,
      event: JSON.parse(auditLine(1)),
    };
    const payload = JSON.stringify(alarm);
    expect(await sendBatch(s, [{ id: 'a1', kind: 'alarm', source: 'alarms', payload: Buffer.from(payload) }], signal)).toEqual({ kind: 'delivered' });
    const log = f.logs()[0];
    expect(log.contents).toMatchObject({
      kind: 'kaudit.Alarm', 'rule.id': 'K8S-001', 'rule.level': 'high', 'cluster.name': 'prod', count: '3',
      'event.verb': alarm.event.verb, 'event.user.username': alarm.event.user.username, [RAW_KEY]: payload,
    });
    expect(log.time).toBe(Math.floor(Date.parse(alarm.lastSeen) / 1000));
    expect(log.timeNs).toBe(250_000_000);
  });

  it('maps the fake\'s errors: a wrong secret and a missing logstore are rejected with SLS\'s code, throttling and 500 retried', async () => {
    const wrongSecret = await sink(await fake(), {}, { id: KEY_ID, secret: 'not-the-secret', token: undefined });
    const v1 = await sendBatch(wrongSecret, records(2), signal);
    expect(v1.kind).toBe('reject');
    expect((v1 as { reason: string }).reason).toMatch(/SLS HTTP 401: SignatureNotMatch: Signature .* not matched/);
    expect((v1 as { reason: string }).reason).not.toContain('not-the-secret');

    const noStore = await sink(await fake(), { logstore: 'no-such-store' });
    const v2 = await sendBatch(noStore, records(2), signal);
    expect(v2).toMatchObject({ kind: 'reject', reason: expect.stringContaining('LogStoreNotExist: logstore no-such-store does not exist') });

    const throttled = await sink(await fake({ fault: () => ERRORS.throttled }));
    expect(await sendBatch(throttled, records(2), signal)).toMatchObject({ kind: 'retry', reason: expect.stringContaining('403: WriteQuotaExceed') });

    const failing = await sink(await fake({ fault: () => ERRORS.internal }));
    expect(await sendBatch(failing, records(2), signal)).toMatchObject({ kind: 'retry', reason: expect.stringContaining('500: InternalServerError') });
  });

  it('answers invalid for a log SLS refuses for its time (InvalidTimestamp), so the delivery layer isolates it', async () => {
    const s = await sink(await fake({ timeWindow: { back: 7 * 86_400, ahead: 900 } }));
    const recent = { id: 'now', kind: 'log' as const, source: 'audit', payload: Buffer.from(JSON.stringify({ verb: 'get', stageTimestamp: new Date().toISOString() })) };
    expect(await sendBatch(s, [recent], signal)).toEqual({ kind: 'delivered' });
    expect(await sendBatch(s, [recent, ...records(1)], signal)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('InvalidTimestamp') });
  });

  it('writes the node name as the source when none is configured', async () => {
    const f = await fake();
    process.env.NODE_NAME = 'cp-node-1';
    try {
      const s = await sink(f);
      expect(await sendBatch(s, records(1), signal)).toEqual({ kind: 'delivered' });
    } finally {
      delete process.env.NODE_NAME;
    }
    expect(f.groups[0].source).toBe('cp-node-1');
  });

  it('answers too_large for what SLS refuses as too large (PostBodyTooLarge) and for batches over its log count, before sending', async () => {
    const small = await fake({ maxRawBytes: 2000 });
    const s = await sink(small);
    expect(await sendBatch(s, records(5), signal)).toMatchObject({ kind: 'too_large', reason: expect.stringContaining('PostBodyTooLarge') });
    const f = await fake();
    const t = await sink(f);
    const many = Array.from({ length: MAX_LOGS + 1 }, (_, k) => ({ id: `x${k}`, kind: 'log' as const, source: 'audit', payload: Buffer.from('{"verb":"get"}') }));
    expect(await sendBatch(t, many, signal)).toMatchObject({ kind: 'too_large' });
    expect(f.answers).toHaveLength(0);
  });
});

describe('sls sink over HTTPS', () => {
  let certs: TestCerts;
  const defaultCas = getCACertificates('default');
  beforeAll(async () => {
    certs = await makeTestCerts();
  });
  afterAll(async () => {
    setDefaultCACertificates(defaultCas);
    await certs.cleanup();
  });

  it('verifies the certificate: refused while its CA is not trusted, delivered once it is (and checked against the address)', async () => {
    const f = await fake({ tls: { key: certs.server.key, cert: certs.server.cert } });
    const s = await sink(f);
    const refused = await sendBatch(s, records(2), signal);
    expect(refused).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/) });
    expect(f.answers).toHaveLength(0);
    // As NODE_EXTRA_CA_CERTS would add it at start.
    setDefaultCACertificates([...defaultCas, certs.ca.toString()]);
    const trusting = await sink(f);
    expect(await sendBatch(trusting, records(2), signal)).toEqual({ kind: 'delivered' });
    expect(f.logs()).toHaveLength(2);
  });
});

describe('sls config', () => {
  const parse = (options: Record<string, unknown>) => parseConfig({
    sinks: { out: { kind: 'sls', project: PROJECT, logstore: LOGSTORE, access_key_id: { env: 'A' }, access_key_secret: { env: 'B' }, ...options } },
  }).sinks.out;

  it('goes over HTTPS to <project>.<endpoint> unless http:// is given; an address endpoint is connected to as it is', () => {
    expect(target({ endpoint: 'cn-hangzhou.log.aliyuncs.com', project: PROJECT })).toEqual({ origin: `https://${PROJECT}.cn-hangzhou.log.aliyuncs.com`, host: `${PROJECT}.cn-hangzhou.log.aliyuncs.com` });
    expect(target({ endpoint: 'http://cn-hangzhou-intranet.log.aliyuncs.com', project: PROJECT }).origin).toBe(`http://${PROJECT}.cn-hangzhou-intranet.log.aliyuncs.com`);
    expect(target({ endpoint: 'http://10.0.0.5:8080', project: PROJECT })).toEqual({ origin: 'http://10.0.0.5:8080', host: `${PROJECT}.10.0.0.5:8080`, address: '10.0.0.5' });
  });

  it('refuses inline credentials, a path in the endpoint and bad names, naming the field', () => {
    expect(() => parse({ endpoint: 'cn-hangzhou.log.aliyuncs.com', access_key_secret: 'inline' })).toThrow(/sinks\.out\.access_key_secret: expected a secret reference/);
    expect(() => parse({ endpoint: 'https://cn-hangzhou.log.aliyuncs.com/x' })).toThrow(/sinks\.out\.endpoint: expected a host/);
    expect(() => parse({ endpoint: 'cn-hangzhou.log.aliyuncs.com', logstore: 'Audit' })).toThrow(/sinks\.out\.logstore: expected an SLS logstore name/);
    expect(parse({ endpoint: 'cn-hangzhou.log.aliyuncs.com' })).toMatchObject({ compression: 'deflate', topic: '', tags: {} });
  });
});

describe('sls encoding', () => {
  it('flattens nested objects with dots, keeps arrays and bodies as JSON, leaves out nulls and empty objects', () => {
    const out = Object.fromEntries(flatten({
      verb: 'patch', user: { username: 'bob', extra: { scopes: ['a'] } }, responseStatus: { metadata: {}, code: 403 },
      requestObject: { spec: { replicas: 3 } }, impersonatedUser: null, __time__: 'x', deep: { a: { b: { c: { d: 1 } } } },
    }).map((c) => [c.Key, c.Value]));
    expect(out).toEqual({
      verb: 'patch', 'user.username': 'bob', 'user.extra.scopes': '["a"]', 'responseStatus.code': '403',
      requestObject: '{"spec":{"replicas":3}}', 'kaudit.__time__': 'x', 'deep.a.b.c': '{"d":1}',
    });
  });

  it('reads seconds and nanoseconds from RFC 3339 timestamps', () => {
    expect(timeOf('2026-11-22T12:00:00.009895Z')).toEqual({ sec: Date.parse('2026-11-22T12:00:00Z') / 1000, ns: 9_895_000 });
    expect(timeOf('2026-11-22T12:00:01Z')).toEqual({ sec: Date.parse('2026-11-22T12:00:01Z') / 1000, ns: 0 });
    expect(timeOf('yesterday')).toBeUndefined();
  });

  it("the fake's LZ4 block decoder reads lz4-napi's blocks (written apart, from the block format)", () => {
    const raw = Buffer.from(auditLine(7).repeat(20));
    const framed = compressSync(raw);
    expect(lz4BlockDecode(framed.subarray(4), raw.length)).toEqual(raw);
  });

  it('maps status and SLS codes to verdicts', () => {
    const body = (code: string) => JSON.stringify({ errorCode: code, errorMessage: 'm' });
    expect(verdictFor(403, {}, body('WriteQuotaExceed')).kind).toBe('retry');
    expect(verdictFor(403, {}, body('ShardWriteQuotaExceed')).kind).toBe('retry');
    expect(verdictFor(403, {}, body('Unauthorized')).kind).toBe('reject');
    expect(verdictFor(400, {}, body('PostBodyTooLarge')).kind).toBe('too_large');
    expect(verdictFor(400, {}, body('InvalidTimestamp')).kind).toBe('invalid');
    expect(verdictFor(400, {}, body('MissingContentType')).kind).toBe('reject');
    expect(verdictFor(502, {}, '<html>bad gateway</html>')).toEqual({ kind: 'retry', reason: 'SLS HTTP 502: <html>bad gateway</html>' });
    expect(verdictFor(429, { 'retry-after': '3' }, '')).toMatchObject({ kind: 'retry', afterMs: 3000 });
    expect(verdictFor(404, { 'x-log-requestid': 'ABC' }, body('ProjectNotExist'))).toEqual({ kind: 'reject', reason: 'SLS HTTP 404: ProjectNotExist: m (request ABC)' });
  });
});
