// End to end: the real agent rides out a backend outage (503, 429 + Retry-After, connection refused)
// by buffering on disk, with bounded memory, and delivers everything once the backend is back.
import { readdir, stat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { LumberjackWriter } from '../utils/lumberjack.ts';
import { ProcSampler } from '../utils/proc.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';
import type { ReceivedRequest } from '../utils/receiver.ts';

const SEED = 4242;
const MiB = 1024 * 1024;
/** Audit lines written while the backend refuses connections (~1.7 KB each: about 120 MB). */
const OUTAGE_LINES = 72_000;
/** Lines delivered at full speed before the outage (~10 MB), so the agent's working set is warm when it starts. */
const WARM_UP_LINES = 6000;
const GRACE_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** Bytes of the files in a directory (the sink's buffer segments and ack file). */
async function dirBytes(path: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) {
    total += (await stat(join(path, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** The value of one Prometheus sample, `name{sink="rx"}`; undefined when absent. */
function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}\\{[^}]*sink="rx"[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function firstAuditId(q: ReceivedRequest): string | undefined {
  return q.lines.length > 0 ? /"auditID":"([^"]+)"/.exec(q.lines[0])?.[1] : undefined;
}

type Phase = 'ok' | '503' | '429' | 'down';

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('backend outage', () => {
  it('loses nothing through 503s, 429 with Retry-After and a refused connection, with memory bounded while the disk buffer grows', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaudit-outage-'));
    let phase: Phase = 'ok';
    const receiver = await Receiver.start({
      respond: () => (phase === '503' ? 503 : phase === '429' ? { status: 429, headers: { 'retry-after': '1' } } : 200),
    });
    const metricsPort = await freePort();
    const stateDir = join(dir, 'state');
    const bufferDir = join(stateDir, 'buffers', 'rx');
    const config = await writeAgentConfig(dir, {
      log_level: 'info',
      state_dir: stateDir,
      http: { listen: `127.0.0.1:${metricsPort}` },
      checkpoint_interval: 200,
      shutdown_grace: GRACE_MS,
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), poll_interval: 100 } },
      sinks: {
        rx: {
          kind: 'http', url: receiver.url(),
          batch: { max_events: 200, max_wait: 100 },
          // Backoff stays under the 1 s of Retry-After, so a retry a second later can only be its doing.
          retry: { initial_backoff: 50, max_backoff: 500 },
        },
      },
    });
    const lj = await LumberjackWriter.open({ dir: join(dir, 'logs'), maxSize: 8 * MiB, maxBackups: 50, compress: true });
    let next = 0;
    /** Appends n lines in slices, leaving the event loop free for the receiver and the samplers. */
    const write = async (n: number, perSlice = 1000, pauseMs = 50): Promise<void> => {
      for (const end = next + n; next < end;) {
        const lines: string[] = [];
        for (const stop = Math.min(end, next + perSlice); next < stop; next++) lines.push(auditLine(next, SEED));
        await lj.writeMany(lines);
        await sleep(pauseMs);
      }
    };

    const agent = AgentProcess.run(config);
    let sampler: ProcSampler | undefined;
    try {
      // Warm up: the agent reads and delivers at full speed first, so the memory it needs for that (read
      // chunks, batches, heap headroom) is in the baseline and what the outage adds shows on its own.
      await write(WARM_UP_LINES, 500, 50);
      await receiver.waitFor((r) => r.documentCount >= WARM_UP_LINES, 30_000, 'warm-up delivery');

      const outageStart = Date.now();
      const bufferAtStart = await dirBytes(bufferDir);
      sampler = new ProcSampler(agent.pid, 100).start();

      phase = '503';
      await write(1000, 100, 200);
      phase = '429';
      const first429 = receiver.requests.length;
      await write(1000, 100, 300);
      await receiver.waitFor((r) => r.requests.slice(first429).filter((q) => q.status === 429).length >= 3, 10_000, 'three 429 answers');

      phase = 'down';
      await receiver.goDown();
      const downStart = Date.now();
      let peakBuffer = 0;
      const bufferTimer = setInterval(() => {
        void dirBytes(bufferDir).then((b) => (peakBuffer = Math.max(peakBuffer, b)));
      }, 100);
      try {
        await write(OUTAGE_LINES, 500, 50);
        // Down for several seconds, and until the agent has read and buffered the burst.
        for (const until = Date.now() + 20_000; Date.now() < until;) {
          const b = await dirBytes(bufferDir);
          peakBuffer = Math.max(peakBuffer, b);
          if (Date.now() - downStart >= 6000 && b > 20 * MiB) {
            await sleep(500);
            if ((await dirBytes(bufferDir)) === b) break; // the backlog stopped growing: all read
          }
          await sleep(100);
        }
      } finally {
        clearInterval(bufferTimer);
      }
      const bufferAtEnd = await dirBytes(bufferDir);
      peakBuffer = Math.max(peakBuffer, bufferAtEnd);
      sampler.sampleNow();
      sampler.stop();
      const outageEnd = Date.now();

      phase = 'ok';
      await receiver.comeBack();
      await write(300, 100, 100);
      await lj.close();

      const written = lj.writtenIds();
      expect(new Set(written).size).toBe(written.length);
      const recoveryStart = Date.now();
      await receiver.waitForAuditIds(written, 60_000);
      const recoveryMs = Date.now() - recoveryStart;

      const accepted = receiver.acceptedAuditIds();
      const acceptedSet = new Set(accepted);
      const lost = written.filter((id) => !acceptedSet.has(id));

      // Retry-After: 1 honoured: the same batch came back no sooner than a second after its 429.
      const gaps: number[] = [];
      for (const q of receiver.requests) {
        if (q.status !== 429) continue;
        const id = firstAuditId(q);
        const again = receiver.requests.find((r) => r.seq > q.seq && firstAuditId(r) === id);
        if (again) gaps.push(again.receivedAt - q.receivedAt);
      }

      const rss = sampler.samples.map((s) => s.rssBytes);
      const peakRss = Math.max(...rss);
      // Growth from the first to the last second of the outage (medians, so one GC cycle does not decide it).
      const rssGrowth = median(rss.slice(-10)) - median(rss.slice(0, 10));
      const backlogGrowth = bufferAtEnd - bufferAtStart;

      const metricsText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const retried = metric(metricsText, 'kaudit_sink_records_retried_total');
      const out = metric(metricsText, 'kaudit_sink_records_out_total');
      const bufferBytes = metric(metricsText, 'kaudit_sink_buffer_bytes');

      const stopAt = Date.now();
      const exit = await agent.stop('SIGTERM');
      const stopMs = Date.now() - stopAt;

      const statuses = receiver.countsByStatus();
      console.log(
        `outage test: outage ${outageEnd - outageStart} ms (refused ${outageEnd - downStart} ms), ${written.length} events written ` +
          `(${(lj.segments().reduce((n, s) => n + s.bytes, 0) / MiB).toFixed(1)} MiB), ${accepted.length} accepted, lost ${lost.length}, ` +
          `duplicates ${accepted.length - acceptedSet.size}; buffer ${(bufferAtStart / MiB).toFixed(1)} -> ${(bufferAtEnd / MiB).toFixed(1)} MiB ` +
          `(peak ${(peakBuffer / MiB).toFixed(1)} MiB); RSS first ${(rss[0] / MiB).toFixed(0)} MiB, peak ${(peakRss / MiB).toFixed(0)} MiB (VmHWM ${(sampler.peakRssBytes / MiB).toFixed(0)} MiB), ` +
          `growth ${(rssGrowth / MiB).toFixed(1)} MiB (peak - first ${((peakRss - rss[0]) / MiB).toFixed(1)} MiB) over ${rss.length} samples; Retry-After gaps ${JSON.stringify(gaps)} ms; ` +
          `statuses ${JSON.stringify(statuses)}; recovered ${recoveryMs} ms after comeBack + writes; ` +
          `metrics retried=${retried} out=${out} buffer_bytes=${bufferBytes}; SIGTERM exit ${JSON.stringify(exit)} in ${stopMs} ms`,
      );

      expect(lost.length, `lost ${lost.length} of ${written.length}, e.g. ${lost.slice(0, 3).join(', ')}`).toBe(0);
      expect(statuses[503] ?? 0).toBeGreaterThan(0);
      expect(statuses[429] ?? 0).toBeGreaterThanOrEqual(3);
      expect(gaps.length).toBeGreaterThan(0);
      for (const g of gaps) expect(g).toBeGreaterThanOrEqual(950);

      // The backlog went to disk, not to memory.
      expect(peakBuffer).toBeGreaterThan(20 * MiB);
      expect(rss.length).toBeGreaterThan(50);
      // Reading at full speed alone takes the agent to 200-250 MiB (about 60 MiB of it the node binary's
      // own pages): the budget leaves room for that, and the growth check is the one a backlog held in
      // memory could not pass.
      expect(peakRss).toBeLessThan(300 * MiB);
      expect(rssGrowth).toBeLessThan(backlogGrowth / 2);

      expect(retried).toBeGreaterThan(0);
      expect(out).toBeGreaterThanOrEqual(written.length);
      expect(bufferBytes).toBeDefined();

      expect(exit).toEqual({ code: 0, signal: null });
      expect(stopMs).toBeLessThan(GRACE_MS + 3000);
    } catch (err) {
      console.log(`agent log (tail):\n${agent.logs().slice(-4000)}`);
      throw err;
    } finally {
      sampler?.stop();
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
      await lj.close().catch(() => {});
      await receiver.close();
    }
  }, 180_000);
});
