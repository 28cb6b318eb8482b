// `kaudit run`: start the agent, apply a changed config file without leaving the process, stop cleanly on SIGTERM/SIGINT.
import { startAgent, type RunningAgent } from '../agent.ts';
import { loadConfig } from '../config/load.ts';
import { preflight } from '../config/preflight.ts';
import { ConfigReloader, type ConfigReloadCounts } from '../config/reload.ts';
import type { Config } from '../config/schema.ts';
import { PodStoreHolder } from '../enrich/lazy-store.ts';
import { createLogger } from '../observe/logger.ts';

/**
 * `once`: read what the files hold now, deliver it, and exit (a backfill, or the bundled example).
 * `file`: the config file `config` came from; a change to it is applied while running (not with `once`).
 */
export async function runCommand(config: Config, once = false, file?: string): Promise<number> {
  let logger = createLogger(config.log_level);
  // Signals are taken from the start: a SIGTERM that comes while the agent starts (its "kaudit started" line is
  // logged just before it returns) stops it as soon as it is up, instead of killing the process.
  let stopAsked: (() => void) | undefined;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping: no more reading, flushing in-flight records');
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    // A second signal while stopping exits at once; state on disk is consistent at any instant.
    const now = (again: NodeJS.Signals) => {
      logger.warn({ signal: again }, 'second signal while stopping: exiting now; what was not yet delivered is sent, or read again, after the next start');
      process.exit(1);
    };
    process.once('SIGTERM', now);
    process.once('SIGINT', now);
    signalled = true;
    stopAsked?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const reloadCounts: ConfigReloadCounts = { ok: 0, failed: 0 };
  // The pod store outlives each agent a reload starts (kept while the kubernetes section does not change).
  const podStores = new PodStoreHolder();
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, logger, { configReloads: reloadCounts, podStores });
  } catch (err) {
    await podStores.close();
    throw err;
  }
  // A changed config file: checked as at start, then the pipeline stops (checkpoints saved, buffers kept) and starts
  // again with it, as a restart would but without one. If the new one cannot start, the previous one runs again.
  const reloader = file === undefined || once ? undefined : new ConfigReloader({
    file, intervalMs: config.config_reload_interval, current: config, counts: reloadCounts, logger: () => logger,
    load: async () => {
      const next = await loadConfig(file);
      await preflight(next, file, { rules: 'load' });
      return next;
    },
    apply: async (next) => {
      await agent.stop();
      const nextLogger = createLogger(next.log_level);
      try {
        agent = await startAgent(next, nextLogger, { configReloads: reloadCounts, podStores });
        logger = nextLogger;
        config = next;
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'the changed config did not start; running the previous one again');
        agent = await startAgent(config, logger, { configReloads: reloadCounts, podStores });
        throw err;
      }
    },
  });
  await reloader?.start();
  // SIGHUP reloads the config file if it changed (which restarts the pipeline), else the rules (a broken file leaves
  // the old rules in force) and the sinks' secret files.
  const onHangup = () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading the config, rules and secret files');
    void (reloader?.check(true) ?? Promise.resolve('unchanged')).then((result) => {
      if (result === 'applied') return;
      void agent.reloadRules();
      void agent.reloadSecrets();
    }, (err: Error) => logger.error({ err: err.message }, 'config reload failed'));
  };
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    if (signalled) return resolve();
    stopAsked = resolve;
    if (once) {
      agent.caughtUp().then(() => {
        logger.info('all files read to the end (--once); delivering what is buffered, then exiting');
        resolve();
      }, () => {});
    }
  });
  process.off('SIGHUP', onHangup);
  reloader?.stop();
  // A switch under way finishes first (the stop then stops the agent it started).
  await reloader?.idle().catch(() => {});
  const left = await agent.stop();
  await podStores.close();
  // Whatever was abandoned at the end of the grace period (a write that never completes) must not keep the process.
  setTimeout(() => process.exit(), 2000).unref();
  const t = await agent.metrics.totals();
  logger.info({
    linesRead: t.kaudit_source_lines_total, parseErrors: t.kaudit_source_parse_errors_total,
    delivered: t.kaudit_sink_records_out_total, deadLettered: t.kaudit_sink_records_dead_lettered_total,
    dropped: t.kaudit_sink_records_dropped_total,
  }, 'stopped');
  // --once promises everything the files held: a file that could not be read (or was lost) breaks that promise.
  const unread = once ? agent.sourceProblems() : [];
  if (unread.length > 0) {
    logger.error({ problems: unread }, `${unread.length} source file problem(s) during --once: exit 1`);
    return 1;
  }
  // --once promised to deliver what it read: records still waiting (in a buffer, or not even durable) fail it.
  if (once && (left.undelivered.length > 0 || left.notDurable.length > 0)) return 1;
  return 0;
}
