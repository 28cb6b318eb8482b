// Tests of the shared body encodings: payload bytes go out exactly as read.
import { describe, expect, it } from 'vitest';
import type { OutRecord } from '../delivery/record.ts';
import { bodySize, encodeNdjson, writeBody } from './encode.ts';

function record(id: string, payload: string): OutRecord {
  return { id, kind: 'log', source: 'audit', payload: Buffer.from(payload, 'utf8') };
}

// Spacing and escapes as a writer might leave them: re-serialising would change these bytes.
const payloads = [
  '{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"get"}',
  '{ "kind": "Event", "auditID": "a2", "user": {"username": "system:node:ñode-1"} }',
  '{"kind":"Event","auditID":"a3","requestURI":"/api/v1/namespaces/kube-system/secrets?x=\\u00e9"}',
];
const batch = payloads.map((p, i) => record(`a${i + 1}/ResponseComplete`, p));

describe('encodeNdjson', () => {
  it('writes each payload byte-exact followed by a newline', () => {
    expect(encodeNdjson(batch).equals(Buffer.from(payloads.map((p) => `${p}\n`).join(''), 'utf8'))).toBe(true);
  });

  it('writes nothing for an empty batch', () => {
    expect(encodeNdjson([]).length).toBe(0);
  });
});

/** The json_array body as the http sink writes it: into memory sized by bodySize. */
function encodeJsonArray(records: readonly OutRecord[]): Buffer {
  const out = Buffer.alloc(bodySize(records, 'json_array'));
  expect(writeBody(records, 'json_array', out)).toBe(out.length);
  return out;
}

describe('json_array bodies', () => {
  it('joins the payloads byte-exact into one JSON array', () => {
    const body = encodeJsonArray(batch);
    expect(body.equals(Buffer.from(`[${payloads.join(',')}]`, 'utf8'))).toBe(true);
    expect(JSON.parse(body.toString('utf8'))).toEqual(payloads.map((p) => JSON.parse(p)));
  });

  it('writes an empty array for an empty batch', () => {
    expect(encodeJsonArray([]).toString()).toBe('[]');
  });

  it('writes a one-record batch without a separator', () => {
    expect(encodeJsonArray([batch[0]]).toString()).toBe(`[${payloads[0]}]`);
  });
});
