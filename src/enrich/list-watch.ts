// List-and-watch of one resource: the library's ListWatch (list, watch from its resourceVersion, 410 Gone → relist,
// deletions found by a relist reported as deletions), plus what it leaves to its user: bookmarks asked for, a
// server-side timeout and a silence watchdog on each watch, and a reconnect with backoff after an error (the
// ListWatch stops for good on one).
import { ListWatch, type KubernetesListObject, type KubernetesObject, type Watch } from '@kubernetes/client-node';

export interface ListWatchHandlers<T> {
  added(obj: T): void;
  updated(obj: T): void;
  /** The object's last state: from a DELETED event, or the cached copy when a relist no longer has it. */
  deleted(obj: T): void;
}

/** What the list-and-watch reports about itself, for metrics and log lines. */
export interface ListWatchEvents {
  /** A list succeeded (called as it returns, before the ListWatch applies its items). */
  synced(): void;
  /** The watch starts over: `expired` (410 Gone: relist), `error` (a failed list or watch; retried after `delayMs`). */
  restarting(reason: 'expired' | 'error', err: unknown, delayMs: number): void;
}

export interface ListWatchOptions {
  /** The API server ends each watch after this long (`timeoutSeconds`), and the ListWatch watches again from where it was. */
  watchSeconds: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is given up as a dead connection. */
  silenceMs: number;
  /** The longest a list may take (the generated client has no timeout of its own). */
  listTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_LIST_WATCH: ListWatchOptions = { watchSeconds: 300, silenceMs: 360_000, listTimeoutMs: 60_000, initialBackoffMs: 500, maxBackoffMs: 30_000 };

type WatchCall = Watch['watch'];

export class ResourceListWatch<T extends KubernetesObject> {
  private readonly informer: ListWatch<T>;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private isSynced = false;
  private readonly events: ListWatchEvents;
  private readonly opts: ListWatchOptions;

  constructor(
    watch: Watch,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    fieldSelector: string | undefined,
    handlers: ListWatchHandlers<T>,
    events: ListWatchEvents,
    opts: ListWatchOptions = DEFAULT_LIST_WATCH,
  ) {
    this.events = events;
    this.opts = opts;
    const listed = async () => {
      const result = await list();
      this.failures = 0;
      this.isSynced = true;
      this.events.synced();
      return result;
    };
    this.informer = new ListWatch<T>(path, this.watchWithBookmarks(watch), listed, false, undefined, fieldSelector);
    this.informer.on('add', (o) => handlers.added(o));
    this.informer.on('update', (o) => handlers.updated(o));
    this.informer.on('delete', (o) => handlers.deleted(o));
    this.informer.on('error', (err) => this.retry(err));
  }

  start(): void {
    this.stopped = false;
    void this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }

  /** A list has succeeded since the start (the cache may be behind while a watch is being re-established). */
  get synced(): boolean {
    return this.isSynced;
  }

  /** Failed attempts in a row (0 while the list-and-watch works). */
  get failing(): number {
    return this.failures;
  }

  private retry(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const ceiling = Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.events.restarting('expired' === reasonOf(err) ? 'expired' : 'error', err, delay);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) void this.informer.start();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * The library's Watch with bookmarks and a server-side timeout asked for, and a watchdog: a watch silent for
   * `silenceMs` (by default the timeout and a minute more: a half-open connection, an API server that never answered)
   * is given up as an error. Events of a watch given up are dropped, so a late answer cannot overwrite newer state.
   */
  private watchWithBookmarks(watch: Watch): Watch {
    const { watchSeconds, silenceMs } = this.opts;
    const events = this.events;
    const call: WatchCall = async (path, params, callback, done) => {
      let abandoned = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          abandoned = true;
          controller?.abort();
          done(new Error(`watch of ${path} silent for ${silenceMs / 1000} s`));
        }, silenceMs);
        watchdog.unref();
      };
      arm();
      controller = await watch.watch(path, { ...params, allowWatchBookmarks: true, timeoutSeconds: watchSeconds }, (phase, obj, raw) => {
        if (abandoned) return;
        arm();
        if (phase === 'ERROR' && (obj as { code?: number }).code === 410) events.restarting('expired', obj, 0);
        callback(phase, obj, raw);
      }, (err) => {
        clearTimeout(watchdog);
        if (!abandoned) done(err);
      });
      if (abandoned) controller.abort();
      return controller;
    };
    return { watch: call } as Watch;
  }
}

function reasonOf(err: unknown): string | undefined {
  const e = err as { statusCode?: number; code?: number };
  return e.statusCode === 410 || e.code === 410 ? 'expired' : undefined;
}
