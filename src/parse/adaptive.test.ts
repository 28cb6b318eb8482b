// Parsing that moves between the main thread and a real worker thread with the input's rate: the detection state
// (alarm aggregation, rate windows) moves with it in both directions, and blocks keep their order across a move.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../test/utils/until.ts';
import { AdaptiveProcessor } from './adaptive.ts';
import type { ChunkResult } from './chunk.ts';

const redaction = { secrets: true, token_requests: true, paths: [] };
const open: AdaptiveProcessor[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

// Every get counts toward one alarm per user; deletes by one user fire the rate rule on the 10th within the hour.
const RULES = `rules:
  - id: R-GET
    name: gets
    category: test
    level: low
    match: { field: verb, equals: get }
    aggregate_by: [user.username]
  - id: R-DELETES
    name: many deletes
    category: test
    level: high
    match: { field: verb, equals: delete }
    rate: { group_by: [user.username], window: 1h, more_than: 9 }
    aggregate_by: [user.username]
`;

let seq = 0;
/** One audit event a line, each with its own auditID; timestamps a millisecond apart, all within one rate window. */
function block(...events: Array<[verb: string, user: string]>): Buffer {
  return Buffer.from(events.map(([verb, user]) => {
    const n = seq++;
    const at = new Date(Date.UTC(2026, 11, 7, 12, 0, 0, n)).toISOString().replace('Z', '000Z');
    return `${JSON.stringify({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/default/pods/p', verb, user: { username: user }, sourceIPs: ['10.0.0.1'],
      objectRef: { resource: 'pods', namespace: 'default', name: 'p', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: at, stageTimestamp: at,
    })}\n`;
  }).join(''));
}

const repeat = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);

/** The alarms of some results, in order, as rule, user and count. */
function alarmsOf(results: ChunkResult[]): Array<{ rule: string; key: string; count: number }> {
  return results.flatMap((r) => r.alarms.map((a) => {
    const p = JSON.parse(a.payload) as { rule: { id: string }; count: number; event: { user: { username: string } } };
    return { rule: p.rule.id, key: p.event.user.username, count: p.count };
  }));
}

describe('adaptive parsing', () => {
  it('moves to a worker thread when the input stays busy and back after a quiet spell, handing over aggregation and rate windows both ways, blocks in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-adaptive-'));
    const rules = join(dir, 'rules.yaml');
    await writeFile(rules, RULES);
    let now = 0;
    const moves: string[] = [];
    const p = new AdaptiveProcessor(1, {
      redaction, detection: { ruleFiles: [rules], clusterName: 'c', clusterId: '', updateIntervalMs: 0 }, detectionStateDir: join(dir, 'detection'),
    }, undefined, { busyBytesPerSecond: 1000, busySeconds: 2, quietMs: 10_000, now: () => now, onMove: (to) => moves.push(to) });
    open.push(p);
    const results: ChunkResult[] = [];

    // Light input: parsed on this thread. 4 deletes by alice, none by bob yet.
    results.push(await p.process(block(...repeat(3, ['get', 'alice'] as [string, string]), ...repeat(4, ['delete', 'alice'] as [string, string]))));
    expect(p.mode).toBe('inline');
    expect(p.workerThreads).toBe(0);
    // Two busy seconds start the worker; blocks go on meanwhile and while the state moves (in order, every one).
    now += 1000;
    results.push(await p.process(block(...repeat(3, ['get', 'alice'] as [string, string]))));
    now += 1000;
    const during: Array<Promise<ChunkResult>> = [p.process(block(['get', 'alice']))];
    expect(p.workerThreads).toBe(1);
    for (let i = 0; p.mode === 'inline'; i++) {
      if (i > 3000) throw new Error('the worker did not take over');
      during.push(p.process(block(['get', 'alice'])));
      await new Promise((r) => setTimeout(r, 2));
    }
    during.push(p.process(block(['get', 'alice'])));
    results.push(...(await Promise.all(during)));
    expect(moves).toEqual(['workers']);
    const getsSoFar = 3 + 3 + during.length;

    // On the worker: alice's 10th delete fires the rate rule (4 counted inline); bob's 5 deletes do not.
    now += 1000;
    results.push(await p.process(block(...repeat(6, ['delete', 'alice'] as [string, string]), ...repeat(5, ['delete', 'bob'] as [string, string]), ['get', 'alice'])));
    expect(p.mode).toBe('workers');

    // A quiet spell: the next block moves the work back; blocks sent meanwhile follow in order.
    now += 60_000;
    const back = [p.process(block(['get', 'alice'])), p.process(block(['get', 'alice'])), p.process(block(...repeat(5, ['delete', 'bob'] as [string, string]), ['get', 'alice']))];
    results.push(...(await Promise.all(back)));
    expect(moves).toEqual(['workers', 'inline']);
    expect(p.mode).toBe('inline');
    expect(p.workerThreads).toBe(0);

    const alarms = alarmsOf(results);
    const gets = alarms.filter((a) => a.rule === 'R-GET').map((a) => a.count);
    // One alarm update per get (update interval 0), counted on without a gap or a restart across both moves.
    expect(gets).toEqual(Array.from({ length: getsSoFar + 4 }, (_, i) => i + 1));
    // The rate windows moved too: each user's 10th delete fired once, whichever thread counted the others.
    expect(alarms.filter((a) => a.rule === 'R-DELETES')).toEqual([{ rule: 'R-DELETES', key: 'alice', count: 1 }, { rule: 'R-DELETES', key: 'bob', count: 1 }]);

    // The state file has one owner at a time, the last one saves it at close.
    await p.close();
    const saved = JSON.parse(await readFile(join(dir, 'detection', 'alarms-0.json'), 'utf8')) as { alarms: Array<[string, string, string, number]> };
    expect(saved.alarms.map((a) => a[3]).sort((a, b) => a - b)).toEqual([1, 1, getsSoFar + 4]);
  });

  it('stays on the main thread while the input stays under the busy rate', async () => {
    let now = 0;
    const p = new AdaptiveProcessor(1, { redaction, detection: undefined }, undefined, { busyBytesPerSecond: 1_000_000, busySeconds: 2, quietMs: 10_000, now: () => now });
    open.push(p);
    for (let i = 0; i < 10; i++) {
      now += 1000;
      expect((await p.process(block(['get', 'alice'], ['get', 'bob']))).count).toBe(2);
    }
    expect(p.mode).toBe('inline');
    expect(p.workerThreads).toBe(0);
  });

  it('moves when the rate stays busy: a burst shorter than busySeconds leaves it on the main thread', async () => {
    let now = 0;
    // 10 events a second, each ~470 bytes: busy, not a flood.
    const p = new AdaptiveProcessor(1, { redaction, detection: undefined }, undefined, { busyBytesPerSecond: 2000, busySeconds: 3, quietMs: 10_000, now: () => now });
    open.push(p);
    const busySecond = async () => {
      expect((await p.process(block(...repeat(10, ['get', 'alice'] as [string, string])))).count).toBe(10);
      now += 1000;
    };
    await busySecond();
    await busySecond();
    // A silence between: the run starts again.
    now += 10_000;
    await busySecond();
    await busySecond();
    await busySecond();
    expect(p.workerThreads).toBe(0);
    await busySecond();
    expect(p.workerThreads).toBe(1);
    await until('the worker takes over', () => p.mode === 'workers');
  });

  it('moves at once after a second at four times the busy rate (a backlog at start, a flood)', async () => {
    let now = 0;
    const p = new AdaptiveProcessor(1, { redaction, detection: undefined }, undefined, { busyBytesPerSecond: 1000, busySeconds: 3, quietMs: 10_000, now: () => now });
    open.push(p);
    await p.process(block(...repeat(10, ['get', 'alice'] as [string, string])));
    now += 1000;
    expect(p.workerThreads).toBe(0);
    await p.process(block(['get', 'alice']));
    expect(p.workerThreads).toBe(1);
    await until('the worker takes over', () => p.mode === 'workers');
  });

  it('moves when parsing takes the busy share of the main thread\'s time, however few bytes a second come (a slow or crowded machine)', async () => {
    let now = 0;
    // Any measurable parsing time is busy here; the byte rate never is.
    const p = new AdaptiveProcessor(1, { redaction, detection: undefined }, undefined, { busyBytesPerSecond: 1e12, busyShare: 1e-6, busySeconds: 2, quietMs: 10_000, now: () => now });
    open.push(p);
    for (let i = 0; i < 3 && p.workerThreads === 0; i++) {
      await p.process(block(...repeat(200, ['get', 'alice'] as [string, string])));
      now += 1000;
    }
    expect(p.workerThreads).toBe(1);
    await until('the worker takes over', () => p.mode === 'workers');
  });
});
