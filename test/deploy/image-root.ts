// The image's root filesystem rebuilt from the Dockerfile without a container engine, and a container started on it:
// a mount namespace, the root made read-only, volumes bound in, chroot, then the user and capabilities set by setpriv.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, copyFileSync, lchownSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { expect } from 'vitest';
import { copyArgs, dockerignoreKeeps, execForm, readDockerfile, readDockerignore, REPO, stageEnv, type Stage } from './dockerfile.ts';

export interface ImageRoot {
  /** The rebuilt root filesystem. */
  root: string;
  /** The final stage's ENV, WORKDIR, USER and ENTRYPOINT. */
  env: Record<string, string>;
  workdir: string;
  uid: number;
  gid: number;
  entrypoint: string[];
}

const inRoot = (root: string, path: string) => join(root, path);

function workdirAt(stage: Stage, upTo: number): string {
  return stage.instructions.slice(0, upTo).filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
}

export function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

/** Runs a build stage into `root`: its COPYs from the context and the RUN commands this module knows how to repeat. */
function buildStage(stage: Stage, root: string): void {
  stage.instructions.forEach((ins, i) => {
    const cwd = inRoot(root, workdirAt(stage, i + 1));
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

/** Copies the final stage's files into `root`, with the owners the Dockerfile gives them. */
function copyFinalStage(stage: Stage, root: string, stageRoots: Record<string, string>): void {
  const ignore = readDockerignore();
  stage.instructions.forEach((ins, i) => {
    if (ins.keyword !== 'COPY') return;
    const { flags, sources, dest } = copyArgs(ins.args);
    const base = dest.startsWith('/') ? inRoot(root, dest) : join(inRoot(root, workdirAt(stage, i)), dest);
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

/**
 * Builds the image under `top` (a world-readable directory): the build stages, then the final stage's files on a
 * skeleton of the Debian base image, whose system directories the container binds from this (Debian) machine.
 */
export function buildImageRoot(top: string): ImageRoot {
  const dockerfile = readDockerfile();
  const final = dockerfile.stages.at(-1)!;
  const stageRoots: Record<string, string> = {};
  for (const stage of dockerfile.stages.slice(0, -1)) {
    stageRoots[stage.name!] = join(top, `stage-${stage.name}`);
    buildStage(stage, stageRoots[stage.name!]);
  }
  const root = join(top, 'rootfs');
  for (const dir of ['usr/bin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc', 'dev', 'proc', 'tmp']) mkdirSync(join(root, dir), { recursive: true });
  for (const link of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(root, link));
  copyFileSync('/etc/ld.so.cache', join(root, 'etc/ld.so.cache'));
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFinalStage(final, root, stageRoots);
  const [uid, gid] = final.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args.split(':').map(Number);
  const entrypoint = execForm(final.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1))!;
  // The base image's Node.js, the release the project pins (the lint test checks it): the one running this test.
  mkdirSync(dirname(inRoot(root, entrypoint[0])), { recursive: true });
  writeFileSync(inRoot(root, entrypoint[0]), '');
  return { root, env: stageEnv(final), workdir: workdirAt(final, final.instructions.length), uid, gid, entrypoint };
}

export interface ContainerSpec {
  args: string[];
  /** Image path → host path, bound in (a host file or directory), writable unless listed in `readOnly`. */
  mounts: Record<string, string>;
  readOnly?: string[];
  env?: Record<string, string>;
  /** Defaults to the image's USER. */
  user?: { uid: number; gid: number; groups?: number[] };
  /** Every capability dropped, and no way to gain one (Kubernetes' drop: [ALL] with allowPrivilegeEscalation: false). */
  dropAllCapabilities?: boolean;
  readOnlyRootFilesystem?: boolean;
}

export interface Container {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts the image's entry point as a container would: the process's own view of the image, nothing else of the host. */
export function startContainer(image: ImageRoot, spec: ContainerSpec): Container {
  const { root } = image;
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const user = spec.user ?? { uid: image.uid, gid: image.gid };
  const binds = [
    `mount --bind ${q(root)} ${q(root)}`,
    // The base image's system files: this machine's Debian, read-only.
    ...['usr/bin', 'usr/lib', 'usr/lib64'].map((d) => `mount --bind -o ro /${d} ${q(inRoot(root, d))}`),
    `mount --rbind /dev ${q(inRoot(root, 'dev'))}`,
    `mount -t proc proc ${q(inRoot(root, 'proc'))}`,
    `mount --bind ${q(process.execPath)} ${q(inRoot(root, image.entrypoint[0]))}`,
    ...Object.entries(spec.mounts).flatMap(([path, host]) => {
      const target = inRoot(root, path);
      mkdirSync(statSync(host).isDirectory() ? target : dirname(target), { recursive: true });
      if (!statSync(host).isDirectory()) writeFileSync(target, '');
      const bind = `mount --bind ${q(host)} ${q(target)}`;
      return spec.readOnly?.includes(path) ? [bind, `mount -o remount,bind,ro ${q(target)}`] : [bind];
    }),
    ...(spec.readOnlyRootFilesystem === false ? [] : [`mount -o remount,bind,ro ${q(root)}`]),
  ];
  const setpriv = [
    'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`,
    user.groups === undefined ? '--clear-groups' : `--groups=${user.groups.join(',')}`,
    ...(spec.dropAllCapabilities ? ['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'] : []),
    '--',
  ];
  // chroot, then the image's environment only and its WORKDIR (env -i -C), then the user: the command runs with the
  // image's files and settings, nothing of this machine's.
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', ...image.env, ...spec.env };
  const envArgs = ['-i', '-C', image.workdir, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const script = `set -e; ${binds.join('; ')}; exec /usr/sbin/chroot ${q(root)} /usr/bin/env ${[...envArgs, ...setpriv].map(q).join(' ')} "$@"`;
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...image.entrypoint, ...spec.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}
