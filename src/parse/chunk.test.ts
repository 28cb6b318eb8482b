// A block of lines as the tailer hands it to a worker: spans of good events, bad lines with their offsets.
import { describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { noDetection } from '../detect/hook.ts';
import { processChunk } from './chunk.ts';
import { compileRedaction } from './redact.ts';

const ctx = { redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }), detector: noDetection };

describe('processChunk', () => {
  it('gives each good event its byte span and id, skips blank lines, and names each bad line with its span', () => {
    const good = [auditLine(0), auditLine(1)];
    const text = `${good[0]}\r\n\n   \n{"not":"an event"}\n${good[1]}\n`;
    const r = processChunk(Buffer.from(text), ctx);
    expect(r.count).toBe(2);
    const spans = [...r.spans];
    expect(text.slice(spans[0], spans[1])).toBe(good[0]); // CR dropped
    expect(text.slice(spans[2], spans[3])).toBe(good[1]);
    expect(r.ids.split('\n')).toEqual(good.map((l) => `${JSON.parse(l).auditID}/${JSON.parse(l).stage}`));
    expect(r.bad).toHaveLength(1);
    expect(text.slice(r.bad[0].start, r.bad[0].end)).toBe('{"not":"an event"}');
  });

  it('reads an event after a byte order mark, and reports a line of invalid UTF-8 while the rest of the block reads', () => {
    const line = auditLine(2);
    const block = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${line}\n`), Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), Buffer.from(`${auditLine(3)}\n`)]);
    const r = processChunk(block, ctx);
    expect(r.count).toBe(2);
    expect(r.bad.map((b) => b.error)).toEqual(['invalid UTF-8']);
    expect(r.ids.split('\n')[0]).toBe(`${JSON.parse(line).auditID}/${JSON.parse(line).stage}`);
    expect(block.subarray(r.spans[0], r.spans[1]).toString()).toBe(line); // forwarded without the mark
  });

  it('reports an event nested too deeply to process in words, forwards nothing of it, and reads on', () => {
    // A credential in the request URI: the redacted event is written out again, and that is where the stack runs out.
    const event = { ...JSON.parse(auditLine(7)), requestURI: '/api/v1/namespaces/default/configmaps?access_token=tok-0001', requestObject: 0 };
    const deep = JSON.stringify(event).replace('"requestObject":0', `"requestObject":${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const withPatterns = { ...ctx, redactor: compileRedaction({ secrets: true, token_requests: true, paths: [], patterns: { enabled: true, keys: {}, values: {}, skip: [] } }) };
    const r = processChunk(Buffer.from(`${deep}\n${auditLine(8)}\n`), withPatterns);
    expect(r.count).toBe(1);
    expect(r.bad.map((b) => b.error)).toEqual(['processing failed: nested too deeply to process']);
  });

  it('keeps one id per event when an auditID or stage holds a newline (a client-set Audit-ID), as a space', () => {
    const odd = JSON.stringify({ ...JSON.parse(auditLine(4)), auditID: 'a\nb' });
    const oddStage = JSON.stringify({ ...JSON.parse(auditLine(5)), stage: 'Response\nComplete' });
    const r = processChunk(Buffer.from(`${odd}\n${auditLine(6)}\n${oddStage}\n`), ctx);
    expect(r.count).toBe(3);
    const ids = r.ids.split('\n');
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(`a b/${JSON.parse(odd).stage}`);
    expect(ids[2]).toBe(`${JSON.parse(oddStage).auditID}/Response Complete`);
  });
});
