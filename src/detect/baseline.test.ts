// The baseline: what each identity did is learned, first-seen conditions hold only after the learning period, and the
// baseline is bounded, decays, and survives a save and load.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DetectorHost, systemRuleFiles } from './setup.ts';
import { Baseline } from './baseline.ts';
import { DetectionEngine } from './engine.ts';
import { compileRuleTexts } from './rules.ts';
import { auditEventOf } from './test-event.ts';

const RULES = JSON.stringify({ rules: [{
  id: 'T-NEW', name: 'new', category: 'test', level: 'low',
  match: { baseline: 'first_seen', of: ['verb', 'objectRef.resource'] },
  output: '{user.username} {verb} {objectRef.resource} for the first time',
}] });
const BASE = {
  kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', stage: 'ResponseComplete', requestURI: '/api/v1/namespaces/payments/pods',
  sourceIPs: ['10.0.0.9'], userAgent: 'kubectl/v1.30.0', responseStatus: { metadata: {}, code: 200 },
};
let n = 0;
const event = (day: number, username: string, verb: string, resource: string, code = 200, stage = 'ResponseComplete') => auditEventOf(BASE, {
  auditID: `b-${++n}`, stage, verb, user: { username, groups: ['system:authenticated'] }, objectRef: { resource, namespace: 'payments', apiVersion: 'v1' },
  responseStatus: { metadata: {}, code }, requestReceivedTimestamp: new Date(Date.UTC(2026, 10, 1 + day, 12)).toISOString(),
});
const engineWith = (baseline: Baseline) => new DetectionEngine(compileRuleTexts([{ name: 't.yaml', text: RULES }]), { clusterName: 'c', clusterId: '', baseline });
const fires = (engine: DetectionEngine, e: ReturnType<typeof event>) => engine.hits(e).some((h) => h.ruleId === 'T-NEW');

describe('baseline', () => {
  it('says nothing while it learns, then holds for what an identity never did (allowed requests only are learned)', () => {
    const engine = engineWith(new Baseline({ learningDays: 7 }));
    expect(fires(engine, event(0, 'dana', 'get', 'pods'))).toBe(false);
    expect(fires(engine, event(3, 'dana', 'list', 'secrets', 403))).toBe(false);
    expect(fires(engine, event(6, 'dana', 'get', 'configmaps'))).toBe(false);
    expect(fires(engine, event(8, 'dana', 'get', 'pods'))).toBe(false);
    expect(fires(engine, event(8, 'dana', 'get', 'configmaps'))).toBe(false);
    // Refused at day 3, so never learned.
    expect(fires(engine, event(8, 'dana', 'list', 'secrets'))).toBe(true);
    expect(fires(engine, event(9, 'dana', 'list', 'secrets'))).toBe(false);
    expect(fires(engine, event(9, 'dana', 'delete', 'pods'))).toBe(true);
    // Nodes are one identity: a new node doing what nodes do is not new.
    expect(fires(engine, event(0, 'system:node:a', 'get', 'nodes'))).toBe(false);
    expect(fires(engine, event(9, 'system:node:b', 'get', 'nodes'))).toBe(false);
  });

  it('learns a watch when its response starts: a watch still open is known', () => {
    const engine = engineWith(new Baseline({ learningDays: 7 }));
    // Opened on day 0, still open: it never completed.
    expect(fires(engine, event(0, 'dana', 'watch', 'pods', 200, 'ResponseStarted'))).toBe(false);
    expect(fires(engine, event(8, 'dana', 'watch', 'pods'))).toBe(false);
    expect(fires(engine, event(8, 'dana', 'watch', 'secrets'))).toBe(true);
  });

  it('forgets what an identity stopped doing after the decay', () => {
    const engine = engineWith(new Baseline({ learningDays: 1, decayDays: 5 }));
    fires(engine, event(0, 'dana', 'get', 'pods'));
    fires(engine, event(0, 'dana', 'get', 'services'));
    expect(fires(engine, event(4, 'dana', 'get', 'services'))).toBe(false);
    expect(fires(engine, event(10, 'dana', 'get', 'pods'))).toBe(true);
  });

  it('keeps at most maxIdentities identities and maxTuples tuples, the least recently seen given up first', () => {
    const b = new Baseline({ maxIdentities: 64, maxTuples: 64, decayDays: 365 });
    // Two tuples a day for 1,000 identities over 100 days.
    for (let i = 0; i < 1000; i++) {
      b.learn(`u${i}`, 'get\0pods', Date.UTC(2026, 0, 1 + Math.floor(i / 10)));
      b.learn(`u${i}`, 'list\0pods', Date.UTC(2026, 0, 1 + Math.floor(i / 10)));
    }
    expect(b.size.identities).toBe(64);
    expect(b.size.tuples).toBe(64);
    b.completeLearning();
    const later = Date.UTC(2026, 5, 1);
    expect(b.firstSeen('u999', 'get\0pods', later)).toBe(false);
    expect(b.firstSeen('u0', 'get\0pods', later)).toBe(true);
  });

  it('survives a save and load (restart), learning period included', () => {
    const learned = new Baseline({ learningDays: 7 });
    fires(engineWith(learned), event(0, 'dana', 'get', 'pods'));
    const restored = new Baseline({ learningDays: 7 });
    expect(restored.load(new Uint8Array(learned.save()))).toBe(true);
    const second = engineWith(restored);
    expect(fires(second, event(8, 'dana', 'get', 'pods'))).toBe(false);
    expect(fires(second, event(8, 'dana', 'get', 'secrets'))).toBe(true);
    // Without the saved state the learning period starts again.
    expect(fires(engineWith(new Baseline({ learningDays: 7 })), event(8, 'dana', 'get', 'secrets'))).toBe(false);
  });
});

describe('shipped first-seen rules', () => {
  const host = (dir: string) => new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 'c', clusterId: '', updateIntervalMs: 0, stateFile: join(dir, 'alarms-0.json'), baselineFile: join(dir, 'baseline.bin') });
  const ruleIds = (h: DetectorHost, e: ReturnType<typeof event>) => {
    const hits: Parameters<DetectionEngine['evaluate']>[2] = [];
    h.detector.evaluate(e, undefined, hits);
    return hits!.map((x) => `${x.ruleId}/${x.level}`).filter((x) => x.startsWith('KA-BASE'));
  };

  it('KA-BASE-001 (low) and KA-BASE-002 (medium, sensitive resources) fire after the learning period, with the baseline kept across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-baseline-'));
    const first = host(dir);
    expect(ruleIds(first, event(0, 'dana', 'get', 'pods'))).toEqual([]);
    expect(ruleIds(first, event(1, 'dana', 'get', 'configmaps'))).toEqual([]);
    await first.close();
    expect(readdirSync(dir)).toContain('baseline.bin');
    const second = host(dir);
    expect(ruleIds(second, event(8, 'dana', 'get', 'pods'))).toEqual([]);
    expect(ruleIds(second, event(8, 'dana', 'delete', 'pods'))).toEqual(['KA-BASE-001/low']);
    expect(ruleIds(second, event(8, 'dana', 'get', 'secrets'))).toEqual(['KA-BASE-002/medium']);
    // Control-plane identities are not judged.
    expect(ruleIds(second, event(8, 'system:kube-controller-manager', 'get', 'secrets'))).toEqual([]);
    await second.close();
    // A fresh state directory learns again: nothing is first seen.
    const fresh = host(mkdtempSync(join(tmpdir(), 'kaudit-baseline-')));
    expect(ruleIds(fresh, event(8, 'dana', 'get', 'secrets'))).toEqual([]);
    await fresh.close();
  });

  it('after a kill, knows what was learned up to its last save and nothing since', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-baseline-'));
    const killed = host(dir);
    ruleIds(killed, event(0, 'dana', 'get', 'pods'));
    await killed.save(true);
    ruleIds(killed, event(1, 'dana', 'get', 'configmaps'));
    // Never closed: the process died here.
    const next = host(dir);
    expect(ruleIds(next, event(8, 'dana', 'get', 'pods'))).toEqual([]);
    expect(ruleIds(next, event(8, 'dana', 'get', 'configmaps'))).toEqual(['KA-BASE-001/low']);
    await next.close();
  });
});
