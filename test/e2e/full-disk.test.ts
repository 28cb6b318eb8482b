// End to end: the real agent on a state_dir that fills up (a small tmpfs): it says so in /readyz and /metrics, honours
// SIGTERM within its grace period while stalled, and resumes by itself, losing nothing, once space comes back.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';
import { SmallDisk } from '../utils/small-disk.ts';

const EVENTS = 4000;
const GRACE_MS = 3000;
const MiB = 1024 * 1024;

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function poll<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not seen within ${ms} ms (last: ${JSON.stringify(v)})`);
    await sleep(100);
  }
}

function metric(text: string, name: string, labels = 'sink="rx"'): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('state_dir on a full disk', () => {
  it('reports the stall in /readyz and /metrics, stops within the grace period, and delivers everything once space returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-fulldisk-'));
    const disk = await SmallDisk.forAgent(join(dir, 'state'), 8 * MiB);
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    cleanup.push(() => disk.unmount());
    await mkdir(join(dir, 'logs'));
    const lines = Array.from({ length: EVENTS }, (_, i) => auditLine(i, 77));
    await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${lines.join('\n')}\n`); // ~7 MB, more than is left
    let down = true;
    const rx = await Receiver.start({ respond: () => (down ? 503 : 200) });
    cleanup.push(() => rx.close());
    const port = await freePort();
    const config = await writeAgentConfig(dir, {
      state_dir: disk.dir,
      http: { listen: `127.0.0.1:${port}` },
      shutdown_grace: GRACE_MS,
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), read_chunk_bytes: 256 * 1024 } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 }, retry: { initial_backoff: 50, max_backoff: 200 } } },
    });
    await disk.fill(1.5 * MiB);
    const base = `http://127.0.0.1:${port}`;
    const readyz = async () => {
      const r = await fetch(`${base}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    const start = async () => {
      const agent = AgentProcess.run(config);
      cleanup.push(async () => {
        if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
      });
      await disk.applyTo(agent.pid);
      await agent.started();
      return agent;
    };

    // 1. The buffer fills what is left of the disk while the backend is down: not ready, and why.
    const first = await start();
    const stalled = await poll('/readyz 503 naming the full disk', readyz, (r) => r.status === 503 && r.body.includes('sinks.rx:'));
    expect(stalled.body).toMatch(new RegExp(`cannot write to .*buffers/rx: .*\\(${disk.fullCode}\\)`));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metric(metrics, 'kaudit_sink_buffer_writable')).toBe(0);
    expect(metric(metrics, 'kaudit_sink_buffer_write_errors_total', `sink="rx",reason="${disk.fullCode}"`)).toBeGreaterThan(0);
    await sleep(1500); // stalled for a while, reading held back
    expect((await readyz()).status).toBe(503);

    // 2. SIGTERM while stalled: honoured within the grace period (what is not durable is read again next start).
    const stopAt = Date.now();
    first.child.kill('SIGTERM');
    const exit = await Promise.race([first.exited, sleep(GRACE_MS + 10_000).then(() => 'still running' as const)]);
    const stopMs = Date.now() - stopAt;
    expect(exit, `SIGTERM not honoured: ${first.logs().slice(-1500)}`).toEqual({ code: 0, signal: null });
    expect(first.logEntries().some((e) => e.msg === 'grace period over before what was read reached every buffer; it is read again at the next start')).toBe(true);

    // 3. A start on the still-full disk works, stalls again; once space comes back it resumes by itself.
    const second = await start();
    await poll('/readyz 503 again', readyz, (r) => r.status === 503 && r.body.includes('sinks.rx:'));
    await disk.release(second.pid);
    down = false;
    const ids = lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    expect(await rx.waitForAuditIds(ids, 60_000), "events never delivered").toBe(0);
    await poll('/readyz 200', readyz, (r) => r.status === 200);
    const after = await poll('backlog 0', async () => (await fetch(`${base}/metrics`)).text(), (t) => metric(t, 'kaudit_sink_backlog_records') === 0);
    expect(metric(after, 'kaudit_sink_buffer_writable')).toBe(1);
    const accepted = rx.acceptedAuditIds();
    console.log(`full-disk test: SIGTERM while stalled exited in ${stopMs} ms (grace ${GRACE_MS} ms); ${new Set(accepted).size}/${EVENTS} events delivered, ${accepted.length - new Set(accepted).size} duplicates`);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
  });
});
