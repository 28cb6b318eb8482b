// Which names in a log directory are backups of the live file, in the order a scan identifies them.
//
// A directory may hold thousands of backups and is listed on every scan: an unchanged listing (the usual case)
// reuses the previous result instead of filtering and sorting it again.

import { basename } from 'node:path';

export interface Backups {
  /** Plain names before .gz ones, so that a backup and its .gz copy (same content) resolve to the plain file. */
  names: readonly string[];
  set: ReadonlySet<string>;
}

/**
 * How a writer names the backups of its live file. `apiserver` and `kubelet` sort oldest first by name; `any` (a host
 * file of any writer) takes those and logrotate's `<name>.<n>` (the highest number the oldest) and `<name>-<anything>`
 * (dateext).
 */
export type BackupNaming = 'apiserver' | 'kubelet' | 'any';

/** Kubelet's rotation: `<n>.log.<YYYYMMDD-hhmmss>`, gzipped when older (`.gz`). */
const KUBELET_STAMP = /^\.\d{8}-\d{6}$/;
/** logrotate's numbered backups: `<name>.1` is the newest. */
const NUMBERED = /^\.(\d+)$/;
/** logrotate's dateext (`<name>-20261207`, `-%Y-%m-%d…`), and lumberjack's `<stem>-2026-12-07T10-41-17.000<ext>`. */
const DATED = /^-\d{4}-?\d{2}-?\d{2}/;
const LUMBERJACK = /^-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(\.\d{3})?$/;

export class BackupNames {
  private readonly plainIsBackup: (plain: string) => boolean;
  private readonly live: string;
  private lastListing: readonly string[] = [];
  private last: Backups = { names: [], set: new Set() };

  /**
   * Backups of the live file `<stem><ext>`: the apiserver's are `<stem>-<anything><ext>`, kubelet's
   * `<stem><ext>.<YYYYMMDD-hhmmss>`; optionally `.gz`.
   */
  constructor(stem: string, ext: string, naming: BackupNaming = 'apiserver') {
    const live = `${stem}${ext}`;
    this.live = live;
    const kubelet = (plain: string) => plain.startsWith(live) && KUBELET_STAMP.test(plain.slice(live.length));
    const apiserver = (plain: string) => plain.startsWith(`${stem}-`) && plain.endsWith(ext) && plain.length > stem.length + 1 + ext.length;
    // Any writer: only names that look rotated (`error-2.log` beside `error.log` is a file of its own).
    const lumberjack = (plain: string) => plain.startsWith(`${stem}-`) && plain.endsWith(ext) && LUMBERJACK.test(plain.slice(stem.length, plain.length - ext.length));
    const logrotate = (plain: string) => plain.startsWith(live) && (NUMBERED.test(plain.slice(live.length)) || DATED.test(plain.slice(live.length)));
    this.plainIsBackup = naming === 'kubelet' ? kubelet : naming === 'apiserver' ? apiserver
      : (plain) => lumberjack(plain) || kubelet(plain) || logrotate(plain);
  }

  /** Orders two backups' plain names (no `.gz`) oldest first: by name, and logrotate's numbered ones highest first. */
  compare(a: string, b: string): number {
    const na = this.numberOf(a);
    const nb = this.numberOf(b);
    if (na !== undefined && nb !== undefined) return nb - na;
    return a.localeCompare(b);
  }

  private numberOf(path: string): number | undefined {
    const name = basename(path);
    const m = name.startsWith(this.live) ? NUMBERED.exec(name.slice(this.live.length)) : null;
    return m === null ? undefined : Number(m[1]);
  }

  isBackup(name: string): boolean {
    return this.plainIsBackup(name.endsWith('.gz') ? name.slice(0, -3) : name);
  }

  /** The backups in a directory listing (as readdir returns it). */
  of(listing: readonly string[]): Backups {
    if (sameNames(listing, this.lastListing)) return this.last;
    const names = listing.filter((n) => this.isBackup(n));
    names.sort((a, b) => Number(a.endsWith('.gz')) - Number(b.endsWith('.gz')) || (a < b ? -1 : a > b ? 1 : 0));
    this.lastListing = listing;
    this.last = { names, set: new Set(names) };
    return this.last;
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
