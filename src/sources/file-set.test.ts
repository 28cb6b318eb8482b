import { appendFile, mkdir, mkdtemp, readFile, rm, rmdir, truncate, writeFile } from 'node:fs/promises';
import { appendFileSync, copyFileSync, mkdirSync, renameSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { auditLine, auditIdFor } from '../../bench/gen-audit.ts';
import { LumberjackWriter } from '../../test/utils/lumberjack.ts';
import { CheckpointStore } from '../delivery/checkpoint.ts';
import { FileSet, type LostFile, type SourceChunk } from './file-set.ts';
import { problemMessage, type ReadProblem } from './read-problems.ts';

const ID = /"auditID":"([^"]+)"/;

/**
 * Runs `step` once, right after the FileSet's next `op` call on `path` returns: a rotation performed there lands
 * exactly between two steps of a scan, which load otherwise produces only now and then.
 */
const between = vi.hoisted(() => ({ next: undefined as undefined | { op: string; path: string; step: () => void } }));
/** While set, every `op path` the FileSet calls (open, stat, readdir), to show what a scan costs. */
const fsCalls = vi.hoisted(() => ({ log: undefined as string[] | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const wrap = <A extends unknown[], R>(op: string, f: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    fsCalls.log?.push(`${op} ${String(args[0])}`);
    const result = await f(...args);
    const n = between.next;
    if (n && (n.op === op || n.op === '*') && String(args[0]) === n.path) {
      between.next = undefined;
      n.step();
    }
    return result;
  };
  return { ...fs, readdir: wrap('readdir', fs.readdir), stat: wrap('stat', fs.stat), open: wrap('open', fs.open) };
});

/** Runs a FileSet over `path`, acknowledging every chunk at once, and collects the lines per file. */
class Harness {
  readonly lines: Array<{ id: string; path: string; offset: number }> = [];
  readonly oversize: SourceChunk[] = [];
  readonly problems: string[] = [];
  /** Problems warned about, in order, and those said to be over. */
  readonly cannotRead: Array<ReadProblem & { lastingMs: number }> = [];
  readonly readableAgain: ReadProblem[] = [];
  readonly lost: LostFile[] = [];
  /** Files opened to be read, by path. */
  readonly opened: string[] = [];
  files!: FileSet;
  store!: CheckpointStore;

  /** Delays each chunk's acknowledgement (in order), as a pipeline whose sinks have not yet fsynced would. */
  ackDelayMs = 0;
  /** Never acknowledges: nothing read becomes durable (sinks that never fsync before the agent stops). */
  neverAck = false;

  async start(path: string, stateFile: string, extra: Partial<ConstructorParameters<typeof FileSet>[0]> = {}): Promise<this> {
    this.store = await CheckpointStore.open(stateFile);
    this.files = new FileSet(
      { source: 'audit', path, readFrom: 'head', maxLineBytes: 64 * 1024, chunkBytes: 16 * 1024, pollMs: 50, quietMs: 100, ...extra },
      this.store,
      async (chunk) => {
        if (chunk.kind === 'oversize') this.oversize.push(chunk);
        else {
          let offset = chunk.offset;
          for (const line of chunk.data.toString('utf8').split('\n')) {
            if (line.length > 0) this.lines.push({ id: ID.exec(line)?.[1] ?? `?${line.slice(0, 20)}`, path: chunk.path, offset });
            offset += Buffer.byteLength(line) + 1;
          }
        }
        if (this.neverAck) return;
        if (this.ackDelayMs > 0) setTimeout(() => chunk.onDurable(), this.ackDelayMs);
        else chunk.onDurable();
      },
      {
        bytesRead: () => {},
        fileOpened: (p) => this.opened.push(p),
        fileFinished: () => {},
        problem: (m) => this.problems.push(m),
        cannotRead: (p, lastingMs) => {
          this.cannotRead.push({ ...p, lastingMs });
          this.problems.push(problemMessage(p, lastingMs));
        },
        readableAgain: (p) => this.readableAgain.push(p),
        lost: (l) => this.lost.push(l),
      },
    );
    this.files.start();
    return this;
  }

  ids(): string[] {
    return this.lines.map((l) => l.id);
  }

  async waitForIds(n: number, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (Date.now() > until) throw new Error(`timed out with ${this.lines.length}/${n} lines`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    await this.files.stop();
    await this.store.flush();
  }
}

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kaudit-files-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => auditLine(from + i));
const idsOf = (from: number, n: number) => Array.from({ length: n }, (_, i) => auditIdFor(from + i));
const body = (from: number, n: number) => `${lines(from, n).join('\n')}\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (checked every 20 ms); fails naming `what` after `timeoutMs`. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('FileSet', () => {
  it('waits for a file that does not exist yet, then reads it; never emits half a line', async () => {
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    const h = await new Harness().start(path, join(dir, 'state.json'));
    await new Promise((r) => setTimeout(r, 150));
    const [a, b] = lines(0, 2);
    await writeFile(path, `${a}\n${b.slice(0, 100)}`);
    await h.waitForIds(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.ids()).toEqual(idsOf(0, 1));
    await appendFile(path, `${b.slice(100)}\n`);
    await h.waitForIds(2);
    expect(h.ids()).toEqual(idsOf(0, 2));
    await h.stop();
  });

  it('follows lumberjack rename rotation with pruning and gzip: every line once, in order', async () => {
    const dir = await tmp();
    const w = await LumberjackWriter.open({ dir, maxSize: 64 * 1024, maxBackups: 200, compress: true });
    const h = await new Harness().start(w.livePath, join(dir, 'state.json'));
    for (let i = 0; i < 2000; i += 50) {
      await w.writeMany(lines(i, 50));
      await new Promise((r) => setTimeout(r, 5));
    }
    await w.settled();
    await h.waitForIds(2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.ids()).toEqual(idsOf(0, 2000));
    expect((await w.backups()).some((b) => b.endsWith('.gz'))).toBe(true);
    // A rotation or a compression in progress is neither a problem nor a loss.
    expect(h.cannotRead).toEqual([]);
    expect(h.lost).toEqual([]);
    await h.stop();
    await w.close();
  });

  it('reads backups that appeared while it was stopped, in order, resuming from the checkpoint', async () => {
    const dir = await tmp();
    const state = join(dir, 'state.json');
    const w = await LumberjackWriter.open({ dir, maxSize: 32 * 1024, maxBackups: 100, compress: true });
    await w.writeMany(lines(0, 100));
    let h = await new Harness().start(w.livePath, state);
    await h.waitForIds(100);
    await h.stop();

    await w.writeMany(lines(100, 400)); // several rotations while no one reads
    await w.settled();
    h = await new Harness().start(w.livePath, state);
    await h.waitForIds(400);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.ids()).toEqual(idsOf(100, 400));
    await h.stop();
    await w.close();
  });

  it('handles copytruncate: the copy is recognised by content and the truncated file is read from the start', async () => {
    const dir = await tmp();
    const w = await LumberjackWriter.open({ dir, maxSize: 40 * 1024, mode: 'copytruncate', maxBackups: 100 });
    const h = await new Harness().start(w.livePath, join(dir, 'state.json'));
    for (let i = 0; i < 600; i += 20) {
      await w.writeMany(lines(i, 20));
      await new Promise((r) => setTimeout(r, 10));
    }
    await h.waitForIds(600);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(h.ids())).toEqual(new Set(idsOf(0, 600)));
    expect(h.ids().length).toBe(600);
    await h.stop();
    await w.close();
  });

  it('finishes a file deleted while being read, including lines written to it after the unlink', async () => {
    const dir = await tmp();
    const w = await LumberjackWriter.open({ dir, maxSize: 10 * 1024 * 1024 });
    await w.writeMany(lines(0, 50));
    const h = await new Harness().start(w.livePath, join(dir, 'state.json'));
    await h.waitForIds(50);
    await w.deleteWhileOpen(lines(50, 30));
    await w.writeMany(lines(80, 40));
    await h.waitForIds(120);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.ids()).toEqual(idsOf(0, 120));
    await h.stop();
    await w.close();
  });

  it('treats new content under a reused path (and possibly inode) as a new file, read from its start', async () => {
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    const state = join(dir, 'state.json');
    await writeFile(path, `${lines(0, 20).join('\n')}\n`);
    let h = await new Harness().start(path, state);
    await h.waitForIds(20);
    await h.stop();
    await rm(path);
    await writeFile(path, `${lines(20, 5).join('\n')}\n`); // shorter than the old offset
    h = await new Harness().start(path, state);
    await h.waitForIds(5);
    expect(h.ids()).toEqual(idsOf(20, 5));
    await h.stop();
  });

  it('detects truncation in place while running and reads the new content', async () => {
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    await writeFile(path, `${lines(0, 30).join('\n')}\n`);
    const h = await new Harness().start(path, join(dir, 'state.json'));
    await h.waitForIds(30);
    await truncate(path, 0);
    await appendFile(path, `${lines(30, 3).join('\n')}\n`);
    await h.waitForIds(33);
    expect(h.ids()).toEqual(idsOf(0, 33));
    await h.stop();
  });

  describe('between polls, woken by the directory watch alone (an hour-long poll interval)', () => {
    const noPoll = { pollMs: 3_600_000, settleMs: 20 };

    it('reads lines appended to the live file', async () => {
      const dir = await tmp();
      const path = join(dir, 'kubernetes.audit');
      await writeFile(path, `${lines(0, 5).join('\n')}\n`);
      const h = await new Harness().start(path, join(dir, 'state.json'), noPoll);
      await h.waitForIds(5);
      for (let i = 5; i < 50; i += 5) {
        await appendFile(path, `${lines(i, 5).join('\n')}\n`);
        await h.waitForIds(i + 5);
      }
      expect(h.ids()).toEqual(idsOf(0, 50));
      await h.stop();
    });

    it('follows rename rotation with gzip: every line once, in order', async () => {
      const dir = await tmp();
      const w = await LumberjackWriter.open({ dir, maxSize: 32 * 1024, maxBackups: 100, compress: true });
      const h = await new Harness().start(w.livePath, join(dir, 'state.json'), noPoll);
      for (let i = 0; i < 600; i += 30) {
        await w.writeMany(lines(i, 30));
        await new Promise((r) => setTimeout(r, 10));
      }
      await w.settled();
      await h.waitForIds(600);
      expect(h.ids()).toEqual(idsOf(0, 600));
      expect((await w.backups()).some((b) => b.endsWith('.gz'))).toBe(true);
      await h.stop();
      await w.close();
    });

    it('reads the new content of a live file truncated in place', async () => {
      const dir = await tmp();
      const path = join(dir, 'kubernetes.audit');
      await writeFile(path, `${lines(0, 30).join('\n')}\n`);
      const h = await new Harness().start(path, join(dir, 'state.json'), noPoll);
      await h.waitForIds(30);
      await truncate(path, 0);
      await appendFile(path, `${lines(30, 3).join('\n')}\n`);
      await h.waitForIds(33);
      expect(h.ids()).toEqual(idsOf(0, 33));
      await h.stop();
    });
  });

  it('keeps the lines of a damaged .gz before the damage and reports it', async () => {
    const dir = await tmp();
    const live = join(dir, 'kubernetes.audit');
    const gz = gzipSync(Buffer.from(`${lines(0, 200).join('\n')}\n`));
    await writeFile(join(dir, 'kubernetes-2026-11-22T12-00-00.000.audit.gz'), gz.subarray(0, Math.floor(gz.length * 0.6)));
    await writeFile(live, `${lines(500, 3).join('\n')}\n`);
    const h = await new Harness().start(live, join(dir, 'state.json'));
    await h.waitForIds(10);
    await new Promise((r) => setTimeout(r, 500));
    const ids = h.ids();
    expect(ids.slice(-3)).toEqual(idsOf(500, 3));
    const fromGz = ids.slice(0, -3).filter((id) => !id.startsWith('?'));
    expect(fromGz.length).toBeGreaterThan(20);
    expect(fromGz).toEqual(idsOf(0, fromGz.length));
    expect(h.problems.join(' ')).toMatch(/damaged/);
    await h.stop();
  });

  it('cuts a line longer than max_line_bytes and goes on with the next one', async () => {
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    await writeFile(path, `${auditLine(0)}\n${'x'.repeat(200 * 1024)}\n${auditLine(1)}\n`);
    const h = await new Harness().start(path, join(dir, 'state.json'));
    await h.waitForIds(2);
    expect(h.ids()).toEqual(idsOf(0, 2));
    expect(h.oversize).toHaveLength(1);
    expect(h.oversize[0].data.length).toBe(64 * 1024);
    await h.stop();
  });

  it('writes checkpoints that name the file identity and the durable offset', async () => {
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    const body = `${lines(0, 10).join('\n')}\n`;
    await writeFile(path, body);
    const h = await new Harness().start(path, join(dir, 'state.json'));
    await h.waitForIds(10);
    await h.stop();
    const saved = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
    expect(saved.version).toBe(2);
    expect(saved.files).toHaveLength(1);
    expect(saved.files[0]).toMatchObject({ offset: Buffer.byteLength(body), size: Buffer.byteLength(body), fpLen: 1024, path });
  });

  it('is caught up after the pass that reads every file to its end, without waiting for the next poll', async () => {
    // `run --once` stops on caughtUp(): with a poll interval of an hour, only the pass that did the reading can
    // resolve it. A gzipped backup, a plain backup rotated away a moment ago (waited for until quiet) and the
    // live file with a half-written last line (held back) are all read first.
    const dir = await tmp();
    const path = join(dir, 'kubernetes.audit');
    writeFileSync(join(dir, 'kubernetes-2026-11-22T12-00-00.000.audit.gz'), gzipSync(`${lines(0, 30).join('\n')}\n`));
    writeFileSync(join(dir, 'kubernetes-2026-11-22T12-05-00.000.audit'), `${lines(30, 30).join('\n')}\n`);
    const [last] = lines(90, 1);
    writeFileSync(path, `${lines(60, 30).join('\n')}\n${last.slice(0, 50)}`);
    const h = await new Harness().start(path, join(dir, 'state.json'), { pollMs: 3_600_000, quietMs: 300 });
    await h.files.caughtUp();
    expect(h.ids()).toEqual(idsOf(0, 90));
    expect(h.problems).toEqual([]);
    await h.stop();
  });

  describe('sees a rotation in progress as a consistent view', () => {
    const backup = (dir: string, n: number) => join(dir, `kubernetes-2026-01-01T00-00-0${n}.000.audit`);
    const body = (from: number, n: number) => `${lines(from, n).join('\n')}\n`;

    it('when the live file rotates twice between the directory listing and the look at the live name', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      writeFileSync(live, body(0, 20));
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(20);
      await new Promise((r) => setTimeout(r, 200)); // quiet: once rotated away, it may be finished at once
      between.next = {
        op: 'readdir', path: dir, step: () => {
          renameSync(live, backup(dir, 1));
          writeFileSync(live, body(20, 20));
          renameSync(live, backup(dir, 2));
          writeFileSync(live, body(40, 20));
        },
      };
      await h.waitForIds(60);
      await new Promise((r) => setTimeout(r, 300));
      expect(between.next).toBeUndefined();
      expect(h.ids()).toEqual(idsOf(0, 60));
      await h.stop();
    });

    it('when the live file rotates between the look at its metadata and the read of its first bytes', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      writeFileSync(live, body(0, 20));
      const h = new Harness();
      h.ackDelayMs = 400; // what was read is not yet durable when the rotation is seen
      await h.start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(20);
      await new Promise((r) => setTimeout(r, 200)); // quiet: once rotated away, it may be finished at once
      between.next = {
        op: '*', path: live, step: () => {
          renameSync(live, backup(dir, 1));
          writeFileSync(live, body(20, 20));
        },
      };
      await h.waitForIds(40);
      await new Promise((r) => setTimeout(r, 600));
      expect(between.next).toBeUndefined();
      expect(h.ids()).toEqual(idsOf(0, 40));
      await h.stop();
    });

    it('when the file seen as live is rotated, compressed and followed by another backup before the listing', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      writeFileSync(live, body(0, 20));
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(20);
      await new Promise((r) => setTimeout(r, 200)); // quiet: once rotated away, it may be finished at once
      between.next = {
        op: '*', path: live, step: () => {
          writeFileSync(live, body(20, 10), { flag: 'a' });
          renameSync(live, backup(dir, 1));
          writeFileSync(`${backup(dir, 1)}.gz`, gzipSync(Buffer.from(body(0, 30))));
          unlinkSync(backup(dir, 1));
          writeFileSync(live, body(30, 20));
          renameSync(live, backup(dir, 2));
          writeFileSync(live, body(50, 20));
        },
      };
      await h.waitForIds(70);
      await new Promise((r) => setTimeout(r, 300));
      expect(between.next).toBeUndefined();
      expect(h.ids()).toEqual(idsOf(0, 70));
      await h.stop();
    });

    it('when the live file is copied and truncated while what was read from it is not yet durable', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      writeFileSync(live, body(0, 20));
      const h = new Harness();
      h.ackDelayMs = 400;
      await h.start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(20);
      // The copy goes on from where reading stopped, not from the older durable checkpoint.
      copyFileSync(live, backup(dir, 1));
      truncateSync(live, 0);
      appendFileSync(live, body(20, 10));
      await h.waitForIds(30);
      await new Promise((r) => setTimeout(r, 600));
      expect(h.ids()).toEqual(idsOf(0, 30));
      await h.stop();
    });
  });

  describe('says what it cannot read', () => {
    it('warns once about a live file that is missing, a directory, or in a missing directory, and when it is readable again', async () => {
      const root = await tmp();
      const dir = join(root, 'logs');
      const live = join(dir, 'kubernetes.audit');
      const h = await new Harness().start(live, join(root, 'state.json'), { pollMs: 20 });
      await until(() => h.cannotRead.length === 1, 'the missing directory');
      expect(h.cannotRead[0]).toMatchObject({ path: live, live: true, reason: 'directory_not_found', lastingMs: 0 });
      expect(h.files.liveReadable()).toBe(false);
      expect(h.files.liveProblems()).toEqual([`cannot read ${live}: its directory does not exist`]);

      await mkdir(dir);
      await until(() => h.cannotRead.length === 2, 'the missing file');
      expect(h.cannotRead[1]).toMatchObject({ path: live, reason: 'not_found', detail: 'and no backups beside it: the path matches nothing' });

      await mkdir(live);
      await until(() => h.cannotRead.length === 3, 'the directory under the live name');
      expect(h.cannotRead[2]).toMatchObject({ path: live, reason: 'not_a_regular_file', detail: 'a directory' });
      // Rate-limited: dozens of scans while it lasts, one warning.
      await sleep(400);
      expect(h.cannotRead).toHaveLength(3);
      expect(h.files.liveProblems()).toEqual([`cannot read ${live}: not a regular file (a directory)`]);

      await rmdir(live);
      await writeFile(live, body(0, 5));
      await h.waitForIds(5);
      await until(() => h.files.liveReadable() && h.readableAgain.length >= 3, 'the problem to be over');
      // A scan between the rmdir and the write may see the name missing for an instant: a not_found, over at once.
      const reasons = h.readableAgain.map((p) => p.reason);
      expect(reasons.slice(0, 3)).toEqual(['directory_not_found', 'not_found', 'not_a_regular_file']);
      expect(reasons.slice(3)).toEqual(reasons.length > 3 ? ['not_found'] : []);
      expect(h.files.liveReadable()).toBe(true);
      expect(h.files.liveProblems()).toEqual([]);
      expect(h.files.problemsSeen()).toHaveLength(3);
      await h.stop();
    });

    it('warns again while a problem lasts', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20, repeatWarningMs: 150 });
      await until(() => h.cannotRead.length >= 3, 'two repeated warnings');
      expect(h.cannotRead[0].lastingMs).toBe(0);
      expect(h.cannotRead[1].lastingMs).toBeGreaterThan(0);
      expect(h.cannotRead[2].lastingMs).toBeGreaterThan(h.cannotRead[1].lastingMs);
      expect(h.problems[1]).toMatch(/^still cannot read .*kubernetes\.audit: no such file/);
      await h.stop();
    });

    it('warns about backups that are not gzip, damaged, or directories, reads everything else, and keeps the live file readable', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      const name = (n: number, ext: string) => join(dir, `kubernetes-2026-11-22T12-00-0${n}.000${ext}`);
      writeFileSync(name(1, '.audit.gz'), body(0, 10)); // plain text under a .gz name
      writeFileSync(name(2, '.audit.gz'), gzipSync(body(100, 50)).subarray(0, 15)); // ends inside its header
      mkdirSync(name(3, '.audit'));
      writeFileSync(name(4, '.audit.gz'), gzipSync(body(10, 10)));
      writeFileSync(live, body(20, 10));
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.files.caughtUp();
      expect(h.ids()).toEqual(idsOf(10, 20));
      expect(h.cannotRead.map((p) => [p.path, p.reason, p.detail, p.live])).toEqual([
        [name(3, '.audit'), 'not_a_regular_file', 'a directory', false],
        [name(1, '.audit.gz'), 'not_gzip', 'no gzip header', false],
        [name(2, '.audit.gz'), 'damaged_gzip', 'ends before its first block', false],
      ]);
      expect(h.files.liveReadable()).toBe(true);
      expect(h.files.problemsSeen()).toEqual([
        `cannot read ${name(3, '.audit')}: not a regular file (a directory)`,
        `cannot read ${name(1, '.audit.gz')}: named .gz but not gzip data (no gzip header)`,
        `cannot read ${name(2, '.audit.gz')}: damaged gzip data (ends before its first block)`,
      ]);
      await h.stop();
    });
    it('reads no file through a symbolic link under the live name or a backup name, and says so', async () => {
      const dir = await tmp();
      const logs = join(dir, 'logs');
      await mkdir(logs);
      const live = join(logs, 'kubernetes.audit');
      const backup = join(logs, 'kubernetes-2026-11-22T12-00-01.000.audit');
      // Another file, as /etc/shadow would be, whose lines a planted link would have forwarded.
      const other = join(dir, 'shadow');
      writeFileSync(other, body(0, 5));
      symlinkSync(other, live);
      symlinkSync(other, backup);
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await until(() => h.cannotRead.length === 2, 'both links reported');
      expect(h.cannotRead.map((p) => [p.path, p.reason, p.detail, p.live]).sort()).toEqual([
        [backup, 'not_a_regular_file', 'a symbolic link', false],
        [live, 'not_a_regular_file', 'a symbolic link', true],
      ]);
      expect(h.files.liveProblems()).toEqual([`cannot read ${live}: not a regular file (a symbolic link)`]);

      // Replaced by the apiserver's own file: read as usual.
      unlinkSync(live);
      writeFileSync(live, body(5, 5));
      await h.waitForIds(5);
      await sleep(200);
      expect(h.ids()).toEqual(idsOf(5, 5));
      await h.stop();
    });
  });

  describe('finished backups', () => {
    /** `n` gzipped backups of 5 events each, and a live file; returns the backup paths. */
    function backups(dir: string, n: number): string[] {
      const paths: string[] = [];
      for (let k = 0; k < n; k++) {
        const p = join(dir, `kubernetes-2026-11-22T12-${String(k).padStart(2, '0')}-00.000.audit.gz`);
        writeFileSync(p, gzipSync(body(k * 5, 5)));
        paths.push(p);
      }
      writeFileSync(join(dir, 'kubernetes.audit'), body(n * 5, 5));
      return paths;
    }

    afterEach(() => {
      fsCalls.log = undefined;
    });

    it('are neither opened nor announced again at the next start', async () => {
      const dir = await tmp();
      const paths = backups(dir, 30);
      const live = join(dir, 'kubernetes.audit');
      let h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(155);
      await sleep(200); // every backup finished and durable
      await h.stop();
      expect(h.opened).toHaveLength(31);

      fsCalls.log = [];
      h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.files.caughtUp();
      const calls = fsCalls.log;
      fsCalls.log = undefined;
      expect(h.lines).toEqual([]);
      expect(h.opened).toEqual([live]); // the live file is always followed; no line per finished backup
      for (const p of paths) expect(calls.filter((c) => c.endsWith(p))).toEqual([`stat ${p}`]);
      await h.stop();
    });

    it('cost no system call per scan once finished, and one written to again is read on', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      const paths = backups(dir, 10);
      const plain = join(dir, 'kubernetes-2026-11-22T12-59-00.000.audit');
      writeFileSync(plain, body(1000, 5));
      const h = await new Harness().start(live, join(dir, 'state.json'), { pollMs: 20 });
      await h.waitForIds(60);
      await sleep(300); // finished, durable, and known by identity

      fsCalls.log = [];
      await sleep(300); // a dozen scans
      const calls = fsCalls.log;
      fsCalls.log = undefined;
      expect(calls.filter((c) => c.startsWith('readdir')).length).toBeGreaterThan(5);
      for (const p of [...paths, plain]) expect(calls.filter((c) => c.endsWith(p))).toEqual([]);

      appendFileSync(plain, body(1005, 3)); // a late write to a finished backup
      await h.waitForIds(63);
      expect(h.ids().slice(-3)).toEqual(idsOf(1005, 3));
      await h.stop();
    });
  });

  describe('loss accounting', () => {
    it('reports content pruned while stopped before it was read to its end, once, and not content compressed or renamed meanwhile', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      const backup = (n: number) => join(dir, `kubernetes-2026-11-22T12-00-0${n}.000.audit`);
      const state = join(dir, 'state.json');
      writeFileSync(backup(1), body(0, 40));
      writeFileSync(backup(2), body(40, 20));
      writeFileSync(live, body(60, 20));
      let h = new Harness();
      h.neverAck = true; // read, never durable: the checkpoint stays at the start of every file
      await h.start(live, state, { pollMs: 20 });
      await h.waitForIds(80);
      await h.stop();

      // While the agent is down: the oldest backup is pruned, the next one compressed (the .gz is written
      // before the original goes), and the live file rotated.
      unlinkSync(backup(1));
      writeFileSync(`${backup(2)}.gz`, gzipSync(body(40, 20)));
      unlinkSync(backup(2));
      renameSync(live, backup(3));
      writeFileSync(live, body(80, 5));
      const before = Date.now();
      h = await new Harness().start(live, state, { pollMs: 20 });
      await h.waitForIds(45);
      await h.files.caughtUp();
      expect(h.ids()).toEqual(idsOf(40, 45));
      expect(h.lost).toHaveLength(1);
      const bytes = Buffer.byteLength(body(0, 40));
      expect(h.lost[0]).toMatchObject({ path: backup(1), size: bytes, offset: 0, unreadBytes: bytes, whileDown: true });
      expect(h.lost[0].lastSeenAt).toBeLessThan(before);
      expect(h.files.problemsSeen()).toEqual([expect.stringMatching(new RegExp(`^lost ${backup(1)} \\(fingerprint [0-9a-f]{16}\\): ${bytes} bytes never read`))]);
      await h.stop();

      // Remembered as lost: the next start does not count it again.
      const saved = JSON.parse(await readFile(state, 'utf8')) as { files: Array<{ path: string; lostAt?: number }> };
      expect(saved.files.find((f) => f.path === backup(1))?.lostAt).toBeGreaterThanOrEqual(before);
      h = await new Harness().start(live, state, { pollMs: 20 });
      await h.files.caughtUp();
      await sleep(100);
      expect(h.lost).toEqual([]);
      await h.stop();
    });

    it('reads a checkpoint of the previous version and writes the current one', async () => {
      const dir = await tmp();
      const live = join(dir, 'kubernetes.audit');
      const state = join(dir, 'state.json');
      writeFileSync(live, body(0, 20));
      const head = (await readFile(live)).subarray(0, 1024);
      const { hashBytes } = await import('./fingerprint.ts');
      const v1 = { fingerprint: hashBytes(head), fpLen: 1024, dev: 0, ino: 0, offset: Buffer.byteLength(body(0, 12)), done: false, path: live, seenAt: Date.now() };
      writeFileSync(state, JSON.stringify({ version: 1, files: [v1] }));
      const h = await new Harness().start(live, state, { pollMs: 20 });
      await h.waitForIds(8);
      expect(h.ids()).toEqual(idsOf(12, 8));
      await h.stop();
      const saved = JSON.parse(await readFile(state, 'utf8'));
      expect(saved.version).toBe(2);
      expect(saved.files[0]).toMatchObject({ fingerprint: v1.fingerprint, offset: Buffer.byteLength(body(0, 20)), size: Buffer.byteLength(body(0, 20)) });
    });
  });
});
