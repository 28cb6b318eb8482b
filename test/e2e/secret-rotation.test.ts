// End to end: a running agent follows secret files that change under it (a token projected by kubelet and swapped
// through its `..data` symlink, an API key rewritten in place), without a restart and without logging them.
import { appendFile, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditIdFor, auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/**
 * A projected volume as kubelet's atomic writer keeps one: `<dir>/token` → `..data/token`, `..data` → `..<version>`.
 * An update writes a new version directory, points `..data_tmp` at it, renames that over `..data`, and removes the
 * old version: the file's own path never changes, only what the symlink in its directory leads to.
 */
class ProjectedVolume {
  readonly dir: string;
  private version = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  async write(files: Record<string, string>): Promise<void> {
    const old = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => /^\.\.\d/.test(n));
    const version = `..${Date.now()}_${++this.version}`;
    await mkdir(join(this.dir, version), { recursive: true });
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, version, name), content);
    await symlink(version, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) await symlink(join('..data', name), join(this.dir, name)).catch(() => {});
    for (const name of old) await rm(join(this.dir, name), { recursive: true });
  }
}

async function setup(respond: (auth: string | undefined, key: string | undefined) => boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-secrets-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const rx = await Receiver.start({ respond: (q) => (respond(q.headers.authorization, q.headers['x-api-key'] as string | undefined) ? 200 : { status: 401, body: 'invalid credentials' }) });
  cleanup.push(() => rx.close());
  const volume = new ProjectedVolume(join(dir, 'serviceaccount'));
  await volume.write({ token: 'sa-token-1\n' });
  const keyFile = join(dir, 'api-key');
  await writeFile(keyFile, 'api-key-1\n');
  const live = join(dir, 'logs', 'kubernetes.audit');
  await mkdir(join(dir, 'logs'));
  await writeFile(live, '');
  const config = await writeAgentConfig(dir, {
    log_level: 'info', state_dir: join(dir, 'state'), http: null,
    sources: { audit: { kind: 'audit', path: live, poll_interval: 100 } },
    sinks: {
      rx: {
        kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 50 }, retry: { initial_backoff: 50, max_backoff: 500 },
        headers: { 'X-Api-Key': { file: keyFile } },
        auth: { bearer: { file: join(volume.dir, 'token') } },
      },
    },
  });
  const agent = AgentProcess.run(config);
  cleanup.push(async () => {
    if (agent.child.exitCode === null) await agent.kill9();
  });
  await agent.started();
  let next = 0;
  /** Appends n audit lines to the live file and waits until the receiver accepted them. */
  const deliver = async (n: number): Promise<void> => {
    const from = next;
    next += n;
    await appendFile(live, Array.from({ length: n }, (_, i) => `${auditLine(from + i)}\n`).join(''));
    const ids = Array.from({ length: n }, (_, i) => auditIdFor(from + i));
    await rx.waitFor((r) => { const got = new Set(r.acceptedAuditIds()); return ids.every((id) => got.has(id)); }, 20_000, `lines ${from}..${next - 1}`);
  };
  return { rx, volume, keyFile, agent, deliver };
}

describe('secret files that change under a running agent', () => {
  it('sends the new token and key once their files change (a kubelet symlink swap, a rewrite in place), dead-letters nothing, logs no value', async () => {
    const valid = { tokens: new Set(['sa-token-1']), keys: new Set(['api-key-1']) };
    const { volume, keyFile, agent, deliver } = await setup((auth, key) => valid.tokens.has(auth?.replace(/^Bearer /, '') ?? '') && valid.keys.has(key ?? ''));
    await deliver(20);

    // Each rotation: the new value is valid, then written, then the old one is revoked.
    valid.keys.add('api-key-2');
    await writeFile(keyFile, 'api-key-2\n');
    valid.keys.delete('api-key-1');
    await deliver(20);

    valid.tokens.add('sa-token-2');
    await volume.write({ token: 'sa-token-2\n' });
    valid.tokens.delete('sa-token-1');
    await deliver(20);

    expect((await agent.stop()).code).toBe(0);
    const log = agent.logEntries();
    const summary = log.find((e) => e.msg === 'stopped') as { delivered: Record<string, number>; deadLettered: Record<string, number> };
    expect(summary.deadLettered.rx ?? 0).toBe(0);
    const changed = log.filter((e) => e.msg === 'secret file changed; using the new value').map((e) => e.field);
    expect(new Set(changed)).toEqual(new Set(['sinks.rx.headers.X-Api-Key', 'sinks.rx.auth.bearer']));
    for (const value of ['sa-token-1', 'sa-token-2', 'api-key-1', 'api-key-2']) expect(agent.logs()).not.toContain(value);
  }, 120_000);

  it('reads the secret files again on SIGHUP, before any request, and every few seconds while sending', async () => {
    const { rx, volume, agent, deliver } = await setup(() => true);
    await deliver(5);
    const tokens = () => rx.requests.map((q) => q.headers.authorization);

    // Idle: nothing is being sent, so only the signal can make the agent look at the file.
    await volume.write({ token: 'sa-token-2\n' });
    const before = rx.requests.length;
    agent.child.kill('SIGHUP');
    await agent.waitForLog(/^secret file changed; using the new value$/);
    expect(rx.requests.length).toBe(before);
    await deliver(5);
    expect(tokens().at(-1)).toBe('Bearer sa-token-2');

    // No signal and no refusal: the token is read again on the way to a request.
    await volume.write({ token: 'sa-token-3\n' });
    for (let i = 0; tokens().at(-1) !== 'Bearer sa-token-3'; i++) {
      expect(i).toBeLessThan(100);
      await deliver(1);
    }
    expect(agent.logs()).not.toContain('sa-token-3');
  }, 120_000);
});
