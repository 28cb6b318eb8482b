// Which names in a log directory are backups of the live file, in the order a scan identifies them.
//
// A directory may hold thousands of backups and is listed on every scan: an unchanged listing (the usual case)
// reuses the previous result instead of filtering and sorting it again.

export interface Backups {
  /** Plain names before .gz ones, so that a backup and its .gz copy (same content) resolve to the plain file. */
  names: readonly string[];
  set: ReadonlySet<string>;
}

export class BackupNames {
  private readonly stem: string;
  private readonly ext: string;
  private lastListing: readonly string[] = [];
  private last: Backups = { names: [], set: new Set() };

  /** Backups of `<stem><ext>` are `<stem>-<anything><ext>`, optionally `.gz`. */
  constructor(stem: string, ext: string) {
    this.stem = stem;
    this.ext = ext;
  }

  isBackup(name: string): boolean {
    const plain = name.endsWith('.gz') ? name.slice(0, -3) : name;
    return plain.startsWith(`${this.stem}-`) && plain.endsWith(this.ext) && plain.length > this.stem.length + 1 + this.ext.length;
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
