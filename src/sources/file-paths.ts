// What the files source reads of paths: which matches of its patterns are live files (not backups), where a pattern's
// fixed part ends (the directory watched for new files), and the pod a file under kubelet's pods directory belongs to.
import { basename, dirname, extname, isAbsolute, join, sep } from 'node:path';
import { BackupNames } from './backup-names.ts';

/**
 * The live files among a pattern's matches: not a `.gz`, and not a rotated backup of another match or of a live file
 * already followed (`known`: its live name is missing for a moment while it rotates).
 */
export function liveFilesOf(matches: readonly string[], known: Iterable<string> = []): string[] {
  const byDir = new Map<string, { matched: string[]; all: Set<string> }>();
  const entry = (path: string) => {
    const dir = dirname(path);
    let e = byDir.get(dir);
    if (e === undefined) byDir.set(dir, (e = { matched: [], all: new Set() }));
    e.all.add(basename(path));
    return e;
  };
  for (const m of matches) if (!m.endsWith('.gz')) entry(m).matched.push(basename(m));
  for (const k of known) entry(k);
  const live: string[] = [];
  for (const [dir, { matched, all }] of byDir) {
    const backups = new Set<string>();
    for (const name of all) {
      const ext = extname(name);
      const naming = new BackupNames(basename(name, ext), ext, 'any');
      for (const other of matched) if (other !== name && naming.isBackup(other)) backups.add(other);
    }
    for (const name of matched) if (!backups.has(name)) live.push(join(dir, name));
  }
  return live.sort();
}

const GLOB_CHARS = /[*?[\]{}]/;

/** The deepest directory of a pattern without glob characters: new files under it are looked for when it changes. */
export function fixedDirOf(pattern: string): string {
  const parts = pattern.split(sep);
  const firstGlob = parts.findIndex((p) => GLOB_CHARS.test(p));
  const fixed = firstGlob < 0 ? parts.slice(0, -1) : parts.slice(0, firstGlob);
  const dir = fixed.join(sep);
  return dir === '' && isAbsolute(pattern) ? sep : dir;
}

const UID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `…/kubelet/pods/<uid>/` and, for a file in a volume, `volumes/<plugin>/<name>/` after it. */
const KUBELET_POD = new RegExp(`/kubelet/pods/(${UID})/(?:volumes/[^/]+/([^/]+)/)?`);

/** The pod a file in kubelet's pods directory (wherever the host's /var/lib/kubelet is mounted) belongs to. */
export function podOfPath(path: string): { pod_uid: string; volume?: string } | undefined {
  const m = KUBELET_POD.exec(path);
  if (m === null) return undefined;
  return m[2] === undefined ? { pod_uid: m[1] } : { pod_uid: m[1], volume: m[2] };
}
