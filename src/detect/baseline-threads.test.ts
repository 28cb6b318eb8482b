// One baseline for every parse thread: what one worker learns is known to the others at once, first-seen fires once
// whichever thread parses the event, and the one file a detector keeps restores it for all of them.
import { mkdtempSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DAY } from '../config/units.ts';
import { AdaptiveProcessor } from '../parse/adaptive.ts';
import { createProcessor, type ChunkProcessor } from '../parse/workers.ts';
import { baselinePlan, type DetectionInit } from './setup.ts';

const redaction = { secrets: true, token_requests: true, paths: [] };
const open: ChunkProcessor[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

const RULES = 'rules:\n  - { id: T-NEW, name: new, category: test, level: low, match: { baseline: first_seen, of: [verb, objectRef.resource] }, output: "{user.username} {verb} {objectRef.resource}" }\n';
const settings = { learning_period: 7 * DAY, decay: 30 * DAY, max_identities: 1000, max_tuples: 4096, expected: true };

let n = 0;
/** An allowed request of `username` on day `day` of November 2026, as the apiserver writes it. */
function line(day: number, username: string, verb: string, resource: string): string {
  const at = new Date(Date.UTC(2026, 10, 1 + day, 12)).toISOString();
  return JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `t-${++n}`, stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/payments/${resource}`, verb, user: { username, groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.9'], userAgent: 'kubectl/v1.30.0', objectRef: { resource, namespace: 'payments', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 }, requestReceivedTimestamp: at, stageTimestamp: at,
  });
}
const block = (...lines: string[]) => Buffer.from(`${lines.join('\n')}\n`);

async function detectionIn(stateDir: string): Promise<DetectionInit> {
  const rules = join(stateDir, 'rules.yaml');
  await writeFile(rules, RULES);
  return { ruleFiles: [rules], clusterName: 'c', clusterId: '', updateIntervalMs: 0, baseline: baselinePlan(settings) };
}

async function setUp(stateDir: string): Promise<ChunkProcessor> {
  // Two worker threads, blocks sent to them in turn.
  const p = createProcessor(2, { redaction, detection: await detectionIn(stateDir), detectionStateDir: join(stateDir, 'detection'), collectHits: true });
  open.push(p);
  await p.ready();
  return p;
}

/** The first-seen hits of a block, as `user verb resource`. */
async function firstSeen(p: ChunkProcessor, data: Buffer): Promise<string[]> {
  return ((await p.process(data)).hits ?? []).filter((h) => h.ruleId === 'T-NEW').map((h) => h.summary);
}

describe('one baseline for all parse threads', () => {
  it('knows on every worker what one worker learned: a new behaviour is first seen once, a known one never', async () => {
    const p = await setUp(mkdtempSync(join(tmpdir(), 'kaudit-baseline-threads-')));
    const seen: string[] = [];
    // Worker 0, then 1, then 0, then 1: both learning from day 0, judging from day 8.
    seen.push(...await firstSeen(p, block(line(0, 'dana', 'get', 'pods'), line(0, 'erin', 'get', 'pods'))));
    seen.push(...await firstSeen(p, block(line(0, 'erin', 'get', 'pods'))));
    seen.push(...await firstSeen(p, block(line(8, 'dana', 'list', 'secrets'))));
    seen.push(...await firstSeen(p, block(line(8, 'dana', 'get', 'pods'), line(8, 'dana', 'list', 'secrets'))));
    expect(seen).toEqual(['dana list secrets']);
  });

  it('is kept in one file, which restores it for every thread after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-baseline-threads-'));
    const first = await setUp(dir);
    await firstSeen(first, block(line(0, 'dana', 'get', 'pods')));
    await firstSeen(first, block(line(1, 'dana', 'get', 'configmaps')));
    await first.close();
    open.splice(open.indexOf(first), 1);
    expect(readdirSync(join(dir, 'detection')).filter((f) => f.startsWith('baseline'))).toEqual(['baseline.bin']);

    const second = await setUp(dir);
    expect(await firstSeen(second, block(line(9, 'dana', 'get', 'pods')))).toEqual([]);
    expect(await firstSeen(second, block(line(9, 'dana', 'get', 'configmaps'), line(9, 'dana', 'delete', 'pods')))).toEqual(['dana delete pods']);
  });

  it('is the same baseline on the main thread and on the workers, before and after parsing moves between them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-baseline-threads-'));
    let now = 0;
    const p = new AdaptiveProcessor(2, { redaction, detection: await detectionIn(dir), detectionStateDir: join(dir, 'detection'), collectHits: true },
      undefined, { busyBytesPerSecond: 1000, busySeconds: 2, quietMs: 10_000, now: () => now });
    open.push(p);
    const seen: string[] = [];
    // Learned on the main thread, which stays busy until the two workers take over.
    seen.push(...await firstSeen(p, block(line(0, 'dana', 'get', 'pods'), line(0, 'dana', 'get', 'configmaps'))));
    for (let i = 0; p.mode === 'inline'; i++) {
      if (i > 3000) throw new Error('the workers did not take over');
      now += 200;
      seen.push(...await firstSeen(p, block(line(0, 'erin', 'get', 'pods'))));
      await new Promise((r) => setTimeout(r, 2));
    }
    // Judged on both workers (blocks go to them in turn), then on the main thread again after a quiet spell.
    for (let i = 0; i < 2; i++) seen.push(...await firstSeen(p, block(line(8, 'dana', 'get', 'pods'), line(8, 'dana', 'get', 'configmaps'), line(8, 'dana', 'list', 'secrets'))));
    now += 60_000;
    seen.push(...await firstSeen(p, block(line(8, 'dana', 'list', 'secrets'), line(8, 'dana', 'delete', 'pods'))));
    expect(p.mode).toBe('inline');
    seen.push(...await firstSeen(p, block(line(8, 'dana', 'delete', 'pods'))));
    expect(seen).toEqual(['dana list secrets', 'dana delete pods']);
  });
});
