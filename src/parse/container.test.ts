// Container log lines (CRI and Docker json-file) as kubelet's runtimes write them: records, joins, cuts, bad lines.
import { describe, expect, it } from 'vitest';
import { DetectorHost, systemRuleFiles } from '../detect/setup.ts';
import { noDetection } from '../detect/hook.ts';
import type { ChunkContext } from './chunk.ts';
import { partialTailStart, type ContainerOrigin } from './container.ts';
import { processBlock } from './parsers.ts';
import { compilePatterns } from './patterns.ts';
import { compileRedaction } from './redact.ts';

const ctx: ChunkContext = {
  redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }),
  detector: noDetection,
  patterns: compilePatterns(undefined),
};
const kubernetes = { namespace: 'shop', pod: 'web-7d4b9', pod_uid: '0f6c1b1e-3c55-4b8f-9d7e-1d2b3c4d5e6f', container: 'nginx', container_id: 'a'.repeat(64) };
const origin = (o: Partial<ContainerOrigin> = {}): ContainerOrigin => ({
  parser: 'containers', fileKey: 'f00d', offset: 1000, kubernetes: JSON.stringify(kubernetes), maxMessageBytes: 64 * 1024, continues: false, ...o,
});
const T = '2026-12-07T10:41:17.123456789Z';

function records(block: Buffer | string, o = origin(), c = ctx) {
  const data = typeof block === 'string' ? Buffer.from(block) : block;
  const r = processBlock(data, c, o);
  const ids = r.count > 0 ? r.ids.split('\n') : [];
  return { r, ids, docs: r.replaced.map(([, text]) => JSON.parse(text) as Record<string, unknown>) };
}

describe('container log parser', () => {
  it('turns CRI lines into records with time, stream, message and the pod context, ids at file identity + offset', () => {
    const block = `${T} stdout F GET /healthz 200\n2026-12-07T10:41:18+01:00 stderr F warning: low disk\n`;
    const { r, ids, docs } = records(block);
    expect(r.bad).toEqual([]);
    expect(docs).toEqual([
      { time: T, stream: 'stdout', message: 'GET /healthz 200', kubernetes },
      { time: '2026-12-07T10:41:18+01:00', stream: 'stderr', message: 'warning: low disk', kubernetes },
    ]);
    expect(ids).toEqual(['f00d@1000', `f00d@${1000 + block.indexOf('2026-12-07T10:41:18')}`]);
    expect(r.alarms).toEqual([]);
  });

  it('keeps an empty message (with or without the space after the tag), drops a CRLF\'s \\r and blank lines', () => {
    const { r, docs } = records(`${T} stdout F \n${T} stderr F\n\n\r\n${T} stdout F done\r\n${T} stdout F a\rb\n`);
    expect(r.bad).toEqual([]);
    expect(docs.map((d) => d.message)).toEqual(['', '', 'done', 'a\rb']);
  });

  it('rejects lines with a bad timestamp, stream or tag, and garbage, each with its span, and reads on', () => {
    const lines = [
      `2026-13-07 10:41:17 stdout F x`,
      `yesterday stdout F x`,
      `${T} stdin F x`,
      `${T} stdout X x`,
      `${T} stdout`,
      `{"log":"x\\n","stream":"stdout","time":"not a time"}`,
      `{"log":"x\\n"`,
      `${T} stdout F fine`,
    ];
    const block = `${lines.join('\n')}\n`;
    const { r, docs } = records(block);
    expect(docs.map((d) => d.message)).toEqual(['fine']);
    expect(r.bad.map((b) => block.slice(b.start, b.end))).toEqual(lines.slice(0, -1));
    expect(r.bad.map((b) => b.error)).toEqual([
      expect.stringMatching(/bad timestamp/), expect.stringMatching(/bad timestamp/), expect.stringMatching(/bad stream/),
      expect.stringMatching(/bad tag/), expect.stringMatching(/without a tag/), expect.stringMatching(/bad timestamp/), expect.stringMatching(/not JSON/),
    ]);
  });

  it('joins P fragments into one line per stream, the record at the first fragment\'s offset, even across a character split', () => {
    const word = 'näive '; // a two-byte character, so that some 7-byte cut falls inside it
    const message = word.repeat(40);
    const bytes = Buffer.from(message);
    const lines: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 7) {
      const end = Math.min(bytes.length, at + 7);
      lines.push(Buffer.concat([Buffer.from(`${T} stdout ${end === bytes.length ? 'F' : 'P'} `), bytes.subarray(at, end), Buffer.from('\n')]));
      // An stderr line in between: the runtime writes both streams to one file.
      if (at === 14) lines.push(Buffer.from(`${T} stderr F interleaved\n`));
    }
    const { r, ids, docs } = records(Buffer.concat(lines));
    expect(r.bad).toEqual([]);
    expect(docs.map((d) => d.message)).toEqual(['interleaved', message]);
    expect(ids[1]).toBe('f00d@1000');
    expect(docs[1].truncated).toBeUndefined();
  });

  it('cuts a joined line at the cap, flags it, and drops the rest of it in a block that continues it', () => {
    const frag = 'x'.repeat(1000);
    const block = `${T} stdout P ${frag}\n${T} stdout P ${frag}\n${T} stdout F ${frag}\n${T} stdout F next\n`;
    const { docs } = records(block, origin({ maxMessageBytes: 2500 }));
    expect(docs.map((d) => (d.message as string).length)).toEqual([2500, 4]);
    expect(docs[0].truncated).toBe(true);
    expect(docs[1].truncated).toBeUndefined();
    // The next block starts inside the line cut above: its fragments up to the F line are not a record.
    const { docs: rest } = records(`${T} stdout P ${frag}\n${T} stdout F ${frag}\n${T} stdout F after\n`, origin({ continues: true }));
    expect(rest.map((d) => d.message)).toEqual(['after']);
  });

  it('reads Docker json-file lines, joining lines split at 16 KiB on the missing \\n', () => {
    const part1 = 'a'.repeat(16 * 1024);
    const lines = [
      JSON.stringify({ log: part1, stream: 'stdout', time: T }),
      JSON.stringify({ log: 'end\n', stream: 'stdout', time: T }),
      JSON.stringify({ log: 'oops\r\n', stream: 'stderr', time: '2026-12-07T10:41:19.5Z' }),
    ];
    const { r, ids, docs } = records(`${lines.join('\n')}\n`);
    expect(r.bad).toEqual([]);
    expect(docs).toEqual([
      { time: T, stream: 'stdout', message: `${part1}end`, kubernetes },
      { time: '2026-12-07T10:41:19.5Z', stream: 'stderr', message: 'oops', kubernetes },
    ]);
    expect(ids).toEqual(['f00d@1000', `f00d@${1000 + lines[0].length + lines[1].length + 2}`]);
  });

  it('forwards bytes that are not UTF-8 as U+FFFD, the rest of the line kept', () => {
    const block = Buffer.concat([Buffer.from(`${T} stdout F ok `), Buffer.from([0xff, 0xfe]), Buffer.from(' end\n')]);
    const { r, docs } = records(block);
    expect(r.bad).toEqual([]);
    expect(docs[0].message).toBe('ok \ufffd\ufffd end');
  });

  it('blanks credentials in messages with the redaction patterns', () => {
    const { docs } = records(`${T} stdout F connecting to postgres://app:hunter2secret@db:5432/shop with Authorization: Bearer abcdefghijklmnop\n`);
    expect(docs[0].message).not.toContain('hunter2secret');
    expect(docs[0].message).not.toContain('abcdefghijklmnop');
    expect(docs[0].message).toContain('[redacted: url_password]');
  });

  it('finds where a block\'s trailing partial lines start, for the reader to hold them back', () => {
    const done = `${T} stdout F one\n`;
    const partial = `${T} stdout P two-a\n${T} stdout P two-b\n`;
    expect(partialTailStart(Buffer.from(done + partial))).toBe(done.length);
    expect(partialTailStart(Buffer.from(done))).toBe(done.length);
    expect(partialTailStart(Buffer.from(partial))).toBe(0);
    const docker = `${JSON.stringify({ log: 'half', stream: 'stdout', time: T })}\n`;
    expect(partialTailStart(Buffer.from(done + docker))).toBe(done.length);
  });

  it('never runs the audit rules on a container record, whatever its message holds', () => {
    const host = new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 't', clusterId: '', updateIntervalMs: 0 });
    const detecting: ChunkContext = { ...ctx, detector: host.detector };
    // An exec into a pod by an ordinary user: an audit event the shipped rules alarm on.
    const event = JSON.stringify({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Request', auditID: '5f1c2a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6', stage: 'ResponseStarted',
      requestURI: '/api/v1/namespaces/shop/pods/web-7d4b9/exec?command=sh&container=nginx&stdin=true&stdout=true&tty=true',
      verb: 'create', user: { username: 'alice', groups: ['system:authenticated'] }, sourceIPs: ['10.0.0.9'], userAgent: 'kubectl/v1.26.0 (linux/amd64) kubernetes/b5c1b5c',
      objectRef: { resource: 'pods', namespace: 'shop', name: 'web-7d4b9', apiVersion: 'v1', subresource: 'exec' },
      responseStatus: { metadata: {}, code: 101 }, requestReceivedTimestamp: T, stageTimestamp: T,
    });
    expect(processBlock(Buffer.from(`${event}\n`), detecting).alarms.length).toBeGreaterThan(0);
    // The same text printed by a container (an audit log shipper's own output), in both formats.
    const block = `${T} stdout F ${event}\n${JSON.stringify({ log: `${event}\n`, stream: 'stdout', time: T })}\n`;
    const { r, docs } = records(block, origin(), detecting);
    expect(r.bad).toEqual([]);
    expect(docs.map((d) => d.message)).toEqual([event, event]);
    expect(r.alarms).toEqual([]);
    expect(r.notes).toBeUndefined();
  });
});
