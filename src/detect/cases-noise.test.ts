// Ordinary managed-cluster and controller traffic stays below medium, and the same identities still alarm on what they never do.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvent, type Raw } from './attack-cases.ts';
import { NOISE_CASES } from './cases-noise.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { loadRuleFiles, type RuleSet } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');

let ruleSet: RuleSet;
beforeAll(() => {
  ruleSet = loadRuleFiles(readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n)));
});

const hits = (e: Raw): RuleHit[] => new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' }).hits(auditEvent(e));
const isAlarm = (h: RuleHit) => h.level === 'high' || h.level === 'medium';

describe('ordinary traffic of managed clusters and well-known controllers', () => {
  for (const c of NOISE_CASES) {
    it(`${c.what}: no high or medium alarm, and ${c.rule} fires on ${c.attackWhy}`, () => {
      const benign = hits(c.benign);
      expect(benign.filter(isAlarm).map((h) => `${h.ruleId}: ${h.summary}`)).toEqual([]);
      expect(benign.map((h) => h.ruleId).filter((id) => id === c.rule && id !== c.benignRaises)).toEqual([]);
      if (c.benignRaises !== undefined) expect(benign.map((h) => h.ruleId)).toContain(c.benignRaises);
      expect(hits(c.attack).map((h) => h.ruleId)).toContain(c.rule);
    });
  }
});
