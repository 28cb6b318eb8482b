// The `http` sink: each batch is one POST (or PUT) of NDJSON or a JSON array, optionally gzipped, over undici.
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Dispatcher, Pool } from 'undici';
import { z } from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import { path } from '../config/fields.ts';
import { LiveSecrets, type SecretField } from '../config/live-secrets.ts';
import { secretRefSchema } from '../config/secret.ts';
import { duration } from '../config/units.ts';
import { BodyPool, bodySize, writeBody } from './encode.ts';
import type { SendVerdict, SinkKind } from './types.ts';

const USER_AGENT = `kaudit/${pkg.version}`;
/** Bytes of a failed response's body quoted in the verdict reason. */
const SNIPPET_BYTES = 300;
/** Bytes of a failed response's body kept for the reason: scrubbed of secrets whole, then cut to SNIPPET_BYTES. */
const KEEP_BYTES = 8 * 1024;
/**
 * Bytes of a response body read to completion so the connection can be reused; beyond this it is dropped.
 * Above undici's 64 KiB stream buffer, since smaller bodies free the connection even unread.
 */
const DRAIN_BYTES = 256 * 1024;
const REDACTED = '[redacted]';

// zlib's async gzip runs on the libuv thread pool, off the main thread.
const gzip = promisify(gzipCallback);

/** A batch as it goes on the wire; `mem` is the pooled memory behind `body`, reused once the batch is done. */
interface Encoded {
  body: Buffer;
  mem?: Buffer;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Framing and hop-by-hop headers: the sink and undici set them from the body and the connection. */
const RESERVED_HEADERS = new Set([
  'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
]);
const LINE_BREAK = /[\r\n\0]/;

const headersSchema = z.record(
  z.string(),
  z.union([z.string(), secretRefSchema], { error: 'expected a string or a secret reference { env: NAME } or { file: PATH }' }),
).superRefine((headers, ctx) => {
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid HTTP header name' });
    else if (RESERVED_HEADERS.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: 'this header is set by the sink itself' });
    else if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: 'header given twice (names are case-insensitive)' });
    if (typeof value === 'string' && LINE_BREAK.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'header values cannot contain line breaks' });
    }
    seen.add(lower);
  }
});

/** Exactly one of `bearer` and `basic`; an object rather than a union so a bad field is named in the error. */
const authSchema = z.strictObject({
  bearer: secretRefSchema.optional(),
  basic: z.strictObject({
    username: z.string().min(1).regex(/^[^:\r\n\0]*$/, 'a basic-auth username cannot contain ":" or line breaks'),
    password: secretRefSchema,
  }).optional(),
}).refine((a) => (a.bearer === undefined) !== (a.basic === undefined), {
  message: 'expected exactly one of { bearer: <secret> } or { basic: { username: NAME, password: <secret> } }',
});

const tlsSchema = z.strictObject({
  /** PEM bundle of CAs trusted for the server certificate, instead of the system store. */
  ca_file: path({ readAtStart: true }).optional(),
  /** Client certificate (PEM) for mutual TLS; needs key_file. */
  cert_file: path({ readAtStart: true }).optional(),
  key_file: path({ readAtStart: true }).optional(),
  /** Name sent as SNI and checked against the certificate, when it differs from the URL's host. */
  server_name: z.string().min(1).optional(),
  /** Accept any server certificate. For tests only: it gives up the server's identity. */
  insecure_skip_verify: z.boolean().default(false),
}).refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
  message: 'cert_file and key_file go together (a client certificate and its key)',
});

const options = z.object({
  /** Where batches go: an http:// or https:// URL, path and query included. */
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .refine((u) => { const p = URL.parse(u); return p === null || (p.username === '' && p.password === ''); }, 'credentials in the URL are not accepted; use auth'),
  method: z.enum(['POST', 'PUT']).default('POST'),
  /** `ndjson`: one record per line. `json_array`: one JSON array per batch. */
  format: z.enum(['ndjson', 'json_array']).default('ndjson'),
  compression: z.enum(['none', 'gzip']).default('none'),
  /** 1 is fastest and keeps most of the ratio on JSON. */
  gzip_level: z.number().int().min(1).max(9).default(1),
  /** Extra request headers: a value, or a secret reference { env: NAME } / { file: PATH }. */
  headers: headersSchema.default({}),
  auth: authSchema.optional(),
  tls: tlsSchema.optional(),
  /** Whole request, connect to last response byte; past it the batch is retried. */
  timeout: duration.refine((ms) => ms > 0 && ms <= 3_600_000, 'expected a timeout between 1ms and 1h').default(30_000),
});

type HttpOptions = z.infer<typeof options>;

/** Settings the schema accepts one by one but that do not go together, each as `field: why`. */
function refusals(opts: HttpOptions): string[] {
  const out: string[] = [];
  if (opts.tls && new URL(opts.url).protocol !== 'https:') out.push('tls: only used with https:// URLs');
  if (opts.auth && Object.keys(opts.headers).some((name) => name.toLowerCase() === 'authorization')) {
    out.push('headers.Authorization: set either auth or an Authorization header, not both');
  }
  return out;
}

export const httpSink: SinkKind<typeof options> = {
  options,
  preflight: (opts) => refusals(opts),
  async create(opts, ctx) {
    const concurrency = ctx.concurrency ?? 1;
    const url = new URL(opts.url);
    const where = `sinks.${ctx.name}`;
    // What the preflight reports, for a sink created without it (the first problem, as the preflight words it).
    const [refused] = refusals(opts);
    if (refused !== undefined) throw new Error(`${where}.${refused}`);
    // Secrets from files are read again when the files change (checked on the way to a request, and on SIGHUP).
    const secrets = await LiveSecrets.resolve(secretFields(opts, where), ctx.logger);
    let built = buildHeaders(opts, where, secrets);
    let { scrub, scrubCut } = scrubber(built.secrets);
    const refreshSecrets = async (now = false): Promise<boolean> => {
      if (!(await secrets.refresh(now))) return false;
      // The values replaced stay scrubbed: an answer to a request sent with them may still echo them.
      const replaced = built.secrets;
      built = buildHeaders(opts, where, secrets);
      ({ scrub, scrubCut } = scrubber([...built.secrets, ...replaced]));
      return true;
    };
    const tls = opts.tls;
    if (tls?.insecure_skip_verify) {
      ctx.logger.warn('tls.insecure_skip_verify is set: the server certificate is not verified');
    }

    const poolOptions: Pool.Options = {
      connect: {
        ca: tls?.ca_file ? await readTlsFile(tls.ca_file, `${where}.tls.ca_file`) : undefined,
        cert: tls?.cert_file ? await readTlsFile(tls.cert_file, `${where}.tls.cert_file`) : undefined,
        key: tls?.key_file ? await readTlsFile(tls.key_file, `${where}.tls.key_file`) : undefined,
        servername: tls?.server_name,
        rejectUnauthorized: !tls?.insecure_skip_verify,
        timeout: Math.min(opts.timeout, 10_000),
      },
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      // One connection per batch the delivery layer sends at once; with one, requests keep their order on it.
      connections: concurrency,
    };
    // undici (~110 modules, 80–90 ms to load with the compile cache warm) is loaded for the first request, not at
    // start: by then the reader and the parse worker are busy with the first blocks, which would otherwise wait.
    let pool: Promise<Pool> | undefined;
    const connection = (): Promise<Pool> => (pool ??= import('undici').then((undici) => new undici.Pool(url.origin, poolOptions)));
    const path = `${url.pathname}${url.search}`;
    const format = opts.format === 'ndjson' ? 'ndjson' : 'json_array';
    // Body memory is reused, but only once no socket can still be writing it: undici hands a body to the socket
    // and resolves on the response, which a server may send before it has read the whole body. On a single
    // connection the answer to a later request proves every byte of the earlier bodies left (the socket writes in
    // order; a closed one writes nothing more). So with one connection a finished body waits out one more
    // delivered batch; with several (concurrency above 1) bodies are not reused.
    const reuseBodies = concurrency === 1;
    const bodies = new BodyPool();
    let waiting: Buffer | undefined;

    return {
      async encode(batch): Promise<Encoded | undefined> {
        if (batch.length === 0) return undefined;
        const size = bodySize(batch, format);
        const mem = bodies.take(size);
        const body = mem.subarray(0, writeBody(batch, format, mem));
        if (opts.compression !== 'gzip') return { body, mem };
        // The compressed copy goes on the wire; the plain body's memory is free again at once.
        const compressed = await gzip(body, { level: opts.gzip_level });
        bodies.give(mem);
        return { body: compressed };
      },
      release(encoded: Encoded | undefined) {
        if (encoded?.mem === undefined || !reuseBodies) return;
        if (waiting !== undefined) bodies.give(waiting);
        waiting = encoded.mem;
      },
      async send(encoded: Encoded | undefined, signal) {
        if (encoded === undefined) return { kind: 'delivered' };
        return sendBody(encoded.body, signal);
      },
      async reload() {
        await refreshSecrets(true);
      },
      async close() {
        if (pool !== undefined) await (await pool).close();
      },
    };

    function sendBody(body: Buffer, signal: AbortSignal): Promise<SendVerdict> {
      return exchange({
        timeout: opts.timeout,
        request: async (abort) => (await connection()).request({ path, method: opts.method, headers: built.headers, body, signal: abort }),
        verdictFor,
        refreshSecrets,
        scrub: (text, cut) => (cut ? scrubCut(text) : scrub(text)),
      }, signal);
    }
  },
};

/** What one request needs from its sink; `exchange` does the rest, the same way for every sink that speaks HTTP. */
export interface ExchangeSpec {
  /** Whole request, connect to last response byte; past it the batch is retried. */
  timeout: number;
  /** Sends the request (its headers built after `refreshSecrets`), aborted with `abort`. */
  request(abort: AbortSignal): Promise<Dispatcher.ResponseData>;
  /** The verdict on an answer that is not 2xx, from its status, headers and the start of its body (scrubbed). */
  verdictFor(status: number, headers: IncomingHttpHeaders, body: string): SendVerdict;
  /** Reads the secret files again (at once with `now`); true when a value changed. */
  refreshSecrets(now?: boolean): Promise<boolean>;
  /** Blanks the secrets in a text; `cut`: the text was cut short (a secret's beginning may end it). */
  scrub(text: string, cut: boolean): string;
}

/**
 * One request and its answer as a verdict: one deadline for the whole exchange (the caller's signal, shutdown, aborts
 * it too); a 2xx drained so the connection is reused; an error answer read for its reason; a 401/403 refused with a
 * secret that has changed in its file since is sent again rather than dead-lettered; connection errors and timeouts
 * retried, named by their code.
 */
export async function exchange(spec: ExchangeSpec, signal: AbortSignal): Promise<SendVerdict> {
  if (signal.aborted) return { kind: 'retry', reason: 'aborted before sending' };
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('timeout'));
  }, spec.timeout);
  try {
    await spec.refreshSecrets();
    const res = await spec.request(controller.signal);
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // The backend has the batch; a failure while draining its answer changes nothing.
      await res.body.dump({ limit: DRAIN_BYTES }).catch(() => {});
      return { kind: 'delivered' };
    }
    const head = await readHead(res.body);
    const verdict = spec.verdictFor(res.statusCode, res.headers, spec.scrub(head.text, head.cut));
    // A key revoked as soon as it was rotated: refused with the old value, the batch goes again with the new one.
    if ((res.statusCode === 401 || res.statusCode === 403) && verdict.kind === 'reject' && (await spec.refreshSecrets(true))) {
      return { kind: 'retry', reason: `${verdict.reason} (a secret file changed since; sending again with the new value)` };
    }
    return verdict;
  } catch (err) {
    if (signal.aborted) return { kind: 'retry', reason: 'request aborted (sink shutting down)' };
    if (timedOut) return { kind: 'retry', reason: `timeout: no complete response within ${spec.timeout}ms` };
    return { kind: 'retry', reason: spec.scrub(describeError(err), false) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The status table, in one place:
 * - 2xx: delivered.
 * - 408, 429, 5xx: retry, after Retry-After (delta-seconds or HTTP-date) when the backend gave one.
 * - 413: too large (the delivery layer sends the halves, and smaller batches from then on).
 * - 400, 422: invalid (the delivery layer sends the halves, until the record at fault is alone).
 * - 3xx and every other 4xx: reject (dead-letter), quoting the start of the body.
 * Connection errors, timeouts and TLS failures never reach here: `send` retries them, naming the error code.
 */
export function verdictFor(status: number, headers: IncomingHttpHeaders, bodySnippet: string, now = Date.now()): SendVerdict {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const text = snippet(bodySnippet);
  const reason = text === '' ? `HTTP ${status}` : `HTTP ${status}: ${text}`;
  if (status === 408 || status === 429 || status >= 500) {
    const afterMs = retryAfterMs(headers['retry-after'], now);
    return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs };
  }
  if (status === 413) return { kind: 'too_large', reason };
  if (status === 400 || status === 422) return { kind: 'invalid', reason };
  return { kind: 'reject', reason };
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP-date (a past date means now). */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // All three HTTP-date forms open with a day name; Date.parse alone would take "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The first SNIPPET_BYTES bytes of a body, on one line, without a broken UTF-8 character at the end. */
export function snippet(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  const bytes = Buffer.from(flat, 'utf8');
  if (bytes.length <= SNIPPET_BYTES) return flat;
  return bytes.subarray(0, SNIPPET_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
}

const headerSafe = (value: string): string | undefined =>
  (LINE_BREAK.test(value) ? 'contains a line break, which cannot go into an HTTP header' : undefined);

/** The secrets of a sink's config, named by their fields: secret header values, the bearer token, the basic password. */
function secretFields(opts: HttpOptions, where: string): SecretField[] {
  const fields: SecretField[] = [];
  for (const [name, value] of Object.entries(opts.headers)) {
    if (typeof value !== 'string') fields.push({ field: `${where}.headers.${name}`, ref: value, check: headerSafe });
  }
  if (opts.auth?.bearer) fields.push({ field: `${where}.auth.bearer`, ref: opts.auth.bearer, check: headerSafe });
  if (opts.auth?.basic) fields.push({ field: `${where}.auth.basic.password`, ref: opts.auth.basic.password });
  return fields;
}

/** The request headers with the secrets' current values, and every secret as it goes on the wire (for scrubbing). */
function buildHeaders(opts: HttpOptions, where: string, values: LiveSecrets): { headers: Record<string, string>; secrets: string[] } {
  const secrets: string[] = [];
  const headers: Record<string, string> = {
    'content-type': opts.format === 'ndjson' ? 'application/x-ndjson' : 'application/json',
    'user-agent': USER_AGENT,
  };
  if (opts.compression === 'gzip') headers['content-encoding'] = 'gzip';

  // Configured headers may replace content-type and user-agent (some backends insist on their own).
  for (const [name, value] of Object.entries(opts.headers)) {
    if (typeof value === 'string') {
      headers[name.toLowerCase()] = value;
      continue;
    }
    const secret = values.get(`${where}.headers.${name}`);
    secrets.push(secret);
    headers[name.toLowerCase()] = secret;
  }

  if (opts.auth?.bearer) {
    const token = values.get(`${where}.auth.bearer`);
    secrets.push(token);
    headers.authorization = `Bearer ${token}`;
  } else if (opts.auth?.basic) {
    const password = values.get(`${where}.auth.basic.password`);
    const credentials = Buffer.from(`${opts.auth.basic.username}:${password}`, 'utf8').toString('base64');
    secrets.push(password, credentials);
    headers.authorization = `Basic ${credentials}`;
  }
  return { headers, secrets };
}

async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

export interface Scrubber {
  /** Blanks every complete occurrence of a secret. */
  scrub(text: string): string;
  /** Also drops a secret's beginning left at the end, where the text was cut short. */
  scrubCut(text: string): string;
}

/**
 * Blanks every resolved secret in a text, in the forms a server might echo it: as is, JSON-escaped and
 * URL-encoded. Longest first, so a secret containing another goes whole.
 */
export function scrubber(secrets: readonly string[]): Scrubber {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === '') continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(encodeURIComponent(s));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  const scrub = (text: string) => ordered.reduce((t, form) => t.split(form).join(REDACTED), text);
  return {
    scrub,
    scrubCut(text) {
      // Scrub first: cutting first could split an occurrence that the scrub would have caught whole.
      let t = scrub(text).replace(/\uFFFD+$/, '');
      for (const form of ordered) {
        for (let k = Math.min(form.length - 1, t.length); k > 0; k--) {
          if (t.endsWith(form.slice(0, k))) {
            t = t.slice(0, -k);
            break;
          }
        }
      }
      return t;
    },
  };
}

/**
 * The start of an error response, for its reason, with the rest drained (up to DRAIN_BYTES) so the
 * connection is reused. `cut` says whether the body went on past what was kept.
 */
async function readHead(body: AsyncIterable<Buffer>): Promise<{ text: string; cut: boolean }> {
  const parts: Buffer[] = [];
  let kept = 0;
  let total = 0;
  try {
    for await (const chunk of body) {
      total += chunk.length;
      if (kept < KEEP_BYTES) {
        const part = chunk.subarray(0, KEEP_BYTES - kept);
        parts.push(part);
        kept += part.length;
      }
      if (total > DRAIN_BYTES) break; // leaving the loop destroys the body and its connection
    }
  } catch {
    // A body cut short still leaves the status, which decides the verdict.
    return { text: Buffer.concat(parts).toString('utf8'), cut: true };
  }
  return { text: Buffer.concat(parts).toString('utf8'), cut: total > kept };
}

/**
 * What the server did, for the failures where Node's and undici's own texts name only a symptom ("read ECONNRESET",
 * "other side closed", or a parser's complaint about a response cut short).
 */
const CLOSED_BY_SERVER = 'connection closed by the server before its response was complete';
const SERVER_ACTIONS: Record<string, string> = {
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server while the request was being sent',
  UND_ERR_SOCKET: CLOSED_BY_SERVER,
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: CLOSED_BY_SERVER,
  HPE_INVALID_EOF_STATE: CLOSED_BY_SERVER,
};

/** `CODE: what happened` for a connection, TLS or timeout error; the code is what operators search for. */
function describeError(err: unknown): string {
  const code = errorCode(err);
  const message = errorMessage(err);
  if (code !== undefined && SERVER_ACTIONS[code] !== undefined) return `${code}: ${SERVER_ACTIONS[code]}`;
  if (code === undefined) return message;
  return message === '' ? code : `${code}: ${message}`;
}

function errorCode(err: unknown, depth = 0): string | undefined {
  if (depth > 4 || typeof err !== 'object' || err === null) return undefined;
  const { code, cause, errors } = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  // Happy-eyeballs connects fail with an AggregateError over the addresses tried.
  if (Array.isArray(errors)) for (const e of errors) { const c = errorCode(e, depth + 1); if (c) return c; }
  return errorCode(cause, depth + 1);
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') return err.errors.map(errorMessage).join('; ');
  return err instanceof Error ? err.message : String(err);
}
