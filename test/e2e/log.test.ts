// The agent's own log as operators read it: one JSON line per entry on stderr, levels as words they can grep for.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';

describe('the agent log', () => {
  it('writes levels as words: "level":"info", "level":"warn"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-log-'));
    // A line that is not an event: the agent warns about it.
    await writeFile(join(dir, 'kubernetes.audit'), `${auditLine(0)}\nnot an event\n`);
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit') } },
      sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson') } },
    });
    const agent = AgentProcess.run(config, ['--once']);
    expect((await agent.exited).code).toBe(0);
    const entries = agent.logEntries();
    expect(entries.find((e) => e.msg === 'line is not an audit event; skipped')).toMatchObject({ level: 'warn' });
    expect(entries.find((e) => e.msg === 'kaudit started')).toMatchObject({ level: 'info' });
    expect(entries.every((e) => ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(e.level as string))).toBe(true);
    expect(agent.logs()).toContain('"level":"warn"');
  });
});
