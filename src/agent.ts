// Builds the running agent from a validated config: sinks with their buffers, processors, sources; and stops it.
import { access, constants, mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ConfigReloadCounts } from './config/reload.ts';
import type { Config } from './config/schema.ts';
import { LiveSecrets } from './config/live-secrets.ts';
import { CheckpointStore } from './delivery/checkpoint.ts';
import { DeadLetterFile } from './delivery/dead-letter.ts';
import { DiskBuffer } from './delivery/buffer.ts';
import { SinkDriver } from './delivery/driver.ts';
import type { QuarantineReport } from './delivery/quarantine.ts';
import { StateLock } from './delivery/state-lock.ts';
import { HeapBound } from './memory.ts';
import { Health } from './observe/health.ts';
import { Metrics } from './observe/metrics.ts';
import { REPORT_PATH, startHealthServer } from './observe/server.ts';
import { AlarmView } from './report/agent-view.ts';
import { ioReason } from './config/io-error.ts';
import type { DetectionNotes } from './detect/hook.ts';
import { RuleReloader } from './detect/reload.ts';
import { PodStoreHolder } from './enrich/lazy-store.ts';
import type { RecordContext } from './enrich/record-context.ts';
import { RuleError } from './detect/rules.ts';
import { detectionPlan, type DetectionInit } from './detect/setup.ts';
import { compileRejectedLine } from './parse/rejected-line.ts';
import { AdaptiveProcessor } from './parse/adaptive.ts';
import { createProcessor, type ChunkProcessor } from './parse/workers.ts';
import { SourcePipeline } from './pipeline.ts';
import { sinkKinds } from './sinks/index.ts';
import type { SinkKind } from './sinks/types.ts';
import { AuditWebhookSource } from './sources/audit-webhook.ts';
import { ContainerSource } from './sources/containers.ts';
import { FilesSource } from './sources/files.ts';
import { filesEvents, filesSourceOptions } from './sources/files-wiring.ts';
import { containerEvents, containerSourceOptions } from './sources/container-wiring.ts';
import { FileSet, type FileSetEvents } from './sources/file-set.ts';
import { SourcePrecedence } from './sources/precedence.ts';
import { SyslogSource } from './sources/syslog.ts';
import type { K8sEventsSource } from './sources/k8s-events.ts';
import type { SourceReader } from './sources/reader.ts';
import { ReadBufferPool } from './sources/read-buffers.ts';
import { problemMessage, problemText } from './sources/read-problems.ts';

export interface RunningAgent {
  readonly metrics: Metrics;
  ready(): boolean;
  /** Why the agent is not ready (what /readyz shows); empty when ready. */
  problems(): string[];
  /** Every file a source could not read (live file or backup) and every loss since the start, one line each. */
  sourceProblems(): string[];
  /** Resolves once every source has read its files to the end. */
  caughtUp(): Promise<void>;
  /** Reloads the detection rules from their files (SIGHUP); resolves false when they were broken and the old ones stay. */
  reloadRules(): Promise<boolean>;
  /** Reads the sinks' secret files again now (SIGHUP); a file that cannot be read leaves the old value in force. */
  reloadSecrets(): Promise<void>;
  /**
   * Stops reading, lets in-flight records reach the buffers, drains sinks, saves state: all within the grace period.
   * Resolves with what was left (records still in the buffers, chunks not yet durable: sent or read again next start).
   */
  stop(): Promise<StopReport>;
}

/** What a stop left for the next start. */
export interface StopReport {
  /** Records each sink still holds unacknowledged. */
  undelivered: Array<{ sink: string; records: number }>;
  /** Chunks read but not durable in every buffer when the grace period ended, per source (read again next start). */
  notDurable: Array<{ source: string; chunks: number }>;
}

export class StartupError extends Error {
  readonly code = 'KAUDIT_STARTUP';
}

export interface AgentOptions {
  /** Config reloads since the process started: counted by `kaudit run`, shown in this agent's metrics. */
  configReloads?: ConfigReloadCounts;
  /**
   * The Kubernetes pod store, kept by `kaudit run` across config reloads (its tombstones outlive an agent); unset: the
   * agent starts its own when `kubernetes.enabled` and stops it at its stop.
   */
  podStores?: PodStoreHolder;
}

export async function startAgent(config: Config, logger: Logger, opts: AgentOptions = {}): Promise<RunningAgent> {
  await prepareStateDir(config.state_dir);
  const lock = await StateLock.take(config.state_dir);
  const ownStores = opts.podStores === undefined;
  const podStores = opts.podStores ?? new PodStoreHolder();
  try {
    return await startLocked(config, logger, lock, { ...opts, podStores }, ownStores);
  } catch (err) {
    if (ownStores) await podStores.close();
    await lock.release();
    throw err;
  }
}

async function startLocked(config: Config, logger: Logger, lock: StateLock, opts: AgentOptions & { podStores: PodStoreHolder }, ownStores: boolean): Promise<RunningAgent> {
  const detection = detectionPlan(config);
  // The parse workers start first: loading their code and compiling the rules overlaps with the rest of the start.
  let running = false;
  let workerDeath: Error | undefined;
  const init = { redaction: config.redaction, detection, detectionStateDir: join(config.state_dir, 'detection'), kubernetesRefs: config.kubernetes.enabled };
  const onWorkerDeath = (err: Error) => {
    if (!running) {
      workerDeath = err; // the start fails with it below
      return;
    }
    // Its chunks can never complete; exiting lets the supervisor restart the agent, which re-reads them.
    logger.fatal({ err: err.message }, 'a parse worker died; exiting so that the agent is restarted');
    process.exit(70);
  };
  // `workers` is the most parse threads: they start when the input is heavy and stop after a quiet spell.
  const processor: ChunkProcessor = config.workers === 0 ? createProcessor(0, init) : new AdaptiveProcessor(config.workers, init, onWorkerDeath, {
    onMove: (to, reason) => logger.info({ workers: to === 'workers' ? config.workers : 0, reason }, to === 'workers' ? 'parsing moves to worker threads' : 'parsing moves to the main thread'),
    onMoveFailed: (reason) => logger.warn(reason),
  });
  try {
    const agent = await startWith(processor, detection, config, logger, lock, opts, ownStores, () => {
      if (workerDeath !== undefined) throw new StartupError(`parse worker: ${workerDeath.message}`);
      running = true;
    });
    return agent;
  } catch (err) {
    await processor.close();
    throw err;
  }
}

/** The rest of the start, around running parse workers; `goLive` is called just before reading begins. */
async function startWith(processor: ChunkProcessor, detection: DetectionInit | undefined, config: Config, logger: Logger, lock: StateLock, opts: AgentOptions & { podStores: PodStoreHolder }, ownStores: boolean, goLive: () => void): Promise<RunningAgent> {
  const metrics = new Metrics();
  metrics.parseWorkers(() => (processor instanceof AdaptiveProcessor ? processor.workerThreads : 0));
  if (opts.configReloads !== undefined) metrics.configReloads(opts.configReloads);
  // A damaged state file never stops a start: it is set aside, said, and counted.
  const quarantined: QuarantineReport = (q) => {
    metrics.stateQuarantined(q.kind);
    logger.error({ kind: q.kind, path: q.path, movedTo: q.movedTo, reason: q.reason }, `damaged state file set aside: ${q.recovery}`);
  };
  const detectionMetrics = metrics.detection();
  // The endpoint comes first: a port in use fails the start before any file or sink is touched.
  const health = new Health();
  // The alarm report page (http.report, off by default): the latest record of each alarm raised, kept in state_dir.
  const reportView = config.http?.report.enabled ? new AlarmView(config.state_dir) : undefined;
  await reportView?.load();
  let server: Server | undefined;
  if (config.http) {
    const report = reportView && { render: () => reportView.render(), remote: config.http.report.allow_remote };
    try {
      server = await startHealthServer(config.http.listen, metrics, health, report);
    } catch (err) {
      throw new StartupError(`http.listen ${config.http.listen}: ${(err as Error).message}`);
    }
    const bound = server.address() as AddressInfo;
    logger.info({ address: `http://${bound.address}:${bound.port}`, paths: ['/healthz', '/readyz', '/metrics', ...(report ? [REPORT_PATH] : [])] }, 'health and metrics endpoint listening');
    if (report && !report.remote) logger.info({ path: REPORT_PATH }, 'alarm report served to loopback clients only (http.report.allow_remote: false)');
  }

  // Sinks first: sources must not read before there is somewhere durable to put records.
  const drivers: SinkDriver[] = [];
  for (const [name, sinkConfig] of Object.entries(config.sinks)) {
    const kind = sinkKinds[sinkConfig.kind as keyof typeof sinkKinds] as SinkKind;
    const sinkLog = logger.child({ sink: name });
    let sink;
    try {
      sink = await kind.create(sinkConfig as never, {
        name, logger: sinkLog, stateDir: join(config.state_dir, 'sinks', name), concurrency: sinkConfig.concurrency,
        metrics, cluster: config.cluster, labelOverflowed: metrics.labelOverflowed(name),
      });
    } catch (err) {
      throw new StartupError(`sinks.${name}: ${(err as Error).message}`);
    }
    const buffer = await DiskBuffer.open(join(config.state_dir, 'buffers', name), {
      maxBytes: sinkConfig.buffer.max_bytes,
      segmentBytes: sinkConfig.buffer.segment_bytes,
      whenFull: sinkConfig.buffer.when_full,
      // A crash re-sends whatever was acknowledged after the last save of the ack position: that save is a
      // small unsynced rename, cheap enough to follow the acks closely.
      ackFlushInterval: Math.min(config.checkpoint_interval, 50),
      quarantined,
    }, (message, details, level = 'warn') => sinkLog[level](details, message));
    // A buffer that cannot be written (full disk) stops the reading: the agent is not doing its job.
    health.register(`sinks.${name}`, () => {
      const problem = buffer.writeProblem();
      return problem === undefined ? [] : [problem];
    });
    metrics.bufferState(name, () => ({ backlog: buffer.backlog(), writable: buffer.writeProblem() === undefined, writeErrors: buffer.stats().writeErrors }));
    const driver = new SinkDriver({
      name, sink, buffer,
      deadLetter: new DeadLetterFile(sinkConfig.dead_letter ?? join(config.state_dir, 'dead-letter', `${name}.ndjson`)),
      delivery: cappedBatch(sinkConfig, kind.maxBatchEvents?.(sinkConfig as never)),
      events: metrics.sink(name, () => buffer.stats().bytesOnDisk, () => buffer.stats().alreadyBuffered),
      logger: sinkLog,
    });
    drivers.push(driver);
  }

  // Each parse thread finds a blind rule on its own, and again after the rule met bodies in between (a policy
  // that logs some writes with bodies): the log says it once per rule and resource per run; the gauge follows.
  const blindLogged = new Set<string>();
  const onDetection = (alarms: number, notes: DetectionNotes | undefined) => {
    if (alarms > 0) detectionMetrics.alarmRecords(alarms);
    if (notes === undefined) return;
    for (const a of notes.allowlisted) detectionMetrics.allowlisted(a.rule, a.entry, a.count);
    for (const b of notes.blind) {
      detectionMetrics.blind(b.rule, b.resource, b.blind);
      const pair = `${b.rule}\0${b.resource}\0${b.blind}`;
      if (blindLogged.has(pair)) continue;
      blindLogged.add(pair);
      if (b.blind) logger.warn({ rule: b.rule, resource: b.resource }, `rule blind for ${b.resource}: policy logs no bodies (writes arrive at Metadata level; log them at Request or RequestResponse level for this rule to work)`);
      else logger.info({ rule: b.rule, resource: b.resource }, `rule sees bodies for ${b.resource} again`);
    }
  };
  const reloader = detection === undefined ? undefined : new RuleReloader({
    ruleFiles: detection.ruleFiles, intervalMs: config.detection.reload_interval,
    apply: (files) => processor.reloadRules(files), metrics: detectionMetrics, logger,
  });
  await reloader?.start();
  // A checkpoint that cannot be saved (a full disk) is said once, then every 30 s while it lasts, not at every interval.
  const checkpointFailedAt = new Map<string, number>();
  const checkpointFailed = (source: string, err: Error) => {
    const now = Date.now();
    if (now - (checkpointFailedAt.get(source) ?? -Infinity) < 30_000) return;
    checkpointFailedAt.set(source, now);
    logger.error({ source, err: (err as NodeJS.ErrnoException).code ?? err.message }, 'cannot write checkpoint; trying again at every interval (a restart meanwhile reads again from the last one saved)');
  };
  // Pod and namespace context (`kubernetes.enabled`): the client library is loaded only then.
  let kubernetes: RecordContext | undefined;
  try {
    kubernetes = await opts.podStores.acquire(config.kubernetes, metrics, logger);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const auditContext = kubernetes && ((refs: Parameters<RecordContext['auditKubernetes']>[0]) => kubernetes.auditKubernetes(refs));
  const sources: Array<{ name: string; files: SourceReader; pipeline: SourcePipeline; store: { flush(): Promise<void> }; deadLetter?: DeadLetterFile }> = [];
  const webhooks: Array<{ name: string; webhook: AuditWebhookSource; pipeline: SourcePipeline; deadLetter?: DeadLetterFile }> = [];
  const eventSources: Array<{ name: string; events: K8sEventsSource; pipeline: SourcePipeline; deadLetter?: DeadLetterFile }> = [];
  const onAlarms = reportView && ((alarms: Parameters<AlarmView['record']>[0]) => reportView.record(alarms));
  const syslogs: Array<{ name: string; syslog: SyslogSource; pipeline: SourcePipeline; deadLetter?: DeadLetterFile }> = [];
  // Audit logs are read first when container logs or host files also have much to read (src/sources/precedence.ts).
  const precedence = new SourcePrecedence();
  for (const [name, src] of Object.entries(config.sources)) {
    if (src.kind === 'syslog') {
      // Listeners, no files and no checkpoint: RELP answers once durable; UDP and TCP give what the transport gives.
      const deadLetter = src.dead_letter ? new DeadLetterFile(src.dead_letter) : undefined;
      const sourceMetrics = metrics.source(name);
      const pipeline = new SourcePipeline({
        source: name, processor, drivers, metrics: sourceMetrics, deadLetter, lineKind: 'a syslog message',
        rejectedLine: compileRejectedLine(config.redaction, src.dead_letter_raw), logger, onDetection, onAlarms,
      });
      const syslog = new SyslogSource({ source: name, config: src, submit: pipeline.submit, logger, metrics: metrics.syslog(name, sourceMetrics.bytesRead) });
      syslogs.push({ name, syslog, pipeline, deadLetter });
      continue;
    }
    if (src.kind === 'audit_webhook') {
      // No files and no checkpoint: a request is answered once durable, and the apiserver retries the others.
      const deadLetter = src.dead_letter ? new DeadLetterFile(src.dead_letter) : undefined;
      const sourceMetrics = metrics.source(name);
      const pipeline = new SourcePipeline({
        source: name, processor, drivers, metrics: sourceMetrics, deadLetter,
        rejectedLine: compileRejectedLine(config.redaction, src.dead_letter_raw), logger, onDetection, onAlarms, kubernetes: auditContext,
      });
      const secrets = src.bearer_token === undefined ? undefined
        : await LiveSecrets.resolve([{ field: `sources.${name}.bearer_token`, ref: src.bearer_token }], logger.child({ source: name }));
      const webhook = new AuditWebhookSource({
        source: name, config: src, secrets, submit: pipeline.submit, logger,
        metrics: { bytesRead: sourceMetrics.bytesRead, request: metrics.webhookRequests(name) },
      });
      webhooks.push({ name, webhook, pipeline, deadLetter });
      continue;
    }
    if (src.kind === 'k8s_events') {
      // No files: the resourceVersion mark and the identities forwarded are its state (src/sources/k8s-events.ts).
      const deadLetter = src.dead_letter ? new DeadLetterFile(src.dead_letter) : undefined;
      const pipeline = new SourcePipeline({
        source: name, processor, drivers, metrics: metrics.source(name), deadLetter, lineKind: 'a Kubernetes event',
        rejectedLine: compileRejectedLine(config.redaction, src.dead_letter_raw), logger, onDetection, onAlarms,
      });
      let events: K8sEventsSource;
      try {
        // Loaded only for this source kind: it brings the Kubernetes client library (tens of MiB).
        const [{ K8sEventsSource }, { k8sEventsOptions }] = await Promise.all([import('./sources/k8s-events.ts'), import('./sources/k8s-events-wiring.ts')]);
        events = new K8sEventsSource(k8sEventsOptions(name, src, config, pipeline.submit, metrics, quarantined, logger));
      } catch (err) {
        throw new StartupError((err as Error).message);
      }
      health.register(`sources.${name}`, () => events.problems());
      eventSources.push({ name, events, pipeline, deadLetter });
      continue;
    }
    const deadLetter = src.dead_letter ? new DeadLetterFile(src.dead_letter) : undefined;
    const sourceMetrics = metrics.source(name);
    const routed = drivers.filter((d) => d.accepts(name));
    if (routed.length === 0) logger.warn({ source: name }, 'no sink takes this source; its events are read and dropped');
    const buffers = new ReadBufferPool(src.read_chunk_bytes, 8);
    const rejectedLine = compileRejectedLine(config.redaction, src.dead_letter_raw);
    const pipeline = new SourcePipeline({
      source: name, processor, drivers, metrics: sourceMetrics, deadLetter, rejectedLine, logger, buffers, onDetection, onAlarms,
      lineKind: src.kind === 'containers' ? 'a container log line' : src.kind === 'files' ? 'a JSON object (format: json)' : undefined,
      kubernetes: src.kind === 'audit' ? auditContext : undefined,
    });
    const srcLog = logger.child({ source: name });
    const sourceHealth = metrics.sourceHealth(name, () => files.liveReadable());
    const events: FileSetEvents = {
      bytesRead: sourceMetrics.bytesRead,
      fileOpened: (path, offset, reason) => srcLog.info({ path, offset, reason }, 'reading file'),
      fileFinished: (path) => srcLog.debug({ path }, 'finished file'),
      problem: (message, details) => srcLog.warn(details, message),
      cannotRead: (p, lastingMs) => {
        if (lastingMs === 0) sourceHealth.readError(p.reason);
        srcLog.warn({ path: p.path, reason: p.reason, ...(lastingMs > 0 ? { lastingSeconds: Math.round(lastingMs / 1000) } : {}) }, problemMessage(p, lastingMs));
      },
      readableAgain: (p) => srcLog.info({ path: p.path, reason: p.reason }, `read problem over: ${p.path} (was: ${problemText(p)})`),
      lost: (l) => {
        sourceHealth.lost(l.unreadBytes);
        srcLog.error({
          path: l.path, fingerprint: l.fingerprint, size: l.size, offset: l.offset, unreadBytes: l.unreadBytes, lastSeen: new Date(l.lastSeenAt).toISOString(),
        }, `file gone before it was read to its end: ${l.unreadBytes} bytes never read${l.whileDown ? ', and whatever was written to it after it was last seen' : ''}${src.kind === 'audit' ? ' (keep more backups: --audit-log-maxbackup × --audit-log-maxsize must cover the longest agent downtime)' : ''}`);
      },
    };
    let files: SourceReader;
    let store: { flush(): Promise<void> };
    if (src.kind === 'containers') {
      const containers = new ContainerSource({ ...containerSourceOptions(name, src, config.state_dir, buffers, pipeline, {
        quarantined, saveFailed: (err) => checkpointFailed(name, err),
      }, kubernetes), precedence }, pipeline.submit, containerEvents(events, srcLog, sourceHealth));
      files = containers;
      store = containers;
    } else if (src.kind === 'files') {
      const hostFiles = new FilesSource({ ...filesSourceOptions(name, src, config, buffers, {
        quarantined, saveFailed: (err) => checkpointFailed(name, err),
      }, kubernetes), precedence }, pipeline.submit, filesEvents(events, srcLog));
      files = hostFiles;
      store = hostFiles;
    } else {
      const fileStore = await CheckpointStore.open(join(config.state_dir, 'checkpoints', `${name}.json`), {
        quarantined,
        saveFailed: (err) => checkpointFailed(name, err),
      });
      files = new FileSet({
        source: name, path: src.path, readFrom: src.read_from, maxLineBytes: src.max_line_bytes,
        chunkBytes: src.read_chunk_bytes, pollMs: src.poll_interval, buffers, precedence: { shared: precedence, role: 'lead' },
      }, fileStore, pipeline.submit, events);
      store = fileStore;
    }
    // A live file that cannot be read makes the agent unready; a bad backup is a warning and a metric only.
    health.register(`sources.${name}`, () => files.liveProblems());
    metrics.checkpointLag(name, () => files.lag());
    sources.push({ name, files, pipeline, store, deadLetter });
  }

  // The workers load the rules while the sinks and sources are set up here. A broken rule file stops the start
  // with its file, rule and field (a RuleError: `invalid rules`, exit code 2, as for the other commands).
  try {
    detectionMetrics.rulesInForce(await processor.ready()); // 0 with detection off
  } catch (err) {
    throw err instanceof RuleError ? err : new StartupError(`parse worker: ${(err as Error).message}`);
  }
  // Webhooks take requests once the rules are loaded: a port that cannot be bound fails the start.
  for (const w of webhooks) {
    try {
      const url = await w.webhook.start();
      logger.info({ source: w.name, url }, 'audit webhook listening');
    } catch (err) {
      await Promise.all(webhooks.map((x) => x.webhook.stop()));
      throw new StartupError(`sources.${w.name}.${(err as Error).message}`);
    }
  }
  for (const s of syslogs) {
    try {
      logger.info({ source: s.name, listening: await s.syslog.start() }, 'syslog source listening');
    } catch (err) {
      await Promise.all([...webhooks.map((x) => x.webhook.stop()), ...syslogs.map((x) => x.syslog.stop())]);
      throw new StartupError(`sources.${s.name}.${(err as Error).message}`);
    }
  }
  goLive();
  const stopHeapBound = new HeapBound().watch();
  for (const d of drivers) d.start();
  for (const s of sources) s.files.start();
  for (const e of eventSources) await e.events.start();
  const checkpointTimer = setInterval(() => {
    for (const s of sources) s.store.flush().catch((err: Error) => checkpointFailed(s.name, err));
  }, config.checkpoint_interval);
  // Not unref'd: it keeps the process alive until stop(). An agent whose sources hold no handle of their own while
  // they wait (a k8s_events source backing off, an idle sink without a timer) would otherwise end with exit code 0.
  // The report view is saved like the detection state: every 2 s when it changed, and at stop. A failure is said once.
  let reportSaveFailed = false;
  const saveReportView = () => reportView?.save().then(() => (reportSaveFailed = false), (err: unknown) => {
    if (!reportSaveFailed) logger.warn({ err: ioReason(err) }, 'cannot save the alarm report view; trying again every 2 s (the sinks have every alarm)');
    reportSaveFailed = true;
  });
  const reportTimer = reportView && setInterval(saveReportView, 2000).unref();

  health.markStarted();
  const agent: RunningAgent = {
    metrics,
    ready: () => health.ready(),
    problems: () => health.problems(),
    sourceProblems: () => sources.flatMap((s) => s.files.problemsSeen().map((p) => `sources.${s.name}: ${p}`)),
    reloadRules: async () => {
      if (reloader === undefined) {
        logger.info('detection is off; no rules to reload');
        return true;
      }
      return reloader.reload();
    },
    reloadSecrets: async () => {
      await Promise.all(drivers.map((d) => d.reloadSink()));
    },
    caughtUp: async () => {
      await Promise.all(sources.map((s) => s.files.caughtUp()));
    },
    async stop() {
      // Everything below happens within the grace period: a buffer that cannot be written (a full disk) must not hold
      // the stop, and whatever is not durable is simply read again at the next start.
      const deadline = Date.now() + config.shutdown_grace;
      health.markStopping();
      clearInterval(checkpointTimer);
      stopHeapBound();
      reloader?.stop();
      // 1. Stop reading; 2. what was read reaches the buffers and is acknowledged; 3. save checkpoints.
      const readersStopped = Promise.all([...sources.map((s) => s.files.stop()), ...webhooks.map((w) => w.webhook.stop()), ...syslogs.map((s) => s.syslog.stop()), ...eventSources.map((e) => e.events.stop())]);
      const pipelines = [...sources, ...webhooks, ...syslogs, ...eventSources];
      const durable = readersStopped.then(() => Promise.all(pipelines.map((s) => s.pipeline.drained())));
      const notDurable: StopReport['notDurable'] = [];
      if (!(await settlesBy(durable, deadline))) {
        for (const s of pipelines) {
          const chunks = s.pipeline.pending();
          if (chunks > 0) notDurable.push({ source: s.name, chunks });
          s.pipeline.abandon();
        }
        logger.warn({ notDurable }, 'grace period over before what was read reached every buffer; it is read again at the next start');
        await settlesBy(readersStopped, Date.now() + 500); // a reader waiting to submit is let go by abandon()
      }
      await Promise.all(sources.map((s) => s.store.flush().catch((err) => {
        logger.error({ source: s.name, err: String(err) }, 'cannot save the checkpoint at stop; the next start reads again from the last one saved');
      })));
      // The events state is saved, and the Lease released with it (a standby takes over at once).
      await Promise.all(eventSources.map((e) => e.events.release()));
      // 4. Sinks drain their buffers for what is left of the grace period; the rest waits on disk for the next start.
      await Promise.all(drivers.map((d) => d.stop(Math.max(0, deadline - Date.now()))));
      const undelivered = drivers.map((d) => ({ sink: d.name, records: d.buffer.backlog().records })).filter((u) => u.records > 0);
      for (const u of undelivered) {
        logger.warn({ sink: u.sink, records: u.records }, `sink ${u.sink}: ${u.records} records not delivered within the grace period; they stay in its buffer and are sent after the next start`);
      }
      // Webhook requests still waiting were not made durable: their connections close and the apiserver retries.
      for (const w of webhooks) w.webhook.closeConnections();
      // RELP sessions get `serverclose` after the answers due: their senders resend what was not answered.
      for (const s of syslogs) s.syslog.closeConnections();
      await Promise.all(pipelines.map((s) => s.deadLetter?.close()));
      // Detection saves its state (aggregation, baseline) here; a full disk must not turn a clean stop into a failure.
      await processor.close().catch((err: unknown) => {
        logger.warn({ err: ioReason(err) }, 'cannot save the detection state at stop; the next start goes on from the last one saved');
      });
      if (ownStores) await opts.podStores.close();
      clearInterval(reportTimer);
      await saveReportView();
      server?.close();
      await lock.release();
      return { undelivered, notDurable };
    },
  };
  logger.info({ sources: [...sources, ...webhooks, ...syslogs, ...eventSources].map((s) => s.name), sinks: drivers.map((d) => d.name), stateDir: config.state_dir }, 'kaudit started');
  return agent;
}

/** The delivery settings with `batch.max_events` lowered to what the sink kind takes at most in one batch. */
function cappedBatch(sink: Config['sinks'][string], cap: number | undefined): Config['sinks'][string] {
  return cap === undefined || cap >= sink.batch.max_events ? sink : { ...sink, batch: { ...sink.batch, max_events: cap } };
}

/** Whether `p` settles before `deadline` (ms since the epoch). */
async function settlesBy(p: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function prepareStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new StartupError(`state_dir ${dir} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? String(err)}); set state_dir in the config or mount a volume there`);
  }
}
