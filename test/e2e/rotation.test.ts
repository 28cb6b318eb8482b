// The agent as a child process tails a log rotated the way kube-apiserver (lumberjack) and logrotate rotate it,
// and delivers every event to a real HTTP server, in order per file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { LumberjackWriter } from '../utils/lumberjack.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(writerOpts: Partial<Parameters<typeof LumberjackWriter.open>[0]>) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-e2e-rot-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const rx = await Receiver.start();
  cleanup.push(() => rx.close());
  const writer = await LumberjackWriter.open({ dir: join(dir, 'logs'), maxSize: 128 * 1024, ...writerOpts });
  cleanup.push(() => writer.close());
  const config = await writeAgentConfig(dir, {
    log_level: 'info',
    state_dir: join(dir, 'state'),
    http: null,
    checkpoint_interval: 200,
    sources: { audit: { kind: 'audit', path: writer.livePath, poll_interval: 100 } },
    sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_events: 200, max_wait: 50 } } },
  });
  const agent = AgentProcess.run(config);
  cleanup.push(async () => {
    if (agent.child.exitCode === null) await agent.kill9();
  });
  // The writer starts once the agent tails: a backup pruned before anyone opened it is gone for every reader.
  await agent.started();
  return { dir, rx, writer, agent };
}

/** Writes `n` events in bursts, with short pauses so that the agent reads while the writer rotates. */
async function writeBursts(writer: LumberjackWriter, from: number, n: number, burst: number, special?: (i: number) => Promise<void>, pauseMs = 15) {
  for (let i = from; i < from + n; i += burst) {
    await writer.writeMany(Array.from({ length: Math.min(burst, from + n - i) }, (_, j) => auditLine(i + j)));
    await special?.(i);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** Every written id arrived, none more than once here (no restarts), and each file's lines arrived in write order. */
function expectAllInOrderPerFile(writer: LumberjackWriter, received: string[]) {
  const written = writer.writtenIds();
  expect(received.length).toBe(written.length);
  expect(new Set(received)).toEqual(new Set(written));
  const position = new Map(received.map((id, i) => [id, i]));
  for (const seg of writer.segments()) {
    const at = seg.ids.map((id) => position.get(id)!);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  }
}

describe('kaudit run over a rotating audit log', () => {
  it('delivers every event through rename rotation with pruning and gzip, in order per file', async () => {
    // About 1 MB/s with 30 backups of 128 KiB kept: pruning runs, yet never reaches a file not yet opened.
    const { rx, writer, agent } = await setup({ maxBackups: 30, compress: true });
    await writeBursts(writer, 0, 3000, 40, undefined, 60);
    await writer.settled();
    await rx.waitFor((r) => r.acceptedAuditIds().length >= 3000, 30_000, '3000 events');
    expect((await writer.backups()).filter((b) => b.endsWith('.gz')).length).toBeGreaterThan(3);
    expect(writer.segments().length).toBeGreaterThan(20);
    expect((await agent.stop()).code).toBe(0);
    expectAllInOrderPerFile(writer, rx.acceptedAuditIds());
    expect(rx.acceptedAuditIds()).toEqual(writer.writtenIds()); // one ordered stream across rotations too
  });

  it('delivers every event when the log is rotated by copy and truncate', async () => {
    const { rx, writer, agent } = await setup({ mode: 'copytruncate', maxBackups: 50 });
    await writeBursts(writer, 0, 1500, 30);
    await rx.waitFor((r) => r.acceptedAuditIds().length >= 1500, 30_000, '1500 events');
    expect((await agent.stop()).code).toBe(0);
    expectAllInOrderPerFile(writer, rx.acceptedAuditIds());
  });

  it('delivers the lines written to a file after it was deleted while open, then the new file', async () => {
    const { rx, writer, agent } = await setup({ maxSize: 64 * 1024 * 1024 });
    let deletions = 0;
    await writeBursts(writer, 0, 1200, 40, async (i) => {
      if (i % 400 === 0 && i > 0) {
        // The agent has this file open once some of its lines arrived; then it is deleted under it.
        await rx.waitFor((r) => r.acceptedAuditIds().length > i - 400, 20_000, 'the agent to read the file');
        deletions += 1;
        await writer.deleteWhileOpen([auditLine(100_000 + i), auditLine(100_001 + i)]);
      }
    });
    await rx.waitFor((r) => r.acceptedAuditIds().length >= writer.writtenIds().length, 30_000, 'every event');
    expect(deletions).toBe(2);
    expect((await agent.stop()).code).toBe(0);
    expectAllInOrderPerFile(writer, rx.acceptedAuditIds());
  });

  it('after a clean restart sends nothing twice and picks up what was written while it was down', async () => {
    const { dir, rx, writer, agent } = await setup({ maxBackups: 50, compress: true });
    await writeBursts(writer, 0, 500, 50);
    await rx.waitFor((r) => r.acceptedAuditIds().length >= 500, 30_000, '500 events');
    expect((await agent.stop()).code).toBe(0);
    await writeBursts(writer, 500, 700, 100); // several rotations and compressions while down
    await writer.settled();
    const again = AgentProcess.run(join(dir, 'kaudit.yaml'));
    cleanup.push(async () => {
      if (again.child.exitCode === null) await again.kill9();
    });
    await rx.waitFor((r) => r.acceptedAuditIds().length >= 1200, 30_000, '1200 events');
    await new Promise((r) => setTimeout(r, 300));
    expect((await again.stop()).code).toBe(0);
    expect(rx.acceptedAuditIds()).toEqual(writer.writtenIds());
  });
});
