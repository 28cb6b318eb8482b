// The `http` sink: each batch is one POST (or PUT) of NDJSON or a JSON array, optionally gzipped, over undici.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { z } from 'zod';
import type { LiveSecrets, SecretField } from '../config/live-secrets.ts';
import { secretRefSchema } from '../config/secret.ts';
import type { OutRecord } from '../delivery/record.ts';
import { BodyPool, bodySize, writeBody, type BodyFormat } from './encode.ts';
import {
  applyAuth, authSecretFields, authWithSplunkSchema, headerSafe, HttpClient, LINE_BREAK, timeoutSchema, tlsRefusals, tlsSchema, urlSchema, USER_AGENT,
} from './http-client.ts';
import { compileTemplate } from './template.ts';
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

/** Headers that carry a credential: their value is a secret reference, never written into the config (README, Secrets). */
const CREDENTIAL_HEADER = /^(?:proxy-)?authorization$|^cookie$|token|secret|passw|api[-_]?key|access[-_]?key|auth[-_]?key/i;

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
    if (typeof value === 'string' && CREDENTIAL_HEADER.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'a credential header takes a secret reference { env: NAME } or { file: PATH } (inline secrets are not accepted)' });
    } else if (typeof value === 'string' && LINE_BREAK.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'header values cannot contain line breaks' });
    }
    seen.add(lower);
  }
});

const options = z.object({
  /** Where batches go: an http:// or https:// URL, path and query included. */
  url: urlSchema,
  method: z.enum(['POST', 'PUT']).default('POST'),
  /**
   * A receiver whose body shape differs, by name: `splunk_hec` (the HTTP Event Collector's event envelope) or `webhook`
   * (one alarm per request as a chat or incident tool's text message). It sets `format` and, unless given, `template`.
   */
  preset: z.enum(['splunk_hec', 'webhook']).optional(),
  /** `ndjson`: one record per line. `json_array`: one JSON array per batch. `single`: one record per request. */
  format: z.enum(['ndjson', 'json_array', 'single']).default('ndjson'),
  /** What each record becomes on the wire (src/sinks/template.ts): a JSON value whose strings take {{…}} from it. */
  template: z.unknown().optional(),
  compression: z.enum(['none', 'gzip']).default('none'),
  /** 1 is fastest and keeps most of the ratio on JSON. */
  gzip_level: z.number().int().min(1).max(9).default(1),
  /** Extra request headers: a value, or a secret reference { env: NAME } / { file: PATH }. */
  headers: headersSchema.default({}),
  auth: authWithSplunkSchema.optional(),
  tls: tlsSchema.optional(),
  timeout: timeoutSchema,
});

type HttpOptions = z.infer<typeof options>;

/** What each preset stands for (docs/sinks/http-presets.md). */
const PRESETS = {
  splunk_hec: {
    format: 'ndjson',
    template: { time: '{{time}}', source: 'kaudit:{{source}}', sourcetype: 'kaudit:{{kind}}', event: '{{record}}' },
  },
  webhook: {
    format: 'single',
    template: { text: '[{{rule.level}}] {{rule.name}} ({{rule.id}}), cluster {{cluster.name}}: {{summary}}' },
  },
} as const;

/** The body format and record template in force: the preset's, the template given replacing its own. */
function shapeOf(opts: HttpOptions): { format: 'ndjson' | 'json_array' | 'single'; template: unknown } {
  const preset = opts.preset === undefined ? undefined : PRESETS[opts.preset];
  return { format: preset?.format ?? opts.format, template: opts.template ?? preset?.template };
}

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
  // One record per request: batches are of one record.
  maxBatchEvents: (opts) => (shapeOf(opts).format === 'single' ? 1 : undefined),
  effective: (opts) => shapeOf(opts),
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
    const shape = shapeOf(opts);
    const format: BodyFormat = shape.format === 'json_array' ? 'json_array' : 'ndjson';
    const render = shape.template === undefined ? undefined : compileTemplate(shape.template);
    // Body memory is reused, but only once no socket can still be writing it: undici hands a body to the socket
    // and resolves on the response, which a server may send before it has read the whole body. On a single
    // connection the answer to a later request proves every byte of the earlier bodies left (the socket writes in
    // order; a closed one writes nothing more). So with one connection a finished body waits out one more
    // delivered batch; with several (concurrency above 1) bodies are not reused.
    const reuseBodies = concurrency === 1;
    const bodies = new BodyPool();
    let waiting: Buffer | undefined;
    const compress = async (body: Buffer): Promise<Encoded> => ({ body: opts.compression === 'gzip' ? await gzip(body, { level: opts.gzip_level }) : body });

    return {
      async encode(batch): Promise<Encoded | undefined> {
        if (batch.length === 0) return undefined;
        if (shape.format === 'single' && batch.length > 1) throw new Error(`format single sends one record per request, got ${batch.length}`);
        if (render !== undefined) batch = batch.map((r): OutRecord => ({ ...r, payload: render(r) }));
        // A single record goes as it is (no newline after it).
        if (shape.format === 'single') return compress(batch[0].payload);
        const size = bodySize(batch, format);
        const mem = bodies.take(size);
        const body = mem.subarray(0, writeBody(batch, format, mem));
        if (opts.compression !== 'gzip') return { body, mem };
        // The compressed copy goes on the wire; the plain body's memory is free again at once.
        const compressed = await compress(body);
        bodies.give(mem);
        return compressed;
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
    'content-type': shapeOf(opts).format === 'ndjson' ? 'application/x-ndjson' : 'application/json',
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
