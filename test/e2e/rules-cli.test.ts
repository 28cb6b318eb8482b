// Rule authoring from the command line: list the loaded rules, test a rule file against real audit events.
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli, writeAgentConfig } from '../utils/agent.ts';

const RULES_DIR = new URL('../../rules/', import.meta.url).pathname;
const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;
const REAL = `${CORPUS}real-apiserver/`;
const FALCO = `${CORPUS}falco/`;

// Requests of the real capture (see its ground-truth.jsonl): breakglass execs into a kube-system pod (atk-0056),
// mallory's exec refused with 403 (atk-0059).
const EXEC_KUBE_SYSTEM = '980c0284-079b-4eae-9c3e-82134fb8d827';
const EXEC_REFUSED = 'c2c8b468-d0c0-4836-8f08-f4d01e300b18';
// Falco's traces: an attach and an exec by minikube-user in default.
const FALCO_ATTACH = '14933b4e-7b09-4964-af09-b7987367e1ba';

// Built on the shipped list system_namespaces and the shipped macros succeeded, refused and system_noise.
const SITE_RULES = `
rules:
  - id: SITE-EXEC-SYS-001
    name: Command executed in a system namespace
    category: command-execution
    level: high
    stages: any
    match:
      all:
        - { field: objectRef.resource, equals: pods }
        - { field: objectRef.subresource, in: [exec, attach] }
        - { field: objectRef.namespace, in_list: system_namespaces }
        - { macro: succeeded }
        - { not: { macro: system_noise } }
    output: "{user.username} ran {exec.command} in {objectRef.namespace}/{objectRef.name}"
  - id: SITE-EXEC-REFUSED-001
    name: Command execution refused
    category: command-execution
    level: medium
    stages: any
    match:
      all:
        - { field: objectRef.resource, equals: pods }
        - { field: objectRef.subresource, in: [exec, attach] }
        - { macro: refused }
    output: "{user.username} was refused {objectRef.subresource} in {objectRef.namespace}/{objectRef.name}"
  - id: SITE-ATTACH-001
    name: Attached to a running container
    category: command-execution
    level: medium
    stages: any
    match:
      all:
        - { field: objectRef.resource, equals: pods }
        - { field: objectRef.subresource, equals: attach }
        - { macro: succeeded }
    output: "{user.username} attached to {objectRef.namespace}/{objectRef.name}"
`;
const SITE_IDS = ['SITE-EXEC-SYS-001', 'SITE-EXEC-REFUSED-001', 'SITE-ATTACH-001'];

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kaudit-rules-cli-'));
}

async function siteRules(dir: string, text = SITE_RULES, name = 'site.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** Rules defined by the shipped files, counted from the files themselves. */
async function shippedRuleCount(): Promise<number> {
  const files = (await readdir(RULES_DIR)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
  let n = 0;
  for (const f of files) n += ((parseYaml(await readFile(RULES_DIR + f, 'utf8')) as { rules?: unknown[] }).rules ?? []).length;
  return n;
}

/** The text output's hit lines as [auditID, ruleId]. */
function textHits(stdout: string): Array<[string, string]> {
  return stdout.split('\n').filter((l) => l.startsWith('hit ')).map((l) => {
    const [, auditID, , ruleId] = l.split(' ');
    return [auditID, ruleId];
  });
}

function jsonLines(stdout: string): Array<Record<string, any>> {
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
}

/** Lines of the capture's events whose auditID is one of `ids`, in file order. */
async function realLines(file: string, ids: string[]): Promise<string[]> {
  const text = (await readFile(REAL + file, 'utf8')).split('\n');
  return text.filter((l) => ids.some((id) => l.includes(`"auditID":"${id}"`)));
}

describe('kaudit rules list', () => {
  it('lists every shipped rule in a table with a count', async () => {
    const r = await runCli(['rules', 'list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+LEVEL\s+CATEGORY\s+SOURCE\s+TYPE\s+ENABLED\s+FILE\s+NAME$/);
    expect(r.stdout).toMatch(/^KA-EXEC-001\s+high\s+command-execution\s+audit\s+system\s+yes\s+\S*rules\/system\.yaml\s+Command executed in a container$/m);
    const n = await shippedRuleCount();
    expect(lines).toHaveLength(n + 2); // header, one row per rule, count
    expect(lines.at(-1)).toMatch(new RegExp(`^${n} rules: \\d+ enabled, ${n} system, 0 custom$`));
  });

  it('prints one JSON object per rule, custom files after the shipped ones, and honours system_rules: false', async () => {
    const dir = await tmp();
    const site = await siteRules(dir);
    const withSystem = await runCli(['rules', 'list', '--output', 'json', '--config', await writeAgentConfig(dir, { detection: { rules: [site] } })]);
    expect(withSystem.code).toBe(0);
    const rows = jsonLines(withSystem.stdout);
    expect(rows).toHaveLength((await shippedRuleCount()) + SITE_IDS.length);
    expect(rows.find((x) => x.id === 'KA-EXEC-001')).toMatchObject({ level: 'high', category: 'command-execution', source: ['audit'], type: 'system', enabled: true, name: 'Command executed in a container' });
    expect(rows.slice(-3)).toEqual(SITE_IDS.map((id) => expect.objectContaining({ id, type: 'custom', file: site })));

    // Without the shipped files, their lists and macros are gone too: a file on its own must define what it uses.
    const alone = await siteRules(dir, 'rules:\n  - { id: SITE-ALONE-001, name: Alone, category: test, level: note, enabled: false, match: { field: verb, equals: get } }\n', 'alone.yaml');
    const only = await runCli(['rules', 'list', '-o', 'json', '-c', await writeAgentConfig(dir, { detection: { system_rules: false, rules: [alone] } }, 'only.yaml')]);
    expect(only.code).toBe(0);
    expect(jsonLines(only.stdout)).toEqual([{ id: 'SITE-ALONE-001', level: 'note', category: 'test', source: ['audit'], type: 'custom', enabled: false, file: alone, name: 'Alone' }]);
    const missing = await runCli(['rules', 'list', '-c', await writeAgentConfig(dir, { detection: { system_rules: false, rules: [site] } }, 'missing.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^kaudit: invalid rules: .*site\.yaml: rules\[0\] \(SITE-EXEC-SYS-001\)\.match\.all\[2\]\.in_list: unknown list "system_namespaces"\n$/);
  });
});

describe('kaudit rules test', () => {
  it('runs a custom rule on shipped lists and macros over the whole real capture, .gz backups included', async () => {
    const dir = await tmp();
    const site = await siteRules(dir);
    const files = (await readdir(REAL)).filter((f) => f.startsWith('kubernetes')).sort().map((f) => REAL + f);
    expect(files.filter((f) => f.endsWith('.gz'))).toHaveLength(3);

    const r = await runCli(['rules', 'test', site, ...files]);
    expect(r.code).toBe(3); // hits
    // Only the rules of the tested file are reported, each request once (exec logs two stages).
    expect(textHits(r.stdout)).toEqual([[EXEC_KUBE_SYSTEM, 'SITE-EXEC-SYS-001'], [EXEC_REFUSED, 'SITE-EXEC-REFUSED-001']]);
    expect(r.stdout).toMatch(/^SITE-EXEC-SYS-001\s+high\s+command-execution\s+1\s+Command executed in a system namespace$/m);
    expect(r.stdout).toMatch(/^SITE-ATTACH-001\s+medium\s+command-execution\s+0\s+Attached to a running container$/m);

    const json = await runCli(['rules', 'test', '--output', 'json', site, ...files]);
    expect(json.code).toBe(3);
    const out = jsonLines(json.stdout);
    const summary = out.at(-1)!;
    expect(out.slice(0, -1).map((l) => [l.hit.auditID, l.hit.ruleId, l.hit.stage])).toEqual([
      [EXEC_KUBE_SYSTEM, 'SITE-EXEC-SYS-001', 'ResponseStarted'],
      [EXEC_REFUSED, 'SITE-EXEC-REFUSED-001', 'ResponseStarted'],
    ]);
    expect(out[0].hit.summary).toMatch(/^breakglass ran chroot \/host .* in kube-system\/node-debugger-node-1$/);
    expect(summary.rules.map((x: { id: string; hits: number }) => [x.id, x.hits])).toEqual([['SITE-EXEC-SYS-001', 1], ['SITE-EXEC-REFUSED-001', 1], ['SITE-ATTACH-001', 0]]);
    const lines = async (f: string) => (f.endsWith('.gz') ? gunzipSync(await readFile(f)) : await readFile(f)).toString().trim().split('\n').length;
    expect(summary.total.events).toBe((await Promise.all(files.map(lines))).reduce((a, b) => a + b, 0));
    expect(summary.total).toMatchObject({ files: files.length, invalid: 0, hits: 2 });
  });

  it('exits 0 when no rule hits, still listing every rule with its count', async () => {
    const dir = await tmp();
    const r = await runCli(['rules', 'test', await siteRules(dir), `${CORPUS}audit2rbac/demo.log`]);
    expect(r.code).toBe(0);
    expect(textHits(r.stdout)).toEqual([]);
    for (const id of SITE_IDS) expect(r.stdout).toMatch(new RegExp(`^${id}\\s+\\S+\\s+\\S+\\s+0\\s`, 'm'));
    expect(r.stdout).toMatch(/demo\.log: 37 events, 0 invalid lines/);
  });

  it.each([
    ['a bad level', SITE_RULES.replace('level: high', 'level: critical'), /^kaudit: invalid rules: .*site\.yaml: rules\[0\] \(SITE-EXEC-SYS-001\)\.level: expected high, medium, low or note$/],
    ['an unknown list', SITE_RULES.replace('in_list: system_namespaces', 'in_list: system_namespacez'), /^kaudit: invalid rules: .*site\.yaml: rules\[0\] \(SITE-EXEC-SYS-001\)\.match\.all\[2\]\.in_list: unknown list "system_namespacez"$/],
    ['an unknown key', SITE_RULES.replace('    stages: any\n', '    stage: any\n'), /^kaudit: invalid rules: .*site\.yaml: rules\[0\] \(SITE-EXEC-SYS-001\)\.stage: unknown key$/],
  ])('rejects a rule file with %s: exit 2 and one line naming file, rule and field', async (_what, text, message) => {
    const dir = await tmp();
    const r = await runCli(['rules', 'test', await siteRules(dir, text), `${FALCO}exec_pod.json`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  it('counts malformed event lines with their line numbers and goes on', async () => {
    const dir = await tmp();
    const line = async (f: string) => (await readFile(FALCO + f, 'utf8')).trim();
    const events = join(dir, 'events.ndjson');
    await writeFile(events, Buffer.concat([
      Buffer.from([await line('exec_pod.json'), '{not json', await line('fal_01_003.json'), '', await line('attach_pod.json'), ''].join('\n')),
      Buffer.from([0xc3, 0x28, 0x0a]), // line 6: not UTF-8
      Buffer.from(`${await line('attach_pod.json')}\r\n`), // line 7: the same request again, CRLF
    ]));
    const r = await runCli(['rules', 'test', await siteRules(dir), events]);
    expect(r.code).toBe(3);
    expect(textHits(r.stdout)).toEqual([[FALCO_ATTACH, 'SITE-ATTACH-001']]);
    expect(r.stdout).toContain(`${events}: 3 events, 3 invalid lines\n`);
    expect(r.stdout).toMatch(/^ {2}line 2: not JSON: /m);
    expect(r.stdout).toMatch(/^ {2}line 3: not an audit event/m);
    expect(r.stdout).toMatch(/^ {2}line 6: invalid UTF-8$/m);

    const json = jsonLines((await runCli(['rules', 'test', '-o', 'json', await siteRules(dir), events])).stdout);
    expect(json[0].hit).toMatchObject({ auditID: FALCO_ATTACH, file: events, line: 5 });
    expect(json.at(-1)!.files[0].problems.map((p: { line: number }) => p.line)).toEqual([2, 3, 6]);
  });

  it('reads a .gz events file, and exits 1 for one that is truncated or missing', async () => {
    const dir = await tmp();
    const lines = [
      ...await realLines('kubernetes-2026-11-22T12-10-17.329.audit', [EXEC_KUBE_SYSTEM]),
      ...await realLines('kubernetes-2026-11-22T12-11-13.639.audit', [EXEC_REFUSED]),
    ];
    expect(lines).toHaveLength(4); // both stages of both requests
    const gz = join(dir, 'exec.audit.gz');
    await writeFile(gz, gzipSync(`${lines.join('\n')}\n`));
    const site = await siteRules(dir);
    const r = await runCli(['rules', 'test', site, gz]);
    expect(r.code).toBe(3);
    expect(textHits(r.stdout)).toEqual([[EXEC_KUBE_SYSTEM, 'SITE-EXEC-SYS-001'], [EXEC_REFUSED, 'SITE-EXEC-REFUSED-001']]);
    expect(r.stdout).toContain(`${gz}: 4 events, 0 invalid lines\n`);

    // Padding so the cut falls after the first (complete) events.
    const big = gzipSync(`${[...lines, ...Array.from({ length: 200 }, () => lines[1])].join('\n')}\n`);
    const cut = join(dir, 'cut.audit.gz');
    await writeFile(cut, big.subarray(0, Math.floor(big.length * 0.8)));
    const damaged = await runCli(['rules', 'test', '-o', 'json', site, cut, join(dir, 'missing.audit')]);
    expect(damaged.code).toBe(1);
    const [cutFile, missing] = jsonLines(damaged.stdout).at(-1)!.files;
    expect(cutFile.error).toMatch(/truncated|unexpected end/i);
    expect(cutFile.events).toBeGreaterThanOrEqual(2);
    expect(missing.error).toBe('no such file or directory');
  });

  it('with --source, runs a file\'s rules on records of that source, one JSON object per line, as the agent forwards them', async () => {
    const dir = await tmp();
    const site = await siteRules(dir, `
rules:
  - id: SITE-PANIC-001
    name: Ledger panicked
    category: availability
    level: medium
    source: containers
    scope: { namespaces: [payments] }
    match: { field: message, prefix: "panic: " }
    output: "{kubernetes.namespace}/{kubernetes.pod}: {message}"
`, 'containers.yaml');
    const record = (namespace: string, message: string) => JSON.stringify({ time: '2026-12-07T10:41:17.123456789Z', stream: 'stderr', message, kubernetes: { namespace, pod: 'ledger-0', container: 'ledger' } });
    const records = join(dir, 'records.ndjson');
    await writeFile(records, [record('payments', 'starting'), record('payments', 'panic: nil map'), '{not json', '[1]', record('shop', 'panic: elsewhere'), ''].join('\n'));
    const r = await runCli(['rules', 'test', '--source', 'containers', site, records]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`hit containers ${records}:2 SITE-PANIC-001 availability medium: payments/ledger-0: panic: nil map\n`);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('hit '))).toHaveLength(1);
    expect(r.stdout).toContain(`${records}: 3 events, 2 invalid lines\n`);
    expect(r.stdout).toMatch(/^ {2}line 3: not JSON$/m);
    expect(r.stdout).toMatch(/^ {2}line 4: not a JSON object$/m);
    // The same records as audit events: none is one, and the rule on containers has nothing to run on.
    const asAudit = await runCli(['rules', 'test', site, records]);
    expect(asAudit.code).toBe(0);
    expect(asAudit.stdout).toContain(`${records}: 0 events, 5 invalid lines\n`);
    const bad = await runCli(['rules', 'test', '--source', 'kafka', site, records]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--source must be one of audit, containers, ingress, k8s_events, syslog, files, found "kafka"');
  });

  it('rejects bad usage with exit code 2', async () => {
    const dir = await tmp();
    const site = await siteRules(dir);
    expect((await runCli(['rules'])).code).toBe(2);
    expect((await runCli(['rules', 'frob'])).stderr).toContain('unknown rules subcommand "frob"');
    expect((await runCli(['rules', 'test', site])).code).toBe(2);
    expect((await runCli(['rules', 'list', 'extra'])).code).toBe(2);
    expect((await runCli(['rules', 'test', '-o', 'yaml', site, `${FALCO}exec_pod.json`])).code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.stdout).toContain('kaudit rules list');
    expect(help.stdout).toContain('kaudit rules test');
    expect(help.stdout).toMatch(/3 scan raised alarms \/ rules test had hits/);
  });
});
