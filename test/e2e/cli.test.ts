// The command line as an operator meets it: config errors, check-config, scan over real (and damaged) files.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';

const CORPUS = new URL('../../../shared/corpus/real-apiserver/', import.meta.url).pathname;

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kaudit-cli-'));
}

describe('kaudit check-config', () => {
  it.each([
    ['a wrong type', { workers: 'two' }, /^kaudit: invalid config: .*: workers: expected number, found string "two"$/],
    ['an unknown sink kind', { sinks: { out: { kind: 'kafka' } } }, /^kaudit: invalid config: .*: sinks\.out\.kind: unknown sink kind "kafka"; expected one of: stdout, file, http, syslog, elasticsearch, loki, sls$/],
    ['a missing required field', { sinks: { out: { kind: 'http' } } }, /^kaudit: invalid config: .*: sinks\.out\.url: required field is missing/],
    ['a missing choice', { sinks: { out: { kind: 'syslog', host: 'syslog.example.com' } } }, /^kaudit: invalid config: .*: sinks\.out\.transport: required field is missing \(expected one of "udp", "tcp", "tls", "relp"\)$/],
    ['an unknown field', { sinks: { out: { kind: 'stdout', colour: true } } }, /^kaudit: invalid config: .*: sinks\.out\.colour: unknown field$/],
    ['an inline secret', { sinks: { out: { kind: 'http', url: 'https://x.example', auth: { bearer: 's3cr3t' } } } }, /sinks\.out\.auth\.bearer: .*secret reference/],
    ['an input that names no source', { sinks: { out: { kind: 'stdout', inputs: ['audti'] } } }, /sinks\.out\.inputs\[0\]: expected a source name, alarms or \*, found "audti"/],
  ])('rejects %s with one line naming the field, exit code 2', async (_what, config, message) => {
    const dir = await tmp();
    const file = await writeAgentConfig(dir, config);
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toContain('s3cr3t');
  });

  it('reports YAML syntax errors with their line', async () => {
    const dir = await tmp();
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'sinks:\n  out:\n    kind: stdout\n   inputs: [audit\n');
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/YAML syntax error at line \d/);
  });

  it('prints the effective config with defaults and secrets shown only by where they come from', async () => {
    const dir = await tmp();
    const file = await writeAgentConfig(dir, {
      sinks: { siem: { kind: 'http', url: 'https://logs.example.com/in', auth: { bearer: { env: 'SIEM_TOKEN' } } } },
    });
    const r = await runCli(['check-config', file], { SIEM_TOKEN: 'tok-123-secret' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bearer: <secret from env SIEM_TOKEN>');
    expect(r.stdout).toContain('max_events: 1000');
    expect(r.stdout).toContain('path: /var/log/kubernetes/kubernetes.audit');
    expect(r.stdout).not.toContain('tok-123-secret');
  });

  it('prints the format, template and batch size a preset puts in force, not the defaults it overrides', async () => {
    const dir = await tmp();
    const file = await writeAgentConfig(dir, {
      sinks: { chat: { kind: 'http', url: 'https://chat.example.com/hook', preset: 'webhook', inputs: ['alarms'] } },
    });
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(0);
    const chat = (parse(r.stdout.replace(/^#.*\n/, '')) as { sinks: Record<string, { format: string; template: unknown; batch: { max_events: number } }> }).sinks.chat;
    expect(chat.format).toBe('single');
    expect(chat.template).toEqual({ text: '[{{rule.level}}] {{rule.name}} ({{rule.id}}), cluster {{cluster.name}}: {{summary}}' });
    expect(chat.batch.max_events).toBe(1);
  });

  it('answers --version and --help, and rejects an unknown command with exit code 2', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    expect((await runCli(['--version'])).stdout.trim()).toBe(`kaudit ${pkg.version}`);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('kaudit run');
    const bad = await runCli(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('kaudit scan', () => {
  it('reads every event of the real capture, .gz backups included', async () => {
    const files = ['kubernetes-2026-11-22T12-04-13.095.audit.gz', 'kubernetes-2026-11-22T12-06-37.251.audit', 'kubernetes.audit'].map((f) => CORPUS + f);
    const r = await runCli(['scan', '--output', 'json', ...files]);
    expect(r.code === 0 || r.code === 3).toBe(true); // 3: the capture raises alarms
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!); // alarm lines first, the summary last
    const lines = async (f: string) => (f.endsWith('.gz') ? (await import('node:zlib')).gunzipSync(await readFile(f)) : await readFile(f)).toString().trim().split('\n').length;
    expect(summary.total.events).toBe((await Promise.all(files.map(lines))).reduce((a, b) => a + b, 0));
    expect(summary.total.invalid).toBe(0);
  });

  it('counts bad lines and a truncated .gz without losing the good lines around them, and exits 1 for the damaged file', async () => {
    const dir = await tmp();
    const good = Array.from({ length: 50 }, (_, i) => auditLine(i));
    const mixed = [good[0], '{not json', good[1], 'nul\u0000bytes', good[2], '', good[3]].join('\n');
    await writeFile(join(dir, 'mixed.audit'), Buffer.concat([Buffer.from(`${mixed}\n`), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from(`${good[4]}\n`)]));
    const gz = gzipSync(Buffer.from(`${good.slice(5).join('\n')}\n`));
    await writeFile(join(dir, 'cut.audit.gz'), gz.subarray(0, Math.floor(gz.length * 0.7)));
    await writeFile(join(dir, 'empty.audit'), '');
    const r = await runCli(['scan', '--output', 'json', join(dir, 'mixed.audit'), join(dir, 'cut.audit.gz'), join(dir, 'empty.audit')]);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const [mixedFile, cutFile, emptyFile] = summary.files;
    expect(mixedFile).toMatchObject({ events: 5, invalid: 3 });
    expect(cutFile.error).toMatch(/truncated|unexpected end/i);
    expect(cutFile.events).toBeGreaterThan(5);
    expect(emptyFile).toMatchObject({ events: 0, invalid: 0 });
    expect(r.code).toBe(1);
  });

  it('shows (none) for a name the event lacks, counts hits per file and distinct alarms in the total', async () => {
    const dir = await tmp();
    let n = 0;
    // Reads of a node: cluster-scoped, so the apiserver sets no namespace.
    const nodeRead = () => JSON.stringify({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
      stage: 'ResponseComplete', requestURI: '/api/v1/nodes/node-1', verb: 'get', user: { username: 'alice', groups: ['system:authenticated'] },
      sourceIPs: ['10.0.0.7'], objectRef: { resource: 'nodes', name: 'node-1', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: '2026-11-22T12:00:00.000000Z', stageTimestamp: '2026-11-22T12:00:00.001000Z',
    });
    await writeFile(join(dir, 'a.audit'), `${nodeRead()}\n${nodeRead()}\n`);
    await writeFile(join(dir, 'b.audit'), `${nodeRead()}\n`);
    await writeFile(join(dir, 'rules.yaml'), [
      'rules:',
      '  - { id: T-NODE, name: node read, category: other, level: high, match: { field: objectRef.resource, equals: nodes },',
      '      aggregate_by: [user.username], output: "{user.username} read {objectRef.namespace}/{objectRef.name}" }',
      '',
    ].join('\n'));
    const config = await writeAgentConfig(dir, { detection: { system_rules: false, rules: ['rules.yaml'] } });
    const files = [join(dir, 'a.audit'), join(dir, 'b.audit')];

    const text = await runCli(['scan', '--config', config, ...files]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/^T-NODE +high +3 .* alice read \(none\)\/node-1$/m);
    expect(text.stdout).toMatch(/, 3 hits, 1 alarms;/);

    const json = await runCli(['scan', '--config', config, '--output', 'json', ...files]);
    const out = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(out[0]).toMatchObject({ kind: 'kaudit.Alarm', count: 3, summary: 'alice read (none)/node-1' });
    const summary = out.at(-1);
    expect(summary.files.map((f: { hits: number }) => f.hits)).toEqual([2, 1]);
    expect(summary.files.every((f: object) => !('alarms' in f))).toBe(true);
    expect(summary.total).toMatchObject({ hits: 3, alarms: 1 });
  });
});

describe('kaudit run: process settings', () => {
  async function agentConfig(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-settings-'));
    await writeFile(join(dir, 'kubernetes.audit'), '');
    return writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit') } },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson') } },
    });
  }
  const procList = async (pid: number, file: string) => (await readFile(`/proc/${pid}/${file}`, 'utf8')).split('\0').filter((s) => s !== '');

  it('re-executes itself once (same PID) with 2 MB semi-spaces and its malloc settings, and keeps what the operator set', async () => {
    const agent = AgentProcess.run(await agentConfig());
    try {
      await agent.started();
      const cmdline = await procList(agent.pid, 'cmdline');
      expect(cmdline).toContain('--max-semi-space-size=2');
      expect(cmdline.slice(-3)).toEqual(['run', '--config', expect.stringMatching(/kaudit\.yaml$/)]);
      const environ = await procList(agent.pid, 'environ');
      expect(environ).toContain('MALLOC_ARENA_MAX=2');
      expect(environ).toContain('MALLOC_MMAP_THRESHOLD_=131072');
    } finally {
      await agent.stop();
    }
    const chosen = AgentProcess.run(await agentConfig(), [], {
      MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '262144', NODE_OPTIONS: '--max-semi-space-size=12',
    });
    try {
      await chosen.started();
      expect(await procList(chosen.pid, 'cmdline')).not.toContain('--max-semi-space-size=2');
      const environ = await procList(chosen.pid, 'environ');
      expect(environ).toContain('MALLOC_ARENA_MAX=4');
      expect(environ).not.toContain('MALLOC_ARENA_MAX=2');
      expect(environ).toContain('MALLOC_MMAP_THRESHOLD_=262144');
    } finally {
      expect((await chosen.stop()).code).toBe(0);
    }
  });
});
