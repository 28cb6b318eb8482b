// Tests of the `http` sink against real node:http and node:https receivers on 127.0.0.1.
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { parseConfig } from '../config/load.ts';
import type { OutRecord } from '../delivery/record.ts';
import { freePort } from '../../test/utils/ports.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { httpSink, retryAfterMs, verdictFor } from './http.ts';
import { sendBatch } from './types.ts';
import type { Sink, SendVerdict } from './types.ts';

// --- a real receiver -------------------------------------------------------------------------

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  remotePort: number;
  /** CN of the client certificate, on TLS connections that presented one. */
  clientCN?: string;
}

type Responder = (req: Received, res: ServerResponse) => void;

interface Receiver {
  url(path?: string): string;
  requests: Received[];
  /** How the next requests are answered (default: 200 "ok"). */
  respond(fn: Responder): void;
  close(): Promise<void>;
}

const ok: Responder = (_req, res) => res.end('ok');

async function startReceiver(tls?: HttpsServerOptions): Promise<Receiver> {
  const requests: Received[] = [];
  let responder = ok;
  const handler = (req: import('node:http').IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const received: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        remotePort: req.socket.remotePort ?? 0,
        clientCN: peer?.subject?.CN === undefined ? undefined : String(peer.subject.CN),
      };
      requests.push(received);
      responder(received, res);
    });
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/ingest') => `${tls ? 'https' : 'http'}://127.0.0.1:${port}${path}`,
    requests,
    respond(fn) {
      responder = fn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// --- helpers ---------------------------------------------------------------------------------

const payloads = [
  '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0a1b","stage":"ResponseComplete","verb":"get"}',
  '{ "kind": "Event", "auditID": "0a1c", "user": {"username": "system:node:ñode-1"}, "verb": "create" }',
  '{"kind":"Event","auditID":"0a1d","requestURI":"/api/v1/namespaces/kube-system/secrets?x=\\u00e9"}',
];
const batch: OutRecord[] = payloads.map((p, i) => ({
  id: `0a1${'bcd'[i]}/ResponseComplete`, kind: 'log', source: 'audit', payload: Buffer.from(p, 'utf8'),
}));
const ndjson = Buffer.from(payloads.map((p) => `${p}\n`).join(''), 'utf8');

const silent = pino({ level: 'silent' });
const open: Sink[] = [];
const receivers: Receiver[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-http-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(tls?: HttpsServerOptions): Promise<Receiver> {
  const r = await startReceiver(tls);
  receivers.push(r);
  return r;
}

async function sink(raw: Record<string, unknown>, logger: Logger = silent): Promise<Sink> {
  const s = await httpSink.create(httpSink.options.parse(raw), { name: 'test', logger, stateDir: dir });
  open.push(s);
  return s;
}

function send(s: Sink, signal = new AbortController().signal): Promise<SendVerdict> {
  return sendBatch(s, batch, signal);
}

async function secretFile(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** Runs `fn` with environment variables set, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(vars)) delete process.env[k];
  }
}


// --- the status table, without a network -----------------------------------------------------

describe('verdictFor', () => {
  it('counts every 2xx as delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(verdictFor(status, {}, '')).toEqual({ kind: 'delivered' });
  });

  it('retries 408, 429 and 5xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599]) expect(verdictFor(status, {}, 'busy').kind).toBe('retry');
  });

  it('rejects 3xx and the other 4xx with the status and body in the reason', () => {
    for (const status of [301, 302, 307, 401, 403, 404, 409]) {
      expect(verdictFor(status, {}, 'no such index')).toEqual({ kind: 'reject', reason: `HTTP ${status}: no such index` });
    }
  });

  it('calls 413 too large, and 400 and 422 invalid, for the delivery layer to split the batch', () => {
    expect(verdictFor(413, {}, 'body over 1mb')).toEqual({ kind: 'too_large', reason: 'HTTP 413: body over 1mb' });
    for (const status of [400, 422]) expect(verdictFor(status, {}, 'bad json')).toEqual({ kind: 'invalid', reason: `HTTP ${status}: bad json` });
  });

  it('honours Retry-After in delta-seconds and as an HTTP-date', () => {
    const now = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
    expect(verdictFor(503, { 'retry-after': '7' }, '', now)).toEqual({ kind: 'retry', reason: 'HTTP 503', afterMs: 7000 });
    expect(verdictFor(429, { 'retry-after': 'Sun, 22 Nov 2026 10:01:30 GMT' }, '', now)).toMatchObject({ afterMs: 90_000 });
  });

  it('reads a past Retry-After date as now and ignores an unreadable one', () => {
    const now = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
    expect(retryAfterMs('Sun, 22 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(verdictFor(503, { 'retry-after': 'soon' }, '', now)).toEqual({ kind: 'retry', reason: 'HTTP 503' });
  });

  it('quotes at most 300 bytes of the body, on one line', () => {
    const reason = (verdictFor(400, {}, `bad\r\nrequest ${'é'.repeat(400)}`) as { reason: string }).reason;
    expect(reason.startsWith('HTTP 400: bad request é')).toBe(true);
    expect(Buffer.byteLength(reason.slice('HTTP 400: '.length))).toBeLessThanOrEqual(300);
    expect(reason).not.toContain('\uFFFD');
  });
});

// --- configuration -----------------------------------------------------------------------------

describe('http sink configuration', () => {
  const parse = (options: Record<string, unknown>) => parseConfig({ sinks: { out: { kind: 'http', ...options } } }).sinks.out;

  it('applies the defaults', () => {
    expect(parse({ url: 'https://logs.example.com/ingest' })).toMatchObject({
      method: 'POST', format: 'ndjson', compression: 'none', gzip_level: 1, headers: {}, timeout: 30_000,
    });
  });

  it('rejects URLs that are not http(s) or that carry credentials', () => {
    expect(() => parse({ url: 'ftp://logs.example.com/' })).toThrow(/sinks\.out\.url: expected an http/);
    expect(() => parse({ url: 'not a url' })).toThrow(/sinks\.out\.url/);
    expect(() => parse({ url: 'https://user:pw@logs.example.com/' })).toThrow(/credentials in the URL/);
  });

  it('rejects inline secrets in auth and an auth with both or neither method', () => {
    expect(() => parse({ url: 'https://x.example', auth: { bearer: 'abc' } })).toThrow(/auth\.bearer: .*inline secrets are not accepted/);
    expect(() => parse({ url: 'https://x.example', auth: { basic: { username: 'u', password: 'p' } } })).toThrow(/auth\.basic\.password/);
    expect(() => parse({ url: 'https://x.example', auth: {} })).toThrow(/exactly one of/);
  });

  it('rejects credential headers given inline, and takes them as secret references', () => {
    for (const name of ['Authorization', 'proxy-authorization', 'Cookie', 'X-Api-Key', 'X-Auth-Token', 'X-Client-Secret']) {
      expect(() => parse({ url: 'https://x.example', headers: { [name]: 'Bearer abc.def.ghi' } }))
        .toThrow(new RegExp(`headers\\.${name}: a credential header takes a secret reference .*inline secrets are not accepted`));
      expect(parse({ url: 'https://x.example', headers: { [name]: { env: 'SIEM_KEY' } } })).toMatchObject({ headers: { [name]: { env: 'SIEM_KEY' } } });
    }
    expect(parse({ url: 'https://x.example', headers: { 'X-Tenant': 'security' } })).toMatchObject({ headers: { 'X-Tenant': 'security' } });
  });

  it('rejects framing headers, bad header names and a client certificate without its key', () => {
    expect(() => parse({ url: 'https://x.example', headers: { 'Content-Length': '5' } })).toThrow(/Content-Length: this header is set by the sink/);
    expect(() => parse({ url: 'https://x.example', headers: { 'X Bad': 'v' } })).toThrow(/not a valid HTTP header name/);
    expect(() => parse({ url: 'https://x.example', tls: { cert_file: '/c.pem' } })).toThrow(/cert_file and key_file go together/);
    expect(() => parse({ url: 'https://x.example', timeout: 0 })).toThrow(/sinks\.out\.timeout/);
  });

  it('fails to start when a secret is missing, naming where it comes from', async () => {
    await expect(sink({ url: 'http://127.0.0.1:9/', auth: { bearer: { env: 'KAUDIT_TEST_UNSET' } } }))
      .rejects.toThrow(/sinks\.test\.auth\.bearer: environment variable KAUDIT_TEST_UNSET is not set/);
  });

  it('refuses tls settings on an http:// URL and auth beside an Authorization header', async () => {
    await expect(sink({ url: 'http://127.0.0.1:9/', tls: { insecure_skip_verify: true } })).rejects.toThrow(/tls: only used with https/);
    const file = await secretFile('token-both', 'tok');
    await expect(sink({ url: 'http://127.0.0.1:9/', headers: { authorization: { file } }, auth: { bearer: { file } } }))
      .rejects.toThrow(/either auth or an Authorization header/);
  });
});

// --- requests as they arrive -------------------------------------------------------------------

describe('http sink requests', () => {
  it('posts the batch as NDJSON, byte-exact, to the URL path and query', async () => {
    const r = await receiver();
    expect(await send(await sink({ url: r.url('/ingest/audit?tenant=a') }))).toEqual({ kind: 'delivered' });
    expect(r.requests).toHaveLength(1);
    const [req] = r.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/ingest/audit?tenant=a');
    expect(req.body.equals(ndjson)).toBe(true);
    expect(req.headers['content-type']).toBe('application/x-ndjson');
    expect(req.headers['content-encoding']).toBeUndefined();
    expect(req.headers['content-length']).toBe(String(ndjson.length));
    expect(req.headers['user-agent']).toBe(`kaudit/${pkg.version}`);
  });

  it('sends a JSON array of the payloads when format is json_array', async () => {
    const r = await receiver();
    expect(await send(await sink({ url: r.url(), format: 'json_array', method: 'PUT' }))).toEqual({ kind: 'delivered' });
    const [req] = r.requests;
    expect(req.method).toBe('PUT');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body.toString('utf8'))).toEqual(payloads.map((p) => JSON.parse(p)));
  });

  it('gzips the body at the configured level with Content-Encoding: gzip', async () => {
    const r = await receiver();
    await send(await sink({ url: r.url(), compression: 'gzip' }));
    await send(await sink({ url: r.url(), compression: 'gzip', gzip_level: 9, format: 'json_array' }));
    const [fast, best] = r.requests;
    expect(fast.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(fast.body).equals(ndjson)).toBe(true);
    expect(JSON.parse(gunzipSync(best.body).toString('utf8'))).toEqual(payloads.map((p) => JSON.parse(p)));
    // The gzip header's XFL byte: 4 = fastest (level 1), 2 = best (level 9).
    expect(fast.body[8]).toBe(4);
    expect(best.body[8]).toBe(2);
  });

  it('sends configured headers, plain and from env and from a file', async () => {
    const r = await receiver();
    const file = await secretFile('header-secret', 'from-a-file\n');
    await withEnv({ KAUDIT_TEST_HEADER: 'from-env' }, async () => {
      const s = await sink({
        url: r.url(),
        headers: { 'X-Tenant': 'team-a', 'X-Env-Key': { env: 'KAUDIT_TEST_HEADER' }, 'X-File-Key': { file }, 'Content-Type': 'text/plain' },
      });
      expect(await send(s)).toEqual({ kind: 'delivered' });
    });
    const { headers } = r.requests[0];
    expect(headers['x-tenant']).toBe('team-a');
    expect(headers['x-env-key']).toBe('from-env');
    expect(headers['x-file-key']).toBe('from-a-file');
    expect(headers['content-type']).toBe('text/plain');
  });

  it('sends a bearer token from env and from a file', async () => {
    const r = await receiver();
    const file = await secretFile('token', 'file-token\n');
    await withEnv({ KAUDIT_TEST_TOKEN: 'env-token' }, async () => {
      await send(await sink({ url: r.url(), auth: { bearer: { env: 'KAUDIT_TEST_TOKEN' } } }));
    });
    await send(await sink({ url: r.url(), auth: { bearer: { file } } }));
    expect(r.requests.map((q) => q.headers.authorization)).toEqual(['Bearer env-token', 'Bearer file-token']);
  });

  it('sends basic auth with the password from a secret', async () => {
    const r = await receiver();
    await withEnv({ KAUDIT_TEST_PASSWORD: 'p:ss wörd' }, async () => {
      await send(await sink({ url: r.url(), auth: { basic: { username: 'kaudit', password: { env: 'KAUDIT_TEST_PASSWORD' } } } }));
    });
    expect(r.requests[0].headers.authorization).toBe(`Basic ${Buffer.from('kaudit:p:ss wörd').toString('base64')}`);
  });

  it('counts any 2xx as delivered', async () => {
    const r = await receiver();
    r.respond((_req, res) => { res.statusCode = 204; res.end(); });
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'delivered' });
  });

  it('delivers nothing and sends no request for an empty batch', async () => {
    const r = await receiver();
    expect(await sendBatch(await sink({ url: r.url() }), [], new AbortController().signal)).toEqual({ kind: 'delivered' });
    expect(r.requests).toHaveLength(0);
  });

  it('reuses its connections across batches, after error answers too', async () => {
    const r = await receiver();
    const s = await sink({ url: r.url() });
    for (let i = 0; i < 4; i++) {
      // Larger than undici's 64 KiB body buffer: the connection frees only if the sink reads the body.
      r.respond((_req, res) => { res.statusCode = 404; res.end('x'.repeat(150_000)); });
      expect((await send(s)).kind).toBe('reject');
      r.respond(ok);
      expect(await send(s)).toEqual({ kind: 'delivered' });
    }
    // Sent one after another, 8 batches ride on at most two kept-alive connections (undici's pool may open a second).
    expect(r.requests).toHaveLength(8);
    expect(new Set(r.requests.map((q) => q.remotePort)).size).toBeLessThanOrEqual(2);
  });
});

// --- verdicts from a real backend --------------------------------------------------------------

describe('http sink verdicts', () => {
  function answer(status: number, body = '', headers: Record<string, string> = {}): Responder {
    return (_req, res) => {
      res.writeHead(status, headers);
      res.end(body);
    };
  }

  it('retries on 503', async () => {
    const r = await receiver();
    r.respond(answer(503, 'overloaded'));
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'retry', reason: 'HTTP 503: overloaded' });
  });

  it('honours Retry-After on 429', async () => {
    const r = await receiver();
    r.respond(answer(429, 'slow down', { 'Retry-After': '7' }));
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'retry', reason: 'HTTP 429: slow down', afterMs: 7000 });
  });

  it('honours Retry-After given as an HTTP-date', async () => {
    const r = await receiver();
    r.respond(answer(503, '', { 'Retry-After': new Date(Date.now() + 60_000).toUTCString() }));
    const verdict = await send(await sink({ url: r.url() }));
    expect(verdict.kind).toBe('retry');
    const afterMs = (verdict as { afterMs?: number }).afterMs ?? 0;
    expect(afterMs).toBeGreaterThan(50_000);
    expect(afterMs).toBeLessThanOrEqual(60_000);
  });

  it('retries on 408', async () => {
    const r = await receiver();
    r.respond(answer(408));
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'retry', reason: 'HTTP 408' });
  });

  it('calls 400 invalid, with the status and the body text in the reason', async () => {
    const r = await receiver();
    r.respond(answer(400, '{"error":"mapper_parsing_exception: failed to parse field [verb]"}'));
    expect(await send(await sink({ url: r.url() }))).toEqual({
      kind: 'invalid', reason: 'HTTP 400: {"error":"mapper_parsing_exception: failed to parse field [verb]"}',
    });
  });

  it('rejects 404', async () => {
    const r = await receiver();
    r.respond(answer(404, 'not found'));
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'reject', reason: 'HTTP 404: not found' });
  });

  it('rejects a redirect instead of following it', async () => {
    const r = await receiver();
    r.respond(answer(301, '', { Location: '/elsewhere' }));
    expect(await send(await sink({ url: r.url() }))).toEqual({ kind: 'reject', reason: 'HTTP 301' });
    expect(r.requests).toHaveLength(1);
  });

  it('retries with ECONNREFUSED when nothing listens', async () => {
    const port = await freePort();
    const verdict = await send(await sink({ url: `http://127.0.0.1:${port}/ingest` }));
    expect(verdict.kind).toBe('retry');
    expect((verdict as { reason: string }).reason).toMatch(/^ECONNREFUSED: /);
  });

  it('retries when the server never answers within the timeout', async () => {
    const r = await receiver();
    r.respond(() => {});
    const verdict = await send(await sink({ url: r.url(), timeout: '300ms' }));
    expect(verdict).toEqual({ kind: 'retry', reason: 'timeout: no complete response within 300ms' });
    expect(r.requests).toHaveLength(1);
  });

  it('stops waiting when the caller aborts, and retries', async () => {
    const r = await receiver();
    r.respond(() => {});
    const s = await sink({ url: r.url() });
    const controller = new AbortController();
    const pending = send(s, controller.signal);
    setTimeout(() => controller.abort(), 100);
    expect(await pending).toEqual({ kind: 'retry', reason: 'request aborted (sink shutting down)' });
    expect(await send(s, AbortSignal.abort())).toEqual({ kind: 'retry', reason: 'aborted before sending' });
  });
});

// --- secrets stay out of verdicts --------------------------------------------------------------

describe('http sink secrets', () => {
  const token = 'kt_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
  const password = 'correct horse "battery" staple';

  it('never puts a secret into a verdict reason, even when the server echoes it', async () => {
    const r = await receiver();
    r.respond((req, res) => {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', got: req.headers.authorization, key: req.headers['x-api-key'] }));
    });
    const keyFile = await secretFile('api-key', 'ak-1234567890abcdef\n');
    const verdicts = await withEnv({ KAUDIT_TEST_TOKEN: token, KAUDIT_TEST_PASSWORD: password }, async () => [
      await send(await sink({ url: r.url(), auth: { bearer: { env: 'KAUDIT_TEST_TOKEN' } }, headers: { 'X-Api-Key': { file: keyFile } } })),
      await send(await sink({ url: r.url(), auth: { basic: { username: 'kaudit', password: { env: 'KAUDIT_TEST_PASSWORD' } } } })),
    ]);
    const basic = Buffer.from(`kaudit:${password}`).toString('base64');
    for (const verdict of verdicts) {
      expect(verdict.kind).toBe('reject');
      const { reason } = verdict as { reason: string };
      expect(reason).toMatch(/^HTTP 401: \{"error":"unauthorized","got":"(Bearer|Basic) \[redacted\]"/);
      for (const secret of [token, basic, 'ak-1234567890abcdef', 'battery', basic.slice(0, 12), token.slice(0, 12)]) {
        expect(reason).not.toContain(secret);
      }
    }
  });

  it('keeps the previous token while its file is missing or holds a line break, warning once per problem, never logging a value', async () => {
    const r = await receiver();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
    const file = await secretFile('rotating-token', 'token-one\n');
    const s = await sink({ url: r.url(), auth: { bearer: { file } } }, logger);
    const sentWith = async () => {
      expect(await send(s)).toEqual({ kind: 'delivered' });
      return r.requests.at(-1)?.headers.authorization;
    };
    expect(await sentWith()).toBe('Bearer token-one');

    await writeFile(file, 'token\ntwo\n');
    await s.reload?.();
    await s.reload?.();
    expect(await sentWith()).toBe('Bearer token-one');
    await unlink(file);
    await s.reload?.();
    expect(await sentWith()).toBe('Bearer token-one');
    await writeFile(file, 'token-three\n');
    await s.reload?.();
    expect(await sentWith()).toBe('Bearer token-three');

    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      `sinks.test.auth.bearer: <secret from file ${file}> contains a line break, which cannot go into an HTTP header; keeping the previous value`,
      `sinks.test.auth.bearer: cannot read secret file ${file}: no such file or directory; keeping the previous value`,
      'secret file changed; using the new value',
    ]);
    expect(lines.join('')).not.toMatch(/token-one|token-three|two/);
  });

  it('sends a batch refused with 401 again when the token file changed since it was sent, instead of dead-lettering it', async () => {
    const r = await receiver();
    const file = await secretFile('revoked-token', 'old-token\n');
    const s = await sink({ url: r.url(), auth: { bearer: { file } } });
    expect(await send(s)).toEqual({ kind: 'delivered' });
    // Rotated and revoked at once, within the few seconds before the sink looks at the file again on its own.
    await writeFile(file, 'new-token\n');
    r.respond((req, res) => { res.statusCode = req.headers.authorization === 'Bearer new-token' ? 200 : 401; res.end(); });
    expect(await send(s)).toEqual({ kind: 'retry', reason: 'HTTP 401 (a secret file changed since; sending again with the new value)' });
    expect(await send(s)).toEqual({ kind: 'delivered' });
    // Refused while the file holds what was sent: the credentials are wrong, and the batch is dead-lettered.
    r.respond((_req, res) => { res.statusCode = 401; res.end(); });
    expect(await send(s)).toEqual({ kind: 'reject', reason: 'HTTP 401' });
  });

  it('does not leak the part of a secret that straddles the 300 bytes quoted', async () => {
    const r = await receiver();
    r.respond((_req, res) => { res.statusCode = 403; res.end(`${'x'.repeat(290)}${token} and more`); });
    const verdict = await withEnv({ KAUDIT_TEST_TOKEN: token }, async () =>
      send(await sink({ url: r.url(), auth: { bearer: { env: 'KAUDIT_TEST_TOKEN' } } })));
    const { reason } = verdict as { reason: string };
    expect(reason).toBe(`HTTP 403: ${'x'.repeat(290)}[redacted]`);
  });

  it('does not leak the part of a long secret cut where reading the body stops', async () => {
    const r = await receiver();
    // A 2000-byte token repeated past the 8 KiB kept for the reason: four occurrences are whole, the
    // fifth is cut, and after the whole ones shrink to markers the cut one would fall inside the quote.
    const jwt = `eyJ${'a1B2c3D4e5'.repeat(199)}Zz9`;
    r.respond((_req, res) => { res.statusCode = 403; res.end(`${'x'.repeat(100)}${jwt.repeat(10)}`); });
    const verdict = await withEnv({ KAUDIT_TEST_TOKEN: jwt }, async () =>
      send(await sink({ url: r.url(), auth: { bearer: { env: 'KAUDIT_TEST_TOKEN' } } })));
    const { reason } = verdict as { reason: string };
    expect(reason).toBe(`HTTP 403: ${'x'.repeat(100)}${'[redacted]'.repeat(4)}`);
  });
});

// --- TLS ---------------------------------------------------------------------------------------

describe('http sink over TLS', () => {
  let certs: TestCerts;

  beforeAll(async () => {
    certs = await makeTestCerts();
  });
  afterAll(async () => {
    await certs.cleanup();
  });

  const serverTls = () => ({ key: certs.server.key, cert: certs.server.cert });

  it('delivers when ca_file trusts the server certificate', async () => {
    const r = await receiver(serverTls());
    expect(await send(await sink({ url: r.url(), tls: { ca_file: certs.caFile } }))).toEqual({ kind: 'delivered' });
    expect(r.requests[0].body.equals(ndjson)).toBe(true);
  });

  it('retries, naming the certificate error, when the server certificate is not trusted', async () => {
    const r = await receiver(serverTls());
    const verdict = await send(await sink({ url: r.url() }));
    expect(verdict.kind).toBe('retry');
    expect((verdict as { reason: string }).reason).toMatch(/^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
    expect(r.requests).toHaveLength(0);
  });

  it('names DEPTH_ZERO_SELF_SIGNED_CERT for a self-signed server', async () => {
    const r = await receiver({ key: certs.selfSigned.key, cert: certs.selfSigned.cert });
    const verdict = await send(await sink({ url: r.url(), tls: { ca_file: certs.caFile } }));
    expect(verdict.kind).toBe('retry');
    expect((verdict as { reason: string }).reason).toMatch(/^DEPTH_ZERO_SELF_SIGNED_CERT: /);
  });

  it('checks the certificate against server_name when one is set', async () => {
    const r = await receiver(serverTls());
    expect(await send(await sink({ url: r.url(), tls: { ca_file: certs.caFile, server_name: 'localhost' } }))).toEqual({ kind: 'delivered' });
    const verdict = await send(await sink({ url: r.url(), tls: { ca_file: certs.caFile, server_name: 'logs.example.com' } }));
    expect(verdict.kind).toBe('retry');
    expect((verdict as { reason: string }).reason).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID: /);
  });

  it('delivers with insecure_skip_verify and warns once, at create', async () => {
    const r = await receiver(serverTls());
    const lines: string[] = [];
    // The agent gives each sink a logger that names it.
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } }).child({ sink: 'test' });
    const s = await sink({ url: r.url(), tls: { insecure_skip_verify: true } }, logger);
    expect(await send(s)).toEqual({ kind: 'delivered' });
    expect(await send(s)).toEqual({ kind: 'delivered' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 40, sink: 'test', msg: expect.stringContaining('insecure_skip_verify') });
    expect(lines[0].match(/"sink":/g)).toHaveLength(1);
  });

  it('presents a client certificate to a server that requires one', async () => {
    const r = await receiver({ ...serverTls(), ca: certs.ca, requestCert: true, rejectUnauthorized: true });
    const s = await sink({
      url: r.url(), tls: { ca_file: certs.caFile, cert_file: certs.client.certFile, key_file: certs.client.keyFile },
    });
    expect(await send(s)).toEqual({ kind: 'delivered' });
    expect(r.requests[0].clientCN).toBe('kaudit-client');
  });

  it('is refused by a server that requires a client certificate when it has none', async () => {
    const r = await receiver({ ...serverTls(), ca: certs.ca, requestCert: true, rejectUnauthorized: true });
    const verdict = await send(await sink({ url: r.url(), tls: { ca_file: certs.caFile } }));
    expect(verdict.kind).toBe('retry');
    expect(r.requests).toHaveLength(0);
  });

  it('fails to start when a TLS file cannot be read', async () => {
    await expect(sink({ url: 'https://127.0.0.1:9/', tls: { ca_file: join(certs.dir, 'missing.pem') } }))
      .rejects.toThrow(/sinks\.test\.tls\.ca_file: cannot read .*missing\.pem: no such file or directory/);
  });
});

describe('body memory reuse', () => {
  it('never lets a reused body change bytes a server reads after it has already answered', async () => {
    // A server that answers 200 at once and reads each body slowly afterwards: the bytes of a body may still be
    // on their way when the next batch is encoded. Every body must arrive exactly as encoded.
    const bodies: Buffer[] = [];
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        req.pause();
        setTimeout(() => req.resume(), 3);
      });
      req.on('end', () => bodies.push(Buffer.concat(chunks)));
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const s = await sink({ url: `http://127.0.0.1:${port}/in` });
      // Bodies of ~9 MB, more than the kernel's socket buffers take at once.
      const batches = Array.from({ length: 4 }, (_, b) =>
        Array.from({ length: 3000 }, (_, i): OutRecord => ({
          id: `${b}-${i}`, kind: 'log', source: 'audit',
          payload: Buffer.from(JSON.stringify({ batch: b, i, pad: String.fromCharCode(97 + b).repeat(3000) })),
        })));
      // As the delivery layer drives a sink: encode the next batch while the current one is sent, release after.
      let next = await s.encode(batches[0]);
      for (let b = 0; b < batches.length; b++) {
        const current = next;
        if (b + 1 < batches.length) next = await s.encode(batches[b + 1]);
        expect(await s.send(current, new AbortController().signal)).toEqual({ kind: 'delivered' });
        s.release?.(current);
      }
      for (let i = 0; i < 400 && bodies.length < batches.length; i++) await new Promise((r) => setTimeout(r, 25));
      expect(bodies).toHaveLength(batches.length);
      for (const [b, body] of bodies.entries()) {
        const lines = body.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as { batch: number; i: number; pad: string });
        expect(lines).toHaveLength(3000);
        expect(lines.every((l, i) => l.batch === b && l.i === i && l.pad === String.fromCharCode(97 + b).repeat(3000))).toBe(true);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 30_000);
});
