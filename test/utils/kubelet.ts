// A node's container log directories laid out, written and rotated exactly as kubelet and its CRI runtime do, for tests.
import { randomUUID, createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** CRI runtimes split a line longer than this into P fragments (containerd's and CRI-O's default, 16 KiB). */
export const CRI_SPLIT = 16 * 1024;

/** One container of a pod on the fake node. */
export class FakeContainer {
  readonly node: FakeNode;
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly name: string;
  /** The restart count: the current file is `<restarts>.log`. */
  restarts = 0;
  id = '';
  private rotations = 0;

  constructor(node: FakeNode, namespace: string, pod: string, uid: string, name: string) {
    this.node = node;
    this.namespace = namespace;
    this.pod = pod;
    this.uid = uid;
    this.name = name;
  }

  get podDir(): string {
    return join(this.node.pods, `${this.namespace}_${this.pod}_${this.uid}`);
  }

  get dir(): string {
    return join(this.podDir, this.name);
  }

  /** The file the runtime writes now. */
  get file(): string {
    return join(this.dir, `${this.restarts}.log`);
  }

  get link(): string {
    return join(this.node.links, `${this.pod}_${this.namespace}_${this.name}-${this.id}.log`);
  }

  /** Starts the container (again): a new id, `<n>.log`, and kubelet's symlink to it. */
  async start(): Promise<void> {
    this.id = createHash('sha256').update(`${this.uid}/${this.name}/${this.restarts}`).digest('hex');
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.file, '', { flag: 'a' });
    await symlink(this.file, this.link);
  }

  /** Appends raw bytes, as the runtime does. */
  async write(text: string | Buffer): Promise<void> {
    await appendFile(this.file, text);
  }

  /** Appends one CRI line per message (split into P fragments past CRI_SPLIT bytes). */
  async print(messages: string[], stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    await this.write(Buffer.concat(messages.map((m) => criLines(m, stream))));
  }

  /** Kubelet's rotation: `n.log` renamed to `n.log.<YYYYMMDD-hhmmss>`, earlier backups gzipped, a new `n.log`. */
  async rotate(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(`${this.restarts}.log.`) || name.endsWith('.gz')) continue;
      const path = join(this.dir, name);
      await writeFile(`${path}.gz`, gzipSync(await readFile(path)));
      await unlink(path);
    }
    this.rotations += 1;
    const stamp = `20261207-${String(100000 + this.rotations).slice(0, 6)}`;
    await rename(this.file, `${this.file}.${stamp}`);
    await writeFile(this.file, '');
  }

  /** The container exits and kubelet starts it again: `n+1.log` and a new symlink; the old ones stay until collected. */
  async restart(): Promise<void> {
    this.restarts += 1;
    await this.start();
  }
}

export class FakeNode {
  /** var/log/containers and var/log/pods under the test's directory. */
  readonly links: string;
  readonly pods: string;

  constructor(root: string) {
    this.links = join(root, 'var/log/containers');
    this.pods = join(root, 'var/log/pods');
  }

  async init(): Promise<this> {
    await mkdir(this.links, { recursive: true });
    await mkdir(this.pods, { recursive: true });
    return this;
  }

  /** Schedules a pod with these containers, started (`uid`: the pod's in a fake API, so that lookups find it). */
  async pod(namespace: string, pod: string, containers: string[], uid: string = randomUUID()): Promise<FakeContainer[]> {
    const out = containers.map((c) => new FakeContainer(this, namespace, pod, uid, c));
    for (const c of out) await c.start();
    return out;
  }

  /** The pod is deleted: kubelet removes its containers' symlinks and its log directory. */
  async deletePod(containers: FakeContainer[]): Promise<void> {
    for (const name of await readdir(this.links)) {
      if (name.startsWith(`${containers[0].pod}_${containers[0].namespace}_`)) await unlink(join(this.links, name));
    }
    await rm(containers[0].podDir, { recursive: true, force: true });
  }
}

/** A message as the CRI runtime writes it: P fragments of CRI_SPLIT bytes, then the F line. */
export function criLines(message: string, stream: 'stdout' | 'stderr' = 'stdout', time = new Date().toISOString().replace('Z', '000000Z')): Buffer {
  const bytes = Buffer.from(message);
  const out: Buffer[] = [];
  const line = (tag: string, part: Buffer) => out.push(Buffer.from(`${time} ${stream} ${tag} `), part, Buffer.from('\n'));
  let at = 0;
  for (; bytes.length - at > CRI_SPLIT; at += CRI_SPLIT) line('P', bytes.subarray(at, at + CRI_SPLIT));
  line('F', bytes.subarray(at));
  return Buffer.concat(out);
}
