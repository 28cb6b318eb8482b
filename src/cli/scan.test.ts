// `kaudit scan` of a plain file (read into reusable buffers) against the same content gzipped (read as a
// stream): lines across buffer boundaries, lines longer than a buffer, over-long lines, CRLF, a bad line and
// a last line without a newline all give the same counts, and problems are reported at their file offsets.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { auditIdFor, auditLine } from '../../bench/gen-audit.ts';
import { runCli } from '../../test/utils/agent.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A valid event (auditLine(i)) padded to `bytes` with an extra field. */
function padded(i: number, bytes: number): string {
  const line = auditLine(i);
  const pad = bytes - line.length - ',"pad":""'.length;
  return `${line.slice(0, -1)},"pad":"${'x'.repeat(pad)}"}`;
}

interface Content {
  data: Buffer;
  /** Every line: its event's auditID (none for the bad line), file offset and length without the line end. */
  lines: Array<{ id?: string; offset: number; length: number }>;
}

function content(): Content {
  const n = 5000;
  const special = new Map<number, string>([
    [700, padded(700, 1.2 * MiB)], // valid under a 1.5 MiB cap; longer than a read buffer
    [1500, padded(1500, 3 * MiB)], // over-long, longer than two buffers
    [1501, padded(1501, 1.6 * MiB)], // over-long, right after the previous one
    [2600, padded(2600, 100 * KiB)],
    [3333, '{not json'],
  ]);
  const parts: Buffer[] = [];
  const lines: Content['lines'] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const text = special.get(i) ?? auditLine(i);
    const last = i === n - 1;
    const line = Buffer.from(last ? text : i % 7 === 3 ? `${text}\r\n` : `${text}\n`); // the last line has no newline
    lines.push({ id: i === 3333 ? undefined : auditIdFor(i), offset, length: text.length });
    parts.push(line);
    offset += line.length;
  }
  return { data: Buffer.concat(parts), lines };
}

function setup(dir: string, name: string, maxLineBytes: number): string {
  writeFileSync(join(dir, `${name}.rules.yaml`), `
rules:
  - id: T-ALL
    name: every event
    category: other
    level: low
    stages: any
    match: { field: auditID, exists: true }
    output: "{auditID}"
`);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, [
    `state_dir: ${dir}`,
    `sources: { audit: { kind: audit, path: ${join(dir, 'unused.audit')}, max_line_bytes: ${maxLineBytes} } }`,
    `detection: { system_rules: false, rules: [${join(dir, `${name}.rules.yaml`)}] }`,
    '',
  ].join('\n'));
  return config;
}

async function scan(config: string, file: string) {
  const r = await runCli(['scan', '--config', config, '--output', 'json', '--hits', file]);
  expect(r.stderr).not.toMatch(/error/i);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const summary = out.at(-1);
  const hits = out.filter((o) => o.hit).map((o) => o.hit.auditID as string);
  return { code: r.code, file: summary.files[0], hits };
}

describe('kaudit scan of a plain file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kaudit-scan-plain-'));
  const { data, lines } = content();
  writeFileSync(join(dir, 'big.audit'), data);
  writeFileSync(join(dir, 'big.audit.gz'), gzipSync(data));

  for (const maxLineBytes of [1.5 * MiB, 64 * KiB]) {
    it(`counts every event once and reports problems at their offsets (max_line_bytes ${maxLineBytes})`, async () => {
      const config = setup(dir, `cap-${maxLineBytes}`, maxLineBytes);
      const plain = await scan(config, join(dir, 'big.audit'));
      const gz = await scan(config, join(dir, 'big.audit.gz'));

      const over = lines.filter((l) => l.length > maxLineBytes);
      const expected = lines.filter((l) => l.id && l.length <= maxLineBytes).map((l) => l.id!);
      expect(over.length).toBe(maxLineBytes > MiB ? 2 : 4);
      expect(plain.code).toBe(3);
      expect(plain.hits.length).toBe(expected.length);
      expect(new Set(plain.hits)).toEqual(new Set(expected));
      expect(plain.file).toMatchObject({ bytes: data.length, events: expected.length, invalid: 1, oversize: over.length });

      const bad = lines.find((l) => !l.id)!;
      const problems = (s: { firstProblems: Array<{ offset: number; error: string }> }) =>
        [...s.firstProblems].sort((a, b) => a.offset - b.offset);
      expect(problems(plain.file).map((p) => p.offset)).toEqual([...over, bad].map((l) => l.offset).sort((a, b) => a - b));
      expect(problems(plain.file).filter((p) => /max_line_bytes/.test(p.error)).map((p) => p.offset)).toEqual(over.map((l) => l.offset));

      // The stream path over the same content agrees on everything.
      expect(gz.hits.length).toBe(plain.hits.length);
      expect(new Set(gz.hits)).toEqual(new Set(plain.hits));
      expect({ ...gz.file, file: '', firstProblems: problems(gz.file) }).toEqual({ ...plain.file, file: '', firstProblems: problems(plain.file) });
    });
  }
});
