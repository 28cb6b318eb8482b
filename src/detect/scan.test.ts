// `kaudit scan` with rules: hits, the alarms table, JSON alarm lines before the summary, exit code 3, bad rules.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../test/utils/agent.ts';

const CORPUS = new URL('../../../shared/corpus/real-apiserver/', import.meta.url).pathname;
const FILE = `${CORPUS}kubernetes-2026-11-22T12-10-17.329.audit`;

const RULES = `
rules:
  - id: T-EXEC
    name: exec in a container
    category: command-execution
    level: high
    stages: any
    match: { field: objectRef.subresource, in: [exec, attach] }
    aggregate_by: [user.username]
    output: "{user.username} ran {exec.command} in {objectRef.namespace}/{objectRef.name}"
`;

function setup(rules: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kaudit-scan-'));
  writeFileSync(join(dir, 'rules.yaml'), rules);
  const config = join(dir, 'kaudit.yaml');
  writeFileSync(config, `state_dir: ${dir}\ndetection: { system_rules: false, rules: [${join(dir, 'rules.yaml')}] }\n`);
  return config;
}

describe('kaudit scan with rules', () => {
  it('prints every hit and the alarms table, and exits 3 when alarms were raised', async () => {
    const r = await runCli(['scan', '--config', setup(RULES), '--hits', FILE]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^hit \S+ T-EXEC command-execution high: breakglass ran chroot \/host \/bin\/bash -c crictl ps; cat \/etc\/kubernetes\/admin\.conf in kube-system\/node-debugger-node-1$/m);
    expect(r.stdout).toMatch(/^RULE +LEVEL +COUNT +FIRST SEEN +LAST SEEN +SUMMARY$/m);
    expect(r.stdout).toMatch(/^T-EXEC +high +\d+ +2026-11-22T12:/m);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^total: .* alarms;/);
  });

  it('--output json prints one alarm per line and the summary last', async () => {
    const r = await runCli(['scan', '--config', setup(RULES), '--output', 'json', FILE]);
    expect(r.code).toBe(3);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = lines.at(-1);
    const alarms = lines.slice(0, -1);
    expect(alarms.length).toBe(summary.total.alarms);
    expect(alarms.every((a) => a.kind === 'kaudit.Alarm' && a.rule.id === 'T-EXEC' && a.rule.type === 'custom')).toBe(true);
    expect(new Set(alarms.map((a) => a.alarmID)).size).toBe(alarms.length);
  });

  it('says in words why a file could not be read, and exits 1', async () => {
    const config = setup(RULES);
    const dir = join(config, '..');
    const r = await runCli(['scan', '--config', config, join(dir, 'missing.audit'), dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${join(dir, 'missing.audit')}: 0 events, 0 invalid lines, 0 over-long lines, 0 redacted, ERROR: no such file or directory\n`);
    expect(r.stdout).toContain(`${dir}: 0 events, 0 invalid lines, 0 over-long lines, 0 redacted, ERROR: is a directory, not a file\n`);
    expect(r.stdout).not.toMatch(/ENOENT|EISDIR|stat '|illegal operation/);
  });

  it('exits 0 when no rule hits', async () => {
    const r = await runCli(['scan', '--config', setup(RULES.replace('[exec, attach]', '[nothing]')), FILE]);
    expect(r.code).toBe(0);
  });

  it('refuses to start on a broken rule file, naming file, rule and field', async () => {
    const r = await runCli(['scan', '--config', setup(RULES.replace('in: [exec, attach]', 'regex: "(a+)+"')), FILE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid rules: .*rules\.yaml: rules\[0\] \(T-EXEC\)\.match\.regex: pattern can backtrack catastrophically: \(a\+\)\+/);
  });
});
