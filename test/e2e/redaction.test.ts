// Credentials never reach a backend: real Secret and TokenRequest events (as RequestResponse-level policies
// log them) go through the agent to an HTTP server, a file and stdout; no secret value arrives anywhere.
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { Receiver } from '../utils/receiver.ts';

const CORPUS = new URL('../../../shared/corpus/real-apiserver/', import.meta.url).pathname;
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function corpusLines(): Promise<string[]> {
  const names = ['kubernetes-2026-11-22T12-04-33.292.audit.gz', 'kubernetes-2026-11-22T12-05-39.433.audit.gz', 'kubernetes-2026-11-22T12-06-37.251.audit'];
  const out: string[] = [];
  for (const n of names) {
    const raw = await readFile(CORPUS + n);
    out.push(...(n.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8').trim().split('\n'));
  }
  return out;
}

/** A real Metadata-level event raised to RequestResponse: the bodies go where the apiserver puts them. */
function withBodies(line: string, requestObject: unknown, responseObject: unknown): string {
  const event = JSON.parse(line);
  const { requestReceivedTimestamp, stageTimestamp, annotations, ...head } = event;
  return JSON.stringify({ ...head, level: 'RequestResponse', requestObject, responseObject, requestReceivedTimestamp, stageTimestamp, annotations });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('redaction before delivery', () => {
  it('lets no Secret value or token through to any sink, and forwards the events with markers', async () => {
    const lines = await corpusLines();
    const secretCreate = lines.find((l) => l.includes('"resource":"secrets"') && l.includes('"verb":"create"'))!;
    const secretGet = lines.find((l) => l.includes('"resource":"secrets"') && l.includes('"verb":"get"')) ?? secretCreate;
    const tokenRequest = lines.find((l) => l.includes('"subresource":"token"') && l.includes('"verb":"create"'))!;
    const plain = lines.filter((l) => !l.includes('"resource":"secrets"') && !l.includes('"subresource":"token"')).slice(0, 20);

    const password = 'Sup3r-s3cret-DB-passw0rd';
    const apiKey = 'AKIAIOSFODNN7EXAMPLEKEY';
    const token = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cGF5bWVudHM6cmVwb3J0LWdlbiJ9.c2lnbmF0dXJlLXZhbHVl';
    const secret = {
      kind: 'Secret', apiVersion: 'v1',
      metadata: {
        name: 'ledger-db-credentials', namespace: 'payments',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', stringData: { password } }) },
      },
      type: 'Opaque', data: { password: b64(password), 'aws-key': b64(apiKey) },
    };
    const events = [
      ...plain.slice(0, 10),
      withBodies(secretCreate, { ...secret, stringData: { password } }, secret),
      withBodies(secretGet, undefined, secret),
      withBodies(secretCreate.replace('"verb":"create"', '"verb":"patch"'), { data: { password: b64(password) } }, secret),
      withBodies(tokenRequest,
        { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
        { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['https://kubernetes.default.svc'] }, status: { token, expirationTimestamp: '2026-11-22T13:04:29Z' } }),
      ...plain.slice(10),
    ];
    const forbidden = [password, b64(password), apiKey, b64(apiKey), token];

    const dir = await mkdtemp(join(tmpdir(), 'kaudit-redact-'));
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${events.join('\n')}\n`);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const config = await writeAgentConfig(dir, {
      log_level: 'debug', state_dir: join(dir, 'state'), http: null,
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit') } },
      sinks: {
        rx: { kind: 'http', url: rx.url(), compression: 'gzip' },
        archive: { kind: 'file', path: join(dir, 'out', 'audit.ndjson') },
        console: { kind: 'stdout' },
      },
    });
    const agent = AgentProcess.run(config, ['--once']);
    expect((await agent.exited).code).toBe(0);

    const outputs = {
      http: rx.rawLines().join('\n'),
      file: await readFile(join(dir, 'out', 'audit.ndjson'), 'utf8'),
      stdout: agent.output(),
      agentLog: agent.logs(),
      // What stays on the node's disk: the sink buffers hold only redacted records too.
      buffers: (await Promise.all(['rx', 'archive', 'console'].map(async (sink) => {
        const bufDir = join(dir, 'state', 'buffers', sink);
        const segs = (await readdir(bufDir)).filter((n) => n.endsWith('.seg'));
        return (await Promise.all(segs.map((n) => readFile(join(bufDir, n), 'latin1')))).join('');
      }))).join(''),
    };
    expect(outputs.buffers.length).toBeGreaterThan(1000);
    for (const [where, text] of Object.entries(outputs)) {
      for (const value of forbidden) expect(text.includes(value), `${where} carries a secret value`).toBe(false);
    }
    // Every event arrived, the redacted ones with markers and their evidence intact.
    for (const text of [outputs.http, outputs.file, outputs.stdout]) {
      // Alarms on these events (a person writing Secrets is now one) go along; they were checked for values above.
      const got = text.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.kind !== 'kaudit.Alarm');
      expect(got.map((e) => e.auditID)).toEqual(events.map((l) => JSON.parse(l).auditID));
      const created = got[10];
      expect(created.requestObject.data).toEqual({ password: '[redacted: secret value]', 'aws-key': '[redacted: secret value]' });
      expect(created.requestObject.stringData.password).toBe('[redacted: secret value]');
      expect(created.responseObject.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toMatch(/^\[redacted/);
      expect(created.user).toEqual(JSON.parse(secretCreate).user);
      expect(got[12].requestObject.data.password).toBe('[redacted: secret value]');
      expect(got[13].responseObject.status.token).toBe('[redacted: token]');
      expect(got[13].responseObject.status.expirationTimestamp).toBe('2026-11-22T13:04:29Z');
      // Events with nothing to redact are forwarded byte for byte.
      expect(text.split('\n')[0]).toBe(events[0]);
    }
  }, 60_000);
});
