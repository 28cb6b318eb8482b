// The `loki` sink: each batch is one push (`/loki/api/v1/push`, JSON), records grouped into streams by a small set of
// labels whose values are capped per label, entries in time order within each stream.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { z } from 'zod';
import type { OutRecord } from '../delivery/record.ts';
import { recordNamespace } from '../detect/eval-context.ts';
import { isObject } from '../detect/json.ts';
import { authSchema, compressionFields, LINE_BREAK, sinkClient, statusReason, timeoutSchema, tlsRefusals, tlsSchema, urlSchema, USER_AGENT, verdictFor, type HttpAnswer } from './http-client.ts';
import { now, recordTime } from './record-time.ts';
import type { SendVerdict, SinkKind } from './types.ts';

const gzip = promisify(gzipCallback);

/** The value a label takes once it has had `max_label_values` others. */
export const OVERFLOW_VALUE = '_overflow_';

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Label values kaudit knows: the agent's cluster name, the record's source and kind, and an alarm's rule fields. */
const BUILT_IN = ['cluster', 'source', 'kind', 'level', 'category', 'rule', 'namespace'] as const;
type BuiltIn = typeof BUILT_IN[number];

const labelValue = z.union([
  z.enum(BUILT_IN),
  z.strictObject({ value: z.string().min(1).refine((v) => !LINE_BREAK.test(v), 'a label value without line breaks') }),
  z.strictObject({ field: z.string().regex(/^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$/, 'expected a dot path such as objectRef.resource') }),
], { error: `expected one of ${BUILT_IN.join(', ')}, { value: TEXT } or { field: DOT.PATH }` });

const options = z.object({
  /** Loki's URL (a path prefix, for a gateway, is kept): batches go to `<url>/loki/api/v1/push`. */
  url: urlSchema,
  /** Sent as X-Scope-OrgID, for a multi-tenant Loki. */
  tenant: z.string().min(1).refine((v) => !LINE_BREAK.test(v), 'a tenant id without line breaks').optional(),
  /** Label name → its value for each record. Few labels with few values each: every combination is a stream. */
  labels: z.record(z.string(), labelValue).superRefine((labels, ctx) => {
    if (Object.keys(labels).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one label (Loki needs one per stream)' });
    for (const name of Object.keys(labels)) {
      if (!LABEL_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'label names use A-Z a-z 0-9 _ and do not start with a digit' });
    }
  })
    .default({ cluster: 'cluster', source: 'source', kind: 'kind', level: 'level', namespace: 'namespace' }),
  /** Distinct values a label may take in one run of the agent; further values become `_overflow_` (counted). */
  max_label_values: z.number().int().min(1).max(100_000).default(100),
  ...compressionFields,
  auth: authSchema.optional(),
  tls: tlsSchema.optional(),
  timeout: timeoutSchema,
});

type LokiOptions = z.infer<typeof options>;

export const lokiSink: SinkKind<typeof options> = {
  options,
  preflight: (opts) => tlsRefusals(opts.url, opts.tls),
  async create(opts, ctx) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
    if (opts.compression === 'gzip') headers['content-encoding'] = 'gzip';
    if (opts.tenant !== undefined) headers['x-scope-orgid'] = opts.tenant;
    const client = await sinkClient(opts, ctx, headers);
    const path = `${client.path.replace(/\/+$/, '')}/loki/api/v1/push`;
    const labeler = new Labeler(opts.labels, opts.max_label_values, ctx.cluster?.name ?? '', (label, value, first) => {
      ctx.labelOverflowed?.(label);
      if (first) {
        ctx.logger.warn({ label, maxLabelValues: opts.max_label_values, value },
          `label ${label} reached max_label_values; further values are sent as ${OVERFLOW_VALUE} (counted in kaudit_sink_label_overflow_total)`);
      }
    });

    return {
      async encode(batch) {
        if (batch.length === 0) return undefined;
        const body = Buffer.from(pushBody(batch, labeler));
        return opts.compression === 'gzip' ? gzip(body, { level: opts.gzip_level }) : body;
      },
      async send(body: Buffer | undefined, signal) {
        if (body === undefined) return { kind: 'delivered' };
        return client.send({ method: 'POST', path, body, interpret: lokiVerdict }, signal);
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

type LabelSpec = LokiOptions['labels'][string];

/** Labels of a record, with each label's distinct values capped. */
export class Labeler {
  readonly #specs: Array<[string, LabelSpec]>;
  readonly #max: number;
  readonly #cluster: string;
  readonly #seen = new Map<string, Set<string>>();
  /** `first`: the first value of this label turned away (the log says it once). */
  readonly #overflowed: (label: string, value: string, first: boolean) => void;
  readonly #full = new Set<string>();
  /** Whether any label needs the record parsed (alarms are parsed whenever a rule field is asked for). */
  readonly #logFields: boolean;
  readonly #alarmFields: boolean;

  constructor(specs: LokiOptions['labels'], max: number, cluster: string, overflowed: (label: string, value: string, first: boolean) => void) {
    this.#specs = Object.entries(specs);
    this.#max = max;
    this.#cluster = cluster;
    this.#overflowed = overflowed;
    const specList = this.#specs.map(([, s]) => s);
    this.#logFields = specList.some((s) => typeof s === 'object' && 'field' in s);
    this.#alarmFields = this.#logFields || specList.some((s) => typeof s === 'string' && ALARM_FIELDS[s] !== undefined);
  }

  /** The record's labels, in configured order; labels without a value for this record are left out. */
  of(r: OutRecord): Record<string, string> {
    const doc = (r.kind === 'alarm' ? this.#alarmFields : this.#logFields) ? parseObject(r.payload) : undefined;
    const out: Record<string, string> = {};
    for (const [name, spec] of this.#specs) {
      const value = this.#value(spec, r, doc);
      if (value !== undefined && value !== '') out[name] = this.#capped(name, value);
    }
    return out;
  }

  #value(spec: LabelSpec, r: OutRecord, doc: Record<string, unknown> | undefined): string | undefined {
    if (typeof spec === 'object') return 'value' in spec ? spec.value : scalarAt(doc, spec.field);
    switch (spec) {
      case 'cluster': return this.#cluster;
      case 'source': return r.source;
      case 'kind': return r.kind;
      case 'namespace': return r.kind === 'alarm' ? scalarAt(doc, ALARM_FIELDS.namespace!) ?? namespaceOfRecord(doc) : undefined;
      default: return r.kind === 'alarm' ? scalarAt(doc, ALARM_FIELDS[spec]!) : undefined;
    }
  }

  #capped(name: string, value: string): string {
    let seen = this.#seen.get(name);
    if (seen === undefined) this.#seen.set(name, (seen = new Set()));
    if (seen.has(value)) return value;
    if (seen.size >= this.#max) {
      const first = !this.#full.has(name);
      this.#full.add(name);
      this.#overflowed(name, value, first);
      return OVERFLOW_VALUE;
    }
    seen.add(value);
    return value;
  }
}

/** Where an alarm keeps what the alarm-only labels show (docs/rules.md, Alarms). */
const ALARM_FIELDS: Partial<Record<BuiltIn, string>> = {
  level: 'rule.level', category: 'rule.category', rule: 'rule.id', namespace: 'evidence.namespace',
};

/**
 * The namespace of an alarm raised on a record (container line, Kubernetes event): its evidence is the record, whose
 * namespace is found where the rules' `namespaces:` scoping finds it.
 */
function namespaceOfRecord(alarm: Record<string, unknown> | undefined): string | undefined {
  const evidence = alarm?.evidence;
  return isObject(evidence) ? recordNamespace(evidence) : undefined;
}

function parseObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** A string, number or boolean at a dot path, as text. */
function scalarAt(doc: Record<string, unknown> | undefined, path: string): string | undefined {
  let v: unknown = doc;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** Nanosecond timestamps as decimal strings, in time order. */
function byTime(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The push body: one stream per distinct label set, its entries `[ns, line]` in time order (a stable sort, so records
 * of one instant keep their buffer order). The line is the record as kaudit forwards it (the JSON event or alarm).
 */
export function pushBody(batch: readonly OutRecord[], labeler: Labeler): string {
  const streams = new Map<string, { labels: Record<string, string>; values: Array<[string, OutRecord]> }>();
  for (const r of batch) {
    const labels = labeler.of(r);
    const key = JSON.stringify(labels);
    let stream = streams.get(key);
    if (stream === undefined) streams.set(key, (stream = { labels, values: [] }));
    stream.values.push([(recordTime(r, 'lastSeen') ?? now()).ns, r]);
  }
  const parts: string[] = [];
  for (const [key, { values }] of streams) {
    values.sort((a, b) => byTime(a[0], b[0]));
    const entries = values.map(([ns, r]) => `["${ns}",${JSON.stringify(r.payload.toString('utf8'))}]`);
    parts.push(`{"stream":${key},"values":[${entries.join(',')}]}`);
  }
  return `{"streams":[${parts.join(',')}]}`;
}

/** Loki's 400s about the size of the request, as opposed to one entry's (`Max entry size … exceeded`). */
const REQUEST_TOO_LARGE = /request body too large|larger than max|message too large|too large to (push|ingest)/i;

/**
 * A push answer: 2xx delivered, 429 (rate limits) and 5xx retried, 413 too large, as any HTTP answer. A 400 about the
 * request's size is too large; any other 400 (an entry too old, too far ahead, out of order, too long) is invalid: the
 * delivery layer splits the batch until the entries Loki refuses are alone, and dead-letters them with Loki's reason
 * (Loki keeps the entries of a refused push it could take, and ignores an identical entry sent again).
 */
export function lokiVerdict(answer: HttpAnswer): SendVerdict {
  if (answer.status === 400 && REQUEST_TOO_LARGE.test(answer.text)) return { kind: 'too_large', reason: statusReason(400, answer.text) };
  return verdictFor(answer.status, answer.headers, answer.text);
}
