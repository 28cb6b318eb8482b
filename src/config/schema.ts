// The configuration schema: every section typed, defaults built in, unknown keys rejected. No I/O here.
import { z } from 'zod';
import { unsafeRegexReason } from '../detect/regex-safety.ts';
import { compileAccessLogFormat } from '../parse/ingress.ts';
import { badPattern, DEFAULT_SKIP, KEY_PATTERNS, VALUE_PATTERNS } from '../parse/patterns.ts';
import { alarmFilterSchema } from '../delivery/alarm-filter.ts';
import { sinkKinds } from '../sinks/index.ts';
import { path } from './fields.ts';
import { listenSchema } from './listen.ts';
import { secretRefSchema } from './secret.ts';
import { countIn, DAY, durationIn, formatDays, GiB, HOUR, KiB, MiB, MINUTE, SECOND, sizeIn, wholeDays } from './units.ts';

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

const auditWebhookSourceSchema = z.strictObject({
  kind: z.literal('audit_webhook'),
  /** Where the endpoint listens; the apiserver's webhook kubeconfig names it (`clusters[].cluster.server`). */
  listen: listenSchema.default('0.0.0.0:9443'),
  /** The URL path the apiserver posts to. */
  path: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, 'expected a URL path such as /k8s-audit').default('/k8s-audit'),
  /** HTTPS only: the apiserver's audit events carry credentials in transit. */
  tls: z.strictObject({
    cert_file: path({ readAtStart: true }),
    key_file: path({ readAtStart: true }),
    /** CA of the client certificate the apiserver presents (`client-certificate-data` in its webhook kubeconfig). */
    client_ca_file: path({ readAtStart: true }).optional(),
  }),
  /** Token the apiserver sends as `Authorization: Bearer` (`token` or `tokenFile` in its webhook kubeconfig). */
  bearer_token: secretRefSchema.optional(),
  /** Accept requests with neither a client certificate nor the token: only for an endpoint no one else can reach. */
  allow_unauthenticated: z.boolean().default(false),
  /** Larger requests are answered 413. The apiserver batches up to 400 events (--audit-webhook-batch-max-size). */
  max_body_bytes: sizeIn(64 * KiB, 1 * GiB).default(64 * MiB),
  /** Longest wait for a request's events to be durable in the sink buffers before it is answered 503 (the apiserver gives up after 30 s). */
  ack_timeout: durationIn(100, 10 * MINUTE).default(20_000),
  /** NDJSON file for events that do not parse. Unset: counted and logged only. */
  dead_letter: path().optional(),
  dead_letter_raw: z.boolean().default(false),
}).superRefine((s, ctx) => {
  if (s.tls.client_ca_file === undefined && s.bearer_token === undefined && !s.allow_unauthenticated) {
    ctx.addIssue({ code: 'custom', path: ['tls', 'client_ca_file'], message: 'the apiserver must authenticate: set tls.client_ca_file (client certificate) or bearer_token, or allow_unauthenticated: true for an endpoint only the apiserver can reach' });
  }
});

/** A syslog listener's TLS: its certificate, and a CA whose client certificates alone are served when set. */
const syslogTlsSchema = z.strictObject({
  cert_file: path({ readAtStart: true }),
  key_file: path({ readAtStart: true }),
  client_ca_file: path({ readAtStart: true }).optional(),
});

/** Syslog senders (Falco, node-problem-detector, rsyslog, firewalls): UDP, TCP, TLS and RELP listeners, any of them. */
const syslogSourceSchema = z.strictObject({
  kind: z.literal('syslog'),
  /** RFC 5426 datagrams: what the queue or the kernel could not keep is counted, never acknowledged. */
  udp: z.strictObject({
    listen: listenSchema,
    /** The socket's receive buffer (SO_RCVBUF): bursts it holds are not dropped; the kernel caps it at net.core.rmem_max. */
    receive_buffer_bytes: sizeIn(64 * KiB, 1 * GiB).default(4 * MiB),
  }).optional(),
  /** RFC 6587 (octet counting or newline framing, told apart per frame). */
  tcp: z.strictObject({ listen: listenSchema }).optional(),
  /** RFC 5425: TCP framing inside TLS. */
  tls: syslogTlsSchema.extend({ listen: listenSchema }).optional(),
  /** RELP: each message answered once durable in the sinks' buffers (at least once end to end). */
  relp: z.strictObject({ listen: listenSchema, tls: syslogTlsSchema.optional() }).optional(),
  /** Longer messages are cut here and flagged `truncated` (rsyslog's own default is 8 KiB). */
  max_message_bytes: sizeIn(1 * KiB, 16 * MiB).default(64 * KiB),
  /** TCP, TLS and RELP connections open at once; more are refused and counted. */
  max_connections: countIn(1, 100_000).default(256),
  /** A frame begun and not finished within this is given up with its connection (a stalled or hostile sender). */
  frame_timeout: durationIn(100, HOUR).default(30 * SECOND),
  /** Messages waiting for the pipeline, at most: past it streams are not read (senders wait) and UDP drops. */
  queue_bytes: sizeIn(64 * KiB, 1 * GiB).default(16 * MiB),
  /** NDJSON file for messages that are not syslog (no <PRI>). Unset: counted and logged only. */
  dead_letter: path().optional(),
  dead_letter_raw: z.boolean().default(false),
}).refine((s) => s.udp !== undefined || s.tcp !== undefined || s.tls !== undefined || s.relp !== undefined, {
  message: 'a syslog source needs at least one listener: udp, tcp, tls or relp',
});

export const DEFAULT_CONTAINER_LINKS = '/var/log/containers';
export const DEFAULT_PODS_PATH = '/var/log/pods';

/**
 * Globs (`*`, `?`, `[…]`) on the namespace, pod and container names a container log path carries, and pod label
 * selectors (`key`: has the label; `key=glob`: its value matches), which need `kubernetes.enabled`.
 */
const nameGlobs = z.strictObject({
  namespaces: z.array(z.string().min(1)).default([]),
  pods: z.array(z.string().min(1)).default([]),
  containers: z.array(z.string().min(1)).default([]),
  labels: z.array(z.string().regex(/^[A-Za-z0-9._/-]+(=.*)?$/, 'expected a label key (app.kubernetes.io/name) or key=glob (app=web, tier=front*)')).default([]),
});

/** Containers that are ingress-nginx controllers (picked by name globs), and the nginx log_format of their access logs. */
const ingressSchema = nameGlobs.extend({
  /** `default`: the controller's own (its `log-format-upstream` unset); else the log_format text of its ConfigMap. */
  format: z.string().min(1).default('default').superRefine((f, ctx) => {
    if (f === 'default') return;
    try {
      compileAccessLogFormat(f);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read lines of this log_format: ${(err as Error).message}` });
    }
  }),
}).refine((i) => i.namespaces.length + i.pods.length + i.containers.length > 0, 'expected at least one of namespaces, pods, containers: which containers are ingress controllers');

/** Container logs kubelet writes on this node: `path/*.log` symlinks into `pods_path/<ns>_<pod>_<uid>/<container>/<n>.log`. */
const containersSourceSchema = z.strictObject({
  kind: z.literal('containers'),
  /** Kubelet's directory of symlinks, one per container: `<pod>_<namespace>_<container>-<container id>.log`. */
  path: path().default(DEFAULT_CONTAINER_LINKS),
  /** Where the symlinks point (their targets are read under this directory, wherever it is mounted). */
  pods_path: path().default(DEFAULT_PODS_PATH),
  /** A container is read when it matches every non-empty include list and no exclude list. */
  include: nameGlobs.prefault({}),
  exclude: nameGlobs.prefault({}),
  /** Leave out the agent's own pod (POD_NAMESPACE/POD_NAME from the downward API; without them, containers named kaudit). */
  exclude_self: z.boolean().default(true),
  /** Containers read whose access-log lines get `ingress` fields (docs/containers.md, "Ingress access logs"). */
  ingress: ingressSchema.optional(),
  /** Where to start in container files on the very first start (no checkpoints yet); later containers are read whole. */
  read_from: z.enum(['head', 'tail']).default('head'),
  /** A line joined from partial (P) fragments is cut here and flagged `truncated`; the rest of it is dropped. */
  max_message_bytes: sizeIn(16 * KiB, 64 * MiB).default(1 * MiB),
  /** One physical line of a file (runtimes split at 16 KiB) longer than this is cut and dead-lettered. */
  max_line_bytes: sizeIn(64 * KiB, 256 * MiB).default(256 * KiB),
  read_chunk_bytes: sizeIn(4 * KiB, 64 * MiB).default(256 * KiB),
  /**
   * Full rescan interval of the symlinks and of each container's files. Writes, rotations and new containers are seen
   * through inotify at once; the rescan only catches what a watch missed, and costs per container (10 s: ~8 % of a
   * core idle with 500 containers, 1 s: ~30 %).
   */
  poll_interval: durationIn(10, HOUR).default(10_000),
  /** NDJSON file for lines that are neither CRI nor Docker json-file lines. Unset: counted and logged only. */
  dead_letter: path().optional(),
  dead_letter_raw: z.boolean().default(false),
});

/** A glob of host files: an absolute path (or relative to the config file) whose parts may hold `*`, `**`, `?`, `[…]`. */
const fileGlob = path().refine((g) => !g.endsWith('/'), 'expected a file pattern such as /var/log/nginx/*.log, not a directory');

/** Host files by glob (docs/files.md): a node service's or an ingress controller's logs, files in pod volumes. */
const filesSourceSchema = z.strictObject({
  kind: z.literal('files'),
  /** Live files to read; their rotated backups beside them are read too (and never taken for live files). */
  paths: z.array(fileGlob).min(1, 'expected at least one file pattern'),
  /** Files matching one of these are left out. */
  exclude: z.array(fileGlob).default([]),
  /** `auto`: JSON object lines as fields, other lines as text; `text`: every line as text; `json`: other lines refused. */
  format: z.enum(['auto', 'text', 'json']).default('auto'),
  /** JSON lines: the top-level field holding the line's time, and the one holding its message. */
  time_field: z.string().min(1).optional(),
  message_field: z.string().min(1).optional(),
  /** Where to start in files on the very first start (no checkpoints yet); files found later are read whole. */
  read_from: z.enum(['head', 'tail']).default('head'),
  max_line_bytes: sizeIn(1 * KiB, 256 * MiB).default(256 * KiB),
  read_chunk_bytes: sizeIn(4 * KiB, 64 * MiB).default(256 * KiB),
  /** How often the patterns are matched again (new files) and each file looked at; writes are seen at once. */
  poll_interval: durationIn(10, HOUR).default(5 * SECOND),
  /** NDJSON file for lines refused (`format: json` lines that are not JSON objects). Unset: counted and logged only. */
  dead_letter: path().optional(),
  dead_letter_raw: z.boolean().default(false),
}).refine((s) => s.format !== 'text' || (s.time_field === undefined && s.message_field === undefined), {
  path: ['format'], message: 'time_field and message_field read JSON lines: set format to auto or json, or remove them',
});

const dnsName = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'expected a Kubernetes name (lower-case letters, digits, - and .)');

/** Kubernetes Events cluster-wide (docs/events.md): one agent of the cluster reads them, elected over a Lease. */
const k8sEventsSourceSchema = z.strictObject({
  kind: z.literal('k8s_events'),
  /** `auto`: events.k8s.io/v1 where the API server serves it, core v1 otherwise. */
  api: z.enum(['auto', 'events.k8s.io', 'core']).default('auto'),
  /** client-go's leader election over a coordination.k8s.io/v1 Lease; off: this agent always reads (run one only). */
  leader_election: z.strictObject({
    enabled: z.boolean().default(true),
    /** The Lease's namespace; unset: POD_NAMESPACE (the downward API, set in deploy/). */
    namespace: dnsName.optional(),
    lease_name: dnsName.default('kaudit-events-leader'),
    /** How long a standby waits after the leader's last renewal before it takes the Lease (whole seconds on the Lease). */
    lease_duration: durationIn(SECOND, HOUR).default(15 * SECOND),
    /** The leader stops reading when it could not renew for this long: before any standby may take over. */
    renew_deadline: durationIn(100, HOUR).default(10 * SECOND),
    /** How often the leader renews and the standbys try. */
    retry_period: durationIn(100, HOUR).default(2 * SECOND),
  }).prefault({})
    .refine((l) => l.lease_duration > l.renew_deadline, { path: ['renew_deadline'], message: 'expected less than lease_duration' })
    .refine((l) => l.renew_deadline > l.retry_period * 1.2, { path: ['retry_period'], message: 'expected less than renew_deadline / 1.2 (client-go\'s jitter)' }),
  /** The API server ends each watch after this long; it is started again from where it was. */
  watch_timeout: durationIn(10 * SECOND, HOUR).default(5 * MINUTE),
  /** Identities (uid, count) of forwarded events remembered, beside the resourceVersion mark. */
  remember: countIn(100, 1_000_000).default(10_000),
  /** NDJSON file for events that do not parse. Unset: counted and logged only. */
  dead_letter: path().optional(),
  dead_letter_raw: z.boolean().default(false),
});

export const sourceSchema = z.discriminatedUnion('kind', [auditSourceSchema, containersSourceSchema, filesSourceSchema, auditWebhookSourceSchema, syslogSourceSchema, k8sEventsSourceSchema], {
  error: (iss) => `unknown source kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; expected one of: audit, containers, files, audit_webhook, syslog, k8s_events`,
});

export type AuditSourceConfig = z.infer<typeof auditSourceSchema>;
export type ContainersSourceConfig = z.infer<typeof containersSourceSchema>;
export type FilesSourceConfig = z.infer<typeof filesSourceSchema>;
export type AuditWebhookSourceConfig = z.infer<typeof auditWebhookSourceSchema>;
export type SyslogSourceConfig = z.infer<typeof syslogSourceSchema>;
export type SyslogTlsConfig = z.infer<typeof syslogTlsSchema>;
export type K8sEventsSourceConfig = z.infer<typeof k8sEventsSourceSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;

/** Fields every sink has; the delivery layer (buffer, batching, retry) uses them, the sink never sees them. */
const deliveryFields = {
  /** Source names (and `alarms`) whose records this sink receives; `*` is everything. */
  inputs: z.array(z.string().min(1)).min(1).default(['*']),
  /** Which alarms this sink takes, when its inputs include `alarms`: a least level, categories, rules. */
  alarms: alarmFilterSchema.optional(),
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
export type DeliveryConfig = Pick<SinkConfig, 'inputs' | 'alarms' | 'buffer' | 'batch' | 'retry' | 'concurrency' | 'dead_letter'>;

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
  /** What each identity normally does (docs/rules.md, Baseline): first-seen conditions and expected hits. */
  baseline: z.strictObject({
    /** From the first request seen until first-seen conditions hold; whole days. */
    learning_period: wholeDays(1, 365).default(7 * DAY),
    /** A tuple not seen again for this long is forgotten; whole days. */
    decay: wholeDays(1, 3650).default(30 * DAY),
    max_identities: countIn(64, 1_000_000).default(10_000),
    /** Tuples kept, all identities together (rule hits counted per day among them). */
    max_tuples: countIn(64, 10_000_000).default(65_536),
    /** Lower a service account's or system identity's routine high/medium hits to low (evidence baseline: expected). */
    expected: z.boolean().default(true),
  }).refine((b) => b.decay >= b.learning_period, {
    path: ['decay'],
    error: (iss) => {
      const b = iss.input as { decay: number; learning_period: number };
      return `expected at least learning_period (${formatDays(b.learning_period)}), found ${formatDays(b.decay)}`;
    },
  }).prefault({}),
});

export type DetectionConfig = z.infer<typeof detectionSchema>;

/** Label or annotation keys to keep: exact keys, a prefix ending in `*`, or `*` for all. */
const includeList = z.array(z.string().regex(/^(\*|[A-Za-z0-9._/-]+\*?)$/, 'expected a key such as app.kubernetes.io/name, a prefix ending in * such as app.kubernetes.io/*, or *'));

/** Pod and namespace metadata from the Kubernetes API (src/enrich/, docs/kubernetes.md). */
const kubernetesSchema = z.strictObject({
  /** Off until the enrich stage is wired into the pipeline. */
  enabled: z.boolean().default(false),
  /** A kubeconfig file (its current context), to run outside a cluster; unset: the pod's service account. */
  kubeconfig: path({ readAtStart: true }).optional(),
  /** This node, whose pods are watched; unset: the NODE_NAME environment variable, and without it no pod is watched (lookups GET). */
  node_name: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'expected a node name (lower-case letters, digits, - and .)').optional(),
  /** How long a deleted pod's context is kept for lines still to be read; see docs/kubernetes.md for why 10m. */
  tombstone_ttl: durationIn(10 * SECOND, 24 * HOUR).default(10 * MINUTE),
  /** Most deleted pods kept (the oldest go first). */
  tombstone_max: countIn(100, 1_000_000).default(10_000),
  /** The longest a lookup holds a record; then it goes on not enriched. */
  max_wait: durationIn(0, MINUTE).default(2 * SECOND),
  /** A pod of this node not known yet: how long to wait for the watch before a GET (within max_wait). */
  watch_wait: durationIn(0, MINUTE).default(1 * SECOND),
  /** How long a 404 for a pod is believed. */
  negative_ttl: durationIn(0, HOUR).default(30 * SECOND),
  /** How long a pod fetched by GET (not watched), and a ReplicaSet's or Job's owner, is believed. */
  cache_ttl: durationIn(SECOND, 24 * HOUR).default(5 * MINUTE),
  /** Direct GETs (pods not watched, ReplicaSets, Jobs): at most `per_second`, `concurrency` at a time. */
  lookups: z.strictObject({
    per_second: countIn(1, 1000).default(20),
    concurrency: countIn(1, 64).default(4),
  }).prefault({}),
  labels: includeList.default(['*']),
  annotations: includeList.default([]),
}).refine((k) => k.watch_wait <= k.max_wait, { path: ['watch_wait'], message: 'expected at most max_wait' });

export type KubernetesConfig = z.infer<typeof kubernetesSchema>;

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
    /** GET /report: the alarm report of what this agent raised. Off by default; loopback peers only unless allowed. */
    report: z.strictObject({
      enabled: z.boolean().default(false),
      allow_remote: z.boolean().default(false),
    }).prefault({}),
  }).nullable().prefault({}),
  /** Parse-and-detect threads beside the main thread; 0 runs everything on the main thread. */
  workers: countIn(0, 16).default(1),
  /** Time SIGTERM/SIGINT gives in-flight batches before exit. */
  shutdown_grace: durationIn(0, HOUR).default(10_000),
  /** How often acknowledged read positions are written to the state directory. */
  checkpoint_interval: durationIn(10, 10 * MINUTE).default(1000),
  /** How often the config file is checked for changes (a change restarts the pipeline with it; so does SIGHUP). 0: only SIGHUP. */
  config_reload_interval: durationIn(0, 24 * HOUR).refine((ms) => ms === 0 || ms >= 100, 'expected 0 (reload on SIGHUP only) or at least 100ms').default(10_000),
  sources: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'source names use a-z 0-9 _ -'), sourceSchema)
    .prefault({ audit: { kind: 'audit' } }),
  redaction: redactionSchema.prefault({}),
  detection: detectionSchema.prefault({}),
  kubernetes: kubernetesSchema.prefault({}),
  sinks: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'sink names use a-z 0-9 _ -'), sinkSchema)
    .superRefine((sinks, ctx) => {
      for (const [name, sink] of Object.entries(sinks)) {
        if (sink.alarms !== undefined && !sink.inputs.includes('alarms') && !sink.inputs.includes('*')) {
          ctx.addIssue({ code: 'custom', path: [name, 'alarms'], message: 'an alarm filter on a sink whose inputs take no alarms (add alarms to inputs)' });
        }
      }
    })
    .prefault({ stdout: { kind: 'stdout' } }),
}).superRefine((c, ctx) => {
  // Labels come from the Kubernetes API: without it a label selector could never match (or never exclude).
  if (c.kubernetes.enabled) return;
  for (const [name, src] of Object.entries(c.sources)) {
    if (src.kind !== 'containers') continue;
    for (const side of ['include', 'exclude'] as const) {
      if (src[side].labels.length > 0) ctx.addIssue({ code: 'custom', path: ['sources', name, side, 'labels'], message: 'pod labels come from the Kubernetes API: set kubernetes.enabled: true, or select by namespace, pod or container' });
    }
  }
});

export type Config = z.infer<typeof configSchema>;
