// Tests of the HTTP test receiver: scripted answers, outages, decoding, and the standalone counting mode.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { auditIdFor, generateAuditLines } from '../../bench/gen-audit.ts';
import { Receiver } from './receiver.ts';
import { makeTestCerts } from './tls.ts';

const open: Receiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function start(...args: Parameters<typeof Receiver.start>): Promise<Receiver> {
  const r = await Receiver.start(...args);
  open.push(r);
  return r;
}

/** One POST on a fresh connection; resolves with status and headers, rejects on a network error. */
function post(url: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ndjson = (n: number, from = 0): string => [...generateAuditLines(n, 3, from)].map((l) => `${l}\n`).join('');

describe('Receiver', () => {
  it('answers scripted statuses in order, with Retry-After, then 200', async () => {
    const r = await start();
    r.script(503, { status: 429, headers: { 'retry-after': '1' } }, { status: 400, body: 'bad batch' });
    const a = await post(r.url(), ndjson(1));
    const b = await post(r.url(), ndjson(1));
    const c = await post(r.url(), ndjson(1));
    const d = await post(r.url(), ndjson(1));
    expect([a.status, b.status, c.status, d.status]).toEqual([503, 429, 400, 200]);
    expect(b.headers['retry-after']).toBe('1');
    expect(c.body).toBe('bad batch');
    expect(r.countsByStatus()).toEqual({ 200: 1, 400: 1, 429: 1, 503: 1 });
  });

  it('lets a function decide each answer from the request', async () => {
    const r = await start({ respond: (req) => (req.docs.length > 2 ? 413 : 204) });
    expect((await post(r.url(), ndjson(3))).status).toBe(413);
    expect((await post(r.url(), ndjson(2))).status).toBe(204);
    expect(r.documentCount).toBe(2);
  });

  it('counts documents from gzip NDJSON bodies and keeps the raw lines', async () => {
    const r = await start();
    const body = ndjson(50);
    await post(r.url(), gzipSync(body), { 'content-encoding': 'gzip' });
    expect(r.requests[0].wireBytes).toBeLessThan(Buffer.byteLength(body));
    expect(r.documentCount).toBe(50);
    expect(r.rawLines().join('\n') + '\n').toBe(body);
    expect(r.acceptedAuditIds()).toEqual(Array.from({ length: 50 }, (_, i) => auditIdFor(i, 3)));
  });

  it('splits JSON array bodies into documents', async () => {
    const r = await start();
    await post(r.url(), JSON.stringify([{ auditID: 'a' }, { event: { auditID: 'b' } }]), { 'content-type': 'application/json' });
    expect(r.documents()).toHaveLength(2);
    expect(r.acceptedAuditIds()).toEqual(['a', 'b']);
  });

  it('answers 400 to a body it cannot decode', async () => {
    const r = await start();
    const res = await post(r.url(), Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(400);
    expect(r.requests[0].decodeError).toMatch(/header/);
    expect(r.documentCount).toBe(0);
  });

  it('counts lines that are not JSON as invalid and leaves them out of the documents', async () => {
    const r = await start();
    await post(r.url(), '{"auditID":"x"}\nnot json\n\n{"auditID":"y"}');
    expect(r.requests[0].invalid).toBe(1);
    expect(r.requests[0].lines).toHaveLength(3);
    expect(r.acceptedAuditIds()).toEqual(['x', 'y']);
  });

  it('does not count documents of requests answered with an error as accepted', async () => {
    const r = await start({ replies: [500] });
    await post(r.url(), ndjson(4));
    await post(r.url(), ndjson(4, 4));
    expect(r.allDocuments()).toHaveLength(8);
    expect(r.documentCount).toBe(4);
    expect(r.acceptedAuditIds()[0]).toBe(auditIdFor(4, 3));
  });

  it('drops the connection without an answer on a destroy reply', async () => {
    const r = await start({ replies: [{ destroy: true }] });
    await expect(post(r.url(), ndjson(1))).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(r.countsByStatus()).toEqual({ 0: 1 });
    expect((await post(r.url(), ndjson(1))).status).toBe(200);
  });

  it('resets the connection (TCP RST) part way through the body on a reset reply', async () => {
    const r = await start({ replies: [{ reset: true, afterBytes: 1000 }] });
    const body = ndjson(2000);
    await expect(post(r.url(), body)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(r.requests[0].wireBytes).toBeGreaterThanOrEqual(1000);
    expect(r.requests[0].wireBytes).toBeLessThan(Buffer.byteLength(body));
    expect(r.countsByStatus()).toEqual({ 0: 1 });
    expect((await post(r.url(), ndjson(1))).status).toBe(200);
  });

  it('refuses connections while down and comes back on the same port', async () => {
    const r = await start();
    const port = r.port;
    await r.goDown();
    expect(r.isUp).toBe(false);
    await expect(post(r.url(), ndjson(1))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await r.comeBack();
    expect(r.port).toBe(port);
    expect((await post(r.url(), ndjson(1))).status).toBe(200);
    expect(r.documentCount).toBe(1);
  });

  it('serves HTTPS and records the CN of a client certificate', async () => {
    const certs = await makeTestCerts();
    try {
      const r = await start({ tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, requestCert: true } });
      expect(r.url()).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/ingest$/);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(r.url(), { method: 'POST', ca: certs.ca, cert: certs.client.cert, key: certs.client.key, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(ndjson(2));
      });
      expect(status).toBe(200);
      expect(r.requests[0].clientCN).toBe('kaudit-client');
      expect(r.documentCount).toBe(2);
    } finally {
      await certs.cleanup();
    }
  });

  it('waitFor resolves when the condition holds and times out with what it saw', async () => {
    const r = await start();
    const waiting = r.waitForDocuments(3, 5000);
    await post(r.url(), ndjson(2));
    await post(r.url(), ndjson(1));
    await waiting;
    await expect(r.waitForDocuments(10, 100)).rejects.toThrow(/timed out after 100 ms waiting for 10 accepted documents; 2 requests/);
  });
});

describe('receiver.ts standalone', () => {
  it('prints its port, then the count once N documents arrived from gzip bodies, and final counts on SIGTERM', async () => {
    const script = fileURLToPath(new URL('./receiver.ts', import.meta.url));
    const child = spawn(process.execPath, [script, '--port', '0', '--expect', '250'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = createInterface({ input: child.stdout });
    const it = out[Symbol.asyncIterator]();
    const next = async (): Promise<Record<string, number | boolean>> => JSON.parse((await it.next()).value as string);
    try {
      const { port } = await next();
      expect(port).toBeGreaterThan(0);
      const url = `http://127.0.0.1:${port}/ingest`;
      expect((await post(url, gzipSync(ndjson(200)), { 'content-encoding': 'gzip' })).status).toBe(200);
      expect((await post(url, ndjson(60, 200))).status).toBe(200);
      const done = await next();
      expect(done).toMatchObject({ received: 260, requests: 2, invalid: 0, sampled: 3 });
      expect(done.bytes).toBe(Buffer.byteLength(ndjson(260)));
      child.kill('SIGTERM');
      expect(await next()).toMatchObject({ final: true, received: 260 });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
