// The image's runtime, rebuilt without a container engine: the files the Dockerfile copies (the production dependency
// tree installed as its deps stage installs it), its user, environment and entry point, on a read-only view of that
// root filesystem with only the state and cache directories writable; the agent must deliver the bundled example.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { copyArgs, dockerignoreKeeps, execForm, readDockerfile, readDockerignore, REPO, stageEnv, type Stage } from './dockerfile.ts';

const dockerfile = readDockerfile();
const runtime = dockerfile.stages.at(-1)!;
const ignore = readDockerignore();

/** Where a path of the image lies in the rebuilt root filesystem. */
const inRoot = (root: string, path: string) => join(root, path);

function workdir(stage: Stage, upTo: number): string {
  return stage.instructions.slice(0, upTo).filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
}

/** Runs the deps stage into `root`: its COPYs from the context and the RUN commands this test knows how to repeat. */
function buildDeps(stage: Stage, root: string): void {
  stage.instructions.forEach((ins, i) => {
    const cwd = inRoot(root, workdir(stage, i + 1));
    mkdirSync(cwd, { recursive: true });
    if (ins.keyword === 'COPY') {
      const { sources, dest } = copyArgs(ins.args);
      for (const src of sources) cpSync(join(REPO, src), join(cwd, dest, src));
    } else if (ins.keyword === 'RUN') {
      for (const command of ins.args.split('&&').map((c) => c.trim())) {
        const [tool, ...args] = command.split(/\s+/);
        if (tool === 'npm' && args[0] === 'ci') {
          expect(args, 'the image installs production dependencies only').toContain('--omit=dev');
          execFileSync('npm', args, { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });
        } else if (tool === 'npm' && args[0] === 'cache') {
          // nothing to clean outside an image layer
        } else if (tool === 'mkdir' && args[0] === '-p') {
          for (const dir of args.slice(1)) mkdirSync(inRoot(root, dir), { recursive: true });
        } else {
          throw new Error(`Dockerfile line ${ins.line}: this test does not know how to repeat "${command}"; teach it`);
        }
      }
    }
  });
}

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

/** Copies the runtime stage's files into `root`, with the owners the Dockerfile gives them. */
function buildRuntime(stage: Stage, root: string, stageRoots: Record<string, string>): void {
  stage.instructions.forEach((ins, i) => {
    if (ins.keyword !== 'COPY') return;
    const { flags, sources, dest } = copyArgs(ins.args);
    const base = dest.startsWith('/') ? inRoot(root, dest) : join(inRoot(root, workdir(stage, i)), dest);
    const [uid, gid] = flags.chown.split(':').map(Number);
    for (const src of sources) {
      const from = flags.from === undefined ? join(REPO, src) : inRoot(stageRoots[flags.from], src);
      // A directory's contents land in the destination; a file lands inside a destination ending in `/`.
      const to = statSync(from).isDirectory() || !dest.endsWith('/') ? base : join(base, src);
      cpSync(from, to, {
        recursive: true,
        filter: (path) => flags.from !== undefined || path === from || dockerignoreKeeps(ignore, relative(REPO, path)),
      });
      chownTree(to, uid, gid);
    }
  });
}

/** Audit events of the bundled example, as `auditID/stage`. */
function exampleEvents(): Set<string> {
  const dir = join(REPO, 'examples/audit');
  const ids = new Set<string>();
  for (const file of readdirSync(dir)) {
    const raw = readFileSync(join(dir, file));
    const text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
      const e = JSON.parse(line) as { auditID: string; stage: string };
      ids.add(`${e.auditID}/${e.stage}`);
    }
  }
  return ids;
}

interface Layout {
  root: string;
  host: string;
  uid: number;
  gid: number;
}

/**
 * Starts the image's entry point in a mount namespace where the root filesystem is read-only and `mounts` (image path
 * → host directory) are writable, as the image's user, with the image's environment only.
 */
function runImage(layout: Layout, args: string[], mounts: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { root, uid, gid } = layout;
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  for (const [key, value] of Object.entries(stageEnv(runtime))) env[key] = value.startsWith('/') ? inRoot(root, value) : value;
  const entry = execForm(runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1))!;
  // The base image's Node.js is the release the project pins (the lint test checks it): the one running this test.
  const binds = [
    `mount --bind ${root} ${root}`,
    `mount -o remount,bind,ro ${root}`,
    `mount --bind ${process.execPath} ${inRoot(root, entry[0])}`,
    ...Object.entries(mounts).map(([path, host]) => `mount --bind ${host} ${inRoot(root, path)}`),
  ];
  const script = `set -e; ${binds.join('; ')}; cd ${inRoot(root, workdir(runtime, runtime.instructions.length))}; exec setpriv --reuid=${uid} --regid=${gid} --clear-groups -- "$@"`;
  const argv = ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...entry.map((w) => (w.startsWith('/') ? inRoot(root, w) : w)), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A host directory the image's user owns, as a hostPath or emptyDir volume would be. */
function hostDir(layout: Layout, name: string): string {
  const dir = join(layout.host, name);
  mkdirSync(dir, { recursive: true });
  chownTree(dir, layout.uid, layout.gid);
  return dir;
}

/** The bundled example's config, its paths moved to where the image sees its volumes. */
function exampleConfig(layout: Layout, logDir: string, stateDir: string): string {
  const config = parse(readFileSync(join(REPO, 'examples/kaudit.yaml'), 'utf8')) as Record<string, any>;
  config.state_dir = stateDir;
  config.sources.audit.path = join(logDir, 'kubernetes.audit');
  config.sources.audit.dead_letter = join(stateDir, 'dead-letter/audit-lines.ndjson');
  config.sinks.archive.path = join(stateDir, 'out/audit.ndjson');
  const file = join(layout.host, 'kaudit.yaml');
  writeFileSync(file, stringify(config), { mode: 0o644 });
  return file;
}

describe('the image runtime, rebuilt from the Dockerfile', () => {
  let layout: Layout;
  let logDir: string;

  beforeAll(() => {
    const top = mkdtempSync(join(tmpdir(), 'kaudit-image-'));
    chmodSync(top, 0o755);
    const [uid, gid] = runtime.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args.split(':').map(Number);
    layout = { root: join(top, 'rootfs'), host: join(top, 'host'), uid, gid };
    const stageRoots: Record<string, string> = {};
    for (const stage of dockerfile.stages.slice(0, -1)) {
      stageRoots[stage.name!] = join(top, `stage-${stage.name}`);
      buildDeps(stage, stageRoots[stage.name!]);
    }
    buildRuntime(runtime, layout.root, stageRoots);
    // The base image's Node.js binary, bound in at run time.
    const node = inRoot(layout.root, execForm(runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1))![0]);
    mkdirSync(dirname(node), { recursive: true });
    writeFileSync(node, '');
    // The apiserver's log directory (/var/log/kubernetes, mounted read-only), readable by the agent's user.
    logDir = join(layout.host, 'var-log-kubernetes');
    mkdirSync(logDir, { recursive: true });
    cpSync(join(REPO, 'examples/audit'), logDir, { recursive: true });
  }, 300_000);

  it('holds the code and production dependencies only', () => {
    const app = inRoot(layout.root, workdir(runtime, runtime.instructions.length));
    expect(existsSync(join(app, 'bin/kaudit.js'))).toBe(true);
    expect(existsSync(join(app, 'rules'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/pino'))).toBe(true);
    for (const dev of ['vitest', 'typescript', 'node', 'kubernetes-models']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    // The project's own tests stay out of the image (.dockerignore).
    const tests = execFileSync('find', [app, '-path', join(app, 'node_modules'), '-prune', '-o', '-name', '*.test.ts', '-print'], { encoding: 'utf8' });
    expect(tests).toBe('');
  });

  it('delivers the bundled example as the non-root user on a read-only root filesystem, caching in HOME', async () => {
    const state = hostDir(layout, 'state');
    const cache = hostDir(layout, 'cache');
    const config = exampleConfig(layout, logDir, inRoot(layout.root, '/var/lib/kaudit'));
    const r = await runImage(layout, ['run', '--config', config, '--once'], { '/var/lib/kaudit': state, '/var/cache/kaudit': cache });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const out = join(state, 'out/audit.ndjson');
    expect(statSync(out).uid).toBe(layout.uid);
    const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const events = new Set(records.filter((r) => r.kind === 'Event').map((r) => `${r.auditID}/${r.stage}`));
    expect(events).toEqual(exampleEvents());
    expect(records.filter((r) => r.kind === 'kaudit.Alarm').length).toBeGreaterThan(0);
    // HOME (the image's ENV) is the writable cache directory: the compile cache was written there.
    expect(readdirSync(join(cache, '.cache/kaudit/compile')).length).toBeGreaterThan(0);
  }, 120_000);

  it('runs without its caches when nothing writable is mounted on HOME', async () => {
    const state = hostDir(layout, 'state-no-cache');
    const config = exampleConfig(layout, logDir, inRoot(layout.root, '/var/lib/kaudit'));
    const r = await runImage(layout, ['run', '--config', config, '--once'], { '/var/lib/kaudit': state });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const records = readFileSync(join(state, 'out/audit.ndjson'), 'utf8').trim().split('\n');
    expect(records.length).toBeGreaterThan(exampleEvents().size);
  }, 120_000);
});
