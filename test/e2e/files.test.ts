// End to end: the files source (`kind: files`) with the real agent process, real files in a temporary directory
// (written, renamed, truncated and gzipped as logrotate does), a real HTTP receiver, and for files in a pod's volume
// the FAKE Kubernetes API (test/utils/fake-k8s-api.ts, payloads recorded from a real kube-apiserver).
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { corpusObject, FakeK8sApi, kubeconfigFor, seedCorpus } from '../utils/fake-k8s-api.ts';
import { Receiver } from '../utils/receiver.ts';
import { makeTestCerts, type TestCerts } from '../utils/tls.ts';
import { until as untilWithin } from '../utils/until.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface FileRecord {
  time: string | number;
  path: string;
  host: string;
  message?: string;
  json?: Record<string, unknown>;
  kubernetes?: Record<string, unknown>;
  redacted?: boolean;
}

async function setUp(source: Record<string, unknown>, more: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-files-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const logs = join(dir, 'logs');
  await mkdir(logs);
  const rx = await Receiver.start();
  cleanup.push(() => rx.close());
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: null,
    detection: { enabled: false },
    sources: { host: { kind: 'files', poll_interval: 200, ...source } },
    sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
    ...more,
  });
  const run = () => {
    const agent = AgentProcess.run(config, [], { NODE_NAME: 'node-1' });
    cleanup.push(async () => {
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
    });
    return agent;
  };
  const records = () => rx.documents() as FileRecord[];
  const until = (what: string, done: () => boolean, agent: AgentProcess, ms = 30_000) => untilWithin(what, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited while waiting for ${what}`);
    return done();
  }, ms).catch((err: Error) => {
    throw new Error(`${err.message}: ${records().length} records; ${agent.logs().slice(-3000)}`);
  });
  return { dir, logs, rx, run, records, until };
}

const lines = (tag: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${tag} line ${from + i}`);
const write = (path: string, text: string[]) => appendFile(path, `${text.join('\n')}\n`);
const messagesOf = (records: FileRecord[], path: string) => records.filter((r) => r.path === path).map((r) => r.message);

/** Moves logrotate's numbered backups (`.N.gz`, and `.N` but `.1`) one up, the highest first, to make room for a new `.2`. */
async function shiftBackups(path: string): Promise<void> {
  const stem = basename(path);
  const backups = (await readdir(dirname(path))).map((n) => (n.startsWith(stem) ? /^\.(\d+)(\.gz)?$/.exec(n.slice(stem.length)) : null))
    .filter((m): m is RegExpExecArray => m !== null && !(m[1] === '1' && m[2] === undefined));
  for (const m of backups.sort((a, b) => Number(b[1]) - Number(a[1]))) await rename(`${path}.${m[1]}${m[2] ?? ''}`, `${path}.${Number(m[1]) + 1}${m[2] ?? ''}`);
}

/** logrotate's copytruncate: the backups moved up, the live file copied to a new `.1`, then truncated. */
async function copytruncate(path: string): Promise<void> {
  await shiftBackups(path);
  try {
    await rename(`${path}.1`, `${path}.2`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await copyFile(path, `${path}.1`);
  await truncate(path, 0);
}

/** logrotate's rename rotation with `compress` and `delaycompress`: `.N.gz` → `.N+1.gz`, `.1` → `.2.gz`, the live file → `.1`, a new live file. */
async function logrotate(path: string): Promise<void> {
  await shiftBackups(path);
  try {
    const previous = await readFile(`${path}.1`);
    await writeFile(`${path}.2.gz`, await promisify(gzip)(previous));
    await rm(`${path}.1`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await rename(path, `${path}.1`);
  await writeFile(path, '');
}

describe('files source', () => {
  it('reads text and JSON lines with their path and host, JSON time and message fields, and a file that appears after the start', async () => {
    const { logs, run, records, until } = await setUp({ paths: ['logs/*.log', 'logs/*/service.log'], exclude: ['**/debug.log'], time_field: 'ts', message_field: 'msg' });
    const text = join(logs, 'node-service.log');
    const json = join(logs, 'ingress.log');
    await write(text, ['kubelet started', '{not json']);
    await write(json, [JSON.stringify({ ts: '2026-12-07T10:41:17Z', msg: 'GET /healthz', status: 200 }), JSON.stringify({ level: 'warn', status: 500 })]);
    await write(join(logs, 'debug.log'), ['left out']);
    const agent = run();
    await until('4 records', () => records().length >= 4, agent);
    // Created after the start, in a directory that did not exist: found by the pattern.
    await mkdir(join(logs, 'later'));
    const later = join(logs, 'later', 'service.log');
    await write(later, ['late line']);
    await until('the late file', () => records().some((r) => r.path === later), agent);
    await agent.stop();

    const byMessage = (path: string) => records().filter((r) => r.path === path);
    expect(byMessage(text).map((r) => r.message)).toEqual(['kubelet started', '{not json']);
    for (const r of byMessage(text)) {
      expect(r).toMatchObject({ host: 'node-1' });
      expect(Number.isNaN(Date.parse(String(r.time)))).toBe(false);
      expect(r.json).toBeUndefined();
    }
    const [first, second] = byMessage(json);
    expect(first).toEqual({ time: '2026-12-07T10:41:17Z', path: json, host: 'node-1', message: 'GET /healthz', json: { ts: '2026-12-07T10:41:17Z', msg: 'GET /healthz', status: 200 } });
    expect(second).toMatchObject({ path: json, json: { level: 'warn', status: 500 } });
    expect(second.message).toBeUndefined();
    expect(messagesOf(records(), later)).toEqual(['late line']);
    expect(records().some((r) => r.message === 'left out')).toBe(false);
  });

  it('follows rename rotation with gzipped backups and copytruncate: no line lost or doubled', async () => {
    const { logs, run, records, until } = await setUp({ paths: ['logs/*.log*'] });
    const renamed = join(logs, 'app.log');
    const copied = join(logs, 'copied.log');
    await write(renamed, []);
    await write(copied, []);
    const agent = run();
    await agent.started();
    let n = 0;
    for (let round = 0; round < 4; round++) {
      await write(renamed, lines('app', n, 100));
      await write(copied, lines('copied', n, 100));
      n += 100;
      await until(`${2 * n} lines`, () => records().length >= 2 * n, agent).catch((err: Error) => {
        const got = new Set(records().map((r) => r.message));
        throw new Error(`${err.message.slice(0, 100)}; missing: ${[...lines('app', 0, n), ...lines('copied', 0, n)].filter((l) => !got.has(l)).join(', ')}`);
      });
      await write(renamed, lines('app', n, 50));
      await write(copied, lines('copied', n, 50));
      n += 50;
      await logrotate(renamed);
      // copytruncate: the content copied to a backup, the live file cut to nothing and written on.
      await copytruncate(copied);
    }
    await until(`${2 * n} lines`, () => records().length >= 2 * n, agent).catch((err: Error) => {
      const got = new Set(records().map((r) => r.message));
      throw new Error(`${err.message.slice(0, 200)}; missing: ${[...lines('app', 0, n), ...lines('copied', 0, n)].filter((l) => !got.has(l)).join(', ')}`);
    });
    await agent.stop();
    expect(messagesOf(records(), renamed)).toEqual(lines('app', 0, n));
    // What copytruncate loses is what was written between the copy and the truncation: nothing here; the copies
    // (`copied.log.1`) are the content already read, and are not read again.
    expect(messagesOf(records(), copied)).toEqual(lines('copied', 0, n));
  });

  it('resumes from its checkpoint after kill -9: nothing lost, backups rotated while it was down read', async () => {
    const { logs, run, records, until } = await setUp({ paths: ['logs/*.log'] }, { checkpoint_interval: 100 });
    const path = join(logs, 'app.log');
    await write(path, []);
    let n = 0;
    for (let round = 0; round < 4; round++) {
      const agent = run();
      await agent.started();
      await write(path, lines('app', n, 300));
      n += 300;
      // Killed in the middle of reading (even rounds), or once all was delivered and the checkpoint saved (odd).
      if (round % 2 === 1) {
        await until(`${n} distinct lines`, () => new Set(records().map((r) => r.message)).size >= n, agent);
        await new Promise((r) => setTimeout(r, 400));
      } else {
        await new Promise((r) => setTimeout(r, 50 + 100 * round));
      }
      await agent.kill9();
      // While it is down: rotated twice, so the first backup is gzipped before the agent sees it again.
      await write(path, lines('app', n, 50));
      n += 50;
      await logrotate(path);
      await write(path, lines('app', n, 50));
      n += 50;
      await logrotate(path);
    }
    const agent = run();
    await until(`${n} distinct lines`, () => new Set(records().map((r) => r.message)).size >= n, agent);
    await agent.stop();
    const got = messagesOf(records(), path);
    expect(new Set(got)).toEqual(new Set(lines('app', 0, n)));
    // Duplicates only from the at-least-once window: what the kills in the middle of reading had not checkpointed.
    expect(got.length - n).toBeLessThanOrEqual(2 * 300);
  });

  it('refuses lines that are not JSON objects with format: json, and applies a rule with source: files', async () => {
    const { dir, logs, run, records, rx, until } = await setUp({ paths: ['logs/*.log'], format: 'json' }, {
      detection: { enabled: true, system_rules: false, rules: ['site.yaml'] },
    });
    await writeFile(join(dir, 'site.yaml'), [
      'rules:',
      '  - id: SITE-FILES-001',
      '    name: Node service saw a refused login',
      '    category: credential-access',
      '    level: medium',
      '    source: files',
      '    match: { all: [ { field: json.event, equals: login_failed } ] }',
      '    output: "login failed for {json.user} in {path}"',
      '',
    ].join('\n'));
    const path = join(logs, 'auth.log');
    await write(path, [JSON.stringify({ event: 'login_failed', user: 'alice' }), 'plain text', JSON.stringify({ event: 'login_ok', user: 'bob' })]);
    const agent = run();
    const alarms = () => rx.documents().filter((d) => (d as { kind?: string }).kind === 'kaudit.Alarm') as Array<{ rule: { id: string }; summary: string; evidence: FileRecord }>;
    await until('2 records and an alarm', () => records().filter((r) => r.path === path).length >= 2 && alarms().length >= 1, agent);
    await agent.stop();
    expect(records().filter((r) => r.path === path).map((r) => r.json?.user)).toEqual(['alice', 'bob']);
    expect(alarms()).toHaveLength(1);
    expect(alarms()[0]).toMatchObject({ rule: { id: 'SITE-FILES-001' }, summary: `login failed for alice in ${path}`, evidence: { path, json: { user: 'alice' } } });
    expect(agent.logs()).toContain('line is not a JSON object (format: json); skipped');
  });
});

describe('files in a pod\'s volume with Kubernetes context (fake API)', () => {
  const TOKEN = 'fake-service-account-token';
  let certs: TestCerts;
  beforeAll(async () => {
    certs = await makeTestCerts();
  });
  afterAll(async () => {
    await certs.cleanup();
  });

  it('gives lines of a file under /var/lib/kubelet/pods/<uid>/volumes the pod\'s namespace, name, labels and owner', async () => {
    const api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
    cleanup.push(() => api.close());
    seedCorpus(api);
    const pod = corpusObject('get-pod.json');
    const kubeconfigDir = await mkdtemp(join(tmpdir(), 'kaudit-files-kube-'));
    cleanup.push(() => rm(kubeconfigDir, { recursive: true, force: true }));
    const kubeconfig = join(kubeconfigDir, 'kubeconfig.yaml');
    await writeFile(kubeconfig, kubeconfigFor(api, certs.caFile, TOKEN));
    const { dir, run, records, until } = await setUp({ paths: ['var/lib/kubelet/pods/*/volumes/*/*/*.log', 'logs/*.log'] }, {
      kubernetes: { enabled: true, kubeconfig, node_name: 'node-1', max_wait: '10s', watch_wait: '2s' },
    });
    const volume = join(dir, 'var/lib/kubelet/pods', String(pod.metadata.uid), 'volumes/kubernetes.io~empty-dir/app-logs');
    await mkdir(volume, { recursive: true });
    const inPod = join(volume, 'audit-trail.log');
    const onHost = join(dir, 'logs', 'host.log');
    await write(inPod, lines('pod', 0, 5));
    await write(onHost, ['host line']);
    const agent = run();
    await until('6 records', () => records().length >= 6, agent);
    await agent.stop();
    for (const r of records().filter((x) => x.path === inPod)) {
      expect(r.kubernetes).toMatchObject({
        pod_uid: pod.metadata.uid, volume: 'app-logs', enriched: true, namespace: 'payments', pod: pod.metadata.name, node: 'node-1',
        labels: { app: 'ledger-api' }, owner: { kind: 'Deployment', name: 'ledger-api' },
        namespace_labels: expect.objectContaining({ 'kubernetes.io/metadata.name': 'payments' }),
      });
    }
    expect(messagesOf(records(), inPod)).toEqual(lines('pod', 0, 5));
    expect(records().find((r) => r.path === onHost)?.kubernetes).toBeUndefined();
  });
});
