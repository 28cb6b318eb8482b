// Notices a changed config file (polled, as a ConfigMap update swaps a symlink; or asked, on SIGHUP), checks it as a
// start would, and hands a good one over to be applied. A bad one is refused with its problems: the running config
// stays in force.
import type { Logger } from 'pino';
import { contentDigest } from './content-digest.ts';
import { ConfigError } from './load.ts';
import type { Config } from './schema.ts';

/** Config reloads since the process started, by result (the agent's metrics show them). */
export interface ConfigReloadCounts {
  ok: number;
  failed: number;
}

export interface ConfigReloaderOptions {
  file: string;
  /** Content poll interval; 0: only on request. */
  intervalMs: number;
  /** The config in force. */
  current: Config;
  /** Loads and checks the file as a start does (schema, then preflight); throws ConfigError for a bad config. */
  load: () => Promise<Config>;
  /** Puts a new, checked config in force; throws when it could not (the caller then runs the previous one again). */
  apply: (next: Config, changed: string[]) => Promise<void>;
  counts: ConfigReloadCounts;
  logger: () => Logger;
}

export type ReloadResult = 'unchanged' | 'applied' | 'refused' | 'failed';

export class ConfigReloader {
  readonly #o: ConfigReloaderOptions;
  #current: Config;
  #digest: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ReloadResult> = Promise.resolve('unchanged');

  constructor(o: ConfigReloaderOptions) {
    this.#o = o;
    this.#current = o.current;
  }

  /** Remembers the file's content as started with and starts polling. */
  async start(): Promise<void> {
    this.#digest = await contentDigest([this.#o.file]).catch(() => undefined);
    if (this.#o.intervalMs > 0) {
      this.#timer = setInterval(() => void this.check(false), this.#o.intervalMs);
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  /** Resolves once no reload is under way (a stop waits for it rather than cutting a switch in half). */
  idle(): Promise<unknown> {
    return this.#running;
  }

  /** Checks the file now; `force` (SIGHUP) loads it even when its content looks unchanged. One check at a time. */
  check(force: boolean): Promise<ReloadResult> {
    this.#running = this.#running.then(() => this.#check(force), () => this.#check(force));
    return this.#running;
  }

  async #check(force: boolean): Promise<ReloadResult> {
    const { file, counts } = this.#o;
    const logger = this.#o.logger();
    let digest: string;
    try {
      digest = await contentDigest([file]);
    } catch {
      // Missing for a moment (mid-update): the next poll sees the new file; a signal says it.
      if (force) logger.warn({ file }, 'config file cannot be read now; the running config stays in force');
      return 'unchanged';
    }
    if (!force && digest === this.#digest) return 'unchanged';
    this.#digest = digest;
    let next: Config;
    try {
      next = await this.#o.load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      counts.failed++;
      logger.error({ file, problems: err.problems }, `config not reloaded, ${err.problems.length} problem(s); the running config stays in force`);
      return 'refused';
    }
    const changed = changedFields(this.#current, next);
    if (changed.length === 0) return 'unchanged';
    logger.info({ file, changed }, 'config changed; restarting the pipeline with it (checkpoints and buffers carry over)');
    try {
      await this.#o.apply(next, changed);
    } catch {
      counts.failed++;
      return 'failed'; // the caller said why and runs the previous config again
    }
    counts.ok++;
    this.#current = next;
    return 'applied';
  }
}

/** Where two configs differ: a top-level field, or `sources.NAME` / `sinks.NAME` for the named sections. */
export function changedFields(a: Config, b: Config): string[] {
  const out: string[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Config>) {
    if (key === 'sources' || key === 'sinks') {
      const x = a[key] as Record<string, unknown>;
      const y = b[key] as Record<string, unknown>;
      for (const name of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (!same(x[name], y[name])) out.push(`${key}.${name}`);
      }
    } else if (!same(a[key], b[key])) {
      out.push(key);
    }
  }
  return out.sort();
}
