// A reader that goes away: `kaudit scan … | head` stops quietly, and a stdout sink whose pipe closes is a failed
// delivery (the agent runs on, the records stay buffered) rather than a crash with a stack trace.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditIdFor, auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, atLeast, writeAgentConfig } from '../utils/agent.ts';

/** About 2.5 MB of events (the test peer keeps 4 MiB of output), and over 200 KB of scan hits: more than a pipe holds. */
const EVENTS = 1500;

async function setup(): Promise<{ dir: string; log: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-stdout-'));
  const log = join(dir, 'kubernetes.audit');
  await writeFile(log, `${Array.from({ length: EVENTS }, (_, i) => auditLine(i)).join('\n')}\n`);
  return { dir, log };
}

/** Starts a command and closes the read end of its stdout as soon as it has printed something. */
function withReaderGone(args: string[]): AgentProcess {
  const p = new AgentProcess(args);
  p.child.stdout!.once('data', () => p.child.stdout!.destroy());
  return p;
}

describe('stdout closed by its reader', () => {
  it('scan stops quietly: its usual exit code and nothing on stderr', async () => {
    const { dir, log } = await setup();
    await writeFile(join(dir, 'rules.yaml'), 'rules:\n  - { id: T-ALL, name: every event, category: other, level: high, stages: any, match: { field: auditID, exists: true }, output: "{auditID} {verb} {requestURI} {userAgent}" }\n');
    const config = await writeAgentConfig(dir, { detection: { system_rules: false, rules: ['rules.yaml'] } });
    const scan = withReaderGone(['scan', '--config', config, '--hits', log]);
    const exit = await scan.exited;
    expect(scan.logs()).toBe('');
    // 0, or 3 (alarms raised) when the closed pipe is noticed after the scan set its exit code; never 1 (a failure).
    expect(exit.signal).toBeNull();
    expect([0, 3]).toContain(exit.code);
  });

  it('run with a stdout sink: a failed delivery that is retried, the agent runs on, and the records wait in the buffer', async () => {
    const { dir, log } = await setup();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null, shutdown_grace: 200,
      sources: { audit: { kind: 'audit', path: log, poll_interval: 100 } },
      detection: { enabled: false },
      sinks: { out: { kind: 'stdout', batch: { max_wait: 20 }, retry: { initial_backoff: 50, max_backoff: 200 } } },
    });
    const gone = AgentProcess.run(config);
    gone.child.stdout!.destroy(); // nothing will ever read it
    // The failure is logged with its reason (whatever line reports the retries).
    const failure = await waitFor(gone, () => gone.logEntries().find((e) => JSON.stringify(e).includes('stdout is closed (EPIPE')));
    expect(atLeast(failure, 'warn')).toBe(true);
    expect(gone.child.exitCode).toBeNull();
    const stopped = await gone.stop();
    expect(stopped.code).toBe(0);
    expect(gone.logs()).not.toMatch(/\n\s+at |Unhandled|EPIPE\s*$/m);

    // The next start, with a reader: every event comes out of the buffer.
    const next = AgentProcess.run(config, ['--once']);
    expect((await next.exited).code).toBe(0);
    const ids = next.output().trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: EVENTS }, (_, i) => auditIdFor(i))));
  });
});

async function waitFor<T>(agent: AgentProcess, found: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const hit = found();
    if (hit !== undefined) return hit;
    if (agent.child.exitCode !== null) throw new Error(`agent exited (${agent.child.exitCode}): ${agent.logs().slice(-2000)}`);
    if (Date.now() > end) throw new Error(`not seen within ${ms} ms: ${agent.logs().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
