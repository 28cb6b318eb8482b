// End to end: a source says what it cannot read (log, /readyz, /metrics, `run --once`'s exit code), and at the next
// start what was pruned while the agent was down before it was read.
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, NOBODY, writeAgentConfig } from '../utils/agent.ts';
import { LumberjackWriter } from '../utils/lumberjack.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const body = (from: number, n: number) => `${Array.from({ length: n }, (_, i) => auditLine(from + i)).join('\n')}\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A directory the unprivileged agent can enter, with `logs/` and a state directory it owns. */
async function workspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-sources-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'logs'), { mode: 0o755 });
  await mkdir(join(dir, 'state'));
  await chown(join(dir, 'state'), NOBODY.uid, NOBODY.gid);
  return dir;
}

function start(config: string, args: string[] = [], asNobody = false): AgentProcess {
  const agent = AgentProcess.run(config, args, {}, asNobody ? NOBODY : undefined);
  cleanup.push(async () => {
    if (agent.child.exitCode === null) await agent.kill9();
  });
  return agent;
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** pino's level, as a number or as its label. */
const isLevel = (e: Record<string, unknown>, label: string, n: number) => e.level === label || e.level === n;

describe('a source that cannot read', () => {
  it('warns about a live file the agent may not read and is unready with the reason until it can; a bad backup is a warning and a metric only', async () => {
    const dir = await workspace();
    const live = join(dir, 'logs', 'kubernetes.audit');
    const notGzip = join(dir, 'logs', 'kubernetes-2026-11-22T12-00-00.000.audit.gz');
    await writeFile(notGzip, body(100, 5));
    await writeFile(live, body(0, 20), { mode: 0o600 }); // root's: the agent, running as nobody, may not read it
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const port = await freePort();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: { listen: `127.0.0.1:${port}` },
      sources: { audit: { kind: 'audit', path: live, poll_interval: 100 } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 } } },
    });
    const agent = start(config, [], true);
    const warning = await agent.waitForLog(/^cannot read .*kubernetes\.audit: permission denied/);
    expect(warning).toMatchObject({ source: 'audit', path: live, reason: 'permission_denied' });
    expect(isLevel(warning, 'warn', 40)).toBe(true);
    expect(await agent.waitForLog(/^cannot read .*\.audit\.gz: named \.gz but not gzip data/)).toMatchObject({ path: notGzip, reason: 'not_gzip' });

    const base = `http://127.0.0.1:${port}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toBe(`not ready\n- sources.audit: cannot read ${live}: permission denied (EACCES)\n`);
    let text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'kaudit_source_up', 'source="audit"')).toBe(0);
    expect(metric(text, 'kaudit_source_errors_total', 'source="audit",reason="permission_denied"')).toBe(1);
    expect(metric(text, 'kaudit_source_errors_total', 'source="audit",reason="not_gzip"')).toBe(1);

    await chmod(live, 0o644);
    await rx.waitFor((r) => r.acceptedAuditIds().length === 20, 20_000, '20 events');
    await agent.waitForLog(/^read problem over: .*kubernetes\.audit/);
    // The backup is as bad as before: it does not make the agent unready.
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'kaudit_source_up', 'source="audit"')).toBe(1);
    expect(metric(text, 'kaudit_source_errors_total', 'source="audit",reason="permission_denied"')).toBe(1);
    // One warning per problem, not one per scan.
    expect(agent.logEntries().filter((e) => /cannot read/.test(String(e.msg)))).toHaveLength(2);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('run --once exits 1 naming every file it could not read, after delivering what it could', async () => {
    const dir = await workspace();
    const logs = join(dir, 'logs');
    const live = join(logs, 'kubernetes.audit');
    const backup = (n: number, ext: string) => join(logs, `kubernetes-2026-11-22T12-00-0${n}.000${ext}`);
    await writeFile(backup(1, '.audit.gz'), gzipSync(body(0, 10)));
    await writeFile(backup(2, '.audit.gz'), body(100, 10)); // not gzip
    await mkdir(backup(3, '.audit')); // a directory under a backup's name
    await writeFile(backup(4, '.audit.gz'), gzipSync(body(200, 10)), { mode: 0o600 }); // not for nobody
    await writeFile(live, body(10, 10));
    const out = join(dir, 'state', 'out.ndjson');
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: live } },
      sinks: { out: { kind: 'file', path: out, inputs: ['audit'] } },
    });
    const agent = start(config, ['--once'], true);
    expect((await agent.exited).code).toBe(1);
    const ids = (await readFile(out, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    expect(ids).toEqual(body(0, 20).trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID));
    const verdict = agent.logEntries().find((e) => /exit 1/.test(String(e.msg)));
    expect(verdict).toBeDefined();
    expect(isLevel(verdict!, 'error', 50)).toBe(true);
    expect(verdict!.problems).toEqual([
      `sources.audit: cannot read ${backup(3, '.audit')}: not a regular file (a directory)`,
      `sources.audit: cannot read ${backup(2, '.audit.gz')}: named .gz but not gzip data (no gzip header)`,
      `sources.audit: cannot read ${backup(4, '.audit.gz')}: permission denied (EACCES)`,
    ]);
  }, 60_000);

  it('run --once exits 1 when the directory of the live file does not exist', async () => {
    const dir = await workspace();
    const live = join(dir, 'no-such-dir', 'kubernetes.audit');
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: live } },
      sinks: { out: { kind: 'stdout' } },
    });
    const agent = start(config, ['--once']);
    expect((await agent.exited).code).toBe(1);
    expect(agent.logEntries().find((e) => e.reason === 'directory_not_found')).toMatchObject({
      path: live, msg: `cannot read ${live}: its directory does not exist; nothing is collected from this source until it can`,
    });
    expect(agent.logEntries().find((e) => /exit 1/.test(String(e.msg)))?.problems).toEqual([`sources.audit: cannot read ${live}: its directory does not exist`]);
  }, 60_000);
});

describe('loss accounting', () => {
  it('says at the next start which file was pruned while the agent was down before it was read, with the bytes never read, once', async () => {
    const dir = await workspace();
    let backendUp = false;
    const rx = await Receiver.start({ respond: () => (backendUp ? 200 : 503) });
    cleanup.push(() => rx.close());
    const writer = await LumberjackWriter.open({ dir: join(dir, 'logs'), maxSize: 2 * 1024 * 1024, maxBackups: 1 });
    cleanup.push(() => writer.close());
    await writer.writeMany(Array.from({ length: 1000 }, (_, i) => auditLine(i))); // ~1.7 MB, no rotation yet
    const port = await freePort();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: { listen: `127.0.0.1:${port}` },
      checkpoint_interval: 100,
      sources: { audit: { kind: 'audit', path: writer.livePath, poll_interval: 100, read_chunk_bytes: '64KiB' } },
      // The backend is down and the buffer small: reading stops about 1 MiB into the file.
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], buffer: { max_bytes: '1MiB', segment_bytes: '256KiB', when_full: 'block' } } },
    });
    const checkpoint = join(dir, 'state', 'checkpoints', 'audit.json');
    type Saved = { files: Array<{ path: string; fingerprint: string; offset: number; size: number }> };
    const saved = async (): Promise<Saved['files'][number] | undefined> => {
      try {
        return (JSON.parse(await readFile(checkpoint, 'utf8')) as Saved).files.find((f) => f.path === writer.livePath);
      } catch {
        return undefined;
      }
    };
    let agent = start(config);
    // Killed once the checkpoint holds the file's size and a durable offset that has stopped moving short of it.
    let last: Saved['files'][number] | undefined;
    const deadline = Date.now() + 20_000;
    for (let stable = 0; stable < 5; await sleep(100)) {
      if (Date.now() > deadline) throw new Error(`the checkpoint did not settle short of the file's end: ${JSON.stringify(last)}; ${agent.logs().slice(-1500)}`);
      const now = await saved();
      stable = now !== undefined && now.offset > 0 && now.size > now.offset && now.offset === last?.offset ? stable + 1 : 0;
      last = now;
    }
    await agent.kill9();
    const unread = last!.size - last!.offset;

    // While it is down, the apiserver rotates twice and prunes (one backup kept): the file it was reading is gone.
    await writer.writeMany(Array.from({ length: 2600 }, (_, i) => auditLine(1000 + i)));
    await writer.settled();
    expect(writer.segments()[0].state).toBe('removed');

    backendUp = true;
    agent = start(config);
    const error = await agent.waitForLog(/^file gone before it was read to its end/);
    expect(isLevel(error, 'error', 50)).toBe(true);
    expect(error).toMatchObject({ source: 'audit', path: writer.livePath, fingerprint: last!.fingerprint, size: last!.size, offset: last!.offset, unreadBytes: unread });
    expect(error.msg).toBe(`file gone before it was read to its end: ${unread} bytes never read, and whatever was written to it after it was last seen (keep more backups: --audit-log-maxbackup × --audit-log-maxsize must cover the longest agent downtime)`);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metric(text, 'kaudit_source_lost_files_total', 'source="audit"')).toBe(1);
    expect(metric(text, 'kaudit_source_lost_bytes_total', 'source="audit"')).toBe(unread);
    // What survives is delivered: the backup and the live file.
    const kept = writer.retainedIds();
    await rx.waitFor((r) => kept.every((id) => r.acceptedAuditIds().includes(id)), 30_000, 'the events still on disk');
    expect((await agent.stop()).code).toBe(0);

    // The next start knows it was reported.
    agent = start(config);
    await agent.started();
    await sleep(1000);
    const again = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metric(again, 'kaudit_source_lost_files_total', 'source="audit"')).toBe(0);
    expect(agent.logEntries().filter((e) => /^file gone/.test(String(e.msg)))).toEqual([]);
    expect((await agent.stop()).code).toBe(0);
  }, 90_000);
});
