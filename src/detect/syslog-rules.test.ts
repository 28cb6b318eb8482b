// The shipped rules on syslog records (rules/syslog.yaml) against records the syslog parser makes of messages as
// Falco and sshd send them: one hit and one near miss per rule.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { syslogRecord } from '../parse/syslog.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { loadRuleFiles } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const ruleSet = loadRuleFiles(readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n)));
const AT = Date.parse('2026-12-07T10:41:30Z');

function record(message: string, at = AT): Record<string, unknown> {
  const r = syslogRecord(message, { transport: 'tcp', ip: '10.0.0.4', port: 51514, at, cut: false });
  if (!r.ok) throw new Error(r.problem);
  return r.record;
}

function hits(engine: DetectionEngine, message: string, at?: number): RuleHit[] {
  const out: RuleHit[] = [];
  engine.evaluateRecord('syslog', record(message, at), undefined, out);
  return out;
}

const engine = () => new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '', updateIntervalMs: 0 });

/** Falco's JSON output (json_output: true) as its syslog output sends it. */
function falcoJson(priority: string, rule: string): string {
  return `<10>Dec  7 10:41:21 node-4 falco: ${JSON.stringify({
    hostname: 'node-4', output: `10:41:21.000000000: ${priority} ${rule} (user=root container=web k8s.pod=web-0)`, priority, rule,
    source: 'syscall', tags: ['container', 'mitre_execution'], time: '2026-12-07T10:41:21.000000000Z',
    output_fields: { 'container.name': 'web', 'k8s.pod.name': 'web-0', 'proc.cmdline': 'sh -i', 'user.name': 'root' },
  })}`;
}

describe('shipped syslog rules', () => {
  it('every rule on syslog records is in rules/syslog.yaml, tested here', () => {
    expect(ruleSet.rules.filter((r) => r.sources.has('syslog')).map((r) => r.id)).toEqual(['KA-SYSLOG-001', 'KA-SYSLOG-002', 'KA-SYSLOG-003', 'KA-SYSLOG-004']);
  });

  it('KA-SYSLOG-001: a Falco alert at Critical and above is a high alarm carrying Falco\'s rule name; Error is medium, Warning low', () => {
    const e = engine();
    const critical = hits(e, falcoJson('Critical', 'Terminal shell in container'));
    expect(critical.map((h) => [h.ruleId, h.level])).toEqual([['KA-SYSLOG-001', 'high']]);
    expect(critical[0].summary).toBe('Falco Critical on node-4: Terminal shell in container: 10:41:21.000000000: Critical Terminal shell in container (user=root container=web k8s.pod=web-0)');
    expect(hits(e, falcoJson('Emergency', 'Container escape')).map((h) => h.ruleId)).toEqual(['KA-SYSLOG-001']);
    expect(hits(e, falcoJson('Error', 'Launch package management process in container')).map((h) => [h.ruleId, h.level])).toEqual([['KA-SYSLOG-002', 'medium']]);
    expect(hits(e, falcoJson('Warning', 'Read sensitive file untrusted')).map((h) => [h.ruleId, h.level])).toEqual([['KA-SYSLOG-003', 'low']]);
    // Near misses: Notice and below, and a message that only looks like Falco's.
    expect(hits(e, falcoJson('Notice', 'Unexpected connection'))).toEqual([]);
    expect(hits(e, '<14>Dec  7 10:41:21 node-4 myapp: Critical: disk almost full')).toEqual([]);
  });

  it('KA-SYSLOG-001 also reads Falco\'s text output (its priority; the text names no rule)', () => {
    const e = engine();
    const text = hits(e, '<10>1 2026-12-07T10:41:21.5Z node-5 falco 812 - - 10:41:21.512345678: Critical A shell was spawned in a container with an attached terminal (user=root k8s.pod=web-0)');
    expect(text.map((h) => h.ruleId)).toEqual(['KA-SYSLOG-001']);
    expect(text[0].summary).toContain('Falco Critical on node-5');
  });

  it('KA-SYSLOG-004 fires on more than 10 failed SSH logins on one host within 5 minutes, not on 10 nor on accepted ones', () => {
    const e = engine();
    const failed = (i: number, host = 'node-1') => `<38>Dec  7 10:${String(30 + i).padStart(2, '0')}:00 ${host} sshd[9${i}]: Failed password for root from 203.0.113.${i} port 4${i}22 ssh2`;
    for (let i = 0; i < 10; i++) expect(hits(e, failed(i % 4), AT + i * 1000)).toEqual([]);
    for (let i = 0; i < 5; i++) expect(hits(e, `<38>Dec  7 10:41:00 node-1 sshd[7${i}]: Accepted publickey for admin from 10.0.0.2 port 5022 ssh2`)).toEqual([]);
    expect(hits(e, failed(4, 'node-2'))).toEqual([]); // another host: its own count
    const fired = hits(e, '<38>Dec  7 10:34:00 node-1 sshd[99]: Invalid user oracle from 203.0.113.9 port 40022');
    expect(fired.map((h) => [h.ruleId, h.level])).toEqual([['KA-SYSLOG-004', 'medium']]);
    expect(fired[0].summary).toBe('more than 10 failed SSH logins on node-1 in 5 minutes (last: Invalid user oracle from 203.0.113.9 port 40022)');
  });
});
