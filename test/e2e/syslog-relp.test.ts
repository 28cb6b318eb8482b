// End to end: the real agent streams audit events to a real rsyslogd over RELP; rsyslogd is killed in the middle of
// the stream and started again, and every event written arrives (acknowledged per message; the rest sent again).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { LumberjackWriter } from '../utils/lumberjack.ts';
import { startRsyslog, type Rsyslog } from '../utils/rsyslog.ts';

const SEED = 1818;
const LINES = 30_000;
const BURST = 20_000;
const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string | undefined;
let rsyslog: Rsyslog | undefined;
afterAll(async () => {
  await rsyslog?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('syslog sink over RELP', () => {
  it('loses nothing when rsyslogd is killed and restarted in the middle of a stream', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaudit-relp-'));
    rsyslog = await startRsyslog();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      checkpoint_interval: 200,
      detection: { enabled: false },
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), poll_interval: 100 } },
      sinks: {
        siem: {
          kind: 'syslog', transport: 'relp', host: '127.0.0.1', port: rsyslog.ports.relp,
          batch: { max_events: 200, max_wait: 50 },
          retry: { initial_backoff: 50, max_backoff: 300 },
        },
      },
    });
    const lj = await LumberjackWriter.open({ dir: join(dir, 'logs'), maxSize: 64 * MiB });
    const agent = AgentProcess.run(config);
    try {
      await agent.started();
      // A burst the agent takes a while to deliver; rsyslogd is killed once it has some of it (batches in flight), and
      // starts again a second later while writing goes on. What it acknowledged is in its file (test/utils/rsyslog.ts);
      // what it had not is sent again.
      let next = 0;
      const write = async (n: number): Promise<void> => {
        for (const end = Math.min(LINES, next + n); next < end;) {
          const lines: string[] = [];
          for (const stop = Math.min(end, next + 1000); next < stop; next++) lines.push(auditLine(next, SEED));
          await lj.writeMany(lines);
        }
      };
      await write(BURST);
      const beforeStop = await rsyslog.waitFor(2000, 30_000);
      await rsyslog.stop('SIGKILL');
      const atStop = (await rsyslog.received()).length;
      const restart = sleep(1000).then(() => rsyslog!.start());
      for (let k = 0; k < 5; k++) {
        await write((LINES - BURST) / 10);
        await sleep(200);
      }
      await restart;
      await write(LINES - next);
      await lj.close();

      const written = lj.writtenIds();
      expect(written).toHaveLength(LINES);
      let ids: string[] = [];
      let missing: string[] = written;
      for (const end = Date.now() + 45_000; missing.length > 0 && Date.now() < end;) {
        // Counted until there can be enough, then parsed (tens of MB of JSON: not at every poll).
        await rsyslog.waitFor(ids.length + missing.length, Math.max(0, end - Date.now())).catch(() => {});
        ids = (await rsyslog.received()).map((r) => (JSON.parse(r.msg) as { auditID: string }).auditID);
        const got = new Set(ids);
        missing = written.filter((id) => !got.has(id));
        if (missing.length > 0) await sleep(200);
      }
      const failures = agent.logEntries().filter((e) => e.msg === 'delivery failed; will retry');
      console.log(`relp restart: ${written.length} written, ${beforeStop} received when the stop began, ${atStop} when it ended, ${ids.length} received in all `
        + `(${ids.length - new Set(ids).size} duplicates), ${missing.length} missing; first failure: ${JSON.stringify(failures[0]?.reason)}`);

      expect(missing, `missing ${missing.length} of ${written.length}, e.g. ${missing.slice(0, 3).join(', ')}`).toEqual([]);
      // The restart was in the middle of the stream: the sink saw it fail, and more came after it.
      expect(failures.length).toBeGreaterThan(0);
      expect(atStop).toBeLessThan(BURST);
      expect((await agent.stop()).code).toBe(0);
    } finally {
      if (agent.child.exitCode === null) await agent.kill9();
    }
  }, 120_000);
});
