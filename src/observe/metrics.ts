// Every metric kaudit exports, in one place, in Prometheus text format.
// The three classes kaudit uses, not prom-client's index: that one loads every metric type, the cluster
// aggregator, the push gateway client and the default process metrics (~40 ms of the start, against ~5).
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Registry from 'prom-client/lib/registry.js';
import type { SinkEvents } from '../delivery/driver.ts';
import type { BufferBacklog } from '../delivery/buffer.ts';
import type { StateKind } from '../delivery/quarantine.ts';
import type { SyslogMetrics } from '../sources/syslog.ts';
import type { K8sEventsMetrics } from '../sources/k8s-events.ts';

export interface SourceMetrics {
  bytesRead(n: number): void;
  lines(n: number): void;
  parseErrors(n: number): void;
  oversizeLines(n: number): void;
}

/** Whether a source can read its files, and what it lost. */
export interface SourceHealthMetrics {
  readError(reason: string): void;
  lost(bytes: number): void;
}

export interface DetectionMetrics {
  alarmRecords(n: number): void;
  allowlisted(rule: string, entry: string, n: number): void;
  blind(rule: string, resource: string, blind: boolean): void;
  rulesInForce(n: number): void;
  reloaded(ok: boolean): void;
}

/** Kubernetes metadata (src/enrich/): how lookups end, and how the API server is doing. */
export interface KubernetesMetrics {
  /** `hit`, `tombstone`, `get` (enriched); `miss`, `error`, `timeout` (not enriched). */
  lookup(result: string): void;
  /** A watch started over: `expired` (410 Gone, relisted) or `error` (retried with backoff). */
  watchRestart(resource: string, reason: string): void;
  apiError(resource: string, reason: string): void;
}

/** What the buffer metrics read from a sink's disk buffer at each scrape. */
export interface BufferState {
  backlog: BufferBacklog;
  writable: boolean;
  writeErrors: ReadonlyMap<string, number>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly bytesRead = new Counter({ name: 'kaudit_source_bytes_read_total', help: 'Bytes read from source files', labelNames: ['source'], registers: [this.registry] });
  private readonly linesRead = new Counter({ name: 'kaudit_source_lines_total', help: 'Events (lines) parsed from source files', labelNames: ['source'], registers: [this.registry] });
  private readonly parseErrors = new Counter({ name: 'kaudit_source_parse_errors_total', help: 'Lines that were not valid audit events', labelNames: ['source'], registers: [this.registry] });
  private readonly oversize = new Counter({ name: 'kaudit_source_oversize_lines_total', help: 'Lines longer than max_line_bytes (cut and dead-lettered)', labelNames: ['source'], registers: [this.registry] });
  private readonly recordsIn = new Counter({ name: 'kaudit_sink_records_in_total', help: 'Records durably appended to the sink buffer', labelNames: ['sink'], registers: [this.registry] });
  private readonly recordsOut = new Counter({ name: 'kaudit_sink_records_out_total', help: 'Records acknowledged by the backend', labelNames: ['sink'], registers: [this.registry] });
  private readonly bytesOut = new Counter({ name: 'kaudit_sink_bytes_out_total', help: 'Payload bytes acknowledged by the backend', labelNames: ['sink'], registers: [this.registry] });
  private readonly retried = new Counter({ name: 'kaudit_sink_records_retried_total', help: 'Records in batches that failed and were retried', labelNames: ['sink'], registers: [this.registry] });
  private readonly deadLettered = new Counter({ name: 'kaudit_sink_records_dead_lettered_total', help: 'Records the backend rejected, written to the dead-letter file', labelNames: ['sink'], registers: [this.registry] });
  private readonly dropped = new Counter({ name: 'kaudit_sink_records_dropped_total', help: 'Records dropped because the buffer was full (when_full: drop_newest)', labelNames: ['sink'], registers: [this.registry] });
  private readonly lastDelivery = new Gauge({ name: 'kaudit_sink_last_delivery_timestamp_seconds', help: 'Time of the last acknowledged batch', labelNames: ['sink'], registers: [this.registry] });
  private readonly labelOverflow = new Counter({ name: 'kaudit_sink_label_overflow_total', help: 'Records whose label value was sent as _overflow_ because the label had max_label_values others', labelNames: ['sink', 'label'], registers: [this.registry] });
  private readonly alarmRecords = new Counter({ name: 'kaudit_detection_alarm_records_total', help: 'Alarm records emitted (first occurrences and aggregated updates)', registers: [this.registry] });
  private readonly allowlisted = new Counter({ name: 'kaudit_detection_allowlisted_total', help: 'Rule hits suppressed by an allowlist entry', labelNames: ['rule', 'entry'], registers: [this.registry] });
  private readonly blind = new Gauge({ name: 'kaudit_detection_rule_blind', help: '1 when a rule that reads request/response bodies gets writes to this resource without bodies (the audit policy logs them at Metadata level)', labelNames: ['rule', 'resource'], registers: [this.registry] });
  private readonly reloads = new Counter({ name: 'kaudit_rules_reloads_total', help: 'Rule reloads, by result (ok, failed: the previous rules stay in force)', labelNames: ['result'], registers: [this.registry] });
  private readonly rulesLoaded = new Gauge({ name: 'kaudit_rules_loaded', help: 'Detection rules in force (enabled or not)', registers: [this.registry] });
  private readonly bufferGauges = new Map<string, () => number>();
  private readonly alreadyBuffered = new Map<string, () => number>();
  private readonly lagSources = new Map<string, () => Array<{ path: string; bytes: number }>>();

  // Source health: can the live file be read, why not, and what was lost.
  private readonly sourceUpChecks = new Map<string, () => boolean>();
  private readonly sourceErrors = new Counter({ name: 'kaudit_source_errors_total', help: 'Times a file of the source could not be read, by reason (once per file and occurrence, not per scan)', labelNames: ['source', 'reason'], registers: [this.registry] });
  private readonly lostFiles = new Counter({ name: 'kaudit_source_lost_files_total', help: 'Files gone (pruned, truncated) before they were read to their end', labelNames: ['source'], registers: [this.registry] });
  private readonly lostBytes = new Counter({ name: 'kaudit_source_lost_bytes_total', help: 'Bytes of those files known never read (their size when last seen minus the checkpoint)', labelNames: ['source'], registers: [this.registry] });

  constructor() {
    const up = this.sourceUpChecks;
    new Gauge({
      name: 'kaudit_source_up', help: '1 while the source can read its live file, 0 while it cannot (missing, unreadable, not a regular file)',
      labelNames: ['source'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [source, readable] of up) this.set({ source }, readable() ? 1 : 0);
      },
    });
    const buffers = this.bufferGauges;
    new Gauge({
      name: 'kaudit_sink_buffer_bytes', help: 'Disk space the sink buffer takes (acknowledged records stay until their segment file is deleted; kaudit_sink_backlog_bytes is what waits)',
      labelNames: ['sink'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [sink, read] of buffers) this.set({ sink }, read());
      },
    });
    const already = this.alreadyBuffered;
    new Counter({
      name: 'kaudit_sink_records_already_buffered_total', help: 'Records read again after a restart that were not appended because the buffer already held or delivered them',
      labelNames: ['sink'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [sink, read] of already) this.inc({ sink }, read());
      },
    });
    const lags = this.lagSources;
    new Gauge({
      name: 'kaudit_checkpoint_lag_bytes', help: 'Bytes of a file not yet checkpointed (read but not durable in every buffer, or not read yet)',
      labelNames: ['source', 'file'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [source, read] of lags) for (const f of read()) this.set({ source, file: f.path }, f.bytes);
      },
    });
  }

  // Buffer state: backlog, disk errors, quarantined state files.
  private readonly bufferStates = new Map<string, () => BufferState>();
  private readonly webhookRequestsC = new Counter({
    name: 'kaudit_webhook_requests_total', help: 'Requests to an audit webhook source, by answer (ok: durable; bad_request, unauthenticated, not_found, too_large, unavailable: to be retried)',
    labelNames: ['source', 'result'], registers: [this.registry],
  });
  private readonly quarantined = new Counter({ name: 'kaudit_state_quarantined_total', help: 'Damaged state files set aside at start (checkpoint, buffer_ack)', labelNames: ['kind'], registers: [this.registry] });
  /** Reports a sink buffer's backlog and write errors at each scrape (the metrics are created with the first buffer). */
  bufferState(sink: string, read: () => BufferState): void {
    if (this.bufferStates.size === 0) this.createBufferStateMetrics();
    this.bufferStates.set(sink, read);
  }

  private createBufferStateMetrics(): void {
    const states = this.bufferStates;
    const gauge = (name: string, help: string, value: (s: BufferState) => number) => new Gauge({
      name, help, labelNames: ['sink'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [sink, read] of states) this.set({ sink }, value(read()));
      },
    });
    gauge('kaudit_sink_backlog_records', 'Records in the sink buffer not yet acknowledged by the backend (left by an earlier run included)', (s) => s.backlog.records);
    gauge('kaudit_sink_backlog_bytes', 'Bytes on disk of the records not yet acknowledged', (s) => s.backlog.bytes);
    gauge('kaudit_sink_oldest_record_age_seconds', 'Age of the oldest record not yet acknowledged (0 when none waits)', (s) => s.backlog.oldestAgeSeconds);
    gauge('kaudit_sink_buffer_writable', '0 while the sink buffer cannot be written (disk full, I/O error): reading waits', (s) => (s.writable ? 1 : 0));
    new Counter({
      name: 'kaudit_sink_buffer_write_errors_total', help: 'Failed writes to the sink buffer, by error code (ENOSPC, EIO, ...)', labelNames: ['sink', 'reason'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [sink, read] of states) for (const [reason, n] of read().writeErrors) this.inc({ sink, reason }, n);
      },
    });
  }

  stateQuarantined(kind: StateKind): void {
    this.quarantined.labels(kind).inc();
  }

  source(name: string): SourceMetrics {
    const bytes = this.bytesRead.labels(name);
    const lines = this.linesRead.labels(name);
    const errors = this.parseErrors.labels(name);
    const oversize = this.oversize.labels(name);
    return {
      bytesRead: (n) => bytes.inc(n),
      lines: (n) => lines.inc(n),
      parseErrors: (n) => errors.inc(n),
      oversizeLines: (n) => oversize.inc(n),
    };
  }

  /** `liveReadable`: read on every scrape for kaudit_source_up. */
  sourceHealth(name: string, liveReadable: () => boolean): SourceHealthMetrics {
    this.sourceUpChecks.set(name, liveReadable);
    const files = this.lostFiles.labels(name);
    const bytes = this.lostBytes.labels(name);
    files.inc(0);
    bytes.inc(0);
    return {
      readError: (reason) => this.sourceErrors.labels(name, reason).inc(),
      lost: (n) => {
        files.inc();
        bytes.inc(n);
      },
    };
  }

  sink(name: string, bufferBytes: () => number, alreadyBuffered: () => number = () => 0): SinkEvents {
    this.bufferGauges.set(name, bufferBytes);
    this.alreadyBuffered.set(name, alreadyBuffered);
    const inC = this.recordsIn.labels(name);
    const outC = this.recordsOut.labels(name);
    const bytesC = this.bytesOut.labels(name);
    const retryC = this.retried.labels(name);
    const deadC = this.deadLettered.labels(name);
    const dropC = this.dropped.labels(name);
    const last = this.lastDelivery.labels(name);
    return {
      appended: (n) => inC.inc(n),
      dropped: (n) => dropC.inc(n),
      delivered: (n, b) => {
        outC.inc(n);
        bytesC.inc(b);
        last.set(Date.now() / 1000);
      },
      retried: (n) => retryC.inc(n),
      deadLettered: (n) => deadC.inc(n),
    };
  }

  // The syslog sink's messages cut to the UDP size cap; created with the first syslog sink.
  private syslogTruncatedTotal: Counter | undefined;
  /** Counts messages of a syslog sink cut to `max_message_bytes`. */
  syslogTruncated(sink: string): (n: number) => void {
    this.syslogTruncatedTotal ??= new Counter({ name: 'kaudit_sink_syslog_truncated_total', help: 'Syslog messages cut to max_message_bytes (UDP) before sending', labelNames: ['sink'], registers: [this.registry] });
    const counter = this.syslogTruncatedTotal.labels(sink);
    counter.inc(0);
    return (n) => counter.inc(n);
  }

  /** Counts a label value a sink replaced by its overflow value (the cardinality guard). */
  labelOverflowed(sink: string): (label: string) => void {
    return (label) => this.labelOverflow.labels(sink, label).inc();
  }

  detection(): DetectionMetrics {
    return {
      alarmRecords: (n) => this.alarmRecords.inc(n),
      allowlisted: (rule, entry, n) => this.allowlisted.labels(rule, entry).inc(n),
      blind: (rule, resource, blind) => this.blind.labels(rule, resource).set(blind ? 1 : 0),
      rulesInForce: (n) => this.rulesLoaded.set(n),
      reloaded: (ok) => this.reloads.labels(ok ? 'ok' : 'failed').inc(),
    };
  }

  /** Config reloads of the process, read at each scrape (the counts outlive this agent's metrics across a reload). */
  configReloads(counts: { ok: number; failed: number }): void {
    new Counter({
      name: 'kaudit_config_reloads_total', help: 'Changed config files applied (ok) or refused (failed: the running config stays in force)',
      labelNames: ['result'], registers: [this.registry],
      collect() {
        this.reset();
        this.labels('ok').inc(counts.ok);
        this.labels('failed').inc(counts.failed);
      },
    });
  }

  /** Parse worker threads running, read at each scrape (0 while the main thread parses; see AdaptiveProcessor). */
  parseWorkers(read: () => number): void {
    new Gauge({
      name: 'kaudit_parse_workers', help: 'Parse worker threads running (0: the input is light and the main thread parses)', registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Counts a webhook source's requests by how they were answered. */
  webhookRequests(source: string): (result: string) => void {
    return (result) => this.webhookRequestsC.labels(source, result).inc();
  }

  // Syslog sources: created with the first one.
  private syslogMetrics: { dropped: Counter; truncated: Counter; refused: Counter; sources: Map<string, { connections: () => Record<string, number>; udpDrops: () => number | undefined }> } | undefined;
  /** A syslog source's counts; `bytesRead` is the source's own (kaudit_source_bytes_read_total). */
  syslog(source: string, bytesRead: (n: number) => void): SyslogMetrics {
    const m = this.syslogMetrics ??= this.createSyslogMetrics();
    return {
      bytesRead,
      dropped: (transport, reason) => m.dropped.labels(source, transport, reason).inc(),
      truncated: (transport) => m.truncated.labels(source, transport).inc(),
      refused: (transport) => m.refused.labels(source, transport).inc(),
      observe: (connections, udpDrops) => m.sources.set(source, { connections, udpDrops }),
    };
  }

  private createSyslogMetrics(): NonNullable<Metrics['syslogMetrics']> {
    const registers = [this.registry];
    const sources = new Map<string, { connections: () => Record<string, number>; udpDrops: () => number | undefined }>();
    new Gauge({
      name: 'kaudit_syslog_connections', help: 'Open TCP, TLS and RELP connections of a syslog source', labelNames: ['source', 'transport'], registers,
      collect() {
        this.reset();
        for (const [source, s] of sources) for (const [transport, n] of Object.entries(s.connections())) this.set({ source, transport }, n);
      },
    });
    new Counter({
      name: 'kaudit_syslog_udp_receive_errors_total', help: 'Datagrams the kernel dropped on a syslog source\'s UDP socket (receive buffer full; from /proc/net/udp)', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const [source, s] of sources) {
          const drops = s.udpDrops();
          if (drops !== undefined) this.inc({ source }, drops);
        }
      },
    });
    return {
      sources,
      dropped: new Counter({ name: 'kaudit_syslog_dropped_total', help: 'Syslog messages not kept, by reason: queue_full (UDP while the pipeline is backed up), incomplete (a connection ended or timed out mid-frame), bad_frame (a RELP peer broke the protocol)', labelNames: ['source', 'transport', 'reason'], registers }),
      truncated: new Counter({ name: 'kaudit_syslog_truncated_total', help: 'Syslog messages cut to max_message_bytes (kept, flagged truncated)', labelNames: ['source', 'transport'], registers }),
      refused: new Counter({ name: 'kaudit_syslog_connections_refused_total', help: 'Syslog connections refused: max_connections were open', labelNames: ['source', 'transport'], registers }),
    };
  }

  // Kubernetes metadata: created on first use, so an agent without `kubernetes` exports none of them.
  private kubernetesMetrics: KubernetesMetrics | undefined;
  kubernetes(): KubernetesMetrics {
    if (this.kubernetesMetrics !== undefined) return this.kubernetesMetrics;
    const registers = [this.registry];
    const lookups = new Counter({ name: 'kaudit_kubernetes_lookups_total', help: 'Pod metadata lookups by result: hit, tombstone, get (enriched); miss, error, timeout (not enriched)', labelNames: ['result'], registers });
    const restarts = new Counter({ name: 'kaudit_kubernetes_watch_restarts_total', help: 'List-and-watch restarts by resource and reason (expired: 410 Gone, relisted; error: retried with backoff)', labelNames: ['resource', 'reason'], registers });
    const errors = new Counter({ name: 'kaudit_kubernetes_api_errors_total', help: 'Failed Kubernetes API requests by resource and reason (timeout, connection, unauthorized, forbidden, server_error, http_error)', labelNames: ['resource', 'reason'], registers });
    this.kubernetesMetrics = {
      lookup: (result) => lookups.labels(result).inc(),
      watchRestart: (resource, reason) => restarts.labels(resource, reason).inc(),
      apiError: (resource, reason) => errors.labels(resource, reason).inc(),
    };
    return this.kubernetesMetrics;
  }

  // Kubernetes Events (k8s_events sources): created on first use.
  private k8sEventsMetrics: ((source: string) => K8sEventsMetrics) | undefined;
  k8sEvents(source: string): K8sEventsMetrics {
    if (this.k8sEventsMetrics === undefined) {
      const registers = [this.registry];
      const leader = new Gauge({ name: 'kaudit_events_leader', help: '1 while this agent leads a k8s_events source (reads the events), 0 while it stands by', labelNames: ['source'], registers });
      const forwarded = new Counter({ name: 'kaudit_events_forwarded_total', help: 'Kubernetes events made durable in the sink buffers', labelNames: ['source'], registers });
      const skipped = new Counter({ name: 'kaudit_events_skipped_total', help: 'Kubernetes events listed or watched again that were already forwarded (not forwarded twice)', labelNames: ['source'], registers });
      const lists = new Counter({ name: 'kaudit_events_lists_total', help: 'Lists of the events by reason: start (on leading), expired (410 Gone: relist), error (after a failed list or watch)', labelNames: ['source', 'reason'], registers });
      this.k8sEventsMetrics = (name) => ({
        leader: (leading) => leader.labels(name).set(leading ? 1 : 0),
        forwarded: (n) => forwarded.labels(name).inc(n),
        skipped: (n) => skipped.labels(name).inc(n),
        relist: (reason) => lists.labels(name, reason).inc(),
      });
    }
    return this.k8sEventsMetrics(source);
  }

  checkpointLag(source: string, read: () => Array<{ path: string; bytes: number }>): void {
    this.lagSources.set(source, read);
  }

  /** Totals per metric and label value, e.g. { kaudit_sink_records_out_total: { archive: 6103 } }, for summaries. */
  async totals(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const m of await this.registry.getMetricsAsJSON()) {
      if (String(m.type) !== 'counter') continue;
      const byLabel: Record<string, number> = {};
      for (const v of m.values) byLabel[Object.values(v.labels).join('/') || 'all'] = v.value;
      out[m.name] = byLabel;
    }
    return out;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
