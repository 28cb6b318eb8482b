// The attack-class rules (rules/recon, user-agents, credentials, workloads, rbac, cluster-config): one positive and one
// near miss per rule, rate and list rules, and what managed control planes do every day.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ATTACK_CASES, MANAGED_CLUSTER_TRAFFIC, auditEvent, createWorkload, identities, req, roleBinding, type Raw } from './attack-cases.ts';
import { IDENTITY_RULE_CASES } from './cases-identity.ts'; // run by identity-cases.test.ts
import { parseAuditLine } from '../parse/audit.ts';
import { WORKLOAD_CASES } from './cases-workload.ts';
import { DetectionEngine, type RuleHit } from './engine.ts';
import { PIPELINE_CASES } from './pipeline-cases.ts';
import { compileRuleTexts, loadRuleFiles, type RuleSet } from './rules.ts';

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const ruleFiles = () => readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => path.join(RULES_DIR, n));
const ATTACK_FILES = ['recon.yaml', 'user-agents.yaml', 'credentials.yaml', 'workloads.yaml', 'rbac.yaml', 'cluster-config.yaml'];
const RATE_RULES = ['KA-CRED-016', 'KA-CRED-017', 'KA-IMPACT-001'];
const LIST_RULES = ['KA-NODE-001', 'KA-EXPOSE-006'];
const SEQUENCE_RULES = ['KA-RBAC-011'];
/** Near misses that are another rule's positive: the high/medium alarms they may raise. */
const MISS_RAISES: Record<string, string[]> = {
  'KA-EXEC-004/the same exec upgraded (KA-EXEC-001\'s)': ['KA-EXEC-001'],
  'KA-EVADE-007/an exec reading another file': ['KA-EXEC-001'],
  'KA-CONT-012/a node identity (KA-STATIC-004\'s)': ['KA-STATIC-004'],
};

let ruleSet: RuleSet;
beforeAll(() => {
  ruleSet = loadRuleFiles(ruleFiles());
});

const hits = (e: Raw, rules = ruleSet): RuleHit[] => new DetectionEngine(rules, { clusterName: 'test', clusterId: '' }).hits(auditEvent(e));
const isAlarm = (h: RuleHit) => h.level === 'high' || h.level === 'medium';

describe('attack-class rules, one behaviour at a time', () => {
  it('has a positive and a near miss for every rule of the attack-class files', () => {
    const covered = new Set([...ATTACK_CASES.map((c) => c.rule), ...IDENTITY_RULE_CASES.map((c) => c.rule), ...WORKLOAD_CASES.map((c) => c.rule), ...RATE_RULES, ...LIST_RULES, ...SEQUENCE_RULES]);
    const mine = ruleSet.rules.filter((r) => ATTACK_FILES.includes(path.basename(r.file)));
    expect(mine.length).toBeGreaterThan(40);
    expect(mine.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  for (const c of ATTACK_CASES) {
    it(`${c.rule} fires on ${c.behaviour}, not on ${c.missWhy}`, () => {
      const rule = ruleSet.rules.find((r) => r.id === c.rule)!;
      expect(rule, c.rule).toBeDefined();
      const hit = hits(c.hit);
      expect(hit.map((h) => h.ruleId)).toContain(c.rule);
      expect(hit.filter((h) => h.ruleId === c.rule).every((h) => h.category === rule.category)).toBe(true);
      const miss = hits(c.miss);
      expect(miss.map((h) => h.ruleId)).not.toContain(c.rule);
      const allowed = MISS_RAISES[`${c.rule}/${c.missWhy}`] ?? [];
      expect(miss.filter(isAlarm).map((h) => h.ruleId).filter((id) => !allowed.includes(id)), 'high/medium on the near miss').toEqual([]);
    });
  }
});

describe('attack-class rate rules', () => {
  const secretGet = (who: Raw, i: number) => ({ ...who, ...req('get', 'secrets', { ns: 'payments', name: `s-${i}`, level: 'Metadata' }),
    auditID: `00000000-0000-4000-b000-${String(i).padStart(12, '0')}`, requestReceivedTimestamp: `2026-11-22T12:20:${String(10 + i).padStart(2, '0')}.000000Z` });
  const firing = (events: Raw[], rule: string) => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    return events.flatMap((e) => engine.hits(auditEvent(e))).filter((h) => h.ruleId === rule);
  };
  const n = (count: number, make: (i: number) => Raw) => Array.from({ length: count }, (_, i) => make(i));

  it('KA-CRED-016 fires once on a person reading more than 5 secrets in 5 minutes, not on 5, nor on a service account', () => {
    expect(firing(n(5, (i) => secretGet(identities.mallory, i)), 'KA-CRED-016')).toHaveLength(0);
    expect(firing(n(8, (i) => secretGet(identities.mallory, i)), 'KA-CRED-016')).toHaveLength(1);
    expect(firing(n(8, (i) => secretGet(identities.podToken, i)), 'KA-CRED-016')).toHaveLength(0);
  });

  it('KA-CRED-017 fires on a service account reading more than 10 secrets one by one, not on 10', () => {
    expect(firing(n(10, (i) => secretGet(identities.podToken, i)), 'KA-CRED-017')).toHaveLength(0);
    expect(firing(n(12, (i) => secretGet(identities.podToken, i)), 'KA-CRED-017')).toHaveLength(1);
  });

  it('KA-IMPACT-001 fires on one identity deleting more than 5 workloads in 5 minutes, not on 5', () => {
    const del = (i: number) => ({ ...identities.dana, ...req('delete', i % 2 ? 'deployments' : 'statefulsets', { ns: 'payments', name: `w-${i}`, level: 'Metadata' }),
      auditID: `00000000-0000-4000-c000-${String(i).padStart(12, '0')}`, requestReceivedTimestamp: `2026-11-22T12:30:${String(10 + i).padStart(2, '0')}.000000Z` });
    expect(firing(n(5, del), 'KA-IMPACT-001')).toHaveLength(0);
    expect(firing(n(7, del), 'KA-IMPACT-001')).toHaveLength(1);
  });
});

describe('attack-class sequence rules', () => {
  const at = (minute: number, e: Raw): Raw => ({ ...e, requestReceivedTimestamp: `2026-11-22T12:${String(minute).padStart(2, '0')}:00.000000Z` });
  const bind = (who: Raw) => ({ ...who, ...roleBinding('RoleBinding', 'ops-admin', 'admin', [{ kind: 'User', name: 'mallory' }]) });
  const deploy = (who: Raw) => ({ ...who, ...createWorkload('Deployment', 'ledger', 'payments', { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] }) });
  const firing = (events: Raw[]) => {
    const engine = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    return events.flatMap((e) => engine.hits(auditEvent(e))).filter((h) => h.ruleId === 'KA-RBAC-011');
  };

  it('KA-RBAC-011 fires on a person changing a binding and then writing a workload within 10 minutes', () => {
    const found = firing([at(10, bind(identities.dana)), at(15, deploy(identities.dana))]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ level: 'low', category: 'rbac-escalation' });
    expect(found[0].summary).toContain('dana@corp.example changed a role binding, then create deployments payments/ledger');
  });

  it('KA-RBAC-011 does not fire when another person writes the workload, after 10 minutes, or in the other order', () => {
    expect(firing([at(10, bind(identities.dana)), at(15, deploy(identities.mallory))])).toHaveLength(0);
    expect(firing([at(10, bind(identities.dana)), at(21, deploy(identities.dana))])).toHaveLength(0);
    expect(firing([at(10, deploy(identities.dana)), at(12, bind(identities.dana))])).toHaveLength(0);
  });

  it('KA-RBAC-011 still fires when detection moves to another engine between the steps (parsing moved threads)', () => {
    const first = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    first.hits(auditEvent(at(10, bind(identities.dana))));
    // Through structured cloning, as the hand-over crosses threads.
    const second = new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' });
    second.takeOver(structuredClone(first.handOver()));
    expect(second.hits(auditEvent(at(15, deploy(identities.dana)))).map((h) => h.ruleId)).toContain('KA-RBAC-011');
  });
});

describe('attack-class list rules and shipped lists', () => {
  it('KA-NODE-001 is off with the shipped, empty trusted_nodes, and on once a site file lists nodes', () => {
    const join = { ...identities.node1, user: { username: 'system:node:rogue-1', groups: ['system:nodes', 'system:authenticated'] }, ...req('create', 'nodes', { name: 'rogue-1', body: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'rogue-1' } } }) };
    expect(hits(join).map((h) => h.ruleId)).not.toContain('KA-NODE-001');
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  trusted_nodes: [node-1, node-2]\n' }]);
    expect(hits(join, site).map((h) => h.ruleId)).toContain('KA-NODE-001');
    expect(hits({ ...join, objectRef: { resource: 'nodes', name: 'node-2', apiVersion: 'v1' } }, site).map((h) => h.ruleId)).not.toContain('KA-NODE-001');
  });

  it('KA-EXPOSE-006 is off with the shipped, empty malicious_networks, and on once a site file lists networks', () => {
    const tor = { ...identities.mallory, sourceIPs: ['185.220.101.7'], ...req('list', 'pods', { ns: 'payments' }) };
    expect(hits(tor).map((h) => h.ruleId)).not.toContain('KA-EXPOSE-006');
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  malicious_networks: [185.220.101.0/24]\n' }]);
    expect(hits(tor, site).map((h) => h.ruleId)).toContain('KA-EXPOSE-006');
    expect(hits({ ...tor, sourceIPs: ['185.220.102.7'] }, site).map((h) => h.ruleId)).not.toContain('KA-EXPOSE-006');
  });

  it('KA-CONT-016 gives way to KA-CONT-011 once trusted_registries is filled', () => {
    const pod = { ...identities.mallory, ...createWorkload('Pod', 'p', 'payments', { containers: [{ name: 'c', image: 'registry.corp.example/app:1' }] }) };
    expect(hits(pod).map((h) => h.ruleId)).toContain('KA-CONT-016');
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  trusted_registries: [docker.io]\n' }]);
    const ids = hits(pod, site).map((h) => h.ruleId);
    expect(ids).toContain('KA-CONT-011');
    expect(ids).not.toContain('KA-CONT-016');
  });

  it('operators extend the attack tool list in a file of their own', () => {
    const tool = { ...identities.mallory, userAgent: 'acme-redteam-kit/2.1', ...req('list', 'pods', { ns: 'payments' }) };
    expect(hits(tool).map((h) => h.ruleId)).not.toContain('KA-UA-001');
    const shipped = ruleFiles().map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
    const site = compileRuleTexts([...shipped, { name: 'site.yaml', text: 'lists:\n  attack_tool_user_agents: [ACME-REDTEAM]\n' }]);
    expect(hits(tool, site).map((h) => h.ruleId)).toContain('KA-UA-001');
  });
});

describe('managed control planes', () => {
  for (const { what, event } of MANAGED_CLUSTER_TRAFFIC) {
    it(`raise no high or medium alarm: ${what}`, () => {
      expect(hits(event).filter(isAlarm).map((h) => `${h.ruleId}: ${h.summary}`)).toEqual([]);
    });
  }
});

describe('events as managed clusters and log pipelines write them', () => {
  // Parsed as written: no auditID, stage, level or objectRef where the case leaves them out.
  const hitsOf = (line: Record<string, unknown>) => {
    const parsed = parseAuditLine(JSON.stringify(line));
    if (!parsed.ok) throw new Error(parsed.error);
    return new DetectionEngine(ruleSet, { clusterName: 'test', clusterId: '' }).hits(parsed.event);
  };
  for (const c of PIPELINE_CASES) {
    if (c.category !== undefined) {
      it(`raise ${c.rule ?? c.category}: ${c.what}`, () => {
        const hit = hitsOf(c.event).filter((h) => h.category === c.category);
        expect(c.rule === undefined ? hit.length : hit.filter((h) => h.ruleId === c.rule).length).toBeGreaterThan(0);
      });
    } else {
      it(`raise no high or medium alarm${c.rule ? ` nor ${c.rule}` : ''}: ${c.what}`, () => {
        const hit = hitsOf(c.event);
        expect(hit.filter(isAlarm).map((h) => `${h.ruleId}: ${h.summary}`)).toEqual([]);
        expect(hit.map((h) => h.ruleId)).not.toContain(c.rule);
      });
    }
  }
});
