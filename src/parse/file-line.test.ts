// Host file lines (`kind: files`) into records: JSON objects and text, the time and message fields, bad lines, credentials.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noDetection } from '../detect/hook.ts';
import { DetectorHost } from '../detect/setup.ts';
import type { ChunkContext } from './chunk.ts';
import type { FileLineOrigin } from './file-line.ts';
import { processBlock } from './parsers.ts';
import { compilePatterns } from './patterns.ts';
import { compileRedaction } from './redact.ts';

const ctx: ChunkContext = {
  redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }),
  detector: noDetection,
  patterns: compilePatterns(undefined),
};
const origin = (o: Partial<FileLineOrigin> = {}): FileLineOrigin => ({ parser: 'files', fileKey: 'f00d', offset: 100, path: '/var/log/app.log', host: 'node-1', format: 'auto', ...o });

function records(block: string, o = origin(), c = ctx) {
  const r = processBlock(Buffer.from(block), c, o);
  return { r, ids: r.count > 0 ? r.ids.split('\n') : [], docs: r.replaced.map(([, text]) => JSON.parse(text) as Record<string, unknown>) };
}

describe('host file line parser', () => {
  it('reads JSON object lines as fields and other lines as text, with path, host and ids at file identity + offset', () => {
    const block = '{"ts":1796640077,"msg":"started","level":"info"}\r\nplain text\n[1,2]\n\n{"broken":\n';
    const { r, ids, docs } = records(block, origin({ timeField: 'ts', messageField: 'msg' }));
    expect(r.bad).toEqual([]);
    expect(docs[0]).toEqual({ time: 1796640077, path: '/var/log/app.log', host: 'node-1', message: 'started', json: { ts: 1796640077, msg: 'started', level: 'info' } });
    expect(docs.slice(1).map((d) => d.message)).toEqual(['plain text', '[1,2]', '{"broken":']);
    expect(ids).toEqual(['f00d@100', `f00d@${100 + block.indexOf('plain')}`, `f00d@${100 + block.indexOf('[1,2]')}`, `f00d@${100 + block.indexOf('{"broken')}`]);
    // Text lines carry the time they were read.
    expect(Number.isNaN(Date.parse(String(docs[1].time)))).toBe(false);
  });

  it('keeps JSON lines as text with format: text, refuses other lines with format: json', () => {
    expect(records('{"a":1}\n', origin({ format: 'text' })).docs[0]).toMatchObject({ message: '{"a":1}' });
    const { r, docs } = records('{"a":1}\nnot json\n[1]\n', origin({ format: 'json' }));
    expect(docs.map((d) => d.json)).toEqual([{ a: 1 }]);
    expect(r.bad.map((b) => b.error)).toEqual(['not a JSON object (format: json)', 'not a JSON object (format: json)']);
  });

  it('puts the pod\'s context on every record of a file in a pod\'s directory', () => {
    const kubernetes = { pod_uid: '457a7cb1-aa47-4d00-9125-f4a427a4fb70', volume: 'logs', enriched: true, namespace: 'payments', pod: 'ledger-api-x', labels: { app: 'ledger-api' } };
    expect(records('a\nb\n', origin({ kubernetes: JSON.stringify(kubernetes) })).docs.map((d) => d.kubernetes)).toEqual([kubernetes, kubernetes]);
  });

  it('blanks credentials in text and JSON fields, while the rules match the line as written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-file-line-'));
    try {
      await writeFile(join(dir, 'r.yaml'), [
        'rules:',
        '  - { id: T-1, name: t, category: c, level: low, source: files, match: { field: message, contains: "password=" }, output: "{message}" }',
        '  - { id: T-2, name: t, category: c, level: low, source: files, match: { field: json.password, exists: true }, output: "{path}" }',
      ].join('\n'));
      const host = new DetectorHost({ ruleFiles: [join(dir, 'r.yaml')], clusterName: 't', clusterId: '', updateIntervalMs: 0 });
      const { r, docs } = records('login ok password=hunter2secret\n{"user":"bob","password":"hunter2secret"}\n', origin(), { ...ctx, detector: host.detector });
      expect(JSON.stringify(docs)).not.toContain('hunter2secret');
      expect(docs[0]).toMatchObject({ redacted: true });
      expect(docs[1]).toMatchObject({ redacted: true, json: { user: 'bob' } });
      expect(r.alarms.map((a) => (JSON.parse(a.payload) as { rule: { id: string } }).rule.id).sort()).toEqual(['T-1', 'T-2']);
      for (const a of r.alarms) expect(a.payload).not.toContain('hunter2secret');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
