// End to end: the agent's state directory — damaged state files, two agents on one state_dir, the backlog it keeps
// across restarts, and `run --once` with records it could not deliver.
import { appendFile, chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** A directory with an audit log of `events` events; returns the lines and their auditIDs. */
async function auditDir(prefix: string, events: number, seed: number) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'logs'));
  const lines = Array.from({ length: events }, (_, i) => auditLine(i, seed));
  const log = join(dir, 'logs', 'kubernetes.audit');
  await writeFile(log, `${lines.join('\n')}\n`);
  const ids = (ls: string[]) => ls.map((l) => (JSON.parse(l) as { auditID: string }).auditID);
  return { dir, log, lines, ids };
}

function running(agent: AgentProcess): AgentProcess {
  cleanup.push(async () => {
    if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
  });
  return agent;
}

async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

describe('damaged state files', () => {
  it('sets a damaged checkpoint and ack file aside, says so, counts them, and reads every file again without resending what was delivered', async () => {
    const { dir, log, lines, ids } = await auditDir('kaudit-damaged-', 300, 11);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const port = await freePort();
    const stateDir = join(dir, 'state');
    const config = await writeAgentConfig(dir, {
      state_dir: stateDir,
      http: { listen: `127.0.0.1:${port}` },
      sources: { audit: { kind: 'audit', path: log, read_from: 'tail' } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 } } },
    });
    // read_from: tail starts at the end on a first start: the first run reads only what comes after it.
    const first = running(AgentProcess.run(config));
    await first.started();
    await sleep(500);
    const more = Array.from({ length: 100 }, (_, i) => auditLine(1000 + i, 11));
    await appendFile(log, `${more.join('\n')}\n`);
    expect(await rx.waitForAuditIds(ids(more), 20_000)).toBe(0);
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    const delivered = rx.documentCount;

    // Damaged while the agent was down (an empty checkpoint after a power loss), with new lines written meanwhile.
    const checkpoint = join(stateDir, 'checkpoints', 'audit.json');
    await writeFile(checkpoint, '');
    const later = Array.from({ length: 50 }, (_, i) => auditLine(2000 + i, 11));
    await appendFile(log, `${later.join('\n')}\n`);
    const second = running(AgentProcess.run(config));
    await second.started();
    // The lines written while it was down are delivered: a lost checkpoint is not a first start (no skip to the end).
    expect(await rx.waitForAuditIds(ids(later), 20_000)).toBe(0);
    // The whole file is read again: the lines the first start skipped (read_from: tail) are delivered now, and the
    // ones delivered before are recognised by the buffer, not sent a second time.
    expect(await rx.waitForAuditIds(ids(lines), 20_000)).toBe(0);
    const damaged = (agent: AgentProcess) => agent.logEntries().filter((e) => typeof e.msg === 'string' && e.msg.startsWith('damaged state file set aside: '));
    const [lost] = damaged(second);
    expect(lost).toMatchObject({ kind: 'checkpoint', path: checkpoint, msg: 'damaged state file set aside: every file of the source is read again from its start; the sink buffers drop what they already hold or delivered' });
    expect([50, 'error']).toContain(lost.level);
    expect(await readFile(lost.movedTo as string, 'utf8')).toBe('');
    expect(String(lost.reason)).not.toMatch(/Unexpected|SyntaxError/);
    expect(metric(await metricsOf(port), 'kaudit_state_quarantined_total', 'kind="checkpoint"')).toBe(1);
    await sleep(500);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect(delivered).toBe(more.length);
    const accepted = rx.acceptedAuditIds();
    expect(accepted.length).toBe(lines.length + more.length + later.length);
    expect(new Set(accepted).size).toBe(accepted.length);
    expect((await readdir(join(stateDir, 'checkpoints'))).filter((n) => n.startsWith('audit.json.damaged-'))).toHaveLength(1);

    // A cut ack position: set aside the same way; the position is recovered from the keys of the records delivered
    // last (acked.keys), so nothing delivered is sent again and nothing is lost.
    const ack = join(stateDir, 'buffers', 'rx', 'ack.json');
    await writeFile(ack, '{"version":1,"segment":');
    const last = Array.from({ length: 20 }, (_, i) => auditLine(3000 + i, 11));
    await appendFile(log, `${last.join('\n')}\n`);
    const third = running(AgentProcess.run(config));
    await third.started();
    expect(await rx.waitForAuditIds(ids(last), 20_000)).toBe(0);
    const [cut] = damaged(third);
    expect(cut).toMatchObject({ kind: 'buffer_ack', path: ack, msg: 'damaged state file set aside: the buffer is sent again from the first record not known to be delivered (acked.keys)' });
    expect(await readFile(cut.movedTo as string, 'utf8')).toBe('{"version":1,"segment":');
    expect(metric(await metricsOf(port), 'kaudit_state_quarantined_total', 'kind="buffer_ack"')).toBe(1);
    await sleep(500);
    expect(await third.stop()).toEqual({ code: 0, signal: null });
    const all = rx.acceptedAuditIds();
    expect(all.length).toBe(lines.length + more.length + later.length + last.length);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('one agent per state_dir', () => {
  it('refuses a second agent on the same state_dir with exit code 2 naming the holder, and takes over the lock of a killed one', async () => {
    const { dir, log } = await auditDir('kaudit-lock-', 50, 12);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: log } },
      sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
    });
    const first = running(AgentProcess.run(config));
    await first.started();

    const second = await runCli(['run', '--config', config]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`state_dir ${join(dir, 'state')} is in use by another kaudit (pid ${first.pid} on host ${hostname()}`);
    // scan reads no state: it runs beside the agent.
    expect([0, 3]).toContain((await runCli(['scan', '--config', config, log])).code);

    // A holder killed with kill -9 leaves its lock behind; the next agent takes it over at once.
    await first.kill9();
    const third = running(AgentProcess.run(config));
    await third.started();
    expect(third.logs()).not.toContain('in use by another kaudit');
    expect(await third.stop()).toEqual({ code: 0, signal: null });
    // And a clean stop releases it.
    const fourth = running(AgentProcess.run(config));
    await fourth.started();
    expect(await fourth.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('permissions', () => {
  it('keeps what it writes under state_dir private to its user, in a state_dir others can read', async () => {
    const { dir, log } = await auditDir('kaudit-perm-', 20, 14);
    await appendFile(log, 'not an audit event\n');
    const state = join(dir, 'state');
    await mkdir(state);
    await chmod(state, 0o755); // as a hostPath volume is created
    const config = await writeAgentConfig(dir, {
      state_dir: state,
      http: null,
      sources: { audit: { kind: 'audit', path: log, dead_letter: join(state, 'dead-letter', 'audit-lines.ndjson') } },
      detection: { system_rules: false },
      sinks: { out: { kind: 'file', path: join(dir, 'out', 'audit.ndjson') } },
    });
    expect((await runCli(['run', '--config', config, '--once'])).code).toBe(0);

    const modes: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const name of await readdir(d)) {
        const p = join(d, name);
        const st = await lstat(p);
        modes.push(`${p.slice(state.length + 1)} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) await walk(p);
      }
    };
    await walk(state);
    // Buffer segments, checkpoints, dead letters, acknowledgements: the events, redacted or not, and where they came from.
    for (const part of ['buffers/out/', 'checkpoints/audit.json', 'dead-letter/audit-lines.ndjson']) {
      expect(modes.some((m) => m.startsWith(part)), part).toBe(true);
    }
    expect(modes.some((m) => /\.seg /.test(m))).toBe(true);
    expect(modes.filter((m) => !/ (600|700)$/.test(m))).toEqual([]);
  });
});

describe('backlog', () => {
  it('shows the records waiting for a down backend, also those an earlier run left, and none once delivered, apart from disk use', async () => {
    const { dir, log, lines, ids } = await auditDir('kaudit-backlog-', 200, 13);
    let down = true;
    const rx = await Receiver.start({ respond: () => (down ? 503 : 200) });
    cleanup.push(() => rx.close());
    const port = await freePort();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: { listen: `127.0.0.1:${port}` },
      shutdown_grace: 500,
      sources: { audit: { kind: 'audit', path: log } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 }, retry: { initial_backoff: 50, max_backoff: 200 } } },
    });
    const waitMetric = async (name: string, ok: (v: number | undefined) => boolean): Promise<string> => {
      for (const end = Date.now() + 20_000; ;) {
        const text = await metricsOf(port);
        if (ok(metric(text, name, 'sink="rx"'))) return text;
        if (Date.now() > end) throw new Error(`${name} never as expected: ${text.split('\n').filter((l) => l.startsWith('kaudit_sink')).join('\n')}`);
        await sleep(100);
      }
    };
    const startedAt = Date.now();
    const first = running(AgentProcess.run(config));
    await first.started();
    const waiting = await waitMetric('kaudit_sink_backlog_records', (v) => v === 200);
    expect(metric(waiting, 'kaudit_sink_backlog_bytes', 'sink="rx"')).toBe(metric(waiting, 'kaudit_sink_buffer_bytes', 'sink="rx"'));
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    await sleep(1500);
    const second = running(AgentProcess.run(config));
    await second.started();
    // Inherited from the first run: counted at start, with the age of the oldest (stored with each record).
    const inherited = await waitMetric('kaudit_sink_backlog_records', (v) => v === 200);
    const age = metric(inherited, 'kaudit_sink_oldest_record_age_seconds', 'sink="rx"')!;
    expect(age).toBeGreaterThanOrEqual(1.5);
    expect(age).toBeLessThanOrEqual((Date.now() - startedAt) / 1000 + 1);

    down = false;
    expect(await rx.waitForAuditIds(ids(lines), 20_000)).toBe(0);
    const done = await waitMetric('kaudit_sink_backlog_records', (v) => v === 0);
    expect(metric(done, 'kaudit_sink_backlog_bytes', 'sink="rx"')).toBe(0);
    expect(metric(done, 'kaudit_sink_oldest_record_age_seconds', 'sink="rx"')).toBe(0);
    // Disk use is another figure: acknowledged records stay on disk until their segment is left behind.
    await appendFile(log, `${auditLine(500, 13)}\n`);
    const ackedOnDisk = await waitMetric('kaudit_sink_records_out_total', (v) => v === 201);
    expect(metric(ackedOnDisk, 'kaudit_sink_backlog_records', 'sink="rx"')).toBe(0);
    expect(metric(ackedOnDisk, 'kaudit_sink_buffer_bytes', 'sink="rx"')).toBeGreaterThan(0);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('run --once', () => {
  it('exits 1 when records are still undelivered at the end of the grace period, saying which sink and how many', async () => {
    const { dir, log } = await auditDir('kaudit-once-', 40, 14);
    const rx = await Receiver.start({ respond: () => 503 });
    cleanup.push(() => rx.close());
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      shutdown_grace: 1000,
      sources: { audit: { kind: 'audit', path: log } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 }, retry: { initial_backoff: 50, max_backoff: 200 } } },
    });
    const r = await runCli(['run', '--config', config, '--once']);
    expect(r.code).toBe(1);
    const left = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => typeof e.msg === 'string' && e.msg.includes('not delivered within the grace period'));
    expect(left).toMatchObject({ sink: 'rx', records: 40 });
    expect(rx.requests.length).toBeGreaterThan(0);
  });
});
