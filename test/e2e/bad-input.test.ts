// Bad input never stops the agent nor takes good lines with it: the agent runs over damaged files and
// every good event still reaches a real HTTP server, each bad line is counted and dead-lettered.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { auditIdFor, auditLine } from '../../bench/gen-audit.ts';
import { parseAuditLine } from '../../src/parse/audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('kaudit run over damaged input', () => {
  it('delivers every good line around invalid JSON, a 10 MiB line, NUL bytes, invalid UTF-8, an empty file and a truncated .gz', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-bad-'));
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());

    // Oldest backup: gzip cut short. The lines before the damage are good; the tail is lost to the damage itself.
    const gzLines = Array.from({ length: 300 }, (_, i) => auditLine(i));
    const gz = gzipSync(Buffer.from(`${gzLines.join('\n')}\n`));
    await writeFile(join(logs, 'kubernetes-2026-11-22T10-00-00.000.audit.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    // An empty backup.
    await writeFile(join(logs, 'kubernetes-2026-11-22T11-00-00.000.audit'), '');
    // The live file: good lines interleaved with every kind of bad one.
    const good = Array.from({ length: 40 }, (_, i) => auditLine(1000 + i));
    const parts: Buffer[] = [];
    const bad: string[] = [];
    good.forEach((line, i) => {
      parts.push(Buffer.from(`${line}\n`));
      if (i === 5) { parts.push(Buffer.from('{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":\n')); bad.push('truncated JSON'); }
      if (i === 10) { parts.push(Buffer.from('this is not json at all\n')); bad.push('text'); }
      if (i === 15) { parts.push(Buffer.from(`${line.slice(0, 200)}\u0000\u0000\u0000${line.slice(200)}\n`.replace(/"auditID":"[^"]+"/, '"auditID":"nul-line"'))); bad.push('NUL bytes'); }
      if (i === 20) { parts.push(Buffer.concat([Buffer.from(line.slice(0, 300).replace(/"auditID":"[^"]+"/, '"auditID":"bad-utf8"')), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(`${line.slice(300)}\n`)])); bad.push('invalid UTF-8'); }
      if (i === 25) { parts.push(Buffer.from(`{"kind":"Event","auditID":"huge","pad":"${'y'.repeat(10 * 1024 * 1024)}"}\n`)); }
      if (i === 30) { parts.push(Buffer.from('\u0000'.repeat(4096) + '\n')); bad.push('a block of NULs'); }
      if (i === 35) { parts.push(Buffer.from('[1,2,3]\n')); bad.push('JSON that is not an event'); }
    });
    await writeFile(join(logs, 'kubernetes.audit'), Buffer.concat(parts));

    const deadLetter = join(dir, 'dead-lines.ndjson');
    const config = await writeAgentConfig(dir, {
      // A grace long enough that a loaded machine does not cut the final drain short: this checks the counts.
      log_level: 'info', state_dir: join(dir, 'state'), http: null, shutdown_grace: '60s',
      sources: { audit: { kind: 'audit', path: join(logs, 'kubernetes.audit'), dead_letter: deadLetter } },
      // Audit lines only: this checks their delivery, alarms the rules raise on them would be counted too.
      sinks: { rx: { kind: 'http', url: rx.url(), format: 'json_array', inputs: ['audit'] } },
    });
    const agent = AgentProcess.run(config, ['--once']);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    const exit = await agent.exited;
    expect(exit.code).toBe(1); // the damaged .gz could not be read to its end (everything else was delivered)

    const received = rx.acceptedAuditIds();
    const fromGz = received.filter((id) => gzLines.some((l) => l.includes(id)));
    expect(fromGz.length).toBeGreaterThan(50); // the readable part of the damaged .gz
    expect(fromGz).toEqual(Array.from({ length: fromGz.length }, (_, i) => auditIdFor(i)));
    expect(received.slice(fromGz.length)).toEqual(good.map((_, i) => auditIdFor(1000 + i)));
    // json_array bodies: a bad line forwarded would have made the backend reject a whole batch.
    expect(rx.countsByStatus()).toEqual({ 200: rx.requests.length });

    const dead = (await readFile(deadLetter, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const fromLive = dead.filter((d) => d.path.endsWith('kubernetes.audit'));
    expect(fromLive).toHaveLength(bad.length + 1); // + the over-long line
    expect(fromLive.filter((d) => d.truncated && /max_line_bytes/.test(d.error))).toHaveLength(1);
    expect(fromLive.every((d) => Number.isInteger(d.offset) && d.line.length <= 64 * 1024)).toBe(true);
    expect(dead.some((d) => d.path.endsWith('.gz'))).toBe(true); // the torn last line of the damaged .gz

    const log = agent.logEntries();
    const damaged = log.find((e) => e.reason === 'damaged_gzip');
    expect(damaged?.msg).toMatch(/^cannot read all of .*T10-00-00\.000\.audit\.gz: damaged gzip data \(at byte \d+ of its content; the lines before it were read\)$/);
    expect(log.find((e) => /exit 1$/.test(String(e.msg)))?.problems).toEqual([`sources.audit: ${damaged?.msg}`]);
    const summary = log.find((e) => e.msg === 'stopped') as { parseErrors: Record<string, number>; delivered: Record<string, number> };
    expect(summary.parseErrors.audit).toBe(bad.length + dead.filter((d) => d.path.endsWith('.gz')).length);
    // A difference names its cause in the agent's warnings (a batch cut off by the grace period, a retry).
    const warnings = log.filter((e) => e.level === 'warn' || e.level === 'error').map((e) => e.msg);
    expect(summary.delivered.rx, JSON.stringify(warnings)).toBe(received.length);
  }, 120_000);

  // A line damaged inside a body, its head and tail intact: the parser's fast path reads only those, so the line is
  // forwarded as it is, and a backend that parses what it gets refuses any body that carries it.
  it.each(['json_array', 'ndjson'])('delivers the good lines of a batch (%s) that holds a line damaged inside its body, and dead-letters that one', async (format) => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-bad-body-'));
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const rx = await Receiver.start({ respond: (q) => (q.invalid > 0 || q.decodeError !== undefined ? { status: 400, body: 'request body is not valid JSON' } : 201) });
    cleanup.push(() => rx.close());

    const lines = Array.from({ length: 202 }, (_, i) => auditLine(2000 + i));
    const at = lines.findIndex((l, i) => i > 100 && cheapWithBody(l));
    const body = lines[at].indexOf('":"', lines[at].indexOf(',"requestObject":'));
    const damaged = `${lines[at].slice(0, body + 2)}${lines[at].slice(body + 3)}`; // a string value loses its opening quote
    expect(() => JSON.parse(damaged)).toThrow();
    expect(cheapWithBody(damaged)).toBe(true); // the fast path accepts it
    lines[at] = damaged;
    await writeFile(join(logs, 'kubernetes.audit'), `${lines.join('\n')}\n`);

    const deadLetter = join(dir, 'state', 'dead-letter', 'rx.ndjson');
    const config = await writeAgentConfig(dir, {
      log_level: 'info', state_dir: join(dir, 'state'), http: null,
      sources: { audit: { kind: 'audit', path: join(logs, 'kubernetes.audit') } },
      sinks: { rx: { kind: 'http', url: rx.url(), format, inputs: ['audit'] } },
    });
    const agent = AgentProcess.run(config, ['--once']);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    expect((await agent.exited).code).toBe(0);

    const good = lines.map((_, i) => auditIdFor(2000 + i)).filter((_, i) => i !== at);
    expect(rx.acceptedAuditIds()).toEqual(good);
    const dead = (await readFile(deadLetter, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(dead).toEqual([expect.objectContaining({ reason: 'HTTP 400: request body is not valid JSON', recordText: damaged })]);
    expect(dead[0].id).toMatch(new RegExp(`^${auditIdFor(2000 + at)}/`));
    const summary = agent.logEntries().find((e) => e.msg === 'stopped') as { delivered: Record<string, number>; deadLettered: Record<string, number> };
    expect(summary.delivered.rx).toBe(201);
    expect(summary.deadLettered.rx).toBe(1);
  }, 120_000);
});

function cheapWithBody(line: string): boolean {
  const parsed = parseAuditLine(line);
  return parsed.ok && parsed.event.cheap && parsed.event.hasRequestObject;
}
