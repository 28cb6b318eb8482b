import { readFileSync } from 'node:fs';
import { DetectionEngine } from './src/detect/engine.ts';
import { compileRuleTexts } from './src/detect/rules.ts';
import { parseAuditLine } from './src/parse/audit.ts';
import { generateAuditLines } from './bench/gen-audit.ts';
const R = 'rules/';
const f = (n: string) => ({ name: n, text: readFileSync(n, 'utf8') });
const sets: Record<string, any> = {
  before: compileRuleTexts([f('/tmp/noise-bb/system-before.yaml')]),
  after: compileRuleTexts([f(R + 'known-controllers.yaml'), f(R + 'system.yaml')]),
  afterNoProfile: compileRuleTexts([f(R + 'system.yaml')]),
};
const events = [...generateAuditLines(50000)].map((l) => { const p = parseAuditLine(l); if (!p.ok) throw 0; return p.event; });
const res: Record<string, number[]> = { before: [], after: [], afterNoProfile: [] };
for (let round = 0; round < 12; round++) {
  const order = Object.keys(sets); if (round % 2) order.reverse();
  for (const name of order) {
    const e = new DetectionEngine(sets[name], { clusterName: 'b', clusterId: '' });
    const t0 = process.threadCpuUsage();
    for (const ev of events) e.evaluate(ev);
    const u = process.threadCpuUsage(t0);
    if (round > 1) res[name].push((u.user + u.system) / events.length);
  }
}
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(k, 'detect-only µs/event: min', v[0].toFixed(3), 'median', v[Math.floor(v.length / 2)].toFixed(3)); }
