// The containers source: finds kubelet's container logs through its symlinks and tails each with its own FileSet.
//
// Discovery: `path/*.log` (kubelet's /var/log/containers) is listed at start, when the directory changes (one
// fs.watch on it) and every poll interval. Each symlink names a container and points at its current file
// `<pods_path>/<ns>_<pod>_<uid>/<container>/<n>.log`; that file is read by a FileSet of its own, with its own
// checkpoint file, which follows kubelet's rotation (`<n>.log.<YYYYMMDD-hhmmss>`, older ones gzipped) by file
// identity as the audit source does. A restarted container is a new symlink to `<n+1>.log`: a new FileSet, while the
// one on `<n>.log` reads on to its end. A container whose symlink is gone, or whose pod directory is gone, is
// finished: its FileSet reads what it holds (a deleted file stays readable through the open descriptor), then stops,
// and its checkpoint file goes once the log file is gone.
import { following, type SourcePrecedence } from './precedence.ts';
import { readdir, readlink, rm, rmdir } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointStore, unreadBytesOf, type CheckpointEvents } from '../delivery/checkpoint.ts';
import { containerLogOf, type ContainerLog, type ContainerMeta } from './container-paths.ts';
import { FileSet, type ChunkConsumer, type FileSetEvents } from './file-set.ts';
import { exists, listDir } from './fs-checks.ts';
import { PartialLines } from './partial-lines.ts';
import { ReadBufferPool } from './read-buffers.ts';
import { reasonOf, problemText, type ReadProblem } from './read-problems.ts';
import { followedFileEvents, RescanLoop } from './rescan-loop.ts';

export interface ContainerSourceOptions {
  /** Shared with the audit source, which reads first when both have much to read (src/sources/precedence.ts). */
  precedence?: SourcePrecedence;
  source: string;
  /** Kubelet's directory of symlinks, and the pods directory their targets are read under. */
  linksDir: string;
  podsDir: string;
  /** Where each container file's checkpoint is kept: `<checkpointDir>/<ns>_<pod>_<uid>/<container>/<n>.json`. */
  checkpointDir: string;
  readFrom: 'head' | 'tail';
  maxLineBytes: number;
  maxMessageBytes: number;
  chunkBytes: number;
  pollMs: number;
  buffers: ReadBufferPool;
  /** Which containers are read. */
  accepts: (m: ContainerMeta) => boolean;
  /** The access-log format of a container that is an ingress controller; undefined (or unset) for the others. */
  ingressFormat?: (m: ContainerMeta) => string | undefined;
  /** Resolves when every chunk handed out so far is durable (a finished container's checkpoint then goes). */
  drained: () => Promise<void>;
  checkpoints: CheckpointEvents;
  /** Kubernetes context on: what the pod's metadata adds (each answer within the store's max_wait). */
  kubernetes?: ContainerContext;
}

export interface ContainerContext {
  /** The records' `kubernetes` object (JSON) for the next block of the container's lines. */
  block(meta: ContainerMeta): Promise<string>;
  /** Whether the pod's labels let the container be read (decided once, when it is found); unset: no label to check. */
  accepts?(meta: ContainerMeta): Promise<boolean>;
}

export interface ContainerSourceEvents extends FileSetEvents {
  containerAdded(log: ContainerLog, path: string): void;
  containerFinished(log: ContainerLog, path: string): void;
  /** Checkpoints of containers whose logs were removed while the agent was not running. */
  orphanCheckpoint(path: string, unreadBytes: number): void;
}

interface Container {
  log: ContainerLog;
  path: string;
  files: FileSet;
  partial: PartialLines;
  store: CheckpointStore;
  finishing?: Promise<void>;
  /** Its current file went missing (a rotation in progress, or the pod's directory removed). */
  missing?: boolean;
}

export class ContainerSource {
  private readonly o: ContainerSourceOptions;
  private readonly consume: ChunkConsumer;
  private readonly events: ContainerSourceEvents;
  private readonly containers = new Map<string, Container>();
  /** Symlink names of the last listing, and the file each stands for (undefined: not kubelet's shape, or not read). */
  private links = new Map<string, string | undefined>();
  private stopped = false;
  private firstScan = true;
  /** No checkpoint at all when the agent started: `read_from` applies to what the first listing finds. */
  private startedEmpty = true;
  private linksProblem: ReadProblem | undefined;
  private readonly seen: string[] = [];
  private watcher: FSWatcher | undefined;
  private readonly rescans: RescanLoop;

  constructor(o: ContainerSourceOptions, consume: ChunkConsumer, events: ContainerSourceEvents) {
    this.o = o;
    this.consume = consume;
    this.events = events;
    this.rescans = new RescanLoop({
      pollMs: o.pollMs,
      before: async () => {
        this.startedEmpty = (await listDir(this.o.checkpointDir)).length === 0;
      },
      scan: () => this.scan(),
      failed: (err) => this.events.problem('container log scan failed', { path: this.o.linksDir, error: String(err) }),
      afterFirst: async () => {
        this.firstScan = false;
        await this.dropOrphans().catch((err: unknown) => this.events.problem('cannot look for checkpoints of removed containers', { error: String(err) }));
      },
      watch: () => this.watchLinks(),
    });
  }

  start(): void {
    this.rescans.start();
  }

  /** A listing soon (the directory changed, or a container's file went away). */
  private scanSoon(): void {
    this.rescans.scanSoon();
  }

  private watchLinks(): void {
    if (this.watcher !== undefined) return;
    try {
      this.watcher = watch(this.o.linksDir, { persistent: false }, () => this.scanSoon());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // Not there (yet): the listing reports it, and the next one watches again.
    }
  }

  /** Lists the symlinks: new containers start, containers whose symlink or pod directory is gone finish. */
  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.o.linksDir);
      this.problemOver();
    } catch (err) {
      this.linksFailed({ path: this.o.linksDir, live: true, ...reasonOf(err) });
      return;
    }
    const present = new Set<string>();
    const links = new Map<string, string | undefined>();
    const found: Array<{ name: string; log: ContainerLog }> = [];
    for (const name of names) {
      if (!name.endsWith('.log')) continue;
      // A symlink's name holds its container's id: one seen before points where it did (no readlink per listing).
      const path = this.links.get(name);
      if (path === undefined && !this.links.has(name)) {
        let target: string;
        try {
          target = await readlink(join(this.o.linksDir, name));
        } catch {
          continue; // gone since the listing, or not a symlink
        }
        const log = containerLogOf(name, target);
        if (log !== undefined && this.o.accepts(log.meta)) found.push({ name, log });
        else links.set(name, undefined);
        continue;
      }
      links.set(name, path);
      if (path !== undefined) present.add(path);
    }
    // Pod labels, when the source selects by them, are looked up for all new containers at once (a node start finds
    // many, and each lookup may wait for the API within max_wait).
    const accepted = await Promise.all(found.map(({ log }) => this.labelsAccept(log.meta)));
    for (const [i, { name, log }] of found.entries()) {
      const path = accepted[i] ? join(this.o.podsDir, log.relative) : undefined;
      if (path !== undefined && !this.containers.has(path) && !this.stopped) await this.add(log, path);
      links.set(name, path);
      if (path !== undefined) present.add(path);
    }
    this.links = links;
    for (const c of this.containers.values()) {
      if (c.finishing !== undefined) continue;
      // A pod directory removed while its symlinks stay: looked for when the container's file went missing.
      if (present.has(c.path) && !(c.missing && !(await exists(dirname(dirname(c.path)))))) continue;
      c.finishing = this.finish(c).catch((err: unknown) => this.events.problem('cannot finish a container log', { path: c.path, error: String(err) }));
    }
  }

  private async labelsAccept(meta: ContainerMeta): Promise<boolean> {
    return this.o.kubernetes?.accepts === undefined || (await this.o.kubernetes.accepts(meta));
  }

  /** The consumer of one container's blocks: each gets the pod's context (one lookup per block) when it is on. */
  private consumerOf(meta: ContainerMeta): ChunkConsumer {
    const k = this.o.kubernetes;
    if (k === undefined) return this.consume;
    return async (chunk) => {
      const origin = chunk.origin;
      await this.consume(origin?.parser === 'containers' ? { ...chunk, origin: { ...origin, kubernetes: await k.block(meta) } } : chunk);
    };
  }

  private async add(log: ContainerLog, path: string): Promise<void> {
    const store = await CheckpointStore.open(this.checkpointOf(log), this.o.checkpoints);
    const partial = new PartialLines(this.consumerOf(log.meta), {
      parser: 'containers', kubernetes: JSON.stringify(log.meta), maxMessageBytes: this.o.maxMessageBytes, ingress: this.o.ingressFormat?.(log.meta),
    });
    const files = new FileSet({
      source: this.o.source, path, readFrom: this.firstScan && this.startedEmpty ? this.o.readFrom : 'head',
      maxLineBytes: this.o.maxLineBytes, chunkBytes: this.o.chunkBytes, pollMs: this.o.pollMs, buffers: this.o.buffers, backupNaming: 'kubelet',
      followSymlinks: true, // cri-dockerd's files under /var/log/pods are links into Docker's directory
      ...following(this.o.precedence),
    }, store, partial.push, followedFileEvents(this.events, () => container, () => this.scanSoon(), (line) => this.note(line)));
    const container: Container = { log, path, files, partial, store };
    this.containers.set(path, container);
    this.events.containerAdded(log, path);
    files.start();
  }

  /** Reads what the container's files hold to their end, then stops reading them; the checkpoint goes with the log. */
  private async finish(c: Container): Promise<void> {
    await c.files.caughtUp();
    await c.files.stop();
    await c.partial.flush();
    await this.o.drained();
    await c.store.flush().catch(() => {});
    this.containers.delete(c.path);
    if (!(await exists(c.path))) await removeCheckpoint(c.store.path, this.o.checkpointDir);
    this.events.containerFinished(c.log, c.path);
  }

  private checkpointOf(log: ContainerLog): string {
    return join(this.o.checkpointDir, log.relative.replace(/\.log$/, '.json'));
  }

  /**
   * Checkpoints of containers whose log is gone (removed while the agent was not running): what was unread in them is
   * lost, and said; the checkpoint goes.
   */
  private async dropOrphans(): Promise<void> {
    const known = new Set([...this.containers.values()].map((c) => c.store.path));
    for (const pod of await listDir(this.o.checkpointDir)) {
      for (const container of await listDir(join(this.o.checkpointDir, pod))) {
        for (const file of await listDir(join(this.o.checkpointDir, pod, container))) {
          const checkpoint = join(this.o.checkpointDir, pod, container, file);
          if (!file.endsWith('.json') || known.has(checkpoint)) continue;
          const log = join(this.o.podsDir, pod, container, file.replace(/\.json$/, '.log'));
          if (await exists(log)) continue; // a container excluded now, or its symlink not there yet
          const store = await CheckpointStore.open(checkpoint, this.o.checkpoints);
          const unread = store.all().reduce((n, f) => n + unreadBytesOf(f), 0);
          this.events.orphanCheckpoint(log, unread);
          if (unread > 0) this.note(`lost ${log}: removed while the agent was not running, ${unread} bytes never read`);
          await removeCheckpoint(checkpoint, this.o.checkpointDir);
        }
      }
    }
  }

  private note(line: string): void {
    if (this.seen.length < 100) this.seen.push(line);
  }

  private linksFailed(p: ReadProblem): void {
    if (this.linksProblem === undefined) {
      this.events.cannotRead(p, 0);
      this.note(`cannot read ${p.path}: ${problemText(p)}`);
    }
    this.linksProblem = p;
  }

  private problemOver(): void {
    if (this.linksProblem !== undefined) this.events.readableAgain(this.linksProblem);
    this.linksProblem = undefined;
  }

  /** Why the source cannot find containers now (its symlink directory cannot be listed), for readiness. */
  liveProblems(): string[] {
    return this.linksProblem === undefined ? [] : [`cannot read ${this.linksProblem.path}: ${problemText(this.linksProblem)}`];
  }

  liveReadable(): boolean {
    return this.linksProblem === undefined;
  }

  problemsSeen(): string[] {
    return [...this.seen];
  }

  lag(): Array<{ path: string; bytes: number }> {
    return [...this.containers.values()].flatMap((c) => c.files.lag());
  }

  /** Resolves once a listing has been made and every container found has been read to its end. */
  async caughtUp(): Promise<void> {
    await this.rescans.nextScan();
    await Promise.all([...this.containers.values()].map((c) => c.finishing ?? c.files.caughtUp()));
  }

  /** Saves every container file's checkpoint that changed. */
  async flush(): Promise<void> {
    await Promise.all([...this.containers.values()].map((c) => c.store.flush()));
  }

  /** Stops reading; what was handed to the consumer still completes. Held fragments are read again at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    await this.rescans.stop();
    await Promise.all([...this.containers.values()].map((c) => c.files.stop()));
  }
}

/** Removes a container file's checkpoint, and its container and pod directories once empty. */
async function removeCheckpoint(path: string, root: string): Promise<void> {
  await rm(path, { force: true });
  for (let dir = dirname(path); dir.startsWith(root) && dir !== root; dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return; // not empty
    }
  }
}
