// Reloads the detection rules when a rule file's content changes (polled: ConfigMap updates swap symlinks,
// which file-change events miss) or on request (SIGHUP). A broken reload keeps the rules in force.
import type { Logger } from 'pino';
import { contentDigest } from '../config/content-digest.ts';
import type { DetectionMetrics } from '../observe/metrics.ts';
import { loadRuleFiles } from './rules.ts';

export interface RuleReloaderOptions {
  ruleFiles: string[];
  /** Content poll interval; 0: only on request. */
  intervalMs: number;
  /** Applies validated rule files to every detector (blocks after the call use them). */
  apply: (ruleFiles: string[]) => Promise<void>;
  metrics: DetectionMetrics;
  logger: Logger;
}

export class RuleReloader {
  readonly #o: RuleReloaderOptions;
  #digest: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<boolean> = Promise.resolve(true);

  constructor(o: RuleReloaderOptions) {
    this.#o = o;
  }

  /** Remembers the files' current content (as loaded at start) and starts polling. */
  async start(): Promise<void> {
    this.#digest = await this.#contentDigest();
    if (this.#o.intervalMs > 0) {
      this.#timer = setInterval(() => {
        void this.#queue(false);
      }, this.#o.intervalMs);
      this.#timer.unref();
    }
  }

  /** Reloads now (SIGHUP), whether or not the files changed. Resolves true when the new rules are in force. */
  reload(): Promise<boolean> {
    return this.#queue(true);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  #queue(force: boolean): Promise<boolean> {
    this.#running = this.#running.then(() => this.#check(force), () => this.#check(force));
    return this.#running;
  }

  async #check(force: boolean): Promise<boolean> {
    const { logger, metrics } = this.#o;
    let digest: string;
    try {
      digest = await this.#contentDigest();
    } catch (err) {
      // A file missing for a moment (mid-update): try again at the next poll, keep the rules in force.
      if (force) {
        metrics.reloaded(false);
        logger.error({ err: (err as Error).message }, 'rules not reloaded; the previous rules stay in force');
      }
      return false;
    }
    if (!force && digest === this.#digest) return true;
    this.#digest = digest;
    try {
      const rules = loadRuleFiles(this.#o.ruleFiles);
      await this.#o.apply(this.#o.ruleFiles);
      metrics.reloaded(true);
      metrics.rulesInForce(rules.rules.length);
      logger.info({ files: this.#o.ruleFiles, rules: rules.rules.length, trigger: force ? 'signal' : 'file change' }, 'rules reloaded');
      return true;
    } catch (err) {
      metrics.reloaded(false);
      logger.error({ err: (err as Error).message }, 'rules not reloaded; the previous rules stay in force');
      return false;
    }
  }

  #contentDigest(): Promise<string> {
    return contentDigest(this.#o.ruleFiles);
  }
}
