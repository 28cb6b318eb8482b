// `kaudit run`: start the agent, stop it cleanly on SIGTERM/SIGINT.
import { startAgent } from '../agent.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../observe/logger.ts';

/** `once`: read what the files hold now, deliver it, and exit (a backfill, or the bundled example). */
export async function runCommand(config: Config, once = false): Promise<number> {
  const logger = createLogger(config.log_level);
  const agent = await startAgent(config, logger);
  // SIGHUP reloads the rules (the agent keeps running; a broken file leaves the old rules in force).
  const onHangup = () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading rules');
    void agent.reloadRules();
  };
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    if (once) {
      agent.caughtUp().then(() => {
        logger.info('all files read to the end (--once); delivering what is buffered, then exiting');
        resolve();
      }, () => {});
    }
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping: no more reading, flushing in-flight records');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      // A second signal while stopping exits at once; state on disk is consistent at any instant.
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(1));
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  process.off('SIGHUP', onHangup);
  await agent.stop();
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
  return 0;
}
