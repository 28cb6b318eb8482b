// End to end: the real agent, killed with SIGKILL again and again while the audit log rotates, loses nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, atLeast, writeAgentConfig } from '../utils/agent.ts';
import { LumberjackWriter } from '../utils/lumberjack.ts';
import { Receiver } from '../utils/receiver.ts';
import { prng } from '../utils/prng.ts';

const SEED = 20261122;
const KILLS = 20;
/** Lines per second the writer appends (~1.7 KB each: about 1.4 MB/s, five or six rotations a second). */
const WRITE_RATE = 850;
const MAX_SIZE = 256 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Appends audit lines at a steady rate through the rotating writer until stopped. */
class SteadyWriter {
  readonly writer: LumberjackWriter;
  private next = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(writer: LumberjackWriter, rate: number) {
    this.writer = writer;
    const t0 = Date.now();
    this.done = (async () => {
      while (!this.stopped) {
        const target = Math.floor(((Date.now() - t0) / 1000) * rate);
        if (target > this.next) {
          const lines: string[] = [];
          for (; this.next < target; this.next++) lines.push(auditLine(this.next, SEED));
          await writer.writeMany(lines);
        }
        await sleep(20);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await this.writer.settled();
  }
}

/** Resolves when the agent has logged that it started; false if it exited or `ms` passed first. */
async function started(agent: AgentProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let exited = false;
  void agent.exited.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    if (agent.logs().includes('"kaudit started"')) return true;
    await sleep(10);
  }
  return false;
}

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('crash safety (kill -9)', () => {
  it('loses no event when killed with kill -9 twenty times while the log rotates', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaudit-crash-'));
    const rand = prng(SEED);
    const failRand = prng(SEED ^ 0x5eed);
    const receiver = await Receiver.start({ respond: () => (failRand() < 0.1 ? 503 : 200) });
    const config = await writeAgentConfig(dir, {
      log_level: 'info',
      state_dir: join(dir, 'state'),
      http: null,
      checkpoint_interval: 200,
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), poll_interval: 100 } },
      sinks: {
        rx: {
          // Audit lines only: this checks what arrives against what was written.
          kind: 'http', url: receiver.url(), inputs: ['audit'],
          batch: { max_events: 200, max_wait: 100 },
          retry: { initial_backoff: 50, max_backoff: 1000 },
        },
      },
    });
    const lj = await LumberjackWriter.open({ dir: join(dir, 'logs'), maxSize: MAX_SIZE, maxBackups: 400, compress: true });
    const writer = new SteadyWriter(lj, WRITE_RATE);
    const runs: AgentProcess[] = [];
    const t0 = Date.now();
    let killedAfterStart = 0;

    try {
      for (let k = 0; k < KILLS; k++) {
        const agent = AgentProcess.run(config);
        runs.push(agent);
        // Most kills land while the agent runs; every fifth is timed from the spawn, so some land in its startup.
        const fromSpawn = k % 5 === 4;
        const delay = 100 + Math.floor(rand() * 800);
        if (!fromSpawn && (await started(agent, 15_000))) killedAfterStart++;
        await sleep(delay);
        const exit = await agent.kill9();
        // It was the kill that ended it, not a crash of its own.
        expect(exit.signal, `run ${k} exited by itself: ${agent.logs().slice(-2000)}`).toBe('SIGKILL');
      }
      const killPhaseMs = Date.now() - t0;

      const last = AgentProcess.run(config);
      runs.push(last);
      expect(await started(last, 15_000)).toBe(true);
      await sleep(500); // the last run also sees the writer still appending and rotating
      await writer.stop();

      const written = lj.writtenIds();
      const segments = lj.segments();
      // The test is only meaningful if the writer rotated a lot and pruned nothing the agent had to read.
      expect(segments.length).toBeGreaterThan(60);
      expect(lj.retainedIds().length).toBe(written.length);
      expect(new Set(written).size).toBe(written.length);

      const catchUpStart = Date.now();
      await receiver.waitForAuditIds(written, 60_000);
      const catchUpMs = Date.now() - catchUpStart;
      const deliveredByLastRun = new Set(receiver.acceptedAuditIds());
      const lost = written.filter((id) => !deliveredByLastRun.has(id));
      const stopped = await last.stop();

      // Whatever twenty kills left in the state directory, a clean stop settles it: the next start sends nothing.
      const settled = receiver.documentCount;
      const again = AgentProcess.run(config);
      runs.push(again);
      expect(await started(again, 15_000)).toBe(true);
      await sleep(1500);
      const againStopped = await again.stop();
      const resent = receiver.documentCount - settled;

      const accepted = receiver.acceptedAuditIds();
      const acceptedSet = new Set(accepted);
      const duplicates = accepted.length - acceptedSet.size;
      const times = new Map<string, number>();
      for (const id of accepted) times.set(id, (times.get(id) ?? 0) + 1);
      const mostTimes = Math.max(0, ...times.values());
      const statuses = receiver.countsByStatus();
      const gz = segments.filter((s) => s.state === 'compressed').length;
      const warnings = runs.flatMap((r) => r.logEntries()).filter((e) => atLeast(e, 'warn'));
      console.log(
        `crash test: ${KILLS} kills (${killedAfterStart} after startup) in ${killPhaseMs} ms, ${segments.length - 1} rotations ` +
          `(${gz} backups gzipped), ${written.length} events written, ${accepted.length} accepted, ` +
          `lost ${lost.length}, duplicates ${duplicates} (at most ${mostTimes} copies of one event); receiver statuses ${JSON.stringify(statuses)}; ` +
          `caught up ${catchUpMs} ms after the writer stopped; ${resent} sent again after a clean restart; ${warnings.length} agent warnings`,
      );
      // 503s are expected (the first failure and the sink's status lines); anything else the agent warned about is worth reading.
      const expected = new Set(['delivery failed; will retry', 'delivery still failing']);
      for (const w of warnings.filter((e) => !expected.has(String(e.msg))).slice(0, 5)) console.log(`agent warning: ${JSON.stringify(w)}`);

      const neverArrived = lost.filter((id) => !acceptedSet.has(id)).length;
      expect(lost.length, `${lost.length} of ${written.length} events missing after 60 s (${neverArrived} still missing after a clean restart), e.g. ${lost.slice(0, 3).join(', ')}`).toBe(0);
      // Duplicates are allowed, within reason: each kill re-sends what was delivered or read since the last
      // saved positions (about 40-100 % of the events over twenty kills, more when the machine is busy);
      // re-reading files or the buffer from the start on restart would send everything many times over.
      expect(duplicates).toBeLessThan(2 * written.length);
      expect(statuses[503] ?? 0).toBeGreaterThan(0); // retries really happened
      expect(stopped.code).toBe(0);
      expect(againStopped.code).toBe(0);
      expect(resent, 'documents sent again after a clean stop and start').toBe(0);

      // What arrived is the events as written, never a torn or spliced line (redacted credentials aside).
      const index = new Map(written.map((id, i) => [id, i]));
      let alien = 0;
      let altered = 0;
      for (const line of receiver.rawLines()) {
        const id = /"auditID":"([^"]+)"/.exec(line)?.[1];
        const i = id === undefined ? undefined : index.get(id);
        if (i === undefined) {
          alien++;
          continue;
        }
        if (line !== auditLine(i, SEED) && !line.includes('[redacted')) altered++;
      }
      expect(receiver.requests.reduce((n, q) => n + q.invalid, 0)).toBe(0);
      expect(alien).toBe(0);
      expect(altered).toBe(0);
    } catch (err) {
      for (const [k, r] of runs.entries()) {
        const notable = r.logEntries().filter((e) => atLeast(e, 'warn') || e.msg === 'kaudit started' || e.msg === 'stopped');
        console.log(`agent run ${k}: ${notable.length} notable log lines\n${notable.slice(-8).map((e) => JSON.stringify(e)).join('\n')}`);
      }
      throw err;
    } finally {
      await writer.stop().catch(() => {});
      for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) await r.kill9();
      await lj.close().catch(() => {});
      await receiver.close();
    }
  }, 180_000);
});
