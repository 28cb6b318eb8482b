// A changed config file while the agent runs, written the way the kubelet updates a mounted ConfigMap (a new
// timestamped directory, the `..data` symlink swapped over to it by a rename): a good one is applied without a
// restart of the process, a bad one is refused with its problems and the running config keeps delivering.
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { until as untilWithin } from '../utils/until.ts';

/** This file's waits: 20 s each. */
const until = (what: string, check: () => boolean | Promise<boolean>) => untilWithin(what, check, 20_000);

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A ConfigMap volume as the kubelet's atomic writer lays it out: kaudit.yaml → ..data/kaudit.yaml → ..<time>/. */
class ConfigMapVolume {
  private generation = 0;
  private current: string | undefined;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  get path(): string {
    return join(this.dir, 'kaudit.yaml');
  }

  async write(config: Record<string, unknown> | string): Promise<void> {
    const name = `..2026_12_07_00_00_${String(this.generation++).padStart(2, '0')}.000000001`;
    await mkdir(join(this.dir, name), { recursive: true });
    await writeFile(join(this.dir, name, 'kaudit.yaml'), typeof config === 'string' ? config : stringify(config));
    await symlink(name, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current === undefined) await symlink(join('..data', 'kaudit.yaml'), this.path);
    else await rm(join(this.dir, this.current), { recursive: true });
    this.current = name;
  }
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter((l) => l.includes('"auditID"'));
  } catch {
    return [];
  }
}

async function setUp(reloadInterval: string) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-reload-'));
  await mkdir(join(dir, 'logs'));
  const log = join(dir, 'logs', 'kubernetes.audit');
  await writeFile(log, '');
  const port = await freePort();
  const base = (sinkPath: string, extra: Record<string, unknown> = {}) => ({
    state_dir: join(dir, 'state'),
    config_reload_interval: reloadInterval,
    http: { listen: `127.0.0.1:${port}` },
    sources: { audit: { kind: 'audit', path: log } },
    detection: { enabled: false },
    sinks: { out: { kind: 'file', path: sinkPath, batch: { max_wait: 20 } } },
    ...extra,
  });
  const volume = new ConfigMapVolume(join(dir, 'config'));
  let written = 0;
  const writeEvents = async (n: number) => {
    await appendFile(log, Array.from({ length: n }, () => `${auditLine(written++)}\n`).join(''));
  };
  return { dir, port, base, volume, writeEvents };
}

describe('config reload', () => {
  it('applies a changed ConfigMap without leaving the process, refuses a bad one and keeps the running config', async () => {
    const { dir, port, base, volume, writeEvents } = await setUp('200ms');
    await volume.write(base(join(dir, 'first.ndjson')));
    const agent = AgentProcess.run(volume.path);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    await agent.started();
    await writeEvents(10);
    await until('10 events in first.ndjson', async () => (await lines(join(dir, 'first.ndjson'))).length === 10);

    // A good change: another sink. The pipeline restarts in the same process and the new sink takes what follows.
    await volume.write(base(join(dir, 'second.ndjson')));
    const changed = await agent.waitForLog(/^config changed; restarting the pipeline/);
    expect(changed.changed).toEqual(['sinks.out']);
    await until('a second start', () => agent.logEntries().filter((e) => e.msg === 'kaudit started').length === 2);
    await writeEvents(10);
    await until('10 events in second.ndjson', async () => (await lines(join(dir, 'second.ndjson'))).length === 10);
    expect(await lines(join(dir, 'first.ndjson'))).toHaveLength(10);

    // A bad change: refused with the field and the reason; the running config goes on delivering.
    await volume.write({ ...base(join(dir, 'third.ndjson')), sinks: { out: { kind: 'file', path: join(dir, 'third.ndjson'), batch: { max_evnts: 5 } } } });
    const refused = await agent.waitForLog(/^config not reloaded/);
    expect(refused.level).toBe('error');
    expect(JSON.stringify(refused.problems)).toContain('sinks.out.batch.max_evnts: unknown field');
    await writeEvents(10);
    await until('20 events in second.ndjson', async () => (await lines(join(dir, 'second.ndjson'))).length === 20);
    expect(await lines(join(dir, 'third.ndjson'))).toHaveLength(0);
    expect(agent.child.exitCode).toBeNull();

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('kaudit_config_reloads_total{result="ok"} 1');
    expect(metrics).toContain('kaudit_config_reloads_total{result="failed"} 1');
    // Every event once, in one of the two sinks: the switch lost and repeated nothing.
    const ids = [...await lines(join(dir, 'first.ndjson')), ...await lines(join(dir, 'second.ndjson'))].map((l) => JSON.parse(l).auditID);
    expect(new Set(ids).size).toBe(30);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('applies a change on SIGHUP when polling is off, and runs the previous config again when the new one cannot start', async () => {
    const { dir, base, volume, writeEvents } = await setUp('0s');
    await volume.write(base(join(dir, 'first.ndjson')));
    const agent = AgentProcess.run(volume.path);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    await agent.started();

    // A change that passes every check but cannot start: its endpoint's port is taken.
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    cleanup.push(() => new Promise((r) => taken.close(r)));
    const takenPort = (taken.address() as { port: number }).port;
    await volume.write(base(join(dir, 'second.ndjson'), { http: { listen: `127.0.0.1:${takenPort}` } }));
    await new Promise((r) => setTimeout(r, 500));
    expect(agent.logEntries().some((e) => String(e.msg).startsWith('config changed'))).toBe(false); // no polling
    agent.child.kill('SIGHUP');
    await agent.waitForLog(/^the changed config did not start; running the previous one again$/);
    await until('the previous config started again', () => agent.logEntries().filter((e) => e.msg === 'kaudit started').length === 2);
    await writeEvents(5);
    await until('5 events in first.ndjson', async () => (await lines(join(dir, 'first.ndjson'))).length === 5);

    // Fixed: SIGHUP applies it.
    await volume.write(base(join(dir, 'second.ndjson')));
    agent.child.kill('SIGHUP');
    await until('the fixed config started', () => agent.logEntries().filter((e) => e.msg === 'kaudit started').length === 3);
    await writeEvents(5);
    await until('5 events in second.ndjson', async () => (await lines(join(dir, 'second.ndjson'))).length === 5);
    expect(agent.child.exitCode).toBeNull();
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);
});
