// Tests of the http sink's presets and record templates: Splunk HEC against a fake HTTP Event Collector, and a
// chat/incident webhook, one alarm per request.
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.ts';
import type { SinkConfig } from '../config/schema.ts';
import { FakeSplunkHec } from '../../test/utils/fake-splunk-hec.ts';
import { Receiver } from '../../test/utils/receiver.ts';
import { alarmRecord, auditRecord } from '../../test/utils/records.ts';
import { httpSink } from './http.ts';
import { compileTemplate } from './template.ts';
import { sendBatch, type Sink } from './types.ts';

const silent = pino({ level: 'silent' });
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function makeSink(raw: Record<string, unknown>): Promise<Sink> {
  const cfg = parseConfig({ sinks: { s: { kind: 'http', ...raw } } }).sinks.s as SinkConfig;
  const sink = await httpSink.create(cfg as never, { name: 's', logger: silent, stateDir: tmpdir() });
  cleanup.push(() => sink.close());
  return sink;
}

const signal = new AbortController().signal;
const AT = '2026-11-22T12:04:13.095123Z';

describe('splunk_hec preset', () => {
  it('sends each record in the event envelope with its time, authenticated with Authorization: Splunk', async () => {
    const hec = await FakeSplunkHec.start('8b3f-token');
    cleanup.push(() => hec.close());
    process.env.KAUDIT_TEST_HEC_TOKEN = '8b3f-token';
    const sink = await makeSink({ url: hec.url(), preset: 'splunk_hec', auth: { splunk: { env: 'KAUDIT_TEST_HEC_TOKEN' } }, compression: 'gzip' });
    const batch = [auditRecord(1, AT), alarmRecord('alarm-1', { firstSeen: AT, lastSeen: '2026-11-22T12:05:00Z' })];
    expect(await sendBatch(sink, batch, signal)).toEqual({ kind: 'delivered' });
    expect(hec.events).toEqual([
      { time: Date.parse(AT) / 1000, source: 'kaudit:audit', sourcetype: 'kaudit:log', event: JSON.parse(batch[0].payload.toString()) },
      { time: Date.parse('2026-11-22T12:05:00Z') / 1000, source: 'kaudit:alarms', sourcetype: 'kaudit:alarm', event: JSON.parse(batch[1].payload.toString()) },
    ]);
  });

  it('takes a template of the operator\'s instead of the preset\'s, and is refused by HEC with a wrong token', async () => {
    const hec = await FakeSplunkHec.start('right');
    cleanup.push(() => hec.close());
    process.env.KAUDIT_TEST_HEC_WRONG = 'wrong';
    const sink = await makeSink({
      url: hec.url(), preset: 'splunk_hec', auth: { splunk: { env: 'KAUDIT_TEST_HEC_WRONG' } },
      template: { event: '{{record}}', index: 'k8s_audit', host: 'node-1', fields: { verb: '{{verb}}', user: '{{user.username}}' } },
    });
    expect(await sendBatch(sink, [auditRecord(1, AT)], signal)).toEqual({ kind: 'reject', reason: 'HTTP 403: {"text":"Invalid token","code":4}' });
    process.env.KAUDIT_TEST_HEC_WRONG = 'right';
    const good = await makeSink({
      url: hec.url(), preset: 'splunk_hec', auth: { splunk: { env: 'KAUDIT_TEST_HEC_WRONG' } },
      template: { event: '{{record}}', index: 'k8s_audit', fields: { verb: '{{verb}}', user: '{{user.username}}' } },
    });
    expect(await sendBatch(good, [auditRecord(1, AT)], signal)).toEqual({ kind: 'delivered' });
    expect(hec.events[0]).toMatchObject({ index: 'k8s_audit', fields: { verb: 'get', user: 'alice' }, event: { auditID: 'a-1' } });
  });
});

describe('webhook preset', () => {
  it('sends an alarm as a chat message, one per request, and limits its batches to one record', async () => {
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const sink = await makeSink({ url: rx.url(), preset: 'webhook' });
    expect(httpSink.maxBatchEvents?.(parseConfig({ sinks: { s: { kind: 'http', url: rx.url(), preset: 'webhook' } } }).sinks.s as never)).toBe(1);
    expect(await sendBatch(sink, [alarmRecord('alarm-1', { firstSeen: AT, level: 'high' })], signal)).toEqual({ kind: 'delivered' });
    expect(rx.requests[0].headers['content-type']).toBe('application/json');
    expect(JSON.parse(rx.requests[0].body.toString())).toEqual({ text: '[high] exec into a pod (KA-EXEC-001), cluster : alice ran sh in default/p-1' });
  });
});

describe('record templates', () => {
  it('fills the record, its time, its metadata and its fields, keeping JSON types where a placeholder stands alone', () => {
    const render = compileTemplate({ e: '{{record}}', t: '{{time}}', id: '{{id}}', code: '{{responseStatus.code}}', missing: '{{nope}}', text: '{{verb}} by {{user.username}} ({{kind}})', n: 3, list: ['{{source}}'] });
    const r = auditRecord(7, AT, { responseStatus: { code: 403 } });
    expect(JSON.parse(render(r).toString())).toEqual({
      e: JSON.parse(r.payload.toString()), t: Date.parse(AT) / 1000, id: 'a-7/ResponseComplete', code: 403, missing: null,
      text: 'get by alice (log)', n: 3, list: ['audit'],
    });
  });

  it('fills a placeholder only from the record\'s own fields: inherited names are absent, not the prototype or its functions', () => {
    const render = compileTemplate({
      c: '{{constructor}}', p: '{{__proto__}}', s: '{{toString}}', u: '{{user.constructor.name}}', l: '{{auditID.length}}',
      text: '[{{constructor}}|{{__proto__}}|{{user.hasOwnProperty}}]', own: '{{annotations.constructor}}',
    });
    const r = auditRecord(8, AT, { annotations: { constructor: 'set by the client' } });
    expect(JSON.parse(render(r).toString())).toEqual({ c: null, p: null, s: null, u: null, l: null, text: '[||]', own: 'set by the client' });
  });
});
