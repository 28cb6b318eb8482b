// Detection inside the running agent: rules reloaded on file change and SIGHUP (a broken file keeps the old rules),
// aggregation state kept across a restart, allowlisted hits and blind rules reported in /metrics and the log.
import { appendFile, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Alarm { kind: string; alarmID: string; rule: { id: string }; count: number; firstSeen: string; lastSeen: string; event: { auditID: string } }

let seq = 0;
/** One ResponseComplete event; `level: Metadata` drops the bodies as such a policy would. */
function event(over: { verb?: string; resource?: string; namespace?: string; name?: string; user?: string; level?: string; body?: unknown } = {}): string {
  const id = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const resource = over.resource ?? 'configmaps';
  const ns = over.namespace ?? 'payments';
  const name = over.name ?? 'settings';
  const level = over.level ?? 'RequestResponse';
  const e: Record<string, unknown> = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level, auditID: id, stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/${ns}/${resource}`, verb: over.verb ?? 'create',
    user: { username: over.user ?? 'mallory', groups: ['system:authenticated'] }, sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.30.0',
    objectRef: { resource, namespace: ns, name, apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 201 },
    requestReceivedTimestamp: new Date().toISOString(), stageTimestamp: new Date().toISOString(),
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  if (level !== 'Metadata') e.requestObject = over.body ?? { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name }, data: { a: 'b' } };
  return JSON.stringify(e);
}

const rule = (id: string, match: string) => `  - { id: ${id}, name: rule ${id}, category: test, level: high, match: ${match}, aggregate_by: [user.username] }\n`;
const CONFIGMAP_CREATE = '{ all: [ { field: verb, equals: create }, { field: objectRef.resource, equals: configmaps } ] }';
const SECRET_GET = '{ all: [ { field: verb, equals: get }, { field: objectRef.resource, equals: secrets } ] }';


async function setup(rulesText: string, extra: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-detect-'));
  await mkdir(join(dir, 'logs'));
  const log = join(dir, 'logs', 'kubernetes.audit');
  await writeFile(log, '');
  const rulesFile = join(dir, 'site-rules.yaml');
  await writeFile(rulesFile, rulesText);
  const rx = await Receiver.start();
  cleanup.push(() => rx.close());
  const port = await freePort();
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: { listen: `127.0.0.1:${port}` },
    sources: { audit: { kind: 'audit', path: log, poll_interval: 100 } },
    detection: { system_rules: false, rules: [rulesFile], update_interval: '1h', reload_interval: '200ms' },
    sinks: { alarms: { kind: 'http', url: rx.url(), inputs: ['alarms'], batch: { max_wait: 20 } } },
    ...extra,
  });
  const start = () => {
    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    return agent;
  };
  const alarms = () => rx.documents() as Alarm[];
  const waitAlarms = (n: number, what: string) => rx.waitFor(() => alarms().length >= n, 20_000, what);
  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return { dir, log, rulesFile, rx, start, alarms, waitAlarms, metrics };
}

describe('rule reload in the running agent', () => {
  it('picks up a changed rule file, keeps the old rules when the new file is broken, and reloads on SIGHUP', async () => {
    const t = await setup(`rules:\n${rule('T-1', CONFIGMAP_CREATE)}`);
    const agent = t.start();
    await agent.started();
    await appendFile(t.log, `${event()}\n${event({ verb: 'get', resource: 'secrets' })}\n`);
    await t.waitAlarms(1, 'the first alarm');
    expect(t.alarms().map((a) => a.rule.id)).toEqual(['T-1']);

    // A second rule appears in the file: events after the reload are seen by both.
    await writeFile(t.rulesFile, `rules:\n${rule('T-1', CONFIGMAP_CREATE)}${rule('T-2', SECRET_GET)}`);
    await agent.waitForLog(/^rules reloaded$/);
    await appendFile(t.log, `${event({ verb: 'get', resource: 'secrets', user: 'eve' })}\n`);
    await t.waitAlarms(2, 'the alarm of the new rule');
    expect(t.alarms().map((a) => a.rule.id)).toEqual(['T-1', 'T-2']);

    // A broken file: logged, and the rules in force stay (T-2 still alarms, for a new user).
    await writeFile(t.rulesFile, `rules:\n${rule('T-1', CONFIGMAP_CREATE)}  - { id: T-3, name: x, category: test, level: high, match: { field: verb, regex: "(a+)+" } }\n`);
    const failed = await agent.waitForLog(/^rules not reloaded/);
    expect(String(failed.err)).toContain('T-3');
    await appendFile(t.log, `${event({ verb: 'get', resource: 'secrets', user: 'trent' })}\n`);
    await t.waitAlarms(3, 'an alarm from the rules kept in force');
    expect(t.alarms()[2].rule.id).toBe('T-2');

    // SIGHUP reloads even when nothing changed (here: the file is fixed first, then the signal is sent).
    const reloads = () => agent.logEntries().filter((e) => e.msg === 'rules reloaded');
    await writeFile(t.rulesFile, `rules:\n${rule('T-1', CONFIGMAP_CREATE)}`);
    await waitUntil(() => reloads().length === 2, 'the reload of the fixed file');
    agent.child.kill('SIGHUP');
    await waitUntil(() => reloads().length === 3, 'a reload on SIGHUP');
    expect(reloads().map((e) => e.trigger)).toEqual(['file change', 'file change', 'signal']);
    await appendFile(t.log, `${event({ verb: 'get', resource: 'secrets', user: 'oscar' })}\n${event({ user: 'oscar' })}\n`);
    await t.waitAlarms(4, 'the alarm after SIGHUP');
    expect(t.alarms()[3].rule.id).toBe('T-1'); // T-2 is gone: the secret read of oscar raised nothing
    const text = await t.metrics();
    expect(text).toMatch(/^kaudit_rules_reloads_total\{result="failed"\} 1$/m);
    expect(text).toMatch(/^kaudit_rules_loaded 1$/m);
    expect((await agent.stop()).code).toBe(0);
    expect(t.alarms()).toHaveLength(4);
  }, 60_000);
});

describe('rules at start', () => {
  it('kaudit run refuses a broken rule file with exit code 2, naming file, rule and field, and does not hang on its worker', async () => {
    const t = await setup(`rules:\n  - { id: T-BAD, name: bad, category: test, level: high, match: { field: verb, regex: "(a+)+" } }\n`);
    const agent = t.start();
    const exit = await Promise.race([agent.exited, new Promise<'hang'>((r) => setTimeout(() => r('hang'), 15_000))]);
    expect(exit).not.toBe('hang');
    expect((exit as { code: number }).code).toBe(2);
    expect(agent.logs()).toMatch(/invalid config: .*kaudit\.yaml: detection\.rules: .*site-rules\.yaml: rules\[0\] \(T-BAD\)\.match\.regex: pattern can backtrack catastrophically/);
  }, 30_000);
});

describe('aggregation across a restart', () => {
  it('continues an alarm after a restart: same alarm id, count carried on, first seen kept', async () => {
    const t = await setup(`rules:\n${rule('T-1', CONFIGMAP_CREATE)}`);
    let agent = t.start();
    await agent.started();
    await appendFile(t.log, `${event()}\n${event()}\n${event()}\n`);
    await t.waitAlarms(1, 'the first alarm');
    // Three hits, one alarm record (updates wait for update_interval: 1h); the state is saved on stop.
    expect((await agent.stop()).code).toBe(0);
    const state = await readdir(join(t.dir, 'state', 'detection'));
    expect(state).toContain('alarms-0.json');
    const first = t.alarms()[0];
    expect(first.count).toBe(1);

    agent = t.start();
    await agent.started();
    await appendFile(t.log, `${event()}\n`);
    // A restored alarm is emitted at its next hit (its last update may not have been delivered).
    await t.waitAlarms(2, 'the update after the restart');
    const update = t.alarms()[1];
    expect(update.alarmID).toBe(first.alarmID);
    expect(update.count).toBe(4);
    expect(update.firstSeen).toBe(first.firstSeen);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('keeps the aggregation state written while running when the agent is killed', async () => {
    const t = await setup(`rules:\n${rule('T-1', CONFIGMAP_CREATE)}`);
    let agent = t.start();
    await agent.started();
    await appendFile(t.log, `${event()}\n${event()}\n`);
    await t.waitAlarms(1, 'the first alarm');
    await waitUntil(async () => (await readdir(join(t.dir, 'state', 'detection')).catch((): string[] => [])).includes('alarms-0.json'), 'the periodic save');
    await agent.kill9();
    agent = t.start();
    await agent.started();
    await appendFile(t.log, `${event()}\n`);
    await t.waitAlarms(2, 'the update after the kill');
    expect(t.alarms()[1].alarmID).toBe(t.alarms()[0].alarmID);
    expect(t.alarms()[1].count).toBeGreaterThanOrEqual(3);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);
});

describe('allowlists and blind rules in the running agent', () => {
  it('counts allowlisted hits in /metrics without alarming, and says once when a rule is blind to a resource', async () => {
    const bodyRule = `  - id: T-BODY\n    name: privileged pod\n    category: test\n    level: high\n    match: { all: [ { field: objectRef.resource, equals: pods }, { field: verb, equals: create }, { field: "containers[*].securityContext.privileged", equals: true } ] }\n`;
    const t = await setup(`rules:\n${rule('T-1', CONFIGMAP_CREATE)}${bodyRule}allowlist:\n  - id: ci-bot\n    rules: [T-1]\n    match: { field: user.username, equals: ci-bot }\n`);
    const agent = t.start();
    await agent.started();
    const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] } };
    await appendFile(t.log, [
      event({ user: 'ci-bot' }), event({ user: 'ci-bot' }), event({ user: 'mallory' }),
      event({ resource: 'pods', level: 'Metadata' }), event({ resource: 'pods', level: 'Metadata' }),
      event({ resource: 'pods', body: pod, user: 'eve' }),
    ].join('\n') + '\n');
    await t.waitAlarms(2, 'alarms of mallory and of the visible privileged pod');
    let text = '';
    await waitUntil(async () => /kaudit_detection_allowlisted_total\{rule="T-1",entry="ci-bot"\} 2/.test(text = await t.metrics()), 'the allowlisted count');
    expect(t.alarms().map((a) => a.rule.id).sort()).toEqual(['T-1', 'T-BODY']);
    const blind = agent.logEntries().filter((e) => typeof e.msg === 'string' && (e.msg as string).startsWith('rule blind for pods'));
    expect(blind).toHaveLength(1);
    expect(blind[0].rule).toBe('T-BODY');
    // The privileged pod with a body came after: the rule sees pods again.
    expect(text).toMatch(/^kaudit_detection_rule_blind\{rule="T-BODY",resource="pods"\} 0$/m);
    expect(text).toMatch(/^kaudit_detection_alarm_records_total 2$/m);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);
});

describe('the blind-rule warning', () => {
  // Parsing starts on the main thread and moves to the `workers` threads only when the input is heavy: the light case
  // runs on the main thread (one detector), and a backlog read at start (a flood) moves it to the two threads first.
  it.each([
    ['on the main thread (the input is light)', 0, '0'],
    ['on two worker threads (a backlog read at start moved the parsing there)', 40_000, '2'],
  ])('is logged once per rule and resource per run, bodies coming and going, %s', async (_where, backlog, threads) => {
    const bodyRule = `  - id: T-BODY\n    name: privileged pod\n    category: test\n    level: high\n    match: { all: [ { field: objectRef.resource, equals: pods }, { field: verb, equals: create }, { field: "containers[*].securityContext.privileged", equals: true } ] }\n`;
    const t = await setup(`rules:\n${bodyRule}`, { workers: 2 });
    // Reads of configmaps, which the rule does not look at: ~30 MB, read at once at start.
    if (backlog > 0) await writeFile(t.log, `${Array.from({ length: backlog }, () => event({ verb: 'get', body: { pad: 'x'.repeat(300) } })).join('\n')}\n`);
    const agent = t.start();
    await agent.started();
    let lines = backlog;
    if (backlog > 0) {
      // A backlog read within the first second can be parsed before the input's rate is measured: the input stays
      // heavy (more reads appended) until the threads run, then everything written is read.
      const more = `${Array.from({ length: 2000 }, () => event({ verb: 'get', body: { pad: 'x'.repeat(300) } })).join('\n')}\n`;
      await waitUntil(async () => {
        if (/^kaudit_parse_workers 2$/m.test(await t.metrics())) return true;
        await appendFile(t.log, more);
        lines += 2000;
        return false;
      }, 'the parse threads', 120_000);
      await waitUntil(async () => new RegExp(`^kaudit_source_lines_total\\{source="audit"\\} ${lines}$`, 'm').test(await t.metrics()), 'the backlog read', 120_000);
    }
    expect(await t.metrics()).toMatch(new RegExp(`^kaudit_parse_workers ${threads}$`, 'm'));
    const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    // One block per write, handed to the threads in turn: with two, each finds the rule blind, then sees bodies, then
    // the first finds it blind again; on the main thread, one detector finds it blind, sees bodies, blind again.
    const writes = ['Metadata', 'Metadata', 'RequestResponse', 'RequestResponse', 'Metadata'];
    for (const [i, level] of writes.entries()) {
      await appendFile(t.log, `${event({ resource: 'pods', level, body: pod })}\n`);
      await waitUntil(async () => new RegExp(`^kaudit_source_lines_total\\{source="audit"\\} ${lines + i + 1}$`, 'm').test(await t.metrics()), `line ${i + 1} processed`);
    }
    expect(await t.metrics()).toMatch(new RegExp(`^kaudit_parse_workers ${threads}$`, 'm'));
    const said = (start: string) => agent.logEntries().filter((e) => typeof e.msg === 'string' && (e.msg as string).startsWith(start));
    expect(said('rule blind for pods')).toHaveLength(1);
    expect(said('rule sees bodies for pods again')).toHaveLength(1);
    expect((await agent.stop()).code).toBe(0);
  }, 180_000);
});

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
