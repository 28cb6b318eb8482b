// End to end: an agent killed soon after its start (a crash loop) does not resend what the backend acknowledged.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const EVENTS = 3000;

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('crash loop', () => {
  it('resends nothing the backend acknowledged when killed before its first interval checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-crashloop-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'logs'));
    const lines = Array.from({ length: EVENTS }, (_, i) => auditLine(i, 19));
    const ids = lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${lines.join('\n')}\n`);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const port = await freePort();
    const stateDir = join(dir, 'state');
    const config = await writeAgentConfig(dir, {
      state_dir: stateDir,
      http: { listen: `127.0.0.1:${port}` },
      // No interval save within the run: what the restart knows comes from the save right after the first
      // durable chunks and from the buffer. Small segments: the delivered ones are deleted.
      checkpoint_interval: 600_000, // the longest allowed
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), read_chunk_bytes: 128 * 1024 } },
      sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], buffer: { segment_bytes: 256 * 1024 }, batch: { max_events: 100, max_wait: 20 } } },
    });

    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.kill9();
    });
    await agent.started();
    expect(await rx.waitForAuditIds(ids, 30_000)).toBe(0);
    // Everything acknowledged, and the acknowledgements on disk (saved within 50 ms of the last one; then quiet).
    for (const end = Date.now() + 20_000; ;) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const idle = new RegExp(`^kaudit_sink_records_out_total\\{sink="rx"\\} ${EVENTS}$`, 'm').test(text);
      const ackAge = Date.now() - (await stat(join(stateDir, 'buffers', 'rx', 'ack.json'))).mtimeMs;
      if (idle && ackAge > 1000) break;
      if (Date.now() > end) throw new Error('the agent never went idle with its acknowledgements saved');
      await sleep(100);
    }
    expect((await agent.kill9()).signal).toBe('SIGKILL');
    const before = rx.documentCount;

    // The next start re-reads what its checkpoint does not cover, and sends none of it again.
    const again = await runCli(['run', '--config', config, '--once']);
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    const resent = rx.documentCount - before;
    console.log(`crash-loop test: ${EVENTS} events delivered, killed with its acknowledgements saved; the next start sent ${resent} again`);
    expect(resent).toBe(0);
  });
});
