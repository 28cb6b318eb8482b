// The `elasticsearch` sink: each batch is one _bulk request (Elasticsearch 7/8/9, OpenSearch), documents keyed by the
// record's stable id so that a batch sent again after a crash or a retry does not duplicate them.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { z } from 'zod';
import type { OutRecord } from '../delivery/record.ts';
import { authWithApiKeySchema, compressionFields, retryVerdict, sinkClient, timeoutSchema, tlsRefusals, tlsSchema, urlSchema, USER_AGENT, verdictFor, type HttpAnswer } from './http-client.ts';
import { now, recordTime } from './record-time.ts';
import type { SendVerdict, SinkKind } from './types.ts';

const gzip = promisify(gzipCallback);

/** Largest bulk response read: per-item results of a batch of a million records with their errors fit. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Characters Elasticsearch refuses in index names (its own list), and the date tokens of a pattern. */
const INDEX_FORBIDDEN = /[\\/*?"<>| ,#:A-Z]/;
const DATE_TOKEN = /%[YmdH%]/g;

/** An index name with date tokens: %Y %m %d %H (UTC, from the record's time), %% a percent sign. */
const indexPattern = z.string().min(1).max(255).superRefine((p, ctx) => {
  const fixed = p.replace(DATE_TOKEN, 'x');
  if (/%/.test(fixed)) ctx.addIssue({ code: 'custom', message: 'unknown date token; use %Y, %m, %d, %H or %%' });
  else if (INDEX_FORBIDDEN.test(fixed)) ctx.addIssue({ code: 'custom', message: 'index names are lowercase, without spaces or any of \\ / * ? " < > | , # :' });
  else if (/^[-_+.]/.test(fixed)) ctx.addIssue({ code: 'custom', message: 'index names cannot start with -, _, + or .' });
});

const options = z.object({
  /** The cluster's URL (a path prefix, for a proxy, is kept): batches go to `<url>/_bulk`. */
  url: urlSchema,
  /** Index of the logs (audit events); a data stream works too (documents are written with `create`). */
  index: indexPattern.default('kaudit-audit-%Y.%m.%d'),
  /** Index of the alarms: a regular index or an alias, since an alarm's update replaces its document (`index`). */
  alarm_index: indexPattern.default('kaudit-alarms-%Y.%m.%d'),
  /** An ingest pipeline every document goes through. */
  pipeline: z.string().min(1).regex(/^[^\s&?#/]+$/, 'expected a pipeline name').optional(),
  /** Field added to each document with the record's time, for Kibana and OpenSearch Dashboards; "" adds none. */
  timestamp_field: z.string().regex(/^[^"\\]*$/, 'a field name without quotes or backslashes').default('@timestamp'),
  ...compressionFields,
  auth: authWithApiKeySchema.optional(),
  tls: tlsSchema.optional(),
  timeout: timeoutSchema,
});

export const elasticsearchSink: SinkKind<typeof options> = {
  options,
  preflight: (opts) => tlsRefusals(opts.url, opts.tls),
  async create(opts, ctx) {
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', 'user-agent': USER_AGENT };
    if (opts.compression === 'gzip') headers['content-encoding'] = 'gzip';
    const client = await sinkClient(opts, ctx, headers);
    const base = client.path.replace(/\/+$/, '');
    const path = `${base}/_bulk${opts.pipeline === undefined ? '' : `?pipeline=${encodeURIComponent(opts.pipeline)}`}`;
    const logIndex = new IndexNames(opts.index);
    const alarmIndex = new IndexNames(opts.alarm_index);
    const stamp = opts.timestamp_field === '' ? undefined : Buffer.from(`{${JSON.stringify(opts.timestamp_field)}:"`);

    return {
      async encode(batch) {
        if (batch.length === 0) return undefined;
        const body = bulkBody(batch, logIndex, alarmIndex, stamp);
        return opts.compression === 'gzip' ? { body: await gzip(body, { level: opts.gzip_level }), n: batch.length } : { body, n: batch.length };
      },
      async send(encoded: { body: Buffer; n: number } | undefined, signal) {
        if (encoded === undefined) return { kind: 'delivered' };
        return client.send({
          method: 'POST', path, body: encoded.body, readSuccess: MAX_RESPONSE_BYTES,
          interpret: (answer) => bulkVerdict(answer, encoded.n),
        }, signal);
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

/** Index names from a pattern, for the hour at hand (the last one is kept: a batch is mostly one hour). */
export class IndexNames {
  readonly #pattern: string;
  readonly #dated: boolean;
  #hour = -1;
  #name = '';

  constructor(pattern: string) {
    this.#pattern = pattern;
    this.#dated = /%[YmdH]/.test(pattern);
  }

  at(ms: number): string {
    const hour = Math.floor(ms / 3_600_000);
    if (hour === this.#hour) return this.#name;
    const d = new Date(ms);
    const two = (n: number) => String(n).padStart(2, '0');
    const values: Record<string, string> = {
      '%Y': String(d.getUTCFullYear()), '%m': two(d.getUTCMonth() + 1), '%d': two(d.getUTCDate()), '%H': two(d.getUTCHours()), '%%': '%',
    };
    this.#name = this.#pattern.replace(DATE_TOKEN, (t) => values[t]);
    this.#hour = this.#dated ? hour : -1;
    return this.#name;
  }
}

/**
 * The bulk body: per record an action line and the document. Logs are written with `create`: a document already
 * there (a record sent again) is refused with 409 and nothing changes. Alarms with `index`, versioned by their count
 * (`external_gte`): an update of an alarm (same id, higher count) replaces its document, and an older one arriving
 * late (batches in flight at once, a batch sent again) is refused with 409 instead of replacing a newer one.
 */
export function bulkBody(batch: readonly OutRecord[], logIndex: IndexNames, alarmIndex: IndexNames, stamp: Buffer | undefined): Buffer {
  const parts: Buffer[] = [];
  for (const r of batch) {
    const alarm = r.kind === 'alarm';
    const time = recordTime(r, 'firstSeen') ?? now();
    const index = (alarm ? alarmIndex : logIndex).at(time.ms);
    const version = alarm ? alarmCount(r.payload) : undefined;
    const versioning = version === undefined ? '' : `,"version":${version},"version_type":"external_gte"`;
    parts.push(Buffer.from(`{"${alarm ? 'index' : 'create'}":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(r.id)}${versioning}}}\n`));
    const payload = r.payload;
    // The time field goes first in the object; a document that has one already, or is not an object, stays as it is.
    if (stamp !== undefined && payload[0] === 0x7b && payload.indexOf(stamp.subarray(1, stamp.length - 1)) < 0) {
      const empty = /^\{\s*\}$/.test(payload.toString('latin1', 0, Math.min(payload.length, 16)));
      parts.push(stamp, Buffer.from(`${time.text}"${empty ? '' : ','}`), payload.subarray(1));
    } else {
      parts.push(payload);
    }
    parts.push(NEWLINE);
  }
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');
const COUNT_KEY = Buffer.from('"count":');

/** An alarm's `count`: its own fields come before the event it quotes, so the first `"count":` is its own. */
function alarmCount(payload: Buffer): number | undefined {
  const at = payload.indexOf(COUNT_KEY);
  if (at < 0) return undefined;
  const m = /^\d{1,15}/.exec(payload.toString('latin1', at + COUNT_KEY.length, at + COUNT_KEY.length + 16));
  return m === null ? undefined : Number(m[0]);
}

interface BulkItem {
  status?: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } } | string;
}

/**
 * A bulk answer, item by item (items come in the order of the actions). A whole-request status is read as any HTTP
 * answer (413 too large, 429/5xx retried, 400 invalid). Per item: 2xx, and 409 (the document is there already), are
 * delivered; 429 and 5xx retry the whole batch (ids are stable: what went in is not written twice); any other status
 * refuses that record, with Elasticsearch's error type and reason.
 */
export function bulkVerdict(answer: HttpAnswer, n: number): SendVerdict {
  if (answer.status < 200 || answer.status >= 300) return verdictFor(answer.status, answer.headers, answer.text);
  let parsed: { errors?: boolean; items?: Array<Record<string, BulkItem>> };
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    return { kind: 'retry', reason: `bulk answer is not JSON (HTTP ${answer.status}, ${answer.text.length} bytes)` };
  }
  if (parsed.errors !== true) return { kind: 'delivered' };
  const items = parsed.items ?? [];
  if (items.length !== n) return { kind: 'retry', reason: `bulk answer has ${items.length} items for ${n} documents` };
  const refused: Array<{ index: number; reason: string }> = [];
  let retry: string | undefined;
  let retries = 0;
  items.forEach((entry, index) => {
    const item = Object.values(entry)[0] ?? {};
    const status = item.status ?? 0;
    if ((status >= 200 && status < 300) || status === 409) return;
    const reason = `item ${status} ${describeItemError(item.error)}`;
    if (status === 429 || status >= 500) {
      retry ??= reason;
      retries += 1;
    } else {
      refused.push({ index, reason });
    }
  });
  if (retry !== undefined) return retryVerdict(`bulk: ${retries} of ${n} documents refused for now; first: ${retry}`, answer.headers);
  return refused.length === 0 ? { kind: 'delivered' } : { kind: 'partial', refused };
}

function describeItemError(error: BulkItem['error']): string {
  if (error === undefined) return '(no error given)';
  if (typeof error === 'string') return error;
  const cause = error.caused_by?.reason === undefined ? '' : ` (caused by ${error.caused_by.type ?? 'error'}: ${error.caused_by.reason})`;
  return `${error.type ?? 'error'}: ${error.reason ?? ''}${cause}`;
}
