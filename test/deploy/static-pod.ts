// What the static-pod tests share: the kustomization docs/operating.md has the operator write, the node path behind
// a container path, and the flags of a command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './dockerfile.ts';

export const FIXTURE = join(REPO, 'test/deploy/fixtures/kube-apiserver.yaml');
export const operating = readFileSync(join(REPO, 'docs/operating.md'), 'utf8');

export interface Mount { name: string; mountPath: string; readOnly?: boolean }
export interface Volume { name: string; hostPath?: { path: string; type?: string } }

/** The kustomization.yaml a section of a guide (docs/operating.md by default) has the operator write (its heredoc, unindented). */
export function documentedKustomization(section: string, guide = 'docs/operating.md'): string {
  const text = guide === 'docs/operating.md' ? operating : readFileSync(join(REPO, guide), 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`${guide}: no section "${section}"`);
  const m = /cat > kustomization\.yaml <<'EOF'\n([\s\S]*?)\n\s*EOF\n/.exec(text.slice(start));
  if (m === null) throw new Error(`${guide}, "${section}": no \`cat > kustomization.yaml <<'EOF'\` step`);
  const lines = m[1].split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return `${lines.map((l) => l.slice(indent)).join('\n')}\n`;
}

/** The node path behind a container path, through the pod's hostPath mounts (the deepest mount that holds it). */
export function hostPathOf(path: string, mounts: readonly Mount[], volumes: readonly Volume[]): { host: string; mount: Mount } | undefined {
  const mount = mounts
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const hostPath = volumes.find((v) => v.name === mount?.name)?.hostPath;
  if (mount === undefined || hostPath === undefined) return undefined;
  return { host: hostPath.path + path.slice(mount.mountPath.length), mount };
}

/** `--name=value` arguments of a command line. */
export function flags(command: readonly string[]): Map<string, string> {
  return new Map(command.filter((a) => a.startsWith('--')).map((a) => {
    const [k, ...v] = a.slice(2).split('=');
    return [k, v.join('=')] as [string, string];
  }));
}
