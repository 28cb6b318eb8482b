// End to end: the real agent delivers to the fake SLS (test/utils/fake-sls.ts): nothing is lost through throttling
// and server errors, and a bad AccessKey sends every record to the dead-letter file with SLS's error code.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine, writeAuditFile } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { ERRORS, FakeSls } from '../utils/fake-sls.ts';

const PROJECT = 'k8s-log-c0ffee';
const LOGSTORE = 'audit-c0ffee';
const KEY_ID = 'LTAI5tE2eKeyId';
const SECRET = 'e2e-secret-value-7d6f5';
const LINES = 3000;

let dir: string | undefined;
let fake: FakeSls | undefined;
let agent: AgentProcess | undefined;
afterEach(async () => {
  if (agent && agent.child.exitCode === null) await agent.kill9();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  agent = fake = dir = undefined;
});

/** A config with one `sls` sink taking the audit events of a file of LINES generated events. */
async function setUp(): Promise<{ config: string; deadLetter: string }> {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-sls-e2e-'));
  await mkdir(join(dir, 'logs'));
  writeAuditFile(join(dir, 'logs', 'kubernetes.audit'), LINES);
  const stateDir = join(dir, 'state');
  const config = await writeAgentConfig(dir, {
    state_dir: stateDir,
    http: null,
    sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit'), poll_interval: 100 } },
    sinks: {
      store: {
        kind: 'sls', inputs: ['audit'], endpoint: fake!.endpoint(), project: PROJECT, logstore: LOGSTORE, topic: 'k8s-audit',
        access_key_id: { env: 'E2E_SLS_ID' }, access_key_secret: { env: 'E2E_SLS_SECRET' }, compression: 'lz4',
        batch: { max_events: 250, max_wait: 50 }, retry: { initial_backoff: 20, max_backoff: 200 },
      },
    },
  });
  return { config, deadLetter: join(stateDir, 'dead-letter', 'store.ndjson') };
}

const expectedIds = (): Set<string> => new Set(Array.from({ length: LINES }, (_, i) => {
  const e = JSON.parse(auditLine(i)) as { auditID: string; stage: string };
  return `${e.auditID}/${e.stage}`;
}));

describe('sls sink, end to end', () => {
  it('loses nothing when SLS throttles (403 WriteQuotaExceed) and fails (500) before it recovers', async () => {
    // The first 8 requests that pass every check are throttled, the next 2 fail, then the service recovers.
    fake = await FakeSls.start({
      keys: { [KEY_ID]: { secret: SECRET } },
      projects: { [PROJECT]: [LOGSTORE] },
      fault: (attempt) => (attempt < 8 ? ERRORS.throttled : attempt < 10 ? ERRORS.internal : undefined),
    });
    const { config, deadLetter } = await setUp();
    agent = AgentProcess.run(config, [], { E2E_SLS_ID: KEY_ID, E2E_SLS_SECRET: SECRET });
    await fake.waitFor((f) => f.logs().length >= LINES, 60_000, `${LINES} logs`);
    await agent.stop();

    const got = fake.logs().map((l) => `${l.contents.auditID}/${l.contents.stage}`);
    expect(new Set(got)).toEqual(expectedIds());
    expect(fake.answers.filter((a) => a.code === 'WriteQuotaExceed')).toHaveLength(8);
    expect(fake.answers.filter((a) => a.code === 'InternalServerError')).toHaveLength(2);
    expect(fake.groups.every((g) => g.topic === 'k8s-audit' && g.compressType === 'lz4')).toBe(true);
    // Each log carries its event whole, as read.
    expect(fake.logs()[0].contents.content).toBe(auditLine(0));
    await expect(readFile(deadLetter, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes every record to the dead-letter file with SLS\'s error code when the AccessKey is unknown', async () => {
    fake = await FakeSls.start({ keys: { [KEY_ID]: { secret: SECRET } }, projects: { [PROJECT]: [LOGSTORE] } });
    const { config, deadLetter } = await setUp();
    agent = AgentProcess.run(config, [], { E2E_SLS_ID: 'LTAI5tRevokedKey', E2E_SLS_SECRET: SECRET });
    const deadLettered = async (): Promise<string[]> => (await readFile(deadLetter, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    for (const end = Date.now() + 60_000; (await deadLettered()).length < LINES;) {
      if (Date.now() > end) throw new Error(`${(await deadLettered()).length} of ${LINES} records dead-lettered: ${agent.logs().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await agent.stop();

    const entries = (await deadLettered()).map((l) => JSON.parse(l) as { reason: string; record: { auditID: string; stage: string } });
    expect(new Set(entries.map((e) => `${e.record.auditID}/${e.record.stage}`))).toEqual(expectedIds());
    expect(entries[0].reason).toMatch(/^SLS HTTP 401: Unauthorized: AccessKeyId not found: LTAI5tRevokedKey \(request [0-9A-F]+\)$/);
    expect(fake.groups).toHaveLength(0);
    expect(agent.logs()).not.toContain(SECRET);
  });
});
