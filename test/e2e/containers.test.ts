// End to end: the containers source on a node laid out as kubelet lays it out (var/log/pods, var/log/containers
// symlinks), the real agent process and a real HTTP receiver: path metadata, rotation, restarts, deleted pods, partial
// lines, Docker json-file, kill -9.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { FakeNode, type FakeContainer } from '../utils/kubelet.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface ContainerRecord {
  time: string;
  stream: string;
  message: string;
  kubernetes: { namespace: string; pod: string; pod_uid: string; container: string; container_id: string };
  truncated?: boolean;
}

async function setUp(source: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-containers-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const node = await new FakeNode(dir).init();
  const rx = await Receiver.start();
  cleanup.push(() => rx.close());
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: null,
    detection: { enabled: false },
    sources: { pods: { kind: 'containers', path: node.links, pods_path: node.pods, poll_interval: 200, ...source } },
    sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
  });
  const run = (args: string[] = []) => {
    const agent = AgentProcess.run(config, args, env);
    cleanup.push(async () => {
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
    });
    return agent;
  };
  const records = () => rx.documents() as ContainerRecord[];
  const until = async (what: string, done: () => boolean, agent: AgentProcess, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!done()) {
      if (agent.child.exitCode !== null) throw new Error(`agent exited while waiting for ${what}: ${agent.logs().slice(-3000)}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${records().length} records; ${agent.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { dir, node, rx, run, records, until };
}

const lines = (tag: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${tag} line ${from + i}`);
const messagesOf = (records: ContainerRecord[], c: FakeContainer) => records.filter((r) => r.kubernetes.pod === c.pod && r.kubernetes.container === c.name).map((r) => r.message);

describe('containers source', () => {
  it('delivers the lines of two pods with the namespace, pod, uid, container and container id their paths carry', async () => {
    const { node, run, records, until } = await setUp();
    const [web] = await node.pod('shop', 'web-7d4b9-x2x9k', ['nginx']);
    const [api, sidecar] = await node.pod('payments', 'api-0', ['api', 'istio-proxy']);
    await web.print(lines('web', 0, 50));
    await api.print(lines('api', 0, 30), 'stderr');
    await sidecar.print(lines('proxy', 0, 20));
    const agent = run();
    await until('100 records', () => records().length >= 100, agent);
    expect(messagesOf(records(), web)).toEqual(lines('web', 0, 50));
    expect(messagesOf(records(), api)).toEqual(lines('api', 0, 30));
    expect(messagesOf(records(), sidecar)).toEqual(lines('proxy', 0, 20));
    const first = records().find((r) => r.kubernetes.container === 'api')!;
    expect(first).toMatchObject({
      stream: 'stderr',
      kubernetes: { namespace: 'payments', pod: 'api-0', pod_uid: api.uid, container: 'api', container_id: api.id },
    });
    expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // A pod scheduled while the agent runs is found too.
    const [late] = await node.pod('shop', 'cron-29012345-abcde', ['job']);
    await late.print(lines('late', 0, 5));
    await until('the new pod\'s lines', () => messagesOf(records(), late).length >= 5, agent);
    expect(messagesOf(records(), late)).toEqual(lines('late', 0, 5));
    expect((await agent.stop()).code).toBe(0);
  });

  it('follows kubelet\'s rotation (renamed, older gzipped, a new file) and a container restart while tailing: no line lost or doubled', async () => {
    const { node, run, records, until, rx } = await setUp();
    const [app] = await node.pod('shop', 'web-0', ['app']);
    const firstId = app.id;
    const agent = run();
    await agent.started();
    let n = 0;
    const batch = async (count: number) => {
      await app.print(lines('app', n, count));
      n += count;
    };
    await batch(100);
    for (let round = 0; round < 4; round++) {
      await app.rotate();
      await batch(100);
      if (round === 1) {
        await app.restart();
        await batch(100);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await until(`${n} records`, () => records().length >= n, agent);
    // Let anything doubled arrive before counting.
    await new Promise((r) => setTimeout(r, 1000));
    // In order within each container (the restarted one's file is read beside the old one's, so not across them).
    const byId = (id: string) => records().filter((r) => r.kubernetes.container_id === id).map((r) => r.message);
    expect(byId(firstId)).toEqual(lines('app', 0, 300));
    expect(byId(app.id)).toEqual(lines('app', 300, n - 300));
    expect(rx.documents().length).toBe(n);
    expect((await agent.stop()).code).toBe(0);
  });

  it('reads to their end the last lines of a pod whose directory is removed before the agent read them', async () => {
    const { node, run, records, until } = await setUp();
    const [job] = await node.pod('batch', 'report-29012345-q7x2p', ['report']);
    await job.print(lines('report', 0, 10));
    const agent = run();
    await until('the first lines', () => records().length >= 10, agent);
    // The agent is held (a busy node) while the Job's pod prints its last lines and is deleted.
    agent.child.kill('SIGSTOP');
    try {
      await job.print(lines('report', 10, 90));
      await node.deletePod([job]);
    } finally {
      agent.child.kill('SIGCONT');
    }
    await until('100 records', () => records().length >= 100, agent);
    expect(messagesOf(records(), job)).toEqual(lines('report', 0, 100));
    await agent.waitForLog(/^container log finished/);
    expect((await agent.stop()).code).toBe(0);
  });

  it('joins a 50 KiB line written as P fragments into one record, and cuts one beyond max_message_bytes, flagged', async () => {
    // Small reads, so that the fragments of one line arrive in many blocks.
    const { node, run, records, until } = await setUp({ read_chunk_bytes: '4KiB', max_message_bytes: '64KiB' });
    const [app] = await node.pod('shop', 'web-0', ['app']);
    // 50 KiB, with a two-byte character across the runtime's first 16 KiB split.
    const fifty = `x${'é'.repeat(8192)}${'y'.repeat(34815)}`;
    expect(Buffer.byteLength(fifty)).toBe(50 * 1024);
    const huge = 'z'.repeat(200 * 1024);
    await app.print(['before', fifty, 'between', huge, 'after']);
    const agent = run();
    await until('5 records', () => records().length >= 5, agent);
    const got = records();
    expect(got.map((r) => r.message.slice(0, 7))).toEqual(['before', fifty.slice(0, 7), 'between', 'zzzzzzz', 'after']);
    expect(got[1].message).toBe(fifty);
    expect(got[1].truncated).toBeUndefined();
    expect(got[3].message).toBe(huge.slice(0, 64 * 1024));
    expect(got[3].truncated).toBe(true);
    expect(got).toHaveLength(5);
    expect((await agent.stop()).code).toBe(0);
  });

  it('reads Docker json-file logs, joining lines Docker split at 16 KiB', async () => {
    const { node, run, records, until } = await setUp();
    const [app] = await node.pod('legacy', 'app-0', ['app']);
    const long = 'd'.repeat(40 * 1024);
    const doc = (log: string, stream = 'stdout') => `${JSON.stringify({ log, stream, time: '2026-12-07T10:41:17.123456789Z' })}\n`;
    await app.write(doc('hello\n') + doc(long.slice(0, 16384)) + doc(long.slice(16384, 32768)) + doc(`${long.slice(32768)}\n`) + doc('oops\n', 'stderr'));
    const agent = run();
    await until('3 records', () => records().length >= 3, agent);
    expect(records().map((r) => [r.stream, r.message])).toEqual([['stdout', 'hello'], ['stdout', long], ['stderr', 'oops']]);
    expect(records()[0]).toMatchObject({ time: '2026-12-07T10:41:17.123456789Z', kubernetes: { namespace: 'legacy', pod: 'app-0', container: 'app' } });
    expect((await agent.stop()).code).toBe(0);
  });

  it('loses nothing across kill -9 while pods log and rotate, and reads backups gzipped while it was down', async () => {
    const { node, run, records, until } = await setUp();
    const [a] = await node.pod('shop', 'web-0', ['app']);
    const [b] = await node.pod('shop', 'worker-0', ['app']);
    let n = 0;
    for (let round = 0; round < 4; round++) {
      const agent = run();
      await agent.started();
      await a.print(lines('a', n, 200));
      await b.print(lines('b', n, 200));
      n += 200;
      await new Promise((r) => setTimeout(r, 150 + 100 * round));
      await agent.kill9();
      // While it is down: kubelet rotates twice, so the first backup is gzipped before the agent sees it again.
      await a.rotate();
      await a.print(lines('a', n, 50));
      await a.rotate();
      await b.print(lines('b', n, 50));
      n += 50;
    }
    const agent = run();
    await until(`${2 * n} distinct lines`, () => new Set(records().map((r) => r.message)).size >= 2 * n, agent, 60_000);
    await agent.stop();
    for (const c of [a, b]) {
      const got = messagesOf(records(), c);
      expect(new Set(got)).toEqual(new Set(lines(c === a ? 'a' : 'b', 0, n)));
    }
    // Re-read lines are exact copies of the first delivery (same time, stream, message, context).
    const byMessage = new Map<string, string>();
    for (const r of records()) {
      const text = JSON.stringify(r);
      expect(byMessage.get(`${r.kubernetes.pod}/${r.message}`) ?? text).toBe(text);
      byMessage.set(`${r.kubernetes.pod}/${r.message}`, text);
    }
  });

  it('leaves out excluded namespaces and the agent\'s own pod (POD_NAMESPACE / POD_NAME)', async () => {
    const { node, run, records, until } = await setUp({ exclude: { namespaces: ['kube-*'] } }, { POD_NAMESPACE: 'kaudit', POD_NAME: 'kaudit-x7k2p' });
    const [self] = await node.pod('kaudit', 'kaudit-x7k2p', ['agent']);
    const [dns] = await node.pod('kube-system', 'coredns-0', ['coredns']);
    const [web] = await node.pod('shop', 'web-0', ['nginx']);
    await self.print(lines('self', 0, 5));
    await dns.print(lines('dns', 0, 5));
    await web.print(lines('web', 0, 5));
    const agent = run(['--once']);
    expect((await agent.exited).code).toBe(0);
    await until('5 records', () => records().length >= 5, agent).catch(() => {});
    expect(records().map((r) => r.message)).toEqual(lines('web', 0, 5));
  });
});
