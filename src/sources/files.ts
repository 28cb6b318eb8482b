// The files source: host files found by glob patterns, each live file tailed with its rotated backups by a FileSet of
// its own (the audit source's rotation handling: rename, copytruncate, gzip), with its own checkpoint file.
//
// Discovery: the patterns are matched at start, when the directory where a pattern's fixed part ends changes (one
// fs.watch each), and every poll interval. A match that is a backup of another match, or a `.gz`, is not a live file
// (its live file's FileSet reads it). A file whose live path is gone and no longer matched is finished: what it holds
// is read to its end, then it is let go (its checkpoint goes with its directory, as a deleted pod's volume goes).
import { following, type SourcePrecedence } from './precedence.ts';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { glob, rm } from 'node:fs/promises';
import { dirname, join, matchesGlob } from 'node:path';
import { CheckpointStore, unreadBytesOf, type CheckpointEvents } from '../delivery/checkpoint.ts';
import type { FileLineOrigin } from '../parse/file-line.ts';
import { fixedDirOf, liveFilesOf, podOfPath } from './file-paths.ts';
import { FileSet, type ChunkConsumer, type FileSetEvents } from './file-set.ts';
import { exists, isFile, listDir } from './fs-checks.ts';
import type { ReadBufferPool } from './read-buffers.ts';
import { followedFileEvents, RescanLoop } from './rescan-loop.ts';

export interface FilesSourceOptions {
  /** Shared with the audit source, which reads first when both have much to read (src/sources/precedence.ts). */
  precedence?: SourcePrecedence;
  source: string;
  paths: readonly string[];
  exclude: readonly string[];
  /** Where each file's checkpoint is kept: `<checkpointDir>/<hash of its path>.json`. */
  checkpointDir: string;
  readFrom: 'head' | 'tail';
  maxLineBytes: number;
  chunkBytes: number;
  pollMs: number;
  buffers: ReadBufferPool;
  /** What every block's origin says besides its file. */
  lines: Pick<FileLineOrigin, 'host' | 'format' | 'timeField' | 'messageField'>;
  checkpoints: CheckpointEvents;
  /** Kubernetes context on: the `kubernetes` object (JSON) of a block of a file in a pod's directory (within max_wait). */
  kubernetes?: (fromPath: { pod_uid: string; volume?: string }) => Promise<string>;
}

export interface FilesSourceEvents extends FileSetEvents {
  fileAdded(path: string): void;
  fileGone(path: string): void;
}

interface HostFile {
  path: string;
  files: FileSet;
  store: CheckpointStore;
  /** Its live path went missing (a rotation in progress, or the file removed: the next matching tells). */
  missing?: boolean;
  finishing?: Promise<void>;
}

export class FilesSource {
  private readonly o: FilesSourceOptions;
  private readonly consume: ChunkConsumer;
  private readonly events: FilesSourceEvents;
  private readonly files = new Map<string, HostFile>();
  private readonly watchers = new Map<string, FSWatcher>();
  private stopped = false;
  private firstScan = true;
  /** No checkpoint at all when the agent started: `read_from` applies to what the first matching finds. */
  private startedEmpty = true;
  private readonly seen: string[] = [];
  private readonly rescans: RescanLoop;

  constructor(o: FilesSourceOptions, consume: ChunkConsumer, events: FilesSourceEvents) {
    this.o = o;
    this.consume = consume;
    this.events = events;
    this.rescans = new RescanLoop({
      pollMs: o.pollMs,
      before: async () => {
        this.startedEmpty = (await listDir(this.o.checkpointDir)).length === 0;
      },
      scan: () => this.scan(),
      failed: (err) => this.events.problem('cannot match the file patterns', { paths: this.o.paths, error: String(err) }),
      afterFirst: async () => {
        this.firstScan = false;
        await this.dropOrphans().catch((err: unknown) => this.events.problem('cannot look for checkpoints of removed files', { error: String(err) }));
      },
      watch: () => this.watchDirs(),
    });
  }

  start(): void {
    this.rescans.start();
  }

  /** Watches the directory each pattern's fixed part names (one that is not there yet is tried at every matching). */
  private watchDirs(): void {
    for (const dir of new Set(this.o.paths.map(fixedDirOf))) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, this.rescans.scanSoon);
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // Not there (yet): polling finds its files, and the next matching watches it.
      }
    }
  }

  /** Matches the patterns: new live files start, files gone and no longer matched finish. */
  private async scan(): Promise<void> {
    const matches: string[] = [];
    for await (const path of glob([...this.o.paths], { exclude: (p) => this.o.exclude.some((g) => matchesGlob(p, g)) })) {
      if (this.o.exclude.some((g) => matchesGlob(path, g))) continue;
      matches.push(path);
    }
    const live = new Set(liveFilesOf(matches, this.files.keys()));
    for (const path of live) {
      if (this.files.has(path) || this.stopped) continue;
      // Directories and sockets match patterns too; a symlink counts as the file it points to.
      if (!(await isFile(path))) continue;
      await this.add(path);
    }
    for (const f of this.files.values()) {
      if (f.finishing !== undefined || live.has(f.path) || !f.missing) continue;
      f.finishing = this.finish(f).catch((err: unknown) => this.events.problem('cannot finish a file', { path: f.path, error: String(err) }));
    }
  }

  /** The consumer of one file's blocks: each says which parser reads it and, in a pod's directory, the pod's context. */
  private consumerOf(path: string): ChunkConsumer {
    const pod = podOfPath(path);
    const k = this.o.kubernetes;
    const fixed = pod === undefined ? undefined : JSON.stringify(pod);
    return async (chunk) => {
      const kubernetes = pod !== undefined && k !== undefined ? await k(pod) : fixed;
      const origin: FileLineOrigin = { parser: 'files', ...this.o.lines, path, fileKey: chunk.fileKey, offset: chunk.offset };
      if (kubernetes !== undefined) origin.kubernetes = kubernetes;
      await this.consume({ ...chunk, origin });
    };
  }

  private async add(path: string): Promise<void> {
    const store = await CheckpointStore.open(this.checkpointOf(path), this.o.checkpoints);
    const files = new FileSet({
      source: this.o.source, path, readFrom: this.firstScan && this.startedEmpty ? this.o.readFrom : 'head',
      maxLineBytes: this.o.maxLineBytes, chunkBytes: this.o.chunkBytes, pollMs: this.o.pollMs, buffers: this.o.buffers, backupNaming: 'any',
      ...following(this.o.precedence),
    }, store, this.consumerOf(path), followedFileEvents(this.events, () => file, this.rescans.scanSoon, (line) => this.note(line)));
    const file: HostFile = { path, files, store };
    this.files.set(path, file);
    this.events.fileAdded(path);
    files.start();
  }

  /** Reads what the file and its backups hold to their end, then lets it go; its checkpoint goes with its directory. */
  private async finish(f: HostFile): Promise<void> {
    await f.files.caughtUp();
    await f.files.stop();
    await f.store.flush().catch(() => {});
    this.files.delete(f.path);
    if (!(await exists(dirname(f.path)))) await rm(f.store.path, { force: true });
    this.events.fileGone(f.path);
  }

  private checkpointOf(path: string): string {
    return join(this.o.checkpointDir, `${createHash('sha256').update(path).digest('hex').slice(0, 24)}.json`);
  }

  /** Checkpoints of files whose directory is gone (removed while the agent was not running): what was unread is lost, and said. */
  private async dropOrphans(): Promise<void> {
    const known = new Set([...this.files.values()].map((f) => f.store.path));
    for (const name of await listDir(this.o.checkpointDir)) {
      const checkpoint = join(this.o.checkpointDir, name);
      if (!name.endsWith('.json') || known.has(checkpoint)) continue;
      const store = await CheckpointStore.open(checkpoint, this.o.checkpoints);
      const states = store.all();
      let dirLeft = false;
      for (const s of states) if (await exists(dirname(s.path))) dirLeft = true;
      if (dirLeft) continue;
      for (const s of states) {
        const unread = unreadBytesOf(s);
        if (unread === 0) continue;
        this.note(`lost ${s.path}: removed while the agent was not running, ${unread} bytes never read`);
        this.events.lost({ path: s.path, fingerprint: s.fingerprint, size: s.size, offset: s.offset, unreadBytes: unread, lastSeenAt: s.seenAt, whileDown: true });
      }
      await rm(checkpoint, { force: true });
    }
  }

  private note(line: string): void {
    if (this.seen.length < 100) this.seen.push(line);
  }

  /** Files that cannot be read now (not those gone: a pattern matching nothing is not a problem), for readiness. */
  liveProblems(): string[] {
    return [...this.files.values()].filter((f) => !f.missing).flatMap((f) => f.files.liveProblems());
  }

  liveReadable(): boolean {
    return this.liveProblems().length === 0;
  }

  problemsSeen(): string[] {
    return [...this.seen];
  }

  lag(): Array<{ path: string; bytes: number }> {
    return [...this.files.values()].flatMap((f) => f.files.lag());
  }

  /** Resolves once a matching has been made and every file found has been read to its end. */
  async caughtUp(): Promise<void> {
    await this.rescans.nextScan();
    await Promise.all([...this.files.values()].map((f) => f.finishing ?? f.files.caughtUp()));
  }

  /** Saves every file's checkpoint that changed. */
  async flush(): Promise<void> {
    await Promise.all([...this.files.values()].map((f) => f.store.flush()));
  }

  /** Stops reading; what was handed to the consumer still completes. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.rescans.stop();
    await Promise.all([...this.files.values()].map((f) => f.files.stop()));
  }
}
