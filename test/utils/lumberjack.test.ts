// Tests that the rotating test writer behaves like the apiserver's lumberjack logger on real files.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditIdFor, auditLine, generateAuditLines } from '../../bench/gen-audit.ts';
import { LumberjackWriter, backupName, backupPattern } from './lumberjack.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-lj-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (n: number, from = 0): string[] => [...generateAuditLines(n, 7, from)].map((l) => `${l}\n`);

/** Contents of every file the writer made, oldest first, decompressing .gz backups. */
async function allBytes(w: LumberjackWriter): Promise<string> {
  let out = '';
  for (const b of await w.backups()) {
    const raw = await readFile(b);
    out += (b.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  }
  return out + (await readFile(w.livePath, 'utf8'));
}

describe('LumberjackWriter', () => {
  it('rotates when the next line would pass maxSize, naming backups <name>-<UTC time, ms>.<ext>', async () => {
    const maxSize = 16 * 1024;
    const w = await LumberjackWriter.open({ dir, maxSize });
    const input = lines(60);
    for (const l of input) await w.write(l);
    await w.close();

    const backups = await w.backups();
    expect(backups.length).toBeGreaterThanOrEqual(4);
    const pattern = backupPattern('kubernetes', 'audit');
    for (const b of backups) {
      expect(basename(b)).toMatch(/^kubernetes-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.audit$/);
      expect(pattern.test(basename(b))).toBe(true);
      expect(statSync(b).size).toBeLessThanOrEqual(maxSize);
    }
    // Every backup is as full as it can be: the line that follows it did not fit.
    let k = 0;
    for (const b of backups) {
      const size = statSync(b).size;
      let sum = 0;
      while (sum + Buffer.byteLength(input[k]) <= size) sum += Buffer.byteLength(input[k++]);
      expect(sum).toBe(size);
      expect(size + Buffer.byteLength(input[k])).toBeGreaterThan(maxSize);
    }
    expect(await allBytes(w)).toBe(input.join(''));
    expect(w.writtenIds()).toEqual(input.map((_, i) => auditIdFor(i, 7)));
  });

  it('keeps backup names unique and increasing when rotations share one millisecond', async () => {
    const frozen = Date.UTC(2026, 10, 22, 12, 4, 13, 95);
    const w = await LumberjackWriter.open({ dir, maxSize: 4096, now: () => frozen });
    await w.writeMany(lines(20));
    await w.close();
    const names = (await w.backups()).map((b) => basename(b));
    expect(names[0]).toBe('kubernetes-2026-11-22T12-04-13.095.audit');
    expect(names[1]).toBe('kubernetes-2026-11-22T12-04-13.096.audit');
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(names);
    expect(w.segments().filter((s) => s.state === 'backup').map((s) => basename(s.path))).toEqual(names);
  });

  it('writeMany rotates at the same lines as one write per line', async () => {
    const input = lines(80);
    const one = await LumberjackWriter.open({ dir: join(dir, 'one'), maxSize: 20_000 });
    for (const l of input) await one.write(l);
    await one.close();
    const many = await LumberjackWriter.open({ dir: join(dir, 'many'), maxSize: 20_000 });
    await many.writeMany(input);
    await many.close();
    expect(many.segments().map((s) => s.ids)).toEqual(one.segments().map((s) => s.ids));
    expect(many.lines()).toEqual(one.lines());
  });

  it('prunes backups past maxBackups, oldest first, counting a backup and its .gz once', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 8192, maxBackups: 3 });
    const input = lines(100);
    await w.writeMany(input);
    await w.settled();
    await w.write(auditLine(100, 7)); // no rotation: the set stays as the last mill left it
    await w.close();

    const backups = await w.backups();
    expect(backups).toHaveLength(3);
    const segs = w.segments();
    const kept = segs.filter((s) => s.state === 'backup');
    expect(kept.map((s) => s.path)).toEqual(backups);
    expect(segs.filter((s) => s.state === 'removed').length).toBe(segs.length - 1 - 3);
    // What is still on disk is exactly the newest backups plus the live file.
    const onDisk = (await allBytes(w)).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    expect(onDisk).toEqual(w.retainedIds());
    expect(onDisk.at(-1)).toBe(auditIdFor(100, 7));
  });

  it('gzips backups into <backup>.gz that decompress to the original bytes, then removes the backup', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 32 * 1024, compress: true });
    const input = lines(150);
    await w.writeMany(input);
    await w.close();

    const files = await readdir(dir);
    const gz = files.filter((f) => f.endsWith('.audit.gz'));
    expect(gz.length).toBeGreaterThanOrEqual(5);
    expect(files.filter((f) => /^kubernetes-.*\.audit$/.test(f))).toEqual([]);
    for (const f of gz) expect(backupPattern().test(f)).toBe(true);
    expect(w.segments().filter((s) => s.state === 'compressed')).toHaveLength(gz.length);
    expect(await allBytes(w)).toBe(input.join(''));
    // Each .gz holds exactly its generation's lines.
    for (const s of w.segments().filter((x) => x.state === 'compressed')) {
      const ids = gunzipSync(await readFile(s.path)).toString('utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { auditID: string }).auditID);
      expect(ids).toEqual(s.ids);
    }
  });

  it('compresses and prunes together, as --audit-log-compress with --audit-log-maxbackup does', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 8192, maxBackups: 2, compress: true });
    await w.writeMany(lines(80));
    await w.close();
    const files = (await readdir(dir)).sort();
    expect(files.filter((f) => f.endsWith('.gz'))).toHaveLength(2);
    expect(files.filter((f) => f !== 'kubernetes.audit' && !f.endsWith('.gz'))).toEqual([]);
  });

  it('copytruncate copies the live file to a backup and truncates it in place', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 10_000, mode: 'copytruncate' });
    const inodeBefore = statSync(w.livePath).ino;
    const input = lines(12);
    await w.writeMany(input);
    await w.close();

    expect(statSync(w.livePath).ino).toBe(inodeBefore); // same file all along
    const backups = await w.backups();
    expect(backups.length).toBeGreaterThanOrEqual(1);
    const segs = w.segments();
    for (const [k, b] of backups.entries()) {
      const text = await readFile(b, 'utf8');
      expect(text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { auditID: string }).auditID)).toEqual(segs[k].ids);
    }
    const live = await readFile(w.livePath);
    expect(live.includes(0)).toBe(false); // no hole of NULs before the first new line
    expect(live.toString('utf8')).toBe(input.slice(input.length - segs.at(-1)!.lines).join(''));
    expect(await allBytes(w)).toBe(input.join(''));
  });

  it('delete-while-open: lines written after the unlink reach only the open descriptor, then a new live file starts', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 1 << 20 });
    const before = lines(3);
    await w.writeMany(before);
    const reader = openSync(w.livePath, 'r'); // a tailer holding the file
    const during = lines(2, 3);
    const after = lines(2, 5);
    try {
      await w.deleteWhileOpen(during);
      await w.writeMany(after);
      const buf = Buffer.alloc(1 << 16);
      const n = readSync(reader, buf, 0, buf.length, 0);
      expect(buf.toString('utf8', 0, n)).toBe([...before, ...during].join(''));
    } finally {
      closeSync(reader);
    }
    await w.close();
    expect(await readFile(w.livePath, 'utf8')).toBe(after.join(''));
    expect(await w.backups()).toEqual([]);
    const segs = w.segments();
    expect(segs.map((s) => s.state)).toEqual(['deleted', 'live']);
    expect(segs[0].ids).toHaveLength(5);
    expect(w.retainedIds()).toEqual(segs[1].ids);
  });

  it('appends to an existing live file and rotates it first when the first line would fill it', async () => {
    const first = lines(1)[0];
    const live = join(dir, 'kubernetes.audit');
    await writeFile(live, first);
    const second = lines(1, 1)[0];
    const w = await LumberjackWriter.open({ dir, maxSize: Buffer.byteLength(first) + Buffer.byteLength(second) });
    await w.write(second); // size + len == max: lumberjack's openExistingOrNew rotates on >=
    await w.write(lines(1, 2)[0]);
    await w.close();
    const backups = await w.backups();
    expect(backups).toHaveLength(1);
    expect(await readFile(backups[0], 'utf8')).toBe(first);
    expect(w.segments()[0].bytes).toBe(Buffer.byteLength(first));
  });

  it('compresses backups left by a previous run on its first write, as openExistingOrNew starts a mill', async () => {
    const old = join(dir, 'kubernetes-2026-11-22T12-04-13.095.audit');
    await writeFile(old, lines(2).join(''));
    const w = await LumberjackWriter.open({ dir, maxSize: 1 << 20, compress: true });
    await w.write(lines(1, 2)[0]);
    await w.close();
    expect(await w.backups()).toEqual([`${old}.gz`]);
    expect(gunzipSync(await readFile(`${old}.gz`)).toString()).toBe(lines(2).join(''));
  });

  it('rejects a line longer than maxSize', async () => {
    const w = await LumberjackWriter.open({ dir, maxSize: 100 });
    await expect(w.write('x'.repeat(200))).rejects.toThrow(/exceeds maximum file size/);
    await w.close();
  });

  it('names backups as lumberjack formats its time', () => {
    expect(backupName('/var/log/kubernetes', 'kubernetes', 'audit', Date.UTC(2026, 10, 22, 12, 6, 37, 251))).toBe(
      '/var/log/kubernetes/kubernetes-2026-11-22T12-06-37.251.audit',
    );
  });
});
