// All shipped rules against workload and node attacks the real capture does not contain: every attack raises its category
// (any level), no benign look-alike raises a high or medium alarm.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvent, identities, req } from './attack-cases.ts';
import { KAUDIT_CATEGORY, WORKLOAD_CASES, type WorkloadCase } from './cases-workload.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { compileRuleTexts, loadRuleFiles, type RuleSet } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');

let ruleSet: RuleSet;
beforeAll(() => {
  ruleSet = loadRuleFiles(readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n)));
});

const hitsOf = (c: WorkloadCase): RuleHit[] => new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' }).hits(auditEvent(c.event));
const isAlarm = (h: RuleHit) => h.level === 'high' || h.level === 'medium';

describe('workload and node attacks beyond the capture', () => {
  const recall = new Map<string, { total: number; detected: number }>();
  afterAll(() => {
    console.log('recall per category (workload cases):');
    console.table(Object.fromEntries([...recall].map(([gt, r]) => [gt, { kaudit: KAUDIT_CATEGORY[gt], detected: `${r.detected}/${r.total}` }])));
  });

  for (const c of WORKLOAD_CASES.filter((x) => x.gt !== undefined)) {
    const want = KAUDIT_CATEGORY[c.gt!];
    it(`${c.gt} → ${want}: ${c.what}`, () => {
      const found = hitsOf(c).filter((h) => h.category === want);
      const row = recall.get(c.gt!) ?? { total: 0, detected: 0 };
      row.total++;
      if (found.length > 0) row.detected++;
      recall.set(c.gt!, row);
      expect(found.map((h) => h.ruleId), `hits: ${hitsOf(c).map((h) => `${h.ruleId}/${h.category}/${h.level}`).join(' ')}`).not.toEqual([]);
      if (c.rule) expect(found.map((h) => h.ruleId)).toContain(c.rule);
    });
  }
});

describe('benign look-alikes of workload and node attacks', () => {
  for (const c of WORKLOAD_CASES.filter((x) => x.gt === undefined)) {
    it(`raise no high or medium alarm: ${c.what}`, () => {
      const hits = hitsOf(c);
      expect(hits.filter(isAlarm).map((h) => `${h.ruleId}: ${h.summary}`)).toEqual([]);
      if (c.rule) expect(hits.map((h) => h.ruleId)).not.toContain(c.rule);
    });
  }
});

it('names each rule it covers on an attack and on a near miss', () => {
  const named = (attack: boolean) => new Set(WORKLOAD_CASES.filter((c) => c.rule && (c.gt !== undefined) === attack).map((c) => c.rule));
  expect([...named(true)].sort()).toEqual([...named(false)].sort());
  for (const id of named(true)) expect(ruleSet.rules.find((r) => r.id === id), id).toBeDefined();
});

it('has at least 8 attacks per category and a benign look-alike per category', () => {
  for (const gt of Object.keys(KAUDIT_CATEGORY)) expect(WORKLOAD_CASES.filter((c) => c.gt === gt).length, gt).toBeGreaterThanOrEqual(8);
  expect(WORKLOAD_CASES.filter((c) => c.gt === undefined).length).toBeGreaterThanOrEqual(8 * 3);
});

describe('patch_body: a patch\'s body as the object it writes, whatever the patch type', () => {
  const rule = (field: string, cond: string) => compileRuleTexts([{ name: 'site.yaml', text: `rules:
  - { id: T-1, name: t, description: t, category: test, level: low, output: t, match: { field: "${field}", ${cond} } }
` }]);
  const fires = (set: RuleSet, body: unknown) => new DetectionEngine(set, { clusterName: 'test', clusterId: '' })
    .hits(auditEvent({ ...identities.mallory, ...req('patch', 'deployments', { ns: 'payments', name: 'api', body, level: 'Request' }), responseObject: undefined })).length > 0;
  const privileged = rule('patch_body.spec.template.spec.containers[*].securityContext.privileged', 'equals: true');

  it('reads a JSON patch\'s add and replace operations as the object they build, list indexes and `-` included', () => {
    expect(fires(privileged, [{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/privileged', value: true }])).toBe(true);
    expect(fires(privileged, [{ op: 'replace', path: '/spec/template/spec/containers/-', value: { name: 'x', securityContext: { privileged: true } } }])).toBe(true);
    expect(fires(privileged, [{ op: 'replace', path: '/spec', value: { template: { spec: { containers: [{ securityContext: { privileged: true } }] } } } }])).toBe(true);
  });

  it('takes an operation\'s path and value together, never one operation\'s path with another\'s value', () => {
    expect(fires(privileged, [
      { op: 'replace', path: '/spec/template/spec/containers/0/securityContext/privileged', value: false },
      { op: 'add', path: '/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem', value: true },
    ])).toBe(false);
    expect(fires(privileged, [{ op: 'remove', path: '/spec/template/spec/containers/0/securityContext/privileged' }, { op: 'test', path: '/x', value: true }])).toBe(false);
  });

  it('reads a merge or strategic-merge body as it is, and unescapes ~1 and ~0 in pointers', () => {
    expect(fires(privileged, { spec: { template: { spec: { containers: [{ name: 'a', securityContext: { privileged: true } }] } } } })).toBe(true);
    const annotation = rule('patch_body.metadata.annotations[\\"kubernetes.io/config.mirror\\"]', 'exists: true');
    expect(fires(annotation, [{ op: 'add', path: '/metadata/annotations/kubernetes.io~1config.mirror', value: 'x' }])).toBe(true);
  });
});
