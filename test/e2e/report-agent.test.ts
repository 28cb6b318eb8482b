// The agent's read-only alarm report (http.report): off by default; loopback peers only unless allowed; shows what
// the agent raised, as its sinks received it, in the real headless Chromium; kept across a restart.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { type Alarm, auditEvent, HOSTILE, latestAlarms } from '../utils/alarm-events.ts';
import { launchChromium } from '../utils/browser.ts';
import { freePort } from '../utils/ports.ts';

let dir: string;
let browser: Awaited<ReturnType<typeof launchChromium>>;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-report-agent-'));
  browser = await launchChromium();
});

// One agent at a time on the state directory: a failed test must not leave its agent holding it.
afterEach(async () => {
  for (const a of agents.splice(0)) if (a.child.exitCode === null) await a.stop();
});

afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A non-loopback address of this machine: a peer connecting to it is not on the loopback. */
function outsideAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to reach the agent from');
}

/** The latest record of each alarm in the file sink's output. */
async function sinkAlarms(file: string): Promise<Alarm[]> {
  return latestAlarms(await readFile(file, 'utf8').catch(() => ''));
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Status and list of the report page at `url`, as the browser shows them. */
async function shown(url: string): Promise<{ levels: Record<string, string>; rows: string[]; pwned: unknown; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : undefined));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  const levels: Record<string, string> = {};
  for (const l of ['high', 'medium', 'low', 'note']) levels[l] = await page.textContent(`#status [data-level="${l}"] .alarms`) ?? '';
  const rows = await page.$$eval('#rows tr', (trs) => trs.map((tr) => {
    const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '');
    return [tr.querySelector('.rule-id')?.textContent ?? '', td[5], td[9]].join('|');
  }));
  const pwned = await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned);
  await page.close();
  return { levels, rows: rows.sort(), pwned, errors };
}

function expectedLevels(alarms: Alarm[]): Record<string, string> {
  return Object.fromEntries(['high', 'medium', 'low', 'note'].map((l) => [l, String(alarms.filter((a) => a.rule.level === l).length)]));
}

describe('the agent serves its alarm report (http.report)', () => {
  const today = new Date().toISOString().slice(0, 10);
  const events = [
    auditEvent({ day: today, time: '00:00:01', user: 'dana@corp.example', ns: 'payments', name: 'ledger-db-0', sub: 'portforward' }),
    auditEvent({ day: today, time: '00:00:02', user: 'dana@corp.example', ns: 'payments', name: 'ledger-db-0', sub: 'exec' }),
    auditEvent({ day: today, time: '00:00:03', user: HOSTILE, ns: 'storefront', name: 'cart-7d9f', sub: 'exec', ua: HOSTILE }),
    auditEvent({ day: today, time: '00:00:04', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' }),
    auditEvent({ day: today, time: '00:00:05', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' }),
  ];
  let port: number;
  let audit: string;
  let out: string;
  const config = (report: Record<string, unknown>) => writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: { listen: `0.0.0.0:${port}`, report },
    sources: { audit: { kind: 'audit', path: audit, poll_interval: 100 } },
    detection: { update_interval: 0 },
    sinks: { archive: { kind: 'file', path: out, inputs: ['audit', 'alarms'], batch: { max_wait: 20 } } },
  });

  beforeAll(async () => {
    port = await freePort();
    audit = join(dir, 'kubernetes.audit');
    out = join(dir, 'out.ndjson');
    await writeFile(audit, `${events.join('\n')}\n`);
  });

  it('shows what the sinks received, to loopback clients only; hostile values stay text', async () => {
    const agent = AgentProcess.run(await config({ enabled: true }));
    agents.push(agent);
    await agent.started();
    const alarms = await until('4 alarms in the sink', async () => {
      const a = await sinkAlarms(out);
      return a.length === 4 ? a : undefined;
    });
    const local = `http://127.0.0.1:${port}/report`;
    const res = await fetch(local);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await shown(local);
    expect(page.levels).toEqual(expectedLevels(alarms));
    expect(page.rows).toEqual(alarms.map((a) => [a.rule.id, a.evidence.user, String(a.count)].join('|')).sort());
    expect(page.pwned).toBeUndefined();
    expect(page.errors).toEqual([]);
    // The same endpoint reached from another address: /metrics answers, the report does not.
    const remote = `http://${outsideAddress()}:${port}`;
    expect((await fetch(`${remote}/metrics`)).status).toBe(200);
    const refused = await fetch(`${remote}/report`);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('http.report.allow_remote');
    await agent.stop();
  });

  it('keeps the alarms across a restart and counts their later hits; allow_remote opens it to other peers', async () => {
    const agent = AgentProcess.run(await config({ enabled: true, allow_remote: true }));
    agents.push(agent);
    await agent.started();
    const remote = `http://${outsideAddress()}:${port}/report`;
    const before = await sinkAlarms(out);
    expect((await shown(remote)).rows).toEqual(before.map((a) => [a.rule.id, a.evidence.user, String(a.count)].join('|')).sort());
    // One more read of the secret: its alarm's count goes up by one, in the sink and in the report.
    await appendFile(audit, `${auditEvent({ day: today, time: '00:00:06', user: 'gitlab-ci', ns: 'storefront', name: 'registry-pull', resource: 'secrets' })}\n`);
    const after = await until('the secret alarm at 3 hits', async () => {
      const a = await sinkAlarms(out);
      return a.some((x) => x.rule.id === 'KA-CRED-008' && x.count === 3) ? a : undefined;
    });
    const page = await until('the report at 3 hits', async () => {
      const p = await shown(remote);
      return p.rows.some((r) => r.startsWith('KA-CRED-008|gitlab-ci|3')) ? p : undefined;
    });
    expect(page.rows).toEqual(after.map((a) => [a.rule.id, a.evidence.user, String(a.count)].join('|')).sort());
    await agent.stop();
  });

  it('is off by default', async () => {
    const agent = AgentProcess.run(await config({}));
    agents.push(agent);
    await agent.started();
    expect((await fetch(`http://127.0.0.1:${port}/report`)).status).toBe(404);
    await agent.stop();
  });
});
