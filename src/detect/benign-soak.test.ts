// The benign soak: most of a day of ordinary cluster traffic (test/utils/gen-benign.ts, widened by ./benign-traffic.ts)
// through every shipped rule raises no high or medium alarm; the per-rule hit counts are printed for the record.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benignTraffic } from '../../test/utils/gen-benign.ts';
import { parseAuditLine } from '../parse/audit.ts';
import { DetectionEngine } from './engine.ts';
import { WIDER_BENIGN } from './benign-traffic.ts';
import { loadRuleFiles } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const EVENTS = 160_000;

describe('benign soak', () => {
  it(`raises no high or medium alarm on ${EVENTS} events of managed control planes, controllers, node agents, kubelets, probes, CI, people and an OIDC proxy`, () => {
    const files = readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n));
    const engine = new DetectionEngine(loadRuleFiles(files), { clusterName: 'soak', clusterId: '', updateIntervalMs: 0 });
    const lines = benignTraffic(EVENTS, 16, WIDER_BENIGN);
    expect(lines.length).toBeGreaterThanOrEqual(EVENTS);
    const perRule = new Map<string, { level: string; hits: number; alarms: Set<string>; example: string }>();
    for (const line of lines) {
      const parsed = parseAuditLine(line);
      if (!parsed.ok) throw new Error(parsed.error);
      const hits: Parameters<DetectionEngine['evaluate']>[2] = [];
      const alarms = engine.evaluate(parsed.event, undefined, hits);
      hits!.forEach((h, i) => {
        const row = perRule.get(h.ruleId) ?? { level: h.level, hits: 0, alarms: new Set<string>(), example: h.summary };
        row.hits += 1;
        if (alarms[i] !== undefined) row.alarms.add(alarms[i].id);
        perRule.set(h.ruleId, row);
      });
    }
    const table = Object.fromEntries([...perRule].sort(([a], [b]) => a.localeCompare(b)).map(([id, r]) => [id, { level: r.level, hits: r.hits, alarms: r.alarms.size, example: r.example.slice(0, 110) }]));
    console.log(`benign soak: ${lines.length} events; hits per rule:`);
    console.table(table);
    const paging = [...perRule].filter(([, r]) => r.level === 'high' || r.level === 'medium').map(([id, r]) => `${id} (${r.level}): ${r.hits} hits, e.g. ${r.example}`);
    expect(paging).toEqual([]);
  }, 120_000);
});
