// Real HTTP receiver for sink tests (scriptable answers, outages) and, run as a script, the benchmark's counting backend.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

/**
 * How to answer one request: a status, a full response, dropping the connection without an answer once the body is
 * in (`destroy`), or resetting it (TCP RST) after `afterBytes` of the body, while the client is still sending
 * (`reset`: taken from the script queue as the request arrives, so only as a scripted reply).
 */
export type Reply =
  | number
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | { destroy: true; delayMs?: number }
  | { reset: true; afterBytes: number };

/** A reply decided once the body is in. */
export type Answer = Exclude<Reply, { reset: true }>;

export interface ReceivedRequest {
  /** 0, 1, 2, … in arrival order. */
  seq: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Body bytes as sent (before Content-Encoding is undone). */
  wireBytes: number;
  /** Decoded body. */
  body: Buffer;
  /** Non-empty NDJSON lines, or each element of a JSON array re-serialised. */
  lines: string[];
  /** The JSON documents (lines that did not parse are left out and counted in `invalid`). */
  docs: unknown[];
  invalid: number;
  /** Set when the body could not be decoded (unknown encoding, corrupt gzip). */
  decodeError?: string;
  /** The status answered; undefined until answered, or when the connection was dropped. */
  status?: number;
  receivedAt: number;
  /** The client's port: a new value means a new connection. */
  remotePort: number;
  /** CN of the client certificate, on TLS connections that presented one. */
  clientCN?: string;
}

export type Responder = (req: ReceivedRequest, receiver: Receiver) => Answer | Promise<Answer>;

export interface ReceiverOptions {
  host?: string;
  /** 0 (default) picks a free port; `comeBack()` reuses whatever was picked. */
  port?: number;
  /** Answers for the first requests, in order; after them `respond` decides. */
  replies?: Reply[];
  /** Default: 200. */
  respond?: Responder;
  /** Serve HTTPS with these options (cert, key, and ca + requestCert for client certificates). */
  tls?: HttpsServerOptions;
  /** Bodies are decoded for the responder, then dropped, and not split into documents (a benchmark's backend). */
  light?: boolean;
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);
const zstd = promisify(zlib.zstdDecompress);

/** Undoes Content-Encoding (gzip, deflate, br, zstd, identity). */
export async function decodeBody(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzip(body);
    case 'deflate':
      return inflate(body);
    case 'br':
      return brotli(body);
    case 'zstd':
      return zstd(body);
    default:
      throw new Error(`unsupported Content-Encoding ${JSON.stringify(encoding)}`);
  }
}

/** Splits a decoded body into documents: a JSON array, or NDJSON (blank lines and a final newline ignored). */
export function splitDocuments(body: Buffer): { lines: string[]; docs: unknown[]; invalid: number } {
  const text = body.toString('utf8');
  const start = text.search(/\S/);
  if (start >= 0 && text[start] === '[') {
    try {
      const arr = JSON.parse(text) as unknown[];
      return { lines: arr.map((d) => JSON.stringify(d)), docs: arr, invalid: 0 };
    } catch {
      return { lines: [text], docs: [], invalid: 1 };
    }
  }
  const lines: string[] = [];
  const docs: unknown[] = [];
  let invalid = 0;
  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    lines.push(line);
    try {
      docs.push(JSON.parse(line));
    } catch {
      invalid++;
    }
  }
  return { lines, docs, invalid };
}

/** Reads until `n` bytes of the body arrived (or the body ended). */
function readSome(req: IncomingMessage, n: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const done = (): void => {
      req.off('data', onData);
      req.pause();
      resolve(got);
    };
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got >= n) done();
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A real HTTP(S) server on 127.0.0.1 that records what it is sent. Answers come from the `script`
 * queue first, then from the responder (default 200); undecodable bodies get 400. Only documents
 * of requests answered 2xx count as delivered (`documents()`, `documentCount`).
 */
export class Receiver {
  readonly host: string;
  port: number;
  readonly requests: ReceivedRequest[] = [];
  private server: Server | undefined;
  private readonly queue: Reply[];
  private responder: Responder;
  private readonly waiters = new Set<() => void>();
  private nextSeq = 0;
  private readonly tls: HttpsServerOptions | undefined;
  private readonly light: boolean;

  private constructor(opts: ReceiverOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.queue = [...(opts.replies ?? [])];
    this.responder = opts.respond ?? (() => 200);
    this.tls = opts.tls;
    this.light = opts.light ?? false;
  }

  static async start(opts: ReceiverOptions = {}): Promise<Receiver> {
    const r = new Receiver(opts);
    await r.listen();
    return r;
  }

  /** `http://127.0.0.1:<port><path>` (https with `tls`). */
  url(path = '/ingest'): string {
    return `${this.tls ? 'https' : 'http'}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}${path}`;
  }

  /** Queues answers for the next requests (before the default responder). */
  script(...replies: Reply[]): this {
    this.queue.push(...replies);
    return this;
  }

  /** Replaces the default responder used when the queue is empty. */
  respondWith(fn: Responder): this {
    this.responder = fn;
    return this;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[] {
    return this.requests.filter((q) => q.status !== undefined && q.status >= 200 && q.status < 300);
  }

  /** Documents of requests answered 2xx, in arrival order: what the sender may count as delivered. */
  documents(): unknown[] {
    return this.accepted().flatMap((q) => q.docs);
  }

  /** Every document received, whatever the answer. */
  allDocuments(): unknown[] {
    return this.requests.flatMap((q) => q.docs);
  }

  /** Raw lines of requests answered 2xx. */
  rawLines(): string[] {
    return this.accepted().flatMap((q) => q.lines);
  }

  /** `auditID` of each accepted document (top level, or one level down for wrapped records). */
  acceptedAuditIds(): string[] {
    const out: string[] = [];
    for (const d of this.documents()) {
      const id = findAuditId(d);
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  get documentCount(): number {
    let n = 0;
    for (const q of this.accepted()) n += q.docs.length;
    return n;
  }

  /** Requests by the status answered; dropped connections count under 0. */
  countsByStatus(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const q of this.requests) {
      const k = q.status ?? 0;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  /** Stops listening and drops open connections: new connections are refused. */
  async goDown(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async comeBack(): Promise<void> {
    if (this.server) return;
    await this.listen();
  }

  /** Resolves once `predicate` holds (checked after every request and every 20 ms). */
  async waitFor(predicate: (r: Receiver) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate(this)) return;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`receiver: timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`));
      }, timeoutMs);
      const poll = setInterval(check, 20);
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Waits until at least n documents were accepted. */
  waitForDocuments(n: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor((r) => r.documentCount >= n, timeoutMs, `${n} accepted documents`);
  }

  /** Waits until every id was accepted or `timeoutMs` passed; resolves with how many are still missing. */
  async waitForAuditIds(ids: Iterable<string>, timeoutMs: number): Promise<number> {
    const want = new Set(ids);
    for (const deadline = Date.now() + timeoutMs; ;) {
      const got = new Set(this.acceptedAuditIds());
      let missing = 0;
      for (const id of want) if (!got.has(id)) missing++;
      if (missing === 0 || Date.now() >= deadline) return missing;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  describe(): string {
    return `${this.requests.length} requests (by status ${JSON.stringify(this.countsByStatus())}), ${this.documentCount} accepted documents`;
  }

  async close(): Promise<void> {
    await this.goDown();
  }

  private async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res);
    };
    const server: Server = this.tls ? createHttpsServer(this.tls, handler) : createServer(handler);
    server.keepAliveTimeout = 30_000;
    server.listen(this.port, this.host);
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seq = this.nextSeq++;
    const next = this.queue[0];
    if (typeof next === 'object' && 'reset' in next) {
      this.queue.shift();
      const wireBytes = await readSome(req, next.afterBytes);
      this.requests.push({
        seq, method: req.method ?? '', url: req.url ?? '', headers: req.headers, wireBytes, body: Buffer.alloc(0),
        lines: [], docs: [], invalid: 0, receivedAt: Date.now(), remotePort: req.socket.remotePort ?? 0,
      });
      req.socket.resetAndDestroy();
      for (const w of [...this.waiters]) w();
      return;
    }
    let wire: Buffer;
    try {
      wire = await readBody(req);
    } catch {
      return; // client went away mid-body
    }
    const rec: ReceivedRequest = {
      seq,
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      wireBytes: wire.length,
      body: wire,
      lines: [],
      docs: [],
      invalid: 0,
      receivedAt: Date.now(),
      remotePort: req.socket.remotePort ?? 0,
    };
    const socket = req.socket as TLSSocket;
    if (typeof socket.getPeerCertificate === 'function') {
      const cn = socket.getPeerCertificate()?.subject?.CN;
      if (cn !== undefined) rec.clientCN = String(cn);
    }
    try {
      rec.body = await decodeBody(wire, req.headers['content-encoding']);
      if (!this.light) Object.assign(rec, splitDocuments(rec.body));
    } catch (err) {
      rec.decodeError = (err as Error).message;
    }
    this.requests.push(rec);
    let reply: Answer;
    try {
      if (this.queue.length > 0) reply = this.queue.shift() as Answer;
      else if (rec.decodeError) reply = { status: 400, body: rec.decodeError }; // as a real backend would
      else reply = await this.responder(rec, this);
    } catch (err) {
      reply = { status: 500, body: String(err) };
    }
    if (this.light) rec.body = Buffer.alloc(0);
    if (typeof reply !== 'number' && reply.delayMs) await sleep(reply.delayMs);
    if (typeof reply !== 'number' && 'destroy' in reply) {
      req.socket.destroy();
    } else {
      const r = typeof reply === 'number' ? { status: reply } : reply;
      rec.status = r.status;
      const body = r.body ?? '';
      res.writeHead(r.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...r.headers });
      res.end(body);
    }
    for (const w of [...this.waiters]) w();
  }
}

function findAuditId(d: unknown): string | undefined {
  if (d === null || typeof d !== 'object') return undefined;
  const o = d as Record<string, unknown>;
  if (o.kind === 'kaudit.Alarm') return undefined; // an alarm quotes its triggering event: not a delivered audit event
  if (typeof o.auditID === 'string') return o.auditID;
  for (const v of Object.values(o)) {
    if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>).auditID === 'string') {
      return (v as Record<string, unknown>).auditID as string;
    }
  }
  return undefined;
}

// ---- standalone counting mode (benchmark backend) -----------------------------------------

/**
 * `node test/utils/receiver.ts --port 0 --expect N`: prints {"port":P}, then {"received":N,…} once N
 * documents arrived, and final counts on SIGTERM. It decodes every body and counts its lines but
 * JSON-parses only one line in 100: parsing all would make the receiver the bottleneck on 2 cores.
 */
async function standalone(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const k = argv.indexOf(name);
    return k >= 0 && k + 1 < argv.length ? argv[k + 1] : dflt;
  };
  const port = Number(arg('--port', '0'));
  const host = arg('--host', '127.0.0.1');
  const expect = Number(arg('--expect', '0'));
  const stats = { received: 0, bytes: 0, wireBytes: 0, requests: 0, sampled: 0, invalid: 0, firstAt: 0, doneAt: 0 };
  let firstInvalid = '';
  let reported = false;
  const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const wire = Buffer.concat(chunks);
      stats.requests++;
      stats.wireBytes += wire.length;
      decodeBody(wire, req.headers['content-encoding']).then(
        (body) => {
          count(body);
          res.writeHead(200, { 'content-length': 0 });
          res.end();
          if (!reported && expect > 0 && stats.received >= expect) {
            reported = true;
            stats.doneAt = Date.now();
            print({ received: stats.received, bytes: stats.bytes, wireBytes: stats.wireBytes, requests: stats.requests, firstAt: stats.firstAt, doneAt: stats.doneAt, sampled: stats.sampled, invalid: stats.invalid });
          }
        },
        (err: Error) => {
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end(err.message);
        },
      );
    });
  });

  const count = (body: Buffer): void => {
    if (stats.firstAt === 0) stats.firstAt = Date.now();
    stats.bytes += body.length;
    let p = 0;
    while (p < body.length && (body[p] === 32 || body[p] === 10 || body[p] === 13 || body[p] === 9)) p++;
    if (body[p] === 0x5b) {
      // A JSON array: rare here, parse it whole.
      try {
        stats.received += (JSON.parse(body.toString('utf8')) as unknown[]).length;
        stats.sampled++;
      } catch (err) {
        stats.invalid++;
        firstInvalid ||= (err as Error).message;
      }
      return;
    }
    let start = 0;
    while (start < body.length) {
      let end = body.indexOf(10, start);
      if (end < 0) end = body.length;
      if (end > start && !(end === start + 1 && body[start] === 13)) {
        stats.received++;
        if (stats.received % 100 === 1) {
          stats.sampled++;
          try {
            JSON.parse(body.toString('utf8', start, end));
          } catch (err) {
            stats.invalid++;
            firstInvalid ||= (err as Error).message;
          }
        }
      }
      start = end + 1;
    }
  };

  server.keepAliveTimeout = 30_000;
  server.listen(port, host, () => print({ port: (server.address() as AddressInfo).port }));
  const stop = (): void => {
    print({ final: true, ...stats, firstInvalid: firstInvalid || undefined });
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.main) await standalone(process.argv.slice(2));
