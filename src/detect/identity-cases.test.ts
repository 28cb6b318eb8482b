// All shipped rules against attack variants the real capture does not contain, in the identity and control-plane
// categories (src/detect/cases-identity.ts): each raises its category at some level; no benign look-alike raises high/medium.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvent, type Raw } from './attack-cases.ts';
import { CATEGORY_MAP } from './categories.ts';
import { IDENTITY_BENIGN, IDENTITY_CASES, IDENTITY_RULE_CASES } from './cases-identity.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { loadRuleFiles, type RuleSet } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const ruleFiles = () => readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n));

let ruleSet: RuleSet;
beforeAll(() => {
  ruleSet = loadRuleFiles(ruleFiles());
});

/** The hits of one action's events, on a fresh engine (rate windows and sequences start empty). */
function hitsOf(events: Raw[]): RuleHit[] {
  const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
  return events.flatMap((e) => engine.hits(auditEvent(e)));
}
const describeHits = (hits: RuleHit[]) => hits.map((h) => `${h.ruleId}/${h.category}/${h.level}`).join(' ') || '(none)';

describe('identity and control-plane attack variants', () => {
  it('has at least 8 variants in each category', () => {
    const counts = new Map<string, number>();
    for (const c of IDENTITY_CASES) counts.set(c.category, (counts.get(c.category) ?? 0) + 1);
    for (const category of ['anonymous_access', 'exceptional_user_agent', 'failed_auth_burst', 'credential_access', 'token_request', 'impersonation',
      'anonymous_permission_change', 'cluster_admin_binding', 'rbac_wildcard', 'admission_webhook', 'events_deleted']) {
      expect(counts.get(category) ?? 0, category).toBeGreaterThanOrEqual(8);
    }
  });

  for (const c of IDENTITY_CASES) {
    it(`${c.category}: ${c.what}`, () => {
      const want = CATEGORY_MAP[c.category];
      expect(want, c.category).toBeDefined();
      const hits = hitsOf(c.events);
      expect(hits.some((h) => h.category === want), `${want} wanted; got ${describeHits(hits)}`).toBe(true);
    });
  }
});

describe('identity and control-plane benign look-alikes', () => {
  for (const b of IDENTITY_BENIGN) {
    it(`no high or medium alarm on ${b.what}`, () => {
      const alarms = hitsOf(b.events).filter((h) => h.level === 'high' || h.level === 'medium');
      expect(alarms.map((h) => `${h.ruleId}: ${h.summary}`)).toEqual([]);
    });
  }
});

/** Near misses that are another rule's positive: the high/medium alarms they may raise. */
const MISS_RAISES: Record<string, string[]> = {
  'KA-UA-008/the same tool on a resource (KA-UA-001\'s)': ['KA-UA-001'],
  'KA-EVADE-008/the delete that succeeded (KA-EVADE-004\'s)': ['KA-EVADE-004'],
};

describe('rules added or widened for them, one behaviour at a time', () => {
  for (const c of IDENTITY_RULE_CASES) {
    it(`${c.rule} fires on ${c.behaviour}, not on ${c.missWhy}`, () => {
      const rule = ruleSet.rules.find((x) => x.id === c.rule);
      expect(rule, c.rule).toBeDefined();
      const hit = hitsOf(c.hit).filter((h) => h.ruleId === c.rule);
      expect(hit.length, describeHits(hitsOf(c.hit))).toBeGreaterThan(0);
      expect(hit.every((h) => h.category === rule!.category)).toBe(true);
      const miss = hitsOf(c.miss);
      expect(miss.map((h) => h.ruleId)).not.toContain(c.rule);
      const allowed = MISS_RAISES[`${c.rule}/${c.missWhy}`] ?? [];
      expect(miss.filter((h) => (h.level === 'high' || h.level === 'medium') && !allowed.includes(h.ruleId)).map((h) => h.ruleId), 'high/medium on the near miss').toEqual([]);
    });
  }
});
