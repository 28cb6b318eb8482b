// When a source that follows many files looks for them again: at start, soon after a watched directory changes, and
// every poll interval; and, for each file it follows, its live file going missing told apart from a read problem.
import type { FileSetEvents } from './file-set.ts';
import { problemText } from './read-problems.ts';

/** Least time between two scans that directory changes cause. */
const WATCH_SCAN_GAP_MS = 50;

export interface RescanLoopOptions {
  pollMs: number;
  /** Runs once before the first scan. */
  before?: () => Promise<void>;
  scan: () => Promise<void>;
  /** Runs once after the first scan. */
  afterFirst?: () => Promise<void>;
  /** A scan threw: said, and the next one tries again. */
  failed: (err: unknown) => void;
  /** After each scan: (re)starts the directory watches, which call scanSoon(). */
  watch: () => void;
}

export class RescanLoop {
  private readonly o: RescanLoopOptions;
  private stopped = false;
  private wake: (() => void) | undefined;
  private rescan = false;
  private loop: Promise<void> | undefined;
  private scanned: Array<() => void> = [];

  constructor(o: RescanLoopOptions) {
    this.o = o;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    await this.o.before?.();
    let first = true;
    while (!this.stopped) {
      this.rescan = false;
      try {
        await this.o.scan();
      } catch (err) {
        this.o.failed(err);
      }
      if (first) {
        first = false;
        await this.o.afterFirst?.();
      }
      for (const w of this.scanned.splice(0)) w();
      if (this.stopped) break;
      this.o.watch();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.rescan ? WATCH_SCAN_GAP_MS : this.o.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          setTimeout(resolve, WATCH_SCAN_GAP_MS);
        };
      });
      this.wake = undefined;
    }
  }

  /** A scan soon (a watched directory changed, or a followed file went away). */
  scanSoon = (): void => {
    this.rescan = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  /** Resolves once the next scan is done. */
  nextScan(): Promise<void> {
    return new Promise<void>((resolve) => this.scanned.push(resolve));
  }

  /** Ends the loop (a scan under way completes first). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}

/**
 * A followed file's events, except that its live file going missing is not a problem but, maybe, its end (the next
 * scan tells), and the problems it does report are noted (for `run --once`).
 */
export function followedFileEvents(events: FileSetEvents, file: () => { missing?: boolean }, scanSoon: () => void, note: (line: string) => void): FileSetEvents {
  const gone = (p: { live: boolean; reason: string }) => p.live && (p.reason === 'not_found' || p.reason === 'directory_not_found');
  return {
    ...events,
    cannotRead: (p, lastingMs) => {
      if (gone(p)) {
        file().missing = true;
        scanSoon();
        return;
      }
      if (lastingMs === 0) note(`cannot read ${p.path}: ${problemText(p)}`);
      events.cannotRead(p, lastingMs);
    },
    readableAgain: (p) => {
      if (gone(p)) file().missing = false;
      else events.readableAgain(p);
    },
    lost: (l) => {
      note(`lost ${l.path}: ${l.unreadBytes} bytes never read`);
      events.lost(l);
    },
  };
}
