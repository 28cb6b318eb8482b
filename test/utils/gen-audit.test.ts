// Tests of the benchmark's audit event generator: deterministic, valid, shaped like the apiserver's output.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { auditIdFor, auditLine, generateAuditLines } from '../../bench/gen-audit.ts';

const GO_ORDER = [
  'kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs',
  'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp',
  'stageTimestamp', 'annotations',
];

const OBJECT_REF_ORDER = ['resource', 'namespace', 'name', 'uid', 'apiGroup', 'apiVersion', 'resourceVersion', 'subresource'];
const USER_ORDER = ['username', 'uid', 'groups', 'extra'];
const STATUS_ORDER = ['metadata', 'status', 'message', 'reason', 'details', 'code'];

/** Keys of `o` all known and in the order Go's encoder writes them. */
function expectGoOrder(o: object | undefined, order: string[]): void {
  if (o === undefined) return;
  const keys = Object.keys(o);
  expect(keys.filter((k) => !order.includes(k))).toEqual([]);
  const idx = keys.map((k) => order.indexOf(k));
  expect(idx).toEqual([...idx].sort((a, b) => a - b));
}

interface Ev {
  auditID: string;
  level: string;
  verb: string;
  stage: string;
  objectRef?: { resource: string };
  responseStatus: { code: number };
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

describe('gen-audit', () => {
  it('gives the same line for the same index and seed, another for another seed', () => {
    expect(auditLine(12345, 9)).toBe(auditLine(12345, 9));
    expect(auditLine(12345, 9)).not.toBe(auditLine(12345, 10));
    expect([...generateAuditLines(3, 9, 12344)][1]).toBe(auditLine(12345, 9));
    expect(auditIdFor(12345, 9)).toBe((JSON.parse(auditLine(12345, 9)) as Ev).auditID);
  });

  it('writes valid JSON in the apiserver field order with the fields every event has', () => {
    for (const line of generateAuditLines(3000, 2)) {
      const ev = JSON.parse(line) as Record<string, object | undefined>;
      expectGoOrder(ev, GO_ORDER);
      expectGoOrder(ev.objectRef, OBJECT_REF_ORDER);
      expectGoOrder(ev.user, USER_ORDER);
      expectGoOrder(ev.responseStatus, STATUS_ORDER);
      for (const k of ['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'sourceIPs', 'userAgent', 'responseStatus', 'requestReceivedTimestamp', 'stageTimestamp']) {
        expect(ev).toHaveProperty(k);
      }
      expect(line).not.toContain('&'); // Go's encoder writes \u0026
    }
  });

  it('makes unique version-4 UUID auditIDs and microsecond timestamps', () => {
    const ids = new Set<string>();
    for (const line of generateAuditLines(20_000, 4)) {
      const ev = JSON.parse(line) as Ev;
      ids.add(ev.auditID);
      expect(ev.requestReceivedTimestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(ev.stageTimestamp >= ev.requestReceivedTimestamp).toBe(true);
    }
    expect(ids.size).toBe(20_000);
    for (const id of [...ids].slice(0, 200)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('mixes lease renewals with bodies, small reads, writes with bodies and a few 4xx; mean near 1.7 KB', () => {
    const n = 20_000;
    let bytes = 0;
    let leases = 0;
    let leaseBytes = 0;
    let reads = 0;
    let withBodies = 0;
    let clientErrors = 0;
    for (const line of generateAuditLines(n, 5)) {
      const ev = JSON.parse(line) as Ev;
      bytes += line.length + 1;
      if (ev.verb === 'update' && ev.objectRef?.resource === 'leases') {
        leases++;
        leaseBytes += line.length + 1;
        expect(ev.requestObject).toBeDefined();
        expect(ev.responseObject).toBeDefined();
      }
      if (['get', 'list', 'watch'].includes(ev.verb)) reads++;
      if (ev.verb !== 'update' && ev.requestObject !== undefined) withBodies++;
      if (ev.responseStatus.code >= 400 && ev.responseStatus.code < 500) clientErrors++;
    }
    expect(bytes / n).toBeGreaterThan(1550);
    expect(bytes / n).toBeLessThan(1850);
    expect(leases / n).toBeGreaterThan(0.25);
    expect(leaseBytes / leases).toBeGreaterThan(2500);
    expect(leaseBytes / leases).toBeLessThan(3100);
    expect(reads / n).toBeGreaterThan(0.35);
    expect(withBodies / n).toBeGreaterThan(0.05);
    expect(clientErrors / n).toBeGreaterThan(0.02);
    expect(clientErrors / n).toBeLessThan(0.1);
  });

  it('CLI writes N lines and reports size and mean line length', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-gen-'));
    try {
      const out = join(dir, 'kubernetes.audit');
      const script = fileURLToPath(new URL('../../bench/gen-audit.ts', import.meta.url));
      const { stdout } = await promisify(execFile)(process.execPath, [script, out, '500', '6']);
      expect(stdout).toMatch(/500 events, [\d.]+ MB, mean \d+ bytes\/line/);
      const text = await readFile(out, 'utf8');
      expect(text.split('\n')).toHaveLength(501);
      expect(text).toBe([...generateAuditLines(500, 6)].map((l) => `${l}\n`).join(''));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
