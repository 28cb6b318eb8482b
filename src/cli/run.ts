// `kaudit run`: start the agent, stop it cleanly on SIGTERM/SIGINT.
import { startAgent } from '../agent.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../observe/logger.ts';

/** `once`: read what the files hold now, deliver it, and exit (a backfill, or the bundled example). */
export async function runCommand(config: Config, once = false): Promise<number> {
  const logger = createLogger(config.log_level);
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
  const agent = await startAgent(config, logger);
  // SIGHUP reloads the rules (the agent keeps running; a broken file leaves the old rules in force) and reads the
  // sinks' secret files again.
  const onHangup = () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading rules and secret files');
    void agent.reloadRules();
    void agent.reloadSecrets();
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
  const left = await agent.stop();
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
