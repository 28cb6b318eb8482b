// The image's runtime, rebuilt without a container engine: the files the Dockerfile copies (the production dependency
// tree installed as its deps stage installs it), its user, environment and entry point, chrooted on a read-only view
// of that root filesystem. Started as the image's defaults run it, and as deploy/daemonset.yaml runs it (its user and
// capabilities, its volumes, its config), the agent must deliver the bundled example and report ready.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO } from './dockerfile.ts';
import { buildImageRoot, chownTree, startContainer, type Container, type ImageRoot } from './image-root.ts';
import { FakeK8sApi, seedCorpus } from '../utils/fake-k8s-api.ts';
import { makeTestCerts, type TestCerts } from '../utils/tls.ts';
import { documents, kustomize, type K8sObject } from './k8s-schema.ts';
import { documentedKustomization, FIXTURE, flags, hostPathOf } from './static-pod.ts';

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

/** A pod of a DaemonSet among rendered objects: its spec, its one container, and the objects its volumes name. */
function podOf(objects: readonly K8sObject[]) {
  const ds = objects.find((o) => o.kind === 'DaemonSet') as any;
  const pod = ds.spec.template.spec;
  return { ds, pod, container: pod.containers[0], named: (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name) as any };
}

interface FakeNode {
  /** Owner and mode of the apiserver's audit files. */
  log: { uid: number; gid: number; mode: number };
  /** Owner and mode of /var/lib/kaudit. */
  state: { uid: number; gid: number; mode: number };
}

/** The FAKE Kubernetes API (recorded payloads) the pods' service account talks to, and the account's files as the kubelet mounts them. */
let api: FakeK8sApi;
let certs: TestCerts;
let serviceAccount: string;
const TOKEN = 'fake-service-account-token';

beforeAll(async () => {
  certs = await makeTestCerts();
  api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: TOKEN });
  seedCorpus(api);
  serviceAccount = hostDir('serviceaccount', 0, 0);
  writeFileSync(join(serviceAccount, 'token'), TOKEN, { mode: 0o644 });
  writeFileSync(join(serviceAccount, 'ca.crt'), readFileSync(certs.caFile), { mode: 0o644 });
  writeFileSync(join(serviceAccount, 'namespace'), 'kaudit', { mode: 0o644 });
});

afterAll(async () => {
  await api?.close();
  await certs?.cleanup();
});

/**
 * The pod's volumes as the kubelet gives them: hostPaths from a fake node, the ConfigMap's files, an empty emptyDir,
 * the Secret's files (an empty directory for an optional Secret that does not exist), the service account's token.
 */
function podMounts(objects: readonly K8sObject[], node: FakeNode): { mounts: Record<string, string>; readOnly: string[] } {
  const { pod, container, named } = podOf(objects);
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
      const configMap = named('ConfigMap', v.configMap.name);
      expect(configMap, `ConfigMap ${v.configMap.name}`).toBeDefined();
      host = hostDir(`configmap-${m.name}-${id}`, 0, 0);
      for (const [key, text] of Object.entries(configMap.data as Record<string, string>)) {
        // The one change: the health endpoint on a free loopback port, not 9808 on every interface of this machine.
        const value = key === 'kaudit.yaml' ? text.replace(/listen: 0\.0\.0\.0:9808/, 'listen: 127.0.0.1:0') : text;
        writeFileSync(join(host, key), value, { mode: 0o644 });
      }
    } else if (v.emptyDir) {
      host = hostDir(`emptydir-${m.name}-${id}`, 0, 0, 0o777);
    } else {
      const secret = named('Secret', v.secret.secretName);
      expect(secret !== undefined || v.secret?.optional === true, `volume ${m.name}`).toBe(true);
      host = hostDir(`secret-${m.name}-${id}`, 0, 0);
      for (const [key, b64] of Object.entries((secret?.data ?? {}) as Record<string, string>)) writeFileSync(join(host, key), Buffer.from(b64, 'base64'), { mode: 0o644 });
    }
    mounts[m.mountPath] = host;
    if (m.readOnly) readOnly.push(m.mountPath);
  }
  if (pod.automountServiceAccountToken !== false) {
    mounts['/var/run/secrets/kubernetes.io/serviceaccount'] = serviceAccount;
    readOnly.push('/var/run/secrets/kubernetes.io/serviceaccount');
  }
  return { mounts, readOnly };
}

/**
 * The container's environment as the kubelet sets it: its values, the downward API's fields (this pod on node
 * `control-plane-1`), a Secret's keys for envFrom, and the API server's address (the fake's).
 */
function podEnv(objects: readonly K8sObject[]): Record<string, string> {
  const { ds, container, named } = podOf(objects);
  const fields: Record<string, string> = { 'spec.nodeName': 'control-plane-1', 'metadata.namespace': ds.metadata.namespace, 'metadata.name': `${ds.metadata.name}-x7k2p` };
  const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(api.url).port };
  for (const e of container.env ?? []) env[e.name] = e.value ?? fields[e.valueFrom.fieldRef.fieldPath];
  for (const from of container.envFrom ?? []) {
    for (const [k, b64] of Object.entries((named('Secret', from.secretRef.name)?.data ?? {}) as Record<string, string>)) env[k] = Buffer.from(b64, 'base64').toString();
  }
  return env;
}

/** Starts the pod's container on a fake node as the kubelet would; resolves once its health endpoint listens. */
async function startPod(objects: readonly K8sObject[], node: FakeNode, securityContext: Record<string, any>, groups?: number[]) {
  const { container } = podOf(objects);
  const { mounts, readOnly } = podMounts(objects, node);
  const sc = securityContext;
  const c = startContainer(image, {
    args: container.args,
    mounts,
    readOnly,
    env: podEnv(objects),
    user: { uid: sc.runAsUser ?? image.uid, gid: sc.runAsGroup ?? image.gid, groups },
    dropAllCapabilities: sc.capabilities?.drop?.includes('ALL') && sc.allowPrivilegeEscalation === false,
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
  });
  started.push(c);
  for (const end = Date.now() + 30_000; ;) {
    if (c.child.exitCode !== null) throw new Error(`agent exited (${c.child.exitCode}): ${c.stderr().slice(-3000)}`);
    const listening = jsonLines<{ msg: string; address?: string }>(c.stderr()).find((e) => e.msg === 'health and metrics endpoint listening');
    if (listening !== undefined) return { c, mounts, address: listening.address! };
    if (Date.now() > end) throw new Error(`no health endpoint after 30 s: ${c.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET a probe's path until it answers 200 (readiness follows the start), within 30 s. */
async function probeOk(address: string, path: string, c: Container): Promise<void> {
  for (const end = Date.now() + 30_000; ;) {
    const status = await fetch(`${address}${path}`).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (c.child.exitCode !== null || Date.now() > end) throw new Error(`${path} answered ${status}: ${c.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Its service account reached the API server: this node's pods are watched (within 30 s). */
async function watchingNodePods(c: Container): Promise<void> {
  const watching = () => api.requests.some((r) => r.watch && r.path === '/api/v1/pods' && r.query.get('fieldSelector') === 'spec.nodeName=control-plane-1');
  for (const end = Date.now() + 30_000; !watching();) {
    if (c.child.exitCode !== null || Date.now() > end) throw new Error(`this node's pods not watched: ${c.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the image, as deploy/daemonset.yaml runs it', () => {
  const objects = documents(readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8'));
  const { container } = podOf(objects);

  /** Starts the pod's container on a fake node; resolves once it delivered the example and answered its probes. */
  async function runPod(node: FakeNode, securityContext: Record<string, any>, groups?: number[]): Promise<{ c: Container; mounts: Record<string, string> }> {
    const { c, mounts, address } = await startPod(objects, node, securityContext, groups);
    const expected = exampleEvents();
    for (const end = Date.now() + 30_000; ;) {
      if (c.child.exitCode !== null) throw new Error(`agent exited (${c.child.exitCode}): ${c.stderr().slice(-3000)}`);
      const { events, alarms } = delivered(c.stdout());
      if (events.size === expected.size && alarms > 0) break;
      if (Date.now() > end) throw new Error(`${events.size} of ${expected.size} events and ${alarms} alarms delivered after 30 s: ${c.stderr().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(delivered(c.stdout()).events).toEqual(expected);
    await probeOk(address, container.readinessProbe.httpGet.path, c);
    await probeOk(address, container.livenessProbe.httpGet.path, c);
    await watchingNodePods(c);
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

describe('the README\'s install section, followed as written (the fake API, real files)', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const at = readme.indexOf('\n## Install in a cluster\n');
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));

  it('brings up an agent that reports ready on /readyz, with its service account watching the node\'s pods', async () => {
    // 1. The apiserver writes its audit log: deploy/static-pod-patch.yaml applied to a kubeadm manifest with the
    //    kustomization docs/operating.md gives; the agent's node then has the log where the patched flags say.
    expect(section).toContain('`deploy/static-pod-patch.yaml`');
    const work = mkdtempSync(join(tmpdir(), 'kaudit-install-'));
    copyFileSync(FIXTURE, join(work, 'kube-apiserver.yaml'));
    copyFileSync(join(REPO, 'deploy/static-pod-patch.yaml'), join(work, 'static-pod-patch.yaml'));
    writeFileSync(join(work, 'kustomization.yaml'), documentedKustomization('Patch the apiserver'));
    const [apiserverPod] = kustomize(work) as any[];
    const [apiserver] = apiserverPod.spec.containers;
    const log = hostPathOf(flags(apiserver.command).get('audit-log-path')!, apiserver.volumeMounts, apiserverPod.spec.volumes)!.host;
    expect(dirname(log)).toBe('/var/log/kubernetes'); // where the fake node's /var/log holds the bundled example
    expect(readdirSync(join(REPO, 'examples/audit'))).toContain(basename(log));

    // 2. The overlay copied and pointed at the base, as its kustomization.yaml says, and rendered as `kubectl apply -k` does.
    const overlay = /copy\s+`([^`]+)`\s+\(a kustomize overlay/.exec(section)![1];
    expect(section).toContain('`kubectl apply -k`');
    const mine = join(work, 'overlay');
    cpSync(join(REPO, overlay), mine, { recursive: true });
    const kustomization = readFileSync(join(mine, 'kustomization.yaml'), 'utf8');
    expect(kustomization).toContain('  - ../../deploy');
    writeFileSync(join(mine, 'kustomization.yaml'), kustomization.replace('  - ../../deploy', `  - ${relative(mine, join(REPO, 'deploy'))}`));
    const objects = kustomize(mine);

    // 3. The sinks are the overlay's as they are (an unreachable backend does not make the agent unready).
    const { container } = podOf(objects);
    api.resetCounts();
    const { c, address } = await startPod(objects, { log: { uid: 0, gid: 0, mode: 0o600 }, state: { uid: 0, gid: 0, mode: 0o755 } }, container.securityContext);
    await probeOk(address, container.readinessProbe.httpGet.path, c);
    await probeOk(address, container.livenessProbe.httpGet.path, c);
    await watchingNodePods(c);
    c.child.kill('SIGTERM');
    expect(await c.exited, c.stderr().slice(-3000)).toBe(0);
    rmSync(work, { recursive: true, force: true });
  }, 120_000);
});
