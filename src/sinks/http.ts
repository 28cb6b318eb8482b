// The `http` sink: each batch is one POST (or PUT) of NDJSON or a JSON array, optionally gzipped, over undici.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { z } from 'zod';
import type { LiveSecrets, SecretField } from '../config/live-secrets.ts';
import { secretRefSchema } from '../config/secret.ts';
import { BodyPool, bodySize, writeBody } from './encode.ts';
import {
  applyAuth, authSchema, authSecretFields, headerSafe, HttpClient, LINE_BREAK, timeoutSchema, tlsRefusals, tlsSchema, urlSchema, USER_AGENT,
} from './http-client.ts';
import type { SinkKind } from './types.ts';

export { retryAfterMs, verdictFor } from './http-client.ts';

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

const options = z.object({
  /** Where batches go: an http:// or https:// URL, path and query included. */
  url: urlSchema,
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
  timeout: timeoutSchema,
});

type HttpOptions = z.infer<typeof options>;

/** Settings the schema accepts one by one but that do not go together, each as `field: why`. */
function refusals(opts: HttpOptions): string[] {
  const out = tlsRefusals(opts.url, opts.tls);
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
    const where = `sinks.${ctx.name}`;
    // What the preflight reports, for a sink created without it (the first problem, as the preflight words it).
    const [refused] = refusals(opts);
    if (refused !== undefined) throw new Error(`${where}.${refused}`);
    const client = await HttpClient.create({
      url: opts.url, tls: opts.tls, timeout: opts.timeout, concurrency, where, logger: ctx.logger,
      secrets: secretFields(opts, where),
      headers: (values) => buildHeaders(opts, where, values),
    });
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
        return client.send({ method: opts.method, body: encoded.body }, signal);
      },
      async reload() {
        await client.refreshSecrets(true);
      },
      async close() {
        await client.close();
      },
    };
  },
};

/** The secrets of a sink's config, named by their fields: secret header values, the bearer token, the basic password. */
function secretFields(opts: HttpOptions, where: string): SecretField[] {
  const fields: SecretField[] = [];
  for (const [name, value] of Object.entries(opts.headers)) {
    if (typeof value !== 'string') fields.push({ field: `${where}.headers.${name}`, ref: value, check: headerSafe });
  }
  return [...fields, ...authSecretFields(opts.auth, where)];
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
  secrets.push(...applyAuth(opts.auth, where, values, headers));
  return { headers, secrets };
}
