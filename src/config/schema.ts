// The configuration schema: every section typed, defaults built in, unknown keys rejected. No I/O here.
import { z } from 'zod';
import { unsafeRegexReason } from '../detect/regex-safety.ts';
import { badPattern, DEFAULT_SKIP, KEY_PATTERNS, VALUE_PATTERNS } from '../parse/patterns.ts';
import { sinkKinds } from '../sinks/index.ts';
import { path } from './fields.ts';
import { listenSchema } from './listen.ts';
import { countIn, durationIn, GiB, HOUR, KiB, MiB, MINUTE, sizeIn } from './units.ts';

export const DEFAULT_AUDIT_PATH = '/var/log/kubernetes/kubernetes.audit';

const auditSourceSchema = z.strictObject({
  kind: z.literal('audit'),
  /** The live audit log; rotated backups beside it (`<name>-<time>.<ext>[.gz]`) are read too. */
  path: path().default(DEFAULT_AUDIT_PATH),
  /** Where to start in files never seen before when the agent has no checkpoint at all: `head` reads everything. */
  read_from: z.enum(['head', 'tail']).default('head'),
  /** Lines longer than this are cut, flagged and sent to the dead-letter file. Below 64 KiB it would cut ordinary events. */
  max_line_bytes: sizeIn(64 * KiB, 256 * MiB).default(4 * MiB),
  /** How much is read from a file at a time. */
  read_chunk_bytes: sizeIn(4 * KiB, 64 * MiB).default(1 * MiB),
  /** Full rescan interval; a write to the live file is read sooner, and a rename or a new file triggers a rescan. */
  poll_interval: durationIn(10, HOUR).default(1000),
  /** NDJSON file for lines that are not audit events. Unset: counted and logged only. */
  dead_letter: path().optional(),
  /** Dead-letter entries keep the whole line as read; by default bodies are dropped and credentials blanked. */
  dead_letter_raw: z.boolean().default(false),
});

export const sourceSchema = z.discriminatedUnion('kind', [auditSourceSchema], {
  error: (iss) => `unknown source kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; expected one of: audit`,
});

export type AuditSourceConfig = z.infer<typeof auditSourceSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;

/** Fields every sink has; the delivery layer (buffer, batching, retry) uses them, the sink never sees them. */
const deliveryFields = {
  /** Source names (and `alarms`) whose records this sink receives; `*` is everything. */
  inputs: z.array(z.string().min(1)).min(1).default(['*']),
  buffer: z.strictObject({
    /** At least 1 MiB: segments are capped at an eighth of it, so acknowledged ones are released before the cap. */
    max_bytes: sizeIn(1 * MiB).default(256 * MiB),
    /** `block` stops reading the sources (the files are still there); `drop_newest` drops and counts. */
    when_full: z.enum(['block', 'drop_newest']).default('block'),
    segment_bytes: sizeIn(64 * KiB, 1 * GiB).default(16 * MiB),
  }).prefault({}),
  batch: z.strictObject({
    max_events: countIn(1, 1_000_000).default(1000),
    max_bytes: sizeIn(1 * KiB, 256 * MiB).default(4 * MiB),
    max_wait: durationIn(0, HOUR).default(1000),
  }).prefault({}),
  retry: z.strictObject({
    initial_backoff: durationIn(10, HOUR).default(500),
    /** Low enough that a backend back from an outage is seen within seconds; Retry-After may ask for longer. */
    max_backoff: durationIn(10, 24 * HOUR).default(8000),
  }).prefault({}),
  /** Batches in flight at once. Above 1, batches may arrive out of order (each batch stays in order). */
  concurrency: countIn(1, 64).default(1),
  /** NDJSON file receiving batches the backend rejected, with the reason. Default: `<state_dir>/dead-letter/<sink>.ndjson`. */
  dead_letter: path().optional(),
};

const sinkVariants = Object.entries(sinkKinds).map(([kind, def]) =>
  z.strictObject({ kind: z.literal(kind), ...deliveryFields, ...def.options.shape }),
);

export const sinkSchema = z.discriminatedUnion('kind', sinkVariants as unknown as [typeof sinkVariants[number]], {
  error: (iss) =>
    `unknown sink kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; expected one of: ${Object.keys(sinkKinds).join(', ')}`,
});

export type SinkConfig = z.infer<typeof sinkSchema>;
export type DeliveryConfig = Pick<SinkConfig, 'inputs' | 'buffer' | 'batch' | 'retry' | 'concurrency' | 'dead_letter'>;

/** Patterns by name: `true`/`false` turns a built-in on or off, a string is a regular expression of the operator's. */
function patternSet(builtins: Record<string, unknown>) {
  return z.record(z.string().min(1), z.union([z.boolean(), z.string().min(1)])).superRefine((set, ctx) => {
    for (const [name, setting] of Object.entries(set)) {
      const reason = typeof setting === 'boolean'
        ? (Object.hasOwn(builtins, name) ? undefined : `not a built-in pattern (${Object.keys(builtins).join(', ')}); give a regular expression to add one`)
        : badPattern(setting) ?? unsafeRegexReason(setting);
      if (reason !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: reason });
    }
  }).default({});
}

const redactionSchema = z.strictObject({
  /** Values of Secret `data` / `stringData` (and kubectl's last-applied copy of them). */
  secrets: z.boolean().default(true),
  /** `status.token` of TokenRequests (serviceaccounts/token). */
  token_requests: z.boolean().default(true),
  /** Further dot paths to blank in every event, e.g. `requestObject.spec.password`; `[*]` walks arrays. */
  paths: z.array(z.string().regex(/^[A-Za-z0-9_$-]+(\[\*\])?(\.[A-Za-z0-9_$-]+(\[\*\])?)*$/, 'expected a dot path such as requestObject.spec.password')).default([]),
  /** Credentials by shape outside Secrets, in bodies and the requestURI (src/parse/patterns.ts). */
  patterns: z.strictObject({
    enabled: z.boolean().default(true),
    /** Values under names like these (map keys, env and header names, query parameters, flags, `name=` in text). */
    keys: patternSet(KEY_PATTERNS),
    /** Values shaped like credentials wherever they are (bearer tokens, JWTs, private keys, URL passwords). */
    values: patternSet(VALUE_PATTERNS),
    /** Resources (or resource/subresource) whose bodies are not scanned: control-plane bookkeeping by default. */
    skip: z.array(z.string().regex(/^[a-z0-9.-]+(\/[a-z0-9.-]+)?$/, 'expected a resource or resource/subresource such as leases or pods/status')).default([...DEFAULT_SKIP]),
  }).prefault({}),
});

export type RedactionConfig = z.infer<typeof redactionSchema>;
export type PatternsConfig = RedactionConfig['patterns'];

const detectionSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Further rule files (same format as the shipped ones), loaded after them: they extend lists and add rules. */
  rules: z.array(path({ readAtStart: true })).default([]),
  /** Load the shipped rules (`rules/` of the installation). */
  system_rules: z.boolean().default(true),
  /** Load the shipped profile of well-known controllers (rules/known-controllers.yaml) with the shipped rules. */
  known_controllers: z.boolean().default(true),
  /** Least time between two updates of one aggregated alarm. */
  update_interval: durationIn(0, 24 * HOUR).default(60_000),
  /** How often the rule files are checked for changes (a change reloads them; so does SIGHUP). 0: only SIGHUP. */
  reload_interval: durationIn(0, 24 * HOUR).refine((ms) => ms === 0 || ms >= 100, 'expected 0 (reload on SIGHUP only) or at least 100ms').default(5000),
});

export type DetectionConfig = z.infer<typeof detectionSchema>;

export const configSchema = z.strictObject({
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Checkpoints, disk buffers and dead-letter files live here. */
  state_dir: path().default('/var/lib/kaudit'),
  cluster: z.strictObject({
    name: z.string().default('default'),
    id: z.string().default(''),
  }).prefault({}),
  /** Health and metrics endpoint: /healthz, /readyz, /metrics. `null` turns it off. */
  http: z.strictObject({
    listen: listenSchema.default('0.0.0.0:9808'),
  }).nullable().prefault({}),
  /** Parse-and-detect threads beside the main thread; 0 runs everything on the main thread. */
  workers: countIn(0, 16).default(1),
  /** Time SIGTERM/SIGINT gives in-flight batches before exit. */
  shutdown_grace: durationIn(0, HOUR).default(10_000),
  /** How often acknowledged read positions are written to the state directory. */
  checkpoint_interval: durationIn(10, 10 * MINUTE).default(1000),
  sources: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'source names use a-z 0-9 _ -'), sourceSchema)
    .prefault({ audit: { kind: 'audit' } }),
  redaction: redactionSchema.prefault({}),
  detection: detectionSchema.prefault({}),
  sinks: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'sink names use a-z 0-9 _ -'), sinkSchema)
    .prefault({ stdout: { kind: 'stdout' } }),
});

export type Config = z.infer<typeof configSchema>;
