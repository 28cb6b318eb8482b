// The config as an operator meets it: relative paths, what a valid config still needs from the machine (secrets,
// files, rules), and values that would destroy data. check-config and run must refuse the same configs alike.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { auditIdFor, auditLine } from '../../bench/gen-audit.ts';
import { runCli, writeAgentConfig } from '../utils/agent.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function tmp(what: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kaudit-config-${what}-`));
}

const lines = (text: string) => text.trim().split('\n').filter((l) => l !== '');
const ndjson = async (file: string) => lines(await readFile(file, 'utf8')).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A rule that hits every event, so alarms show that the rule file was found. */
const EVERY_EVENT_RULE = `rules:
  - id: T-ALL
    name: every event
    category: other
    level: high
    match: { field: auditID, exists: true }
    aggregate_by: [auditID]
    output: "{auditID}"
`;

describe('relative paths in a config', () => {
  it('resolve against the config file\'s directory, wherever the agent is started from; check-config prints them absolute', async () => {
    const dir = await tmp('rel');
    const elsewhere = await tmp('cwd');
    await mkdir(join(dir, 'logs'));
    await mkdir(join(dir, 'rules'));
    const events = Array.from({ length: 20 }, (_, i) => auditLine(i));
    await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${events.join('\n')}\nnot an event\n`);
    await writeFile(join(dir, 'rules', 'site.yaml'), EVERY_EVENT_RULE);
    await writeFile(join(dir, 'token'), 'tok\n');
    const config = await writeAgentConfig(dir, {
      state_dir: 'state',
      http: null,
      sources: { audit: { kind: 'audit', path: 'logs/kubernetes.audit', dead_letter: 'dead/lines.ndjson' } },
      detection: { system_rules: false, rules: ['rules/site.yaml'] },
      sinks: {
        out: { kind: 'file', path: 'out/audit.ndjson', dead_letter: 'dead/out.ndjson' },
        siem: { kind: 'http', url: 'https://logs.example.com/in', inputs: ['alarms'], auth: { bearer: { file: 'token' } } },
      },
    });

    // check-config, from another directory: every path is absolute, under the config's directory.
    const checked = await runCli(['check-config', config], {}, elsewhere);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    for (const path of ['state', 'logs/kubernetes.audit', 'dead/lines.ndjson', 'rules/site.yaml', 'out/audit.ndjson', 'dead/out.ndjson']) {
      expect(checked.stdout).toContain(join(dir, path));
    }
    expect(checked.stdout).toContain(`<secret from file ${join(dir, 'token')}>`);

    // run, from another directory, with the file sink only (the http sink has no backend here).
    const runConfig = await writeAgentConfig(dir, {
      state_dir: 'state',
      http: null,
      sources: { audit: { kind: 'audit', path: 'logs/kubernetes.audit', dead_letter: 'dead/lines.ndjson' } },
      detection: { system_rules: false, rules: ['rules/site.yaml'] },
      sinks: { out: { kind: 'file', path: 'out/audit.ndjson' } },
    }, 'run.yaml');
    const r = await runCli(['run', '--config', runConfig, '--once'], {}, elsewhere);
    expect(r.code).toBe(0);
    const out = await ndjson(join(dir, 'out', 'audit.ndjson'));
    expect(out.filter((d) => d.kind === 'Event').map((d) => d.auditID)).toEqual(events.map((_, i) => auditIdFor(i)));
    expect(out.filter((d) => d.kind === 'kaudit.Alarm')).toHaveLength(events.length);
    expect(await ndjson(join(dir, 'dead', 'lines.ndjson'))).toMatchObject([{ line: 'not an event' }]);
    expect(await readdir(join(dir, 'state'))).toContain('checkpoints');
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('the bundled example runs from the repository root (npm run example) and from its own directory', async () => {
    const root = await tmp('example');
    await cp(EXAMPLES, join(root, 'examples'), { recursive: true });
    const shipped = (await readdir(join(root, 'examples'))).sort();
    const events = async () => (await ndjson(join(root, '.state', 'example', 'out', 'audit.ndjson'))).filter((d) => d.kind === 'Event');

    const fromRoot = await runCli(['run', '--config', 'examples/kaudit.yaml', '--once'], {}, root);
    expect(fromRoot.code).toBe(0);
    const delivered = await events();
    expect(delivered.length).toBeGreaterThan(500);

    // From examples/, on fresh state: the same events, in the same place.
    await rm(join(root, '.state'), { recursive: true });
    const fromExamples = await runCli(['run', '--config', 'kaudit.yaml', '--once'], {}, join(root, 'examples'));
    expect(fromExamples.code).toBe(0);
    expect((await events()).map((d) => d.auditID)).toEqual(delivered.map((d) => d.auditID));
    // Nothing was written beside the config: the state went where the config says, relative to it.
    expect((await readdir(join(root, 'examples'))).sort()).toEqual(shipped);
  });
});

describe('the preflight: what a valid config needs from the machine', () => {
  async function brokenSetup() {
    const dir = await tmp('preflight');
    await writeFile(join(dir, 'kubernetes.audit'), `${auditLine(0)}\n`);
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit') } },
      detection: { system_rules: false, rules: ['missing-rules.yaml'] },
      sinks: {
        siem: {
          kind: 'http', url: 'https://logs.example.com/in',
          headers: { 'X-Api-Key': { file: 'missing-key' } },
          auth: { bearer: { env: 'KAUDIT_TEST_UNSET_TOKEN' } },
          tls: { ca_file: 'missing-ca.pem', cert_file: 'missing-client.pem', key_file: dir },
        },
        // What only the http sink knows it would refuse.
        plain: {
          kind: 'http', url: 'http://logs.example.com/in', tls: { insecure_skip_verify: true },
          headers: { Authorization: { file: join(dir, 'kubernetes.audit') } }, auth: { basic: { username: 'kaudit', password: { file: join(dir, 'kubernetes.audit') } } },
        },
      },
    });
    return { dir, config };
  }

  it('check-config reports every missing secret, file and rule file at once, each with its field, and run refuses with the same words', async () => {
    const { dir, config } = await brokenSetup();
    const checked = await runCli(['check-config', config]);
    expect(checked.code).toBe(2);
    expect(checked.stdout).toBe('');
    const message = checked.stderr.trim();
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^kaudit: invalid config: .*kaudit\.yaml: /);
    for (const problem of [
      `sinks.siem.headers.X-Api-Key: cannot read secret file ${join(dir, 'missing-key')}: no such file or directory`,
      'sinks.siem.auth.bearer: environment variable KAUDIT_TEST_UNSET_TOKEN is not set',
      `sinks.siem.tls.ca_file: cannot read ${join(dir, 'missing-ca.pem')}: no such file or directory`,
      `sinks.siem.tls.cert_file: cannot read ${join(dir, 'missing-client.pem')}: no such file or directory`,
      `sinks.siem.tls.key_file: ${dir} is not a regular file`,
      `detection.rules[0]: cannot read ${join(dir, 'missing-rules.yaml')}: no such file or directory`,
      'sinks.plain.tls: only used with https:// URLs',
      'sinks.plain.headers.Authorization: set either auth or an Authorization header, not both',
    ]) expect(message).toContain(problem);
    expect(message.split('; ')).toHaveLength(8);
    expect(message).not.toMatch(/ENOENT|EISDIR|\n\s+at /);

    const run = await runCli(['run', '--config', config, '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(message);
    expect(await readdir(dir)).not.toContain('state'); // refused before anything started
  });

  it('a broken rule file: check-config and run report the same problem, naming the file, rule and field, exit code 2', async () => {
    const dir = await tmp('rules');
    await writeFile(join(dir, 'kubernetes.audit'), `${auditLine(0)}\n`);
    await writeFile(join(dir, 'site.yaml'), EVERY_EVENT_RULE.replace('level: high', 'level: urgent'));
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit') } },
      detection: { rules: ['site.yaml'] },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson') } },
    });
    const checked = await runCli(['check-config', config]);
    expect(checked.code).toBe(2);
    const message = checked.stderr.trim();
    expect(message).toMatch(new RegExp(`^kaudit: invalid config: .*kaudit\\.yaml: detection\\.rules: ${join(dir, 'site.yaml')}: rules\\[0\\] \\(T-ALL\\)\\.level: `));

    const run = await runCli(['run', '--config', config, '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n').at(-1)).toBe(message);
  });

  it('rejects a listen address that is not host:port, naming the bad host and port', async () => {
    const dir = await tmp('listen');
    for (const [listen, problem] of [
      ['999.1.1.1:99999', '999.1.1.1 is not an IPv4 address, and port 99999 is out of range (0 to 65535; 0 picks a free port)'],
      ['::1:9808', 'an IPv6 address goes in brackets: [::1]:9808'],
      ['metrics', 'expected host:port'],
    ]) {
      const config = await writeAgentConfig(dir, { http: { listen } });
      for (const args of [['check-config', config], ['run', '--config', config, '--once']]) {
        const r = await runCli(args);
        expect(r.code).toBe(2);
        expect(r.stderr.trim()).toBe(`kaudit: invalid config: ${config}: http.listen: ${problem}, found "${listen}"`);
      }
    }
  });
});

describe('values that would destroy data', () => {
  it('reports every out-of-range size, duration and count at once, with the allowed range', async () => {
    const dir = await tmp('ranges');
    const config = await writeAgentConfig(dir, {
      workers: 1.5,
      checkpoint_interval: 0,
      shutdown_grace: '2h',
      sources: { audit: { kind: 'audit', path: join(dir, 'a.audit'), max_line_bytes: 0, read_chunk_bytes: '1KiB', poll_interval: '0ms' } },
      sinks: {
        out: {
          kind: 'file', path: join(dir, 'out.ndjson'), max_bytes: 10,
          buffer: { max_bytes: '64KiB', segment_bytes: 100 },
          batch: { max_events: 0, max_bytes: 10 },
        },
      },
    });
    const r = await runCli(['check-config', config]);
    expect(r.code).toBe(2);
    const problems = r.stderr.trim().replace(/^kaudit: invalid config: [^:]+: /, '').split('; ');
    expect(problems.sort()).toEqual([
      'checkpoint_interval: expected a duration from 10ms to 10m, found 0ms',
      'shutdown_grace: expected a duration from 0ms to 1h, found 2h',
      'sinks.out.batch.max_bytes: expected a size from 1KiB to 256MiB, found 10 bytes',
      'sinks.out.batch.max_events: expected a whole number from 1 to 1000000, found 0',
      'sinks.out.buffer.max_bytes: expected a size of at least 1MiB, found 64KiB',
      'sinks.out.buffer.segment_bytes: expected a size from 64KiB to 1GiB, found 100 bytes',
      'sinks.out.max_bytes: expected a size of at least 1KiB, found 10 bytes',
      'sources.audit.max_line_bytes: expected a size from 64KiB to 256MiB, found 0 bytes',
      'sources.audit.poll_interval: expected a duration from 10ms to 1h, found 0ms',
      'sources.audit.read_chunk_bytes: expected a size from 4KiB to 64MiB, found 1KiB',
      'workers: expected a whole number from 0 to 16, found 1.5',
    ]);
  });

  it('max_line_bytes: 0 is refused before anything is read, so a corrected config still reads every line', async () => {
    const dir = await tmp('maxline');
    const events = Array.from({ length: 30 }, (_, i) => auditLine(i));
    await writeFile(join(dir, 'kubernetes.audit'), `${events.join('\n')}\n`);
    const config = (maxLineBytes: number) => writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit'), max_line_bytes: maxLineBytes } },
      detection: { enabled: false },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson') } },
    });
    const refused = await runCli(['run', '--config', await config(0), '--once']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('sources.audit.max_line_bytes: expected a size from 64KiB to 256MiB, found 0 bytes');

    const fixed = await runCli(['run', '--config', await config(64 * 1024), '--once']);
    expect(fixed.code).toBe(0);
    expect((await ndjson(join(dir, 'out.ndjson'))).map((d) => d.auditID)).toEqual(events.map((_, i) => auditIdFor(i)));
  });

  it('refuses a config whose source reaches no sink (it would be read, checkpointed and dropped)', async () => {
    const dir = await tmp('route');
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      sources: { audit: { kind: 'audit', path: join(dir, 'a.audit') } },
      detection: { enabled: false },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), inputs: ['alarms'] } },
    });
    for (const args of [['check-config', config], ['run', '--config', config, '--once']]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`kaudit: invalid config: ${config}: sources.audit: no sink takes its events, so they would be read and dropped (add "audit" or "*" to a sink's inputs)`);
    }
    expect(await readdir(dir)).toEqual(['kaudit.yaml']);
  });
});

describe('a start that fails on the machine', () => {
  it('names the listen address and the reason in words when its port is taken', async () => {
    const dir = await tmp('port');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const config = await writeAgentConfig(dir, {
        state_dir: join(dir, 'state'), http: { listen: `127.0.0.1:${port}` },
        sources: { audit: { kind: 'audit', path: join(dir, 'a.audit') } },
        sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson') } },
      });
      const r = await runCli(['run', '--config', config, '--once']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(`kaudit: http.listen 127.0.0.1:${port}: the address is in use (another process listens on this port)`);
    } finally {
      taken.close();
    }
  });
});
