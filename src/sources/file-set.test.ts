import { appendFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine, auditIdFor } from '../../bench/gen-audit.ts';
import { LumberjackWriter } from '../../test/utils/lumberjack.ts';
import { CheckpointStore } from '../delivery/checkpoint.ts';
import { FileSet, type SourceChunk } from './file-set.ts';

const ID = /"auditID":"([^"]+)"/;

/** Runs a FileSet over `path`, acknowledging every chunk at once, and collects the lines per file. */
class Harness {
  readonly lines: Array<{ id: string; path: string; offset: number }> = [];
  readonly oversize: SourceChunk[] = [];
  readonly problems: string[] = [];
  readonly events: string[] = [];
  files!: FileSet;
  store!: CheckpointStore;

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
        chunk.onDurable();
      },
      { bytesRead: () => {}, fileOpened: (p, o, r) => this.events.push(`open ${p.split('/').pop()} ${o} ${r}`), fileFinished: (p) => this.events.push(`fin ${p.split('/').pop()} ${this.lines.length}`), problem: (m) => this.problems.push(m) },
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
      if (Date.now() > until) {
        console.log(this.events.slice(-30).join('\n'));
        console.log(JSON.stringify((this.files as any).tracked.map((t: any) => ({ p: t.path.split('/').pop(), gz: t.gz, fin: t.finished, ro: t.readOffset, off: t.state.offset, present: t.present, fh: !!t.fh, live: t.live, q: Date.now() - t.mtimeMs, size: t.size }))));
        throw new Error(`timed out with ${this.lines.length}/${n} lines`);
      }
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
    const exp = idsOf(0, 2000); const got = h.ids();
    const k = got.findIndex((id, i) => id !== exp[i]);
    if (k >= 0) console.log(h.events.join('\n'));
    if (k >= 0) console.log('MISMATCH at', k, JSON.stringify(h.lines.slice(Math.max(0, k - 3), k + 3).map((l) => ({ n: exp.indexOf(l.id), p: l.path.split('/').pop(), o: l.offset }))));
    expect(h.ids()).toEqual(idsOf(0, 2000));
    expect((await w.backups()).some((b) => b.endsWith('.gz'))).toBe(true);
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
    expect(saved.version).toBe(1);
    expect(saved.files).toHaveLength(1);
    expect(saved.files[0]).toMatchObject({ offset: Buffer.byteLength(body), fpLen: 1024, path });
  });
});
