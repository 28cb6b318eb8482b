// The audit webhook source against what a real kube-apiserver v1.26 posted (../shared/corpus/k8s-api/audit-webhook:
// every request of a batch-mode and a blocking-mode run, retries included), replayed byte for byte over one
// keep-alive HTTPS connection as the apiserver sends them, to the real agent process.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { certsForTestFile } from '../utils/tls.ts';
import { until } from '../utils/until.ts';

const CORPUS = join(import.meta.dirname, '../../../shared/corpus/k8s-api/audit-webhook');
const TOKEN = 'webhook-token-3f9a1c';

/** The recorded request bodies of one run, in the order the apiserver sent them. */
function recorded(mode: 'batch' | 'blocking'): Buffer[] {
  const dir = join(CORPUS, mode);
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => readFileSync(join(dir, f)));
}

/** `auditID/stage` of every event in the bodies. */
function eventKeys(bodies: readonly Buffer[]): Set<string> {
  return new Set(bodies.flatMap((b) => (JSON.parse(b.toString()) as { items: Array<{ auditID: string; stage: string }> }).items.map((e) => `${e.auditID}/${e.stage}`)));
}

/** `auditID/stage` of every event the file sink wrote, with how often. */
async function delivered(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"auditID"') || line.includes('"kaudit.Alarm"')) continue;
    const e = JSON.parse(line) as { auditID: string; stage: string };
    out.set(`${e.auditID}/${e.stage}`, (out.get(`${e.auditID}/${e.stage}`) ?? 0) + 1);
  }
  return out;
}

const certs = certsForTestFile();

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function startAgent(source: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-webhook-'));
  const port = await freePort();
  const out = join(dir, 'out.ndjson');
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: null,
    sources: {
      webhook: {
        kind: 'audit_webhook', listen: `127.0.0.1:${port}`,
        tls: { cert_file: certs.server.certFile, key_file: certs.server.keyFile },
        bearer_token: { env: 'WEBHOOK_TOKEN' },
        ...source,
      },
    },
    sinks: { out: { kind: 'file', path: out, batch: { max_wait: 20 } } },
  });
  const env = { WEBHOOK_TOKEN: TOKEN };
  const start = () => {
    const agent = AgentProcess.run(config, [], env);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    return agent;
  };
  const agent = start();
  await agent.started();
  return { agent, start, port, out, dir };
}

/** One keep-alive HTTPS connection, as the apiserver's webhook client keeps. */
function apiserverClient(port: number, opts: { token?: string; cert?: { cert: Buffer; key: Buffer } } = { token: TOKEN }) {
  const client = new Client(`https://127.0.0.1:${port}`, { connect: { ca: certs.ca, ...(opts.cert ?? {}) }, pipelining: 1 });
  cleanup.push(() => client.close().catch(() => {}));
  return {
    client,
    async post(body: Buffer, path = '/k8s-audit?timeout=30s'): Promise<{ status: number; text: string }> {
      const res = await client.request({
        method: 'POST', path, body,
        headers: {
          'content-type': 'application/json', accept: 'application/json, */*', 'accept-encoding': 'gzip',
          'user-agent': 'Go-http-client/1.1', ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
        },
      });
      return { status: res.statusCode, text: await res.body.text() };
    },
  };
}

describe('audit_webhook source', () => {
  it('takes the recorded batch and blocking posts of a real apiserver: every event reaches the sink once', async () => {
    const { agent, port, out } = await startAgent();
    const api = apiserverClient(port);
    const bodies = [...recorded('batch'), ...recorded('blocking')];
    for (const body of bodies) {
      const { status, text } = await api.post(body);
      expect(status, text).toBe(200);
    }
    const expected = eventKeys(bodies);
    expect(expected.size).toBeGreaterThan(600);
    // Answered 200 only once durable: the sink's buffer already holds every event; delivery follows.
    await until('every event at the sink', async () => (await delivered(out)).size === expected.size);
    const got = await delivered(out);
    expect([...got.keys()].sort()).toEqual([...expected].sort());
    // The apiserver's retries of a batch (same bytes) are not delivered again.
    expect([...got.values()].filter((n) => n > 1)).toEqual([]);
    expect((await agent.stop()).code).toBe(0);
  }, 90_000);

  it('runs detection on the posted events as on the audit file\'s: an exec into a pod raises its alarm', async () => {
    const { agent, port, out } = await startAgent();
    const { kind: _kind, apiVersion: _apiVersion, ...exec } = JSON.parse(readFileSync(join(CORPUS, '../../falco/exec_pod.json'), 'utf8'));
    const body = Buffer.from(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: [exec] }));
    expect((await apiserverClient(port).post(body)).status).toBe(200);
    const alarms = async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"kaudit.Alarm"')).map((l) => JSON.parse(l));
    await until('an alarm at the sink', async () => (await alarms()).length > 0);
    const [alarm] = await alarms();
    expect(alarm.rule.category).toMatch(/exec/i);
    expect(JSON.stringify(alarm)).toContain(exec.auditID);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('refuses what is not an audit EventList (400 with the reason), unauthenticated clients (401) and oversize bodies (413)', async () => {
    const { agent, port, out } = await startAgent({ max_body_bytes: '64KiB' });
    const api = apiserverClient(port);
    const notJson = await api.post(Buffer.from('{"kind":"EventList",'));
    expect(notJson.status).toBe(400);
    expect(notJson.text).toMatch(/body is not JSON/);
    const wrongKind = await api.post(Buffer.from('{"kind":"PodList","apiVersion":"v1","items":[]}'));
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.text).toMatch(/expected an audit\.k8s\.io EventList, found kind "PodList"/);
    const small = recorded('blocking')[0];
    expect((await apiserverClient(port, {}).post(small)).status).toBe(401);
    expect((await apiserverClient(port, { token: 'not-the-token' }).post(small)).status).toBe(401);
    expect((await api.post(small, '/other')).status).toBe(404);
    const big = recorded('batch').find((b) => b.length > 64 * 1024)!;
    expect((await api.post(big)).status).toBe(413);
    // None of those reached the sink; a good request on the same connection still does.
    expect((await api.post(small)).status).toBe(200);
    await until('the good request at the sink', async () => (await delivered(out)).size === eventKeys([small]).size);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('authenticates the apiserver by its client certificate when a client CA is set', async () => {
    const { agent, port } = await startAgent({ bearer_token: undefined, tls: { cert_file: certs.server.certFile, key_file: certs.server.keyFile, client_ca_file: certs.caFile } });
    const small = recorded('blocking')[0];
    expect((await apiserverClient(port, { cert: { cert: certs.client.cert, key: certs.client.key } }).post(small)).status).toBe(200);
    expect((await apiserverClient(port, { cert: { cert: certs.selfSigned.cert, key: certs.selfSigned.key } }).post(small)).status).toBe(401);
    expect((await apiserverClient(port, {}).post(small)).status).toBe(401);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);

  it('kill -9 while the apiserver posts: every event answered 200 is at the sink after a restart, and retried posts arrive', async () => {
    const { agent, start, port, out } = await startAgent();
    const bodies = recorded('blocking');
    const acknowledged: Buffer[] = [];
    // The apiserver's behaviour: a post that fails (connection refused or reset, 5xx) is sent again.
    let killed = false;
    const sender = (async () => {
      let api = apiserverClient(port);
      for (const body of bodies) {
        for (;;) {
          const res = await api.post(body).catch(() => undefined);
          if (res?.status === 200) break;
          await new Promise((r) => setTimeout(r, 100));
          api = apiserverClient(port);
        }
        acknowledged.push(body);
      }
    })();
    await until('a third of the posts answered', async () => acknowledged.length > bodies.length / 3);
    await agent.kill9();
    killed = true;
    const before = eventKeys([...acknowledged]);
    const restarted = start();
    await restarted.started();
    await sender;
    expect(killed).toBe(true);
    const all = eventKeys(bodies);
    await until('every event at the sink', async () => (await delivered(out)).size === all.size);
    const got = await delivered(out);
    for (const key of before) expect(got.has(key), key).toBe(true);
    expect([...got.keys()].sort()).toEqual([...all].sort());
    expect((await restarted.stop()).code).toBe(0);
  }, 120_000);
});
