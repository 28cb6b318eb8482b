// Why paths of a source cannot be read: each problem warned about while it lasts (rate-limited), counted, cleared aloud.
//
// A scan reports what it could not read; a problem counts once the path has looked the same for `confirmMs`
// (a live file is briefly missing inside a rotation, a .gz is undecodable while it is being written). Then it
// is warned about at once and every `repeatMs` while it lasts, counted once, and an info line says when it
// clears. Problems found while reading (a .gz damaged past its head) are incidents: warned about and counted once.

export type ReadProblemReason =
  | 'not_found'
  | 'directory_not_found'
  | 'permission_denied'
  | 'not_a_regular_file'
  | 'not_gzip'
  | 'damaged_gzip'
  | 'read_error';

const REASON_TEXT: Record<ReadProblemReason, string> = {
  not_found: 'no such file',
  directory_not_found: 'its directory does not exist',
  permission_denied: 'permission denied',
  not_a_regular_file: 'not a regular file',
  not_gzip: 'named .gz but not gzip data',
  damaged_gzip: 'damaged gzip data',
  read_error: 'read error',
};

export interface ReadProblem {
  path: string;
  reason: ReadProblemReason;
  /** The live file (readiness depends on it), not a backup or the directory. */
  live: boolean;
  /** More about the cause, for the operator (an errno code, where a .gz is damaged). */
  detail?: string;
  /** Found while reading (a .gz damaged past its head): what came before was read, the rest never will be. */
  incident?: boolean;
}

/** `permission denied (EACCES)`: what an operator reads about a problem. */
export function problemText(p: ReadProblem): string {
  return p.detail === undefined ? REASON_TEXT[p.reason] : `${REASON_TEXT[p.reason]} (${p.detail})`;
}

/** The warning for a problem: what cannot be read, why, and what it means (`lastingMs` > 0 when it repeats). */
export function problemMessage(p: ReadProblem, lastingMs: number): string {
  if (p.incident) return `cannot read all of ${p.path}: ${problemText(p)}`;
  const what = `${lastingMs > 0 ? 'still cannot' : 'cannot'} read ${p.path}: ${problemText(p)}`;
  return p.live ? `${what}; nothing is collected from this source until it can` : `${what}; skipped until it can`;
}

/** The reason for a failed open, stat or listing. */
export function reasonOf(err: unknown): { reason: ReadProblemReason; detail?: string } {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return { reason: 'not_found' };
    case 'ENOTDIR':
      return { reason: 'directory_not_found', detail: 'a part of the path is a file' };
    case 'EACCES':
    case 'EPERM':
      return { reason: 'permission_denied', detail: code };
    case 'EISDIR':
      return { reason: 'not_a_regular_file', detail: 'a directory' };
    case 'ELOOP': // opened without following links
      return { reason: 'not_a_regular_file', detail: 'a symbolic link' };
    default:
      return { reason: 'read_error', detail: code ?? 'unknown cause' };
  }
}

export interface ReadProblemEvents {
  /** A problem is confirmed (`lastingMs` 0), or still there `repeatMs` after it was last warned about. */
  cannotRead(p: ReadProblem, lastingMs: number): void;
  /** A confirmed problem is gone: the path can be read, or is no longer there to read. */
  readableAgain(p: ReadProblem): void;
}

interface Entry extends ReadProblem {
  since: number;
  /** When the path last looked different (another size or modification time). */
  changedAt: number;
  look: string | undefined;
  confirmed: boolean;
  warnedAt: number;
  reported: boolean;
}

/** Problems kept for `run --once`'s verdict; more would only repeat the same story. */
const MAX_REMEMBERED = 100;

export class ReadProblems {
  private readonly confirmMs: number;
  private readonly repeatMs: number;
  private readonly events: ReadProblemEvents;
  private readonly current = new Map<string, Entry>();
  private readonly remembered = new Map<string, string>();

  constructor(opts: { confirmMs: number; repeatMs: number }, events: ReadProblemEvents) {
    this.confirmMs = opts.confirmMs;
    this.repeatMs = opts.repeatMs;
    this.events = events;
  }

  beginScan(): void {
    for (const e of this.current.values()) e.reported = false;
  }

  /** During a scan: `path` could not be read. `look` (size and modification time) tells whether it is still changing. */
  report(p: ReadProblem, look?: string): void {
    const now = Date.now();
    const e = this.current.get(p.path);
    if (e && e.reason === p.reason) {
      e.reported = true;
      if (look !== e.look) {
        e.look = look;
        e.changedAt = now;
      }
      return;
    }
    // Another problem with a path already failing: the old one is over, and the new one needs no confirming
    // (readiness does not flicker between the two).
    if (e?.confirmed) this.events.readableAgain(e);
    this.current.set(p.path, { ...p, since: now, changedAt: e?.confirmed ? 0 : now, look, confirmed: false, warnedAt: 0, reported: true });
  }

  /** Ends a scan: problems not reported again are over; returns true while some are not confirmed yet (look again soon). */
  endScan(): boolean {
    const now = Date.now();
    let unconfirmed = false;
    for (const [path, e] of this.current) {
      if (!e.reported) {
        this.current.delete(path);
        if (e.confirmed) this.events.readableAgain(e);
      } else if (!e.confirmed) {
        if (now - e.changedAt < this.confirmMs) {
          unconfirmed = true;
          continue;
        }
        e.confirmed = true;
        e.warnedAt = now;
        this.remember(e);
        this.events.cannotRead(e, 0);
      } else if (now - e.warnedAt >= this.repeatMs) {
        e.warnedAt = now;
        this.events.cannotRead(e, now - e.since);
      }
    }
    return unconfirmed;
  }

  /** A problem found while reading, which a later scan will not see again: warned about and counted now. */
  incident(p: ReadProblem): void {
    this.remember({ ...p, incident: true });
    this.events.cannotRead({ ...p, incident: true }, 0);
  }

  /** Confirmed problems with the live file, for readiness. */
  liveProblems(): string[] {
    const out: string[] = [];
    for (const e of this.current.values()) if (e.confirmed && e.live) out.push(`cannot read ${e.path}: ${problemText(e)}`);
    return out;
  }

  /** True unless the live file has a confirmed problem. */
  liveReadable(): boolean {
    for (const e of this.current.values()) if (e.confirmed && e.live) return false;
    return true;
  }

  /** Every problem confirmed since the start, and every loss noted (the first 100), one line each. */
  seen(): string[] {
    return [...this.remembered.values()];
  }

  /** Content lost (gone before it was read to its end): no warning here (it is an error of its own), but remembered. */
  noteLoss(line: string): void {
    this.keep(line, line);
  }

  private remember(p: ReadProblem): void {
    this.keep(`${p.path}\0${p.reason}`, `cannot read ${p.incident ? 'all of ' : ''}${p.path}: ${problemText(p)}`);
  }

  private keep(key: string, line: string): void {
    if (this.remembered.size < MAX_REMEMBERED && !this.remembered.has(key)) this.remembered.set(key, line);
  }
}
