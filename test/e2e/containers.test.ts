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
    const ids = new Set(records().map((r) => r.kubernetes.container_id));
    expect(ids.size).toBe(2);
    const got = [...ids].flatMap((id) => records().filter((r) => r.kubernetes.container_id === id).map((r) => r.message));
    expect(got).toEqual(lines('app', 0, n));
    expect(rx.documents().length).toBe(n);
    expect((await agent.stop()).code).toBe(0);
  });
});
