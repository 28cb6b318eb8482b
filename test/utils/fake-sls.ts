// A fake Simple Log Service PutLogs endpoint for tests, written from SLS's public API reference: it checks what the service checks and answers its errors.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { inflate as inflateCallback } from 'node:zlib';
import protobuf from 'protobufjs';
import { LOG_GROUP_PROTO } from '../../src/sinks/sls-log-group.ts';

const inflate = promisify(inflateCallback);

// The published LogGroup schema, as the sink writes it: a field numbered wrong there would pass here too, but not the
// official SDK's requests, which src/sinks/sls.test.ts sends to this fake.
const LogGroup = protobuf.parse(LOG_GROUP_PROTO).root.lookupType('sls.LogGroup');

/** An error as SLS answers it: an HTTP status and the JSON body `{ errorCode, errorMessage }`. */
export interface SlsError {
  status: number;
  code: string;
  message: string;
}

export interface AccessKey {
  secret: string;
  /** Set for STS credentials: requests must carry this token in x-acs-security-token. */
  token?: string;
}

export interface StoredLog {
  time: number;
  timeNs?: number;
  contents: Record<string, string>;
}

/** A LogGroup the fake accepted. */
export interface StoredGroup {
  project: string;
  logstore: string;
  topic: string;
  source: string;
  tags: Record<string, string>;
  logs: StoredLog[];
  compressType: string;
  rawSize: number;
  wireBytes: number;
}

export interface FakeSlsOptions {
  /** AccessKey id → its secret (and STS token). */
  keys: Record<string, AccessKey>;
  /** Project → its logstores. */
  projects: Record<string, string[]>;
  /** PutLogs limits: raw (decompressed) LogGroup bytes and logs per request. Default: 10 MiB and 4096. */
  maxRawBytes?: number;
  maxLogs?: number;
  /** Answered instead of a request that passed every check (throttling, a server fault); undefined lets it through. */
  fault?: (attempt: number) => SlsError | undefined;
  /** false: accepted groups are counted (`accepted`) but not kept, for benchmarks. Default true. */
  keep?: boolean;
  /**
   * The range of log times accepted around the fake's clock, in seconds back and ahead (the older PutLogs reference:
   * 7 days back, 15 minutes ahead). Default: any time, since generated events are dated in the past.
   */
  timeWindow?: { back: number; ahead: number };
  /** Serve HTTPS with this certificate and key. */
  tls?: HttpsServerOptions;
}

/** Every error the fake answers, in SLS's words (PutLogs reference, common error codes, data read/write limits). */
export const ERRORS = {
  throttled: { status: 403, code: 'WriteQuotaExceed', message: 'Write QPS Exceed' },
  internal: { status: 500, code: 'InternalServerError', message: 'Specified Server Error Message' },
  badSignature: (sig: string): SlsError => ({ status: 401, code: 'SignatureNotMatch', message: `Signature ${sig} not matched.` }),
  unknownKey: (id: string): SlsError => ({ status: 401, code: 'Unauthorized', message: `AccessKeyId not found: ${id}` }),
  badToken: { status: 401, code: 'Unauthorized', message: 'The security token you provided is invalid.' },
  noProject: (p: string): SlsError => ({ status: 404, code: 'ProjectNotExist', message: `The Project does not exist : ${p}` }),
  noLogstore: (l: string): SlsError => ({ status: 404, code: 'LogStoreNotExist', message: `logstore ${l} does not exist` }),
  tooLarge: (bytes: number, lines: number): SlsError => ({ status: 400, code: 'PostBodyTooLarge', message: `Logs must be less than ${bytes} bytes and ${lines} lines.` }),
  unparsable: { status: 400, code: 'PostBodyInvalid', message: 'Protobuffer content cannot be parsed.' },
  uncompress: { status: 400, code: 'PostBodyUncompressError', message: 'Fail to uncompress the post body.' },
} satisfies Record<string, SlsError | ((...a: never[]) => SlsError)>;

const MAX_SKEW_MS = 15 * 60 * 1000;

export class FakeSls {
  readonly groups: StoredGroup[] = [];
  /** Every answer, in order: the status and, for errors, SLS's error code. */
  readonly answers: Array<{ status: number; code?: string }> = [];
  /** Logs and body bytes (as sent) accepted, kept or not. */
  readonly accepted = { logs: 0, wireBytes: 0, rawBytes: 0 };
  private readonly server: Server;
  private readonly opts: FakeSlsOptions;
  private attempts = 0;

  private constructor(server: Server, opts: FakeSlsOptions) {
    this.server = server;
    this.opts = opts;
  }

  static async start(opts: FakeSlsOptions): Promise<FakeSls> {
    const server = opts.tls ? createHttpsServer(opts.tls) : createServer();
    const fake = new FakeSls(server, opts);
    server.on('request', (req, res) => void fake.handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return fake;
  }

  /** The endpoint to configure: an address, so the project goes in the Host header only. */
  endpoint(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Every accepted log, in arrival order. */
  logs(): StoredLog[] {
    return this.groups.flatMap((g) => g.logs);
  }

  async waitFor(check: (f: FakeSls) => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!check(this)) {
      if (Date.now() > end) throw new Error(`fake SLS: no ${what} within ${ms} ms (answers: ${JSON.stringify(this.answers.slice(-5))})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let error: SlsError | undefined;
    try {
      error = await this.check(req, body);
    } catch (err) {
      error = { status: 500, code: 'InternalServerError', message: (err as Error).message };
    }
    const requestId = createHash('md5').update(String(this.answers.length)).digest('hex').slice(0, 24).toUpperCase();
    if (error === undefined) {
      this.answers.push({ status: 200 });
      res.writeHead(200, { 'x-log-requestid': requestId, 'content-length': '0' }).end();
      return;
    }
    this.answers.push({ status: error.status, code: error.code });
    const text = JSON.stringify({ errorCode: error.code, errorMessage: error.message });
    res.writeHead(error.status, { 'content-type': 'application/json', 'x-log-requestid': requestId }).end(text);
  }

  /** The checks of one PutLogs request, in the order the service's errors are described; undefined when it is accepted. */
  private async check(req: IncomingMessage, body: Buffer): Promise<SlsError | undefined> {
    const h = req.headers;
    const path = (req.url ?? '').split('?')[0];
    const route = /^\/logstores\/([^/]+)\/shards\/lb$/.exec(path);
    if (req.method !== 'POST' || route === null) return { status: 404, code: 'NotFound', message: `${req.method} ${path} is not PutLogs` };
    if (h.date === undefined) return { status: 400, code: 'MissingDate', message: 'Date does not exist in http header.' };
    const date = Date.parse(h.date);
    if (Number.isNaN(date)) return { status: 400, code: 'InvalidDateFormat', message: `Date ${h.date} must follow RFC822.` };
    if (Math.abs(Date.now() - date) > MAX_SKEW_MS) return { status: 400, code: 'RequestTimeExpired', message: `Request time ${h.date} has been expired while server time is ${new Date().toUTCString()}.` };
    if (h['x-log-apiversion'] !== '0.6.0') return { status: 400, code: 'InvalidAPIVersion', message: `x-log-apiversion ${h['x-log-apiversion']} is unsupported.` };
    if (h['x-log-signaturemethod'] !== 'hmac-sha1') return { status: 400, code: 'InvalidSignatureMethod', message: `signature method ${h['x-log-signaturemethod']} is unsupported.` };
    if (h['content-type'] !== 'application/x-protobuf') return { status: 415, code: 'InvalidContentType', message: `Content-Type ${h['content-type']} is unsupported.` };

    // Authorization: LOG <AccessKeyId>:<Signature>
    const auth = /^LOG ([^:]+):(.+)$/.exec(h.authorization ?? '');
    if (auth === null) return { status: 400, code: 'ParameterInvalid', message: `Http extend authorization : ${h.authorization ?? ''} pair is invalid.` };
    const [, keyId, signature] = auth;
    const key = this.opts.keys[keyId];
    if (key === undefined) return ERRORS.unknownKey(keyId);
    if (key.token !== undefined && h['x-acs-security-token'] !== key.token) return ERRORS.badToken;
    if (!sameText(signature, this.expectedSignature(req, path, key.secret))) return ERRORS.badSignature(signature);

    // The project is the first label of the Host (`<project>.<endpoint>`).
    const project = (h.host ?? '').split('.')[0];
    const logstore = route[1];
    if (!(project in this.opts.projects)) return ERRORS.noProject(project);
    if (!this.opts.projects[project].includes(logstore)) return ERRORS.noLogstore(logstore);

    // The MD5 covers the body as sent. The references found name no error code of their own for a mismatch.
    const md5 = h['content-md5'];
    if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('hex').toUpperCase()) {
      return { status: 400, code: 'ParameterInvalid', message: `Http extend content-md5 : ${md5} pair is invalid.` };
    }

    const compressType = h['x-log-compresstype'] ?? '';
    const rawHeader = h['x-log-bodyrawsize'];
    if (compressType !== '' && rawHeader === undefined) return { status: 400, code: 'MissingBodyRawSize', message: 'x-log-bodyrawsize does not exist in header when it is necessary.' };
    const rawSize = rawHeader === undefined ? body.length : Number(rawHeader);
    if (!Number.isSafeInteger(rawSize) || rawSize < 0) return { status: 400, code: 'InvalidBodyRawSize', message: 'x-log-bodyrawsize is invalid.' };
    const maxRaw = this.opts.maxRawBytes ?? 10 * 1024 * 1024;
    const maxLogs = this.opts.maxLogs ?? 4096;
    if (rawSize > maxRaw) return ERRORS.tooLarge(maxRaw, maxLogs);

    let raw: Buffer;
    try {
      if (compressType === 'lz4') raw = lz4BlockDecode(body, rawSize);
      else if (compressType === 'deflate') raw = await inflate(body);
      else if (compressType === '') raw = body;
      else return { status: 400, code: 'InvalidCompressType', message: `x-log-compresstype ${compressType} is unsupported.` };
    } catch {
      return ERRORS.uncompress;
    }
    if (raw.length !== rawSize) return { status: 400, code: 'InvalidBodyRawSize', message: `x-log-bodyrawsize is invalid: ${rawSize}, the body holds ${raw.length} bytes.` };

    let group: Record<string, any>;
    try {
      group = LogGroup.toObject(LogGroup.decode(raw), { defaults: false, arrays: true });
    } catch {
      return ERRORS.unparsable;
    }
    if (group.Logs.length > maxLogs) return ERRORS.tooLarge(maxRaw, maxLogs);
    const window = this.opts.timeWindow;
    const nowSec = Date.now() / 1000;
    if (window !== undefined && group.Logs.some((l: { Time: number }) => l.Time < nowSec - window.back || l.Time > nowSec + window.ahead)) {
      return { status: 400, code: 'InvalidTimestamp', message: 'Invalid timestamps are in logs.' };
    }

    const fault = this.opts.fault?.(this.attempts++);
    if (fault !== undefined) return fault;

    this.accepted.logs += group.Logs.length;
    this.accepted.wireBytes += body.length;
    this.accepted.rawBytes += rawSize;
    if (this.opts.keep === false) return undefined;
    this.groups.push({
      project,
      logstore,
      topic: group.Topic ?? '',
      source: group.Source ?? '',
      tags: Object.fromEntries(group.LogTags.map((t: { Key: string; Value: string }) => [t.Key, t.Value])),
      logs: group.Logs.map((l: { Time: number; TimeNs?: number; Contents: Array<{ Key: string; Value: string }> }) => ({
        time: l.Time,
        timeNs: l.TimeNs,
        contents: Object.fromEntries(l.Contents.map((c) => [c.Key, c.Value])),
      })),
      compressType,
      rawSize,
      wireBytes: body.length,
    });
    return undefined;
  }

  /**
   * The signature the service computes: HMAC-SHA1 with the AccessKey secret over the method, Content-MD5, Content-Type
   * and Date lines, then the x-log-* and x-acs-* headers (lower-case names, sorted, `name:value`), then the path.
   */
  private expectedSignature(req: IncomingMessage, path: string, secret: string): string {
    const h = req.headers;
    const lines = [req.method ?? '', String(h['content-md5'] ?? ''), String(h['content-type'] ?? ''), String(h.date ?? '')];
    const extra = Object.entries(h)
      .filter(([name]) => /^x-(log|acs)-/.test(name))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}:${String(value).trim()}`);
    const text = [...lines, ...extra, path].join('\n');
    return createHmac('sha1', secret).update(text).digest('base64');
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Decodes one raw LZ4 block (the LZ4 block format description): sequences of a token (literal length in the high
 * nibble, match length - 4 in the low one, each extended by 255-bytes while they read 255), the literals, then a
 * 2-byte little-endian offset back into the output; the last sequence has literals only.
 */
export function lz4BlockDecode(src: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  let i = 0;
  let o = 0;
  const length = (n: number): number => {
    if (n !== 15) return n;
    for (;;) {
      if (i >= src.length) throw new Error('lz4: length runs past the input');
      const b = src[i++];
      n += b;
      if (b !== 255) return n;
    }
  };
  while (i < src.length) {
    const token = src[i++];
    const literals = length(token >> 4);
    if (i + literals > src.length || o + literals > size) throw new Error('lz4: literals run past the input or output');
    src.copy(out, o, i, i + literals);
    i += literals;
    o += literals;
    if (i >= src.length) break; // the last sequence: literals only
    if (i + 2 > src.length) throw new Error('lz4: offset cut short');
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    if (offset === 0 || offset > o) throw new Error('lz4: offset outside the output');
    const match = length(token & 15) + 4;
    if (o + match > size) throw new Error('lz4: match runs past the output');
    // Byte by byte: a match may overlap the bytes it is copying (a run).
    for (let k = 0; k < match; k++, o++) out[o] = out[o - offset];
  }
  if (o !== size) throw new Error(`lz4: decoded ${o} bytes, expected ${size}`);
  return out;
}
