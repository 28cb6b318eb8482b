// The image's runtime, rebuilt without a container engine: the files the Dockerfile copies (the production dependency
// tree installed as its deps stage installs it), its user, environment and entry point, chrooted on a read-only view
// of that root filesystem. Started as the image's defaults run it, and as deploy/daemonset.yaml runs it (its user and
// capabilities, its volumes, its config), the agent must deliver the bundled example and report ready.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO } from './dockerfile.ts';
import { buildImageRoot, chownTree, startContainer, type Container, type ImageRoot } from './image-root.ts';
import { documents } from './k8s-schema.ts';

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

/** The JSON lines of a stream read so far (a last line without its newline is still being written). */
function jsonLines<T>(text: string): T[] {
  return text.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T);
}

/** Events (as `auditID/stage`) and alarm count among NDJSON records. */
function delivered(ndjson: string): { events: Set<string>; alarms: number } {
  const records = jsonLines<Record<string, string>>(ndjson);
  return {
    events: new Set(records.filter((r) => r.kind === 'Event').map((r) => `${r.auditID}/${r.stage}`)),
    alarms: records.filter((r) => r.kind === 'kaudit.Alarm').length,
  };
}

let top: string;
let image: ImageRoot;
const started: Container[] = [];

/** A host directory for a volume, owned as given. */
function hostDir(name: string, uid: number, gid: number, mode = 0o755): string {
  const dir = join(top, 'host', name);
  mkdirSync(dir, { recursive: true });
  chownTree(dir, uid, gid);
  chmodSync(dir, mode);
  return dir;
}

/** The node's /var/log with the apiserver's audit log directory holding the bundled example, owned and moded as given. */
function nodeVarLog(name: string, uid: number, gid: number, mode: number): string {
  const varLog = hostDir(name, 0, 0);
  cpSync(join(REPO, 'examples/audit'), join(varLog, 'kubernetes'), { recursive: true });
  for (const f of readdirSync(join(varLog, 'kubernetes'))) {
    chownSync(join(varLog, 'kubernetes', f), uid, gid);
    chmodSync(join(varLog, 'kubernetes', f), mode);
  }
  return varLog;
}

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'kaudit-image-'));
  chmodSync(top, 0o755);
  image = buildImageRoot(top);
}, 300_000);

afterEach(() => {
  for (const c of started.splice(0)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
});

// The image's tree is a copy of the dependencies (~100 MB): not left behind.
afterAll(() => {
  if (top !== undefined) rmSync(top, { recursive: true, force: true });
});

describe('the image, as its defaults run it', () => {
  it('holds the code and production dependencies only', () => {
    const app = join(image.root, image.workdir);
    expect(existsSync(join(app, 'bin/kaudit.js'))).toBe(true);
    expect(existsSync(join(app, 'rules'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/pino'))).toBe(true);
    for (const dev of ['vitest', 'typescript', 'node', 'kubernetes-models']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    // The project's own tests stay out of the image (.dockerignore).
    const tests = execFileSync('find', [app, '-path', join(app, 'node_modules'), '-prune', '-o', '-name', '*.test.ts', '-print'], { encoding: 'utf8' });
    expect(tests).toBe('');
  });

  /** The bundled example's config, its paths moved to where the container sees its volumes. */
  function exampleConfig(): string {
    const config = parse(readFileSync(join(REPO, 'examples/kaudit.yaml'), 'utf8')) as Record<string, any>;
    config.state_dir = '/var/lib/kaudit';
    config.sources.audit.path = '/var/log/kubernetes/kubernetes.audit';
    config.sources.audit.dead_letter = '/var/lib/kaudit/dead-letter/audit-lines.ndjson';
    config.sinks.archive.path = '/var/lib/kaudit/out/audit.ndjson';
    const dir = hostDir('example-config', 0, 0);
    writeFileSync(join(dir, 'kaudit.yaml'), stringify(config), { mode: 0o644 });
    return dir;
  }

  async function runExample(mounts: Record<string, string>) {
    const c = startContainer(image, {
      args: ['run', '--config', '/etc/kaudit/kaudit.yaml', '--once'],
      mounts: { '/etc/kaudit': exampleConfig(), '/var/log': nodeVarLog('var-log-readable', 0, 0, 0o644), ...mounts },
      readOnly: ['/etc/kaudit', '/var/log'],
    });
    started.push(c);
    const code = await c.exited;
    expect(code, c.stderr().slice(-3000)).toBe(0);
  }

  it('delivers the bundled example as its non-root user on a read-only root filesystem, caching in HOME', async () => {
    const state = hostDir('state', image.uid, image.gid);
    const cache = hostDir('cache', image.uid, image.gid);
    await runExample({ '/var/lib/kaudit': state, '/var/cache/kaudit': cache });
    const out = join(state, 'out/audit.ndjson');
    expect(statSync(out).uid).toBe(image.uid);
    const { events, alarms } = delivered(readFileSync(out, 'utf8'));
    expect(events).toEqual(exampleEvents());
    expect(alarms).toBeGreaterThan(0);
    // HOME (the image's ENV) is the writable cache directory: the compile cache was written there.
    expect(readdirSync(join(cache, '.cache/kaudit/compile')).length).toBeGreaterThan(0);
  }, 120_000);

  it('runs without its caches when nothing writable is mounted on HOME', async () => {
    const state = hostDir('state-no-cache', image.uid, image.gid);
    await runExample({ '/var/lib/kaudit': state });
    const { events, alarms } = delivered(readFileSync(join(state, 'out/audit.ndjson'), 'utf8'));
    expect(events).toEqual(exampleEvents());
    expect(alarms).toBeGreaterThan(0);
  }, 120_000);
});

describe('the image, as deploy/daemonset.yaml runs it', () => {
  const objects = documents(readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8'));
  const ds = objects.find((o) => o.kind === 'DaemonSet') as any;
  const configMap = objects.find((o) => o.kind === 'ConfigMap') as any;
  const pod = ds.spec.template.spec;
  const [container] = pod.containers;

  interface FakeNode {
    /** Owner and mode of the apiserver's audit files. */
    log: { uid: number; gid: number; mode: number };
    /** Owner and mode of /var/lib/kaudit. */
    state: { uid: number; gid: number; mode: number };
  }

  /**
   * The pod's volumes as the kubelet gives them: hostPaths from a fake node, the ConfigMap's files, an empty emptyDir,
   * an empty directory for the optional Secret that does not exist.
   */
  function podMounts(node: FakeNode): { mounts: Record<string, string>; readOnly: string[] } {
    const id = `${node.log.uid}-${node.state.uid}-${started.length}`;
    const hostPaths: Record<string, string> = {
      '/var/log': nodeVarLog(`node-var-log-${id}`, node.log.uid, node.log.gid, node.log.mode),
      '/var/lib/kaudit': hostDir(`node-var-lib-kaudit-${id}`, node.state.uid, node.state.gid, node.state.mode),
    };
    const mounts: Record<string, string> = {};
    const readOnly: string[] = [];
    for (const m of container.volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>) {
      const v = pod.volumes.find((x: { name: string }) => x.name === m.name);
      let host: string;
      if (v.hostPath) {
        host = hostPaths[v.hostPath.path];
        expect(host, `a fake node path for ${v.hostPath.path}`).toBeDefined();
      } else if (v.configMap) {
        expect(v.configMap.name).toBe(configMap.metadata.name);
        host = hostDir(`configmap-${m.name}-${id}`, 0, 0);
        for (const [key, text] of Object.entries(configMap.data as Record<string, string>)) {
          // The one change: the health endpoint on a free loopback port, not 9808 on every interface of this machine.
          const value = key === 'kaudit.yaml' ? text.replace(/listen: 0\.0\.0\.0:9808/, 'listen: 127.0.0.1:0') : text;
          writeFileSync(join(host, key), value, { mode: 0o644 });
        }
      } else if (v.emptyDir) {
        host = hostDir(`emptydir-${m.name}-${id}`, 0, 0, 0o777);
      } else {
        expect(v.secret?.optional, `volume ${m.name}`).toBe(true);
        host = hostDir(`secret-${m.name}-${id}`, 0, 0);
      }
      mounts[m.mountPath] = host;
      if (m.readOnly) readOnly.push(m.mountPath);
    }
    return { mounts, readOnly };
  }

  /** Starts the pod's container on a fake node; resolves once it delivered the example and answered its probes. */
  async function runPod(node: FakeNode, securityContext: Record<string, any>, groups?: number[]): Promise<{ c: Container; mounts: Record<string, string> }> {
    const { mounts, readOnly } = podMounts(node);
    const sc = securityContext;
    const c = startContainer(image, {
      args: container.args,
      mounts,
      readOnly,
      env: { NODE_NAME: 'control-plane-1' },
      user: { uid: sc.runAsUser ?? image.uid, gid: sc.runAsGroup ?? image.gid, groups },
      dropAllCapabilities: sc.capabilities?.drop?.includes('ALL') && sc.allowPrivilegeEscalation === false,
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
    });
    started.push(c);
    const expected = exampleEvents();
    for (const end = Date.now() + 30_000; ;) {
      if (c.child.exitCode !== null) throw new Error(`agent exited (${c.child.exitCode}): ${c.stderr().slice(-3000)}`);
      const { events, alarms } = delivered(c.stdout());
      if (events.size === expected.size && alarms > 0) break;
      if (Date.now() > end) throw new Error(`${events.size} of ${expected.size} events and ${alarms} alarms delivered after 30 s: ${c.stderr().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(delivered(c.stdout()).events).toEqual(expected);
    const listening = jsonLines<{ msg: string; address?: string }>(c.stderr()).find((e) => e.msg === 'health and metrics endpoint listening');
    expect((await fetch(`${listening!.address}${container.readinessProbe.httpGet.path}`)).status).toBe(200);
    expect((await fetch(`${listening!.address}${container.livenessProbe.httpGet.path}`)).status).toBe(200);
    return { c, mounts };
  }

  it('reads the root-owned 0600 audit log, delivers it to the default sink and reports ready', async () => {
    // As the apiserver leaves its log, and as the kubelet creates a DirectoryOrCreate hostPath.
    const { c, mounts } = await runPod({ log: { uid: 0, gid: 0, mode: 0o600 }, state: { uid: 0, gid: 0, mode: 0o755 } }, container.securityContext);
    // The node's state directory holds the checkpoints: a restarted pod resumes.
    expect(readdirSync(join(mounts['/var/lib/kaudit'], 'checkpoints'))).toContain('audit.json');
    c.child.kill('SIGTERM');
    expect(await c.exited, c.stderr().slice(-3000)).toBe(0);
  }, 120_000);

  it('runs as a non-root user on a node prepared as docs/operating.md says', async () => {
    // docs/operating.md, "Running as a non-root user": the log group-readable, the state directory the agent's own.
    const operating = readFileSync(join(REPO, 'docs/operating.md'), 'utf8');
    const log = /install -m (0\d+) -o root -g (\d+) \/dev\/null \/var\/log\/kubernetes\/kubernetes\.audit/.exec(operating)!;
    const state = /install -d -m (0\d+) -o (\d+) -g (\d+) \/var\/lib\/kaudit/.exec(operating)!;
    const sc = parse(/```yaml\n(securityContext:[\s\S]*?)```/.exec(operating)![1]).securityContext;
    expect(sc.runAsNonRoot).toBe(true);
    const group = Number(log[2]);
    const { c } = await runPod({
      log: { uid: 0, gid: group, mode: parseInt(log[1], 8) },
      state: { uid: Number(state[2]), gid: Number(state[3]), mode: parseInt(state[1], 8) },
    }, sc, [group]);
    c.child.kill('SIGTERM');
    expect(await c.exited, c.stderr().slice(-3000)).toBe(0);
  }, 120_000);
});
