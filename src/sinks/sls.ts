// The `sls` sink: each batch is one PutLogs request to Alibaba Cloud Simple Log Service (a signed, compressed LogGroup).
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { deflate as deflateCallback } from 'node:zlib';
import type { Pool } from 'undici';
import { z } from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import { LiveSecrets, type SecretField } from '../config/live-secrets.ts';
import { secretRefSchema } from '../config/secret.ts';
import { duration, MiB } from '../config/units.ts';
import { exchange, retryAfterMs, scrubber, snippet } from './http-client.ts';
import { encodeLogGroup } from './sls-log-group.ts';
import { authorization, contentMd5 } from './sls-sign.ts';
import type { SendVerdict, SinkKind } from './types.ts';

const USER_AGENT = `kaudit/${pkg.version}`;
/** SLS's API version for PutLogs. */
const API_VERSION = '0.6.0';
/**
 * Per request, SLS takes at most 4096 logs (the PutLogs reference's limit, and SLS producers' default batch) and a
 * LogGroup of a few MB before compression (10 MB in the current reference, 3 MB in older regions and SDKs). Batches
 * over these are refused here, before a request, as too large: the delivery layer then sends the halves. 5 MiB is
 * the largest batch SLS's own producers send; a region that still refuses it answers PostBodyTooLarge, split the same.
 */
export const MAX_LOGS = 4096;
export const MAX_RAW_BYTES = 5 * MiB;

// zlib's async deflate runs on the libuv thread pool, off the main thread.
const deflate = promisify(deflateCallback);

/**
 * LZ4 as SLS takes it: one raw block, its uncompressed size in x-log-bodyrawsize. lz4-napi (lz4_flex, compressing on
 * the thread pool) writes that size as 4 little-endian bytes before the block; they are left out.
 */
async function lz4Block(raw: Buffer): Promise<Buffer> {
  const { compress } = await import('lz4-napi');
  const out = await compress(raw);
  if (out.readUInt32LE(0) !== raw.length) throw new Error('lz4: the compressed block does not start with its raw size');
  return out.subarray(4);
}

const PROJECT = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const LOGSTORE = /^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/;
const LINE_BREAK = /[\r\n\0]/;

/** `host[:port]` (HTTPS) or a URL with `https://` or `http://`; nothing else (no path, query or credentials). */
const endpointSchema = z.string().min(1).refine((text) => {
  const url = URL.parse(text.includes('://') ? text : `https://${text}`);
  return url !== null && /^https?:$/.test(url.protocol) && url.pathname === '/' && url.search === '' && url.hash === ''
    && url.username === '' && url.password === '';
}, 'expected a host such as cn-hangzhou.log.aliyuncs.com (HTTPS), or a URL https://HOST[:PORT] or http://HOST[:PORT] without a path');

const options = z.object({
  /** The region's endpoint; requests go to `<project>.<endpoint>` as SLS routes them. HTTPS unless `http://` is given. */
  endpoint: endpointSchema,
  project: z.string().regex(PROJECT, 'expected an SLS project name: 3-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen'),
  logstore: z.string().regex(LOGSTORE, 'expected an SLS logstore name: 3-63 lower-case letters, digits, hyphens and underscores, not starting or ending with - or _'),
  /** The LogGroup's topic (`__topic__`). */
  topic: z.string().default(''),
  /** The LogGroup's source (`__source__`). Default: the node name ($NODE_NAME, set by the DaemonSet), else the host name. */
  source: z.string().min(1).optional(),
  /** Log tags (`__tag__:<key>`) on every log. */
  tags: z.record(z.string().min(1), z.string()).default({}),
  access_key_id: secretRefSchema,
  access_key_secret: secretRefSchema,
  /** The STS security token, with the temporary AccessKey of an STS role. */
  security_token: secretRefSchema.optional(),
  /** The body's compression: deflate (zlib) or lz4 (a raw block); SLS accepts both. */
  compression: z.enum(['deflate', 'lz4', 'none']).default('deflate'),
  /** 1 is fastest and keeps most of the ratio on JSON (as the http sink's gzip_level). */
  deflate_level: z.number().int().min(1).max(9).default(1),
  /** Whole request, connect to last response byte; past it the batch is retried. */
  timeout: duration.refine((ms) => ms > 0 && ms <= 3_600_000, 'expected a timeout between 1ms and 1h').default(30_000),
});

type SlsOptions = z.infer<typeof options>;

/** A batch as it goes on the wire, or why it cannot (refused before a request). */
type Encoded =
  | { body: Buffer; rawSize: number; md5: string }
  | { tooLarge: string };

/**
 * Where requests go: the origin connected to, the Host header SLS reads the project from, and, for an endpoint given
 * as an address, that address (undefined otherwise).
 */
export function target(opts: Pick<SlsOptions, 'endpoint' | 'project'>): { origin: string; host: string; address?: string } {
  const url = new URL(opts.endpoint.includes('://') ? opts.endpoint : `https://${opts.endpoint}`);
  const host = `${opts.project}.${url.host}`;
  // An endpoint given as an address (a private link, a proxy) is connected to as it is; the Host header names the project.
  const bare = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) ? { origin: url.origin, host, address: bare } : { origin: `${url.protocol}//${host}`, host };
}

/** The source written when none is configured: the node's name. */
export function defaultSource(): string {
  return process.env.NODE_NAME || hostname();
}

const headerSafe = (value: string): string | undefined =>
  (LINE_BREAK.test(value) ? 'contains a line break, which cannot go into an HTTP header' : undefined);

function secretFields(opts: SlsOptions, where: string): SecretField[] {
  const fields: SecretField[] = [
    { field: `${where}.access_key_id`, ref: opts.access_key_id, check: headerSafe },
    { field: `${where}.access_key_secret`, ref: opts.access_key_secret },
  ];
  if (opts.security_token) fields.push({ field: `${where}.security_token`, ref: opts.security_token, check: headerSafe });
  return fields;
}

export const slsSink: SinkKind<typeof options> = {
  options,
  async create(opts, ctx) {
    const where = `sinks.${ctx.name}`;
    const secrets = await LiveSecrets.resolve(secretFields(opts, where), ctx.logger);
    // Only the secret and the token are blanked in reasons: the AccessKey id is no secret, and SLS's answer naming
    // it ("AccessKeyId not found: …") says which key to fix.
    const secretValues = (): string[] => [secrets.get(`${where}.access_key_secret`), ...(opts.security_token ? [secrets.get(`${where}.security_token`)] : [])];
    let { scrub, scrubCut } = scrubber(secretValues());
    const refreshSecrets = async (now = false): Promise<boolean> => {
      const replaced = secretValues();
      if (!(await secrets.refresh(now))) return false;
      ({ scrub, scrubCut } = scrubber([...secretValues(), ...replaced]));
      return true;
    };

    const { origin, host, address } = target(opts);
    const path = `/logstores/${opts.logstore}/shards/lb`;
    const meta = { topic: opts.topic, source: opts.source ?? defaultSource(), tags: opts.tags };
    const poolOptions: Pool.Options = {
      connect: {
        rejectUnauthorized: true,
        timeout: Math.min(opts.timeout, 10_000),
        // The TLS name follows the Host header (`<project>.<address>`, which no certificate names): an address endpoint's
        // certificate is checked against the address, as a client that connects to it would.
        ...(address === undefined ? {} : { checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(address, cert) }),
      },
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      connections: ctx.concurrency ?? 1,
    };
    // undici is loaded for the first request, not at start (as in the http sink).
    let pool: Promise<Pool> | undefined;
    const connection = (): Promise<Pool> => (pool ??= import('undici').then((undici) => new undici.Pool(origin, poolOptions)));

    return {
      async encode(batch): Promise<Encoded | undefined> {
        if (batch.length === 0) return undefined;
        if (batch.length > MAX_LOGS) return { tooLarge: `${batch.length} logs in one request; SLS takes at most ${MAX_LOGS}` };
        const raw = await encodeLogGroup(batch, meta);
        if (raw.length > MAX_RAW_BYTES) return { tooLarge: `a LogGroup of ${raw.length} bytes; requests are kept to ${MAX_RAW_BYTES} bytes before compression` };
        const body = opts.compression === 'deflate' ? await deflate(raw, { level: opts.deflate_level }) : opts.compression === 'lz4' ? await lz4Block(raw) : raw;
        return { body, rawSize: raw.length, md5: contentMd5(body) };
      },
      async send(encoded: Encoded | undefined, signal) {
        if (encoded === undefined) return { kind: 'delivered' };
        if ('tooLarge' in encoded) return { kind: 'too_large', reason: encoded.tooLarge };
        return sendBody(encoded, signal);
      },
      async reload() {
        await refreshSecrets(true);
      },
      async close() {
        if (pool !== undefined) await (await pool).close();
      },
    };

    /** The request's headers, signed now (SLS refuses a Date more than 15 minutes off, so a retry is signed again). */
    function signedHeaders(encoded: { body: Buffer; rawSize: number; md5: string }): Record<string, string> {
      const headers: Record<string, string> = {
        host,
        'content-type': 'application/x-protobuf',
        'content-md5': encoded.md5,
        date: new Date().toUTCString(),
        'user-agent': USER_AGENT,
        'x-log-apiversion': API_VERSION,
        'x-log-signaturemethod': 'hmac-sha1',
        'x-log-bodyrawsize': String(encoded.rawSize),
      };
      if (opts.compression !== 'none') headers['x-log-compresstype'] = opts.compression;
      if (opts.security_token) headers['x-acs-security-token'] = secrets.get(`${where}.security_token`);
      headers.authorization = authorization({
        method: 'POST',
        path,
        headers,
        accessKeyId: secrets.get(`${where}.access_key_id`),
        accessKeySecret: secrets.get(`${where}.access_key_secret`),
      });
      return headers;
    }

    function sendBody(encoded: { body: Buffer; rawSize: number; md5: string }, signal: AbortSignal): Promise<SendVerdict> {
      return exchange({
        timeout: opts.timeout,
        request: async (abort) => (await connection()).request({ path, method: 'POST', headers: signedHeaders(encoded), body: encoded.body, signal: abort }),
        interpret: (a) => verdictFor(a.status, a.headers, a.text),
        refreshSecrets,
        scrub: (text, cut) => (cut ? scrubCut(text) : scrub(text)),
      }, signal);
    }
  },
};

/** SLS error codes worth another try: the service busy or out of quota for now, or a request that timed out. */
const RETRY_CODES = new Set(['InternalServerError', 'ServerBusy', 'RequestTimeout', 'RequestTimeExpired', 'WriteQuotaExceed', 'ShardWriteQuotaExceed', 'ExceedQuota', 'ProjectQpsLimit']);
/** Refused for its size: the delivery layer sends the halves. */
const TOO_LARGE_CODES = new Set(['PostBodyTooLarge', 'InvalidLogSize']);
/** Refused for what a log holds (a time out of range, a bad key, bytes that are not UTF-8): halves, down to the log at fault. */
const INVALID_CODES = new Set(['PostBodyInvalid', 'InvalidTimestamp', 'InvalidEncoding', 'InvalidKey']);

/** SLS's error body, `{"errorCode": …, "errorMessage": …}`, when the answer is one. */
function slsError(text: string): { code: string; message: string } | undefined {
  try {
    const doc = JSON.parse(text) as { errorCode?: unknown; errorMessage?: unknown };
    if (typeof doc.errorCode === 'string' && doc.errorCode !== '') return { code: doc.errorCode, message: String(doc.errorMessage ?? '') };
  } catch {
    // not SLS's shape: a proxy's or load balancer's page
  }
  return undefined;
}

/**
 * The answer table, in one place:
 * - 2xx: delivered.
 * - 408, 429, 5xx, and the codes of a busy or throttled service (WriteQuotaExceed and the other quota codes, which SLS
 *   sends with 403; InternalServerError; RequestTimeExpired, a clock that drifted): retry, after Retry-After if given.
 * - 413, PostBodyTooLarge: too large (the halves are sent).
 * - PostBodyInvalid, InvalidTimestamp, InvalidEncoding, InvalidKey: invalid (halves, down to the log at fault).
 * - everything else (SignatureNotMatch, Unauthorized, ProjectNotExist, LogStoreNotExist, …): reject, to the
 *   dead-letter file, with SLS's code and message as the reason.
 */
export function verdictFor(status: number, headers: IncomingHttpHeaders, body: string, now = Date.now()): SendVerdict {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const err = slsError(body);
  const requestId = headers['x-log-requestid'];
  const text = err === undefined ? snippet(body) : snippet(`${err.code}: ${err.message}`);
  const reason = `SLS HTTP ${status}${text === '' ? '' : `: ${text}`}${typeof requestId === 'string' ? ` (request ${requestId})` : ''}`;
  const code = err?.code ?? '';
  if (status === 408 || status === 429 || status >= 500 || RETRY_CODES.has(code) || /QuotaExceed/.test(code)) {
    const afterMs = retryAfterMs(headers['retry-after'], now);
    return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs };
  }
  if (status === 413 || TOO_LARGE_CODES.has(code)) return { kind: 'too_large', reason };
  if (INVALID_CODES.has(code)) return { kind: 'invalid', reason };
  return { kind: 'reject', reason };
}
