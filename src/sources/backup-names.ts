// Which names in a log directory are backups of the live file, in the order a scan identifies them.
//
// A directory may hold thousands of backups and is listed on every scan: an unchanged listing (the usual case)
// reuses the previous result instead of filtering and sorting it again.

export interface Backups {
  /** Plain names before .gz ones, so that a backup and its .gz copy (same content) resolve to the plain file. */
  names: readonly string[];
  set: ReadonlySet<string>;
}

/** How a writer names the backups of its live file; both sort oldest first by name. */
export type BackupNaming = 'apiserver' | 'kubelet';

/** Kubelet's rotation: `<n>.log.<YYYYMMDD-hhmmss>`, gzipped when older (`.gz`). */
const KUBELET_STAMP = /^\.\d{8}-\d{6}$/;

export class BackupNames {
  private readonly plainIsBackup: (plain: string) => boolean;
  private lastListing: readonly string[] = [];
  private last: Backups = { names: [], set: new Set() };

  /**
   * Backups of the live file `<stem><ext>`: the apiserver's are `<stem>-<anything><ext>`, kubelet's
   * `<stem><ext>.<YYYYMMDD-hhmmss>`; optionally `.gz`.
   */
  constructor(stem: string, ext: string, naming: BackupNaming = 'apiserver') {
    const live = `${stem}${ext}`;
    this.plainIsBackup = naming === 'kubelet'
      ? (plain) => plain.startsWith(live) && KUBELET_STAMP.test(plain.slice(live.length))
      : (plain) => plain.startsWith(`${stem}-`) && plain.endsWith(ext) && plain.length > stem.length + 1 + ext.length;
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
