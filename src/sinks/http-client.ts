// The HTTP transport shared by the sinks that speak HTTP (http, elasticsearch, loki): auth, TLS, secrets that follow
// their files, one deadline per request, and error answers turned into verdicts without leaking a secret.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher, Pool } from 'undici';
import { z } from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import { LiveSecrets, type SecretField } from '../config/live-secrets.ts';
import { secretRefSchema } from '../config/secret.ts';
import { readTlsFile, tlsSchema } from '../config/tls-files.ts';
import { duration } from '../config/units.ts';
import type { SendVerdict, SinkContext } from './types.ts';

export const USER_AGENT = `kaudit/${pkg.version}`;
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

export const LINE_BREAK = /[\r\n\0]/;

const basicSchema = z.strictObject({
  username: z.string().min(1).regex(/^[^:\r\n\0]*$/, 'a basic-auth username cannot contain ":" or line breaks'),
  password: secretRefSchema,
});

const bearerForm = '{ bearer: <secret> }';
const basicForm = '{ basic: { username: NAME, password: <secret> } }';

/** Exactly one auth method; an object rather than a union so a bad field is named in the error. */
function exactlyOne<S extends z.core.$ZodShape>(shape: S, forms: string[]) {
  return z.strictObject(shape).refine((a) => Object.values(a).filter((m) => m !== undefined).length === 1, {
    message: `expected exactly one of ${forms.join(' or ')}`,
  });
}

export const authSchema = exactlyOne({ bearer: secretRefSchema.optional(), basic: basicSchema.optional() }, [bearerForm, basicForm]);

/** With `api_key`: the encoded key Elasticsearch and OpenSearch hand out, sent as `Authorization: ApiKey <key>`. */
export const authWithApiKeySchema = exactlyOne(
  { bearer: secretRefSchema.optional(), basic: basicSchema.optional(), api_key: secretRefSchema.optional() },
  [bearerForm, basicForm, '{ api_key: <secret> }'],
);

/** With `splunk`: a Splunk HTTP Event Collector token, sent as `Authorization: Splunk <token>`. */
export const authWithSplunkSchema = exactlyOne(
  { bearer: secretRefSchema.optional(), basic: basicSchema.optional(), splunk: secretRefSchema.optional() },
  [bearerForm, basicForm, '{ splunk: <secret> }'],
);

export type AuthConfig = Partial<z.infer<typeof authWithApiKeySchema> & z.infer<typeof authWithSplunkSchema>>;

export { tlsSchema };

export type TlsConfig = z.infer<typeof tlsSchema>;

/** An http:// or https:// URL without credentials in it. */
export const urlSchema = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .refine((u) => { const p = URL.parse(u); return p === null || (p.username === '' && p.password === ''); }, 'credentials in the URL are not accepted; use auth');

/** Whole request, connect to last response byte; past it the batch is retried. */
export const timeoutSchema = duration.refine((ms) => ms > 0 && ms <= 3_600_000, 'expected a timeout between 1ms and 1h').default(30_000);

/** Body compression, for sinks whose backends all take gzip bodies (gzip by default). */
export const compressionFields = {
  compression: z.enum(['none', 'gzip']).default('gzip'),
  /** 1 is fastest and keeps most of the ratio on JSON. */
  gzip_level: z.number().int().min(1).max(9).default(1),
};

/** What `tls` refuses beside this URL, as `field: why`. */
export function tlsRefusals(url: string, tls: TlsConfig | undefined): string[] {
  return tls && new URL(url).protocol !== 'https:' ? ['tls: only used with https:// URLs'] : [];
}

export const headerSafe = (value: string): string | undefined =>
  (LINE_BREAK.test(value) ? 'contains a line break, which cannot go into an HTTP header' : undefined);

/** The auth secrets, named by their fields. */
export function authSecretFields(auth: AuthConfig | undefined, where: string): SecretField[] {
  const fields: SecretField[] = [];
  if (auth?.bearer) fields.push({ field: `${where}.auth.bearer`, ref: auth.bearer, check: headerSafe });
  if (auth?.api_key) fields.push({ field: `${where}.auth.api_key`, ref: auth.api_key, check: headerSafe });
  if (auth?.splunk) fields.push({ field: `${where}.auth.splunk`, ref: auth.splunk, check: headerSafe });
  if (auth?.basic) fields.push({ field: `${where}.auth.basic.password`, ref: auth.basic.password });
  return fields;
}

/** Sets the Authorization header from the auth's current secrets; returns the values as they go on the wire. */
export function applyAuth(auth: AuthConfig | undefined, where: string, values: LiveSecrets, headers: Record<string, string>): string[] {
  if (auth?.bearer) {
    const token = values.get(`${where}.auth.bearer`);
    headers.authorization = `Bearer ${token}`;
    return [token];
  }
  if (auth?.api_key) {
    const key = values.get(`${where}.auth.api_key`);
    headers.authorization = `ApiKey ${key}`;
    return [key];
  }
  if (auth?.splunk) {
    const token = values.get(`${where}.auth.splunk`);
    headers.authorization = `Splunk ${token}`;
    return [token];
  }
  if (auth?.basic) {
    const password = values.get(`${where}.auth.basic.password`);
    const credentials = Buffer.from(`${auth.basic.username}:${password}`, 'utf8').toString('base64');
    headers.authorization = `Basic ${credentials}`;
    return [password, credentials];
  }
  return [];
}

/** The options every HTTP sink has. */
interface HttpSinkOptions {
  url: string;
  tls?: TlsConfig;
  timeout: number;
  auth?: AuthConfig;
}

/**
 * The client of a sink with the common options, whose headers are `headers` plus the auth's: refuses what
 * `tlsRefusals` refuses (for a sink created without the preflight, as the preflight words it).
 */
export async function sinkClient(opts: HttpSinkOptions, ctx: SinkContext, headers: Record<string, string>): Promise<HttpClient> {
  const where = `sinks.${ctx.name}`;
  const [refused] = tlsRefusals(opts.url, opts.tls);
  if (refused !== undefined) throw new Error(`${where}.${refused}`);
  return HttpClient.create({
    url: opts.url, tls: opts.tls, timeout: opts.timeout, concurrency: ctx.concurrency ?? 1, where, logger: ctx.logger,
    secrets: authSecretFields(opts.auth, where),
    headers: (values) => {
      const all = { ...headers };
      return { headers: all, secrets: applyAuth(opts.auth, where, values, all) };
    },
  });
}

/** An answer that is not a transport failure: its status, headers and body text (scrubbed of secrets). */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The whole body for 2xx answers when asked for (`readSuccess`), else the start of an error body. */
  text: string;
}

export interface HttpClientOptions {
  url: string;
  tls: TlsConfig | undefined;
  timeout: number;
  /** Batches sent at once: one connection each. */
  concurrency: number;
  /** Every secret the request headers carry, by field. */
  secrets: SecretField[];
  /** The request headers from the secrets' current values, with each secret as it goes on the wire (for scrubbing). */
  headers(values: LiveSecrets): { headers: Record<string, string>; secrets: string[] };
  /** Where errors and logs name the sink: `sinks.<name>`. */
  where: string;
  logger: Logger;
}

/** One request: the method, the path and query (default the URL's) and the answer's meaning. */
export interface HttpRequest {
  method: 'POST' | 'PUT';
  path?: string;
  body: Buffer;
  /** Read a 2xx body whole, up to this many bytes (a bulk API's per-item results); unset: drain and drop it. */
  readSuccess?: number;
  /** What an answer means; default `verdictFor`. Called with 2xx answers only when `readSuccess` is set. */
  interpret?: (answer: HttpAnswer) => SendVerdict;
}

export class HttpClient {
  readonly #opts: HttpClientOptions;
  readonly #secrets: LiveSecrets;
  readonly #poolOptions: Pool.Options;
  readonly #origin: string;
  readonly #path: string;
  #built: { headers: Record<string, string>; secrets: string[] };
  #scrub: Scrubber;
  #pool: Promise<Pool> | undefined;

  private constructor(opts: HttpClientOptions, secrets: LiveSecrets, poolOptions: Pool.Options) {
    this.#opts = opts;
    this.#secrets = secrets;
    this.#poolOptions = poolOptions;
    const url = new URL(opts.url);
    this.#origin = url.origin;
    this.#path = `${url.pathname}${url.search}`;
    this.#built = opts.headers(secrets);
    this.#scrub = scrubber(this.#built.secrets);
  }

  /** Resolves the secrets and reads the TLS files; throws naming the field. */
  static async create(opts: HttpClientOptions): Promise<HttpClient> {
    const tls = opts.tls;
    // Secrets from files are read again when the files change (checked on the way to a request, and on SIGHUP).
    const secrets = await LiveSecrets.resolve(opts.secrets, opts.logger);
    if (tls?.insecure_skip_verify) opts.logger.warn('tls.insecure_skip_verify is set: the server certificate is not verified');
    const poolOptions: Pool.Options = {
      connect: {
        ca: tls?.ca_file ? await readTlsFile(tls.ca_file, `${opts.where}.tls.ca_file`) : undefined,
        cert: tls?.cert_file ? await readTlsFile(tls.cert_file, `${opts.where}.tls.cert_file`) : undefined,
        key: tls?.key_file ? await readTlsFile(tls.key_file, `${opts.where}.tls.key_file`) : undefined,
        servername: tls?.server_name,
        rejectUnauthorized: !tls?.insecure_skip_verify,
        timeout: Math.min(opts.timeout, 10_000),
      },
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      // One connection per batch the delivery layer sends at once; with one, requests keep their order on it.
      connections: opts.concurrency,
    };
    return new HttpClient(opts, secrets, poolOptions);
  }

  /** The URL's path and query. */
  get path(): string {
    return this.#path;
  }

  /** Reads the secret files again; true when a value changed. */
  async refreshSecrets(now = false): Promise<boolean> {
    if (!(await this.#secrets.refresh(now))) return false;
    // The values replaced stay scrubbed: an answer to a request sent with them may still echo them.
    const replaced = this.#built.secrets;
    this.#built = this.#opts.headers(this.#secrets);
    this.#scrub = scrubber([...this.#built.secrets, ...replaced]);
    return true;
  }

  // undici (~110 modules, 80–90 ms to load with the compile cache warm) is loaded for the first request, not at
  // start: by then the reader and the parse worker are busy with the first blocks, which would otherwise wait.
  #connection(): Promise<Pool> {
    return (this.#pool ??= import('undici').then((undici) => new undici.Pool(this.#origin, this.#poolOptions)));
  }

  send(req: HttpRequest, signal: AbortSignal): Promise<SendVerdict> {
    return exchange({
      timeout: this.#opts.timeout,
      readSuccess: req.readSuccess,
      interpret: req.interpret ?? ((a: HttpAnswer) => verdictFor(a.status, a.headers, a.text)),
      // The headers are taken after the secrets were refreshed.
      request: async (abort) => (await this.#connection()).request({
        path: req.path ?? this.#path, method: req.method, headers: this.#built.headers, body: req.body, signal: abort,
      }),
      refreshSecrets: (now) => this.refreshSecrets(now),
      scrub: (text, cut) => (cut ? this.#scrub.scrubCut(text) : this.#scrub.scrub(text)),
    }, signal);
  }

  async close(): Promise<void> {
    if (this.#pool !== undefined) await (await this.#pool).close();
  }
}

/** What one request needs from its sink; `exchange` does the rest, the same way for every sink that speaks HTTP. */
export interface ExchangeSpec {
  /** Whole request, connect to last response byte; past it the batch is retried. */
  timeout: number;
  /** Sends the request (its headers built after `refreshSecrets`), aborted with `abort`. */
  request(abort: AbortSignal): Promise<Dispatcher.ResponseData>;
  /** Read a 2xx body whole, up to this many bytes (a bulk API's per-item results); unset: drain and drop it. */
  readSuccess?: number;
  /** What an answer means; called with 2xx answers only when `readSuccess` is set. */
  interpret(answer: HttpAnswer): SendVerdict;
  /** Reads the secret files again (at once with `now`); true when a value changed. */
  refreshSecrets(now?: boolean): Promise<boolean>;
  /** Blanks the secrets in a text; `cut`: the text was cut short (a secret's beginning may end it). */
  scrub(text: string, cut: boolean): string;
}

/**
 * One request and its answer as a verdict: one deadline for the whole exchange (the caller's signal, shutdown, aborts
 * it too); a 2xx drained so the connection is reused (or read, when asked); an error answer read for its reason; a
 * 401/403 refused with a secret that has changed in its file since is sent again rather than dead-lettered;
 * connection errors and timeouts retried, named by their code.
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
      if (spec.readSuccess === undefined) {
        // The backend has the batch; a failure while draining its answer changes nothing.
        await res.body.dump({ limit: DRAIN_BYTES }).catch(() => {});
        return { kind: 'delivered' };
      }
      const text = spec.scrub(await readAll(res.body, spec.readSuccess), false);
      return spec.interpret({ status: res.statusCode, headers: res.headers, text });
    }
    const head = await readHead(res.body);
    const verdict = spec.interpret({ status: res.statusCode, headers: res.headers, text: spec.scrub(head.text, head.cut) });
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
  const reason = statusReason(status, bodySnippet);
  if (status === 408 || status === 429 || status >= 500) return retryVerdict(reason, headers, now);
  if (status === 413) return { kind: 'too_large', reason };
  if (status === 400 || status === 422) return { kind: 'invalid', reason };
  return { kind: 'reject', reason };
}

/** `HTTP <status>: <start of the body>`. */
export function statusReason(status: number, bodySnippet: string): string {
  const text = snippet(bodySnippet);
  return text === '' ? `HTTP ${status}` : `HTTP ${status}: ${text}`;
}

/** A retry, after the answer's Retry-After when it has one. */
export function retryVerdict(reason: string, headers: IncomingHttpHeaders, now = Date.now()): SendVerdict {
  const afterMs = retryAfterMs(headers['retry-after'], now);
  return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs };
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

/** The first SNIPPET_BYTES bytes of a text, on one line, without a broken UTF-8 character at the end. */
export function snippet(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  const bytes = Buffer.from(flat, 'utf8');
  if (bytes.length <= SNIPPET_BYTES) return flat;
  return bytes.subarray(0, SNIPPET_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
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

/** A whole body, up to `limit` bytes (past it the answer is cut: its reader decides what a cut answer means). */
async function readAll(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    parts.push(chunk);
    total += chunk.length;
    if (total > limit) break; // leaving the loop destroys the body and its connection
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
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
