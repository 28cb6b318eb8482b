import { mkdtemp, readdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SmallDisk } from '../../test/utils/small-disk.ts';
import { DiskBuffer, type BufferOptions } from './buffer.ts';
import type { QuarantinedState } from './quarantine.ts';
import type { OutRecord } from './record.ts';

const opts: BufferOptions = { maxBytes: 64 * 1024 * 1024, segmentBytes: 64 * 1024, whenFull: 'block', ackFlushInterval: 10 };

function rec(i: number, size = 100): OutRecord {
  const body = JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, size - 20)) });
  return { id: `id-${i}`, kind: i % 7 === 0 ? 'alarm' : 'log', source: 'audit', payload: Buffer.from(body) };
}

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kaudit-buffer-'));
}

async function readAll(buf: DiskBuffer, ack = true): Promise<OutRecord[]> {
  const out: OutRecord[] = [];
  for (;;) {
    const b = await buf.read(50, 1024 * 1024);
    if (b.records.length === 0) break;
    out.push(...b.records);
    if (ack) buf.ack(b);
  }
  return out;
}

const ids = (rs: OutRecord[]) => rs.map((r) => r.id);

describe('DiskBuffer', () => {
  it('reads back every appended record in order, across segments, with id, kind, source and bytes intact', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, opts);
    const records = Array.from({ length: 2000 }, (_, i) => rec(i));
    for (let i = 0; i < records.length; i += 100) await buf.append(records.slice(i, i + 100));
    expect((await readdir(dir)).filter((n) => n.endsWith('.seg')).length).toBeGreaterThan(1);
    const got = await readAll(buf);
    expect(ids(got)).toEqual(ids(records));
    expect(got[7].kind).toBe('alarm');
    expect(got[8].payload.equals(records[8].payload)).toBe(true);
    expect(got[8].source).toBe('audit');
    await buf.close();
  });

  it('deletes fully acknowledged segments and keeps the bytes-on-disk figure true', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, opts);
    for (let i = 0; i < 20; i++) await buf.append(Array.from({ length: 50 }, (_, j) => rec(i * 50 + j)));
    const before = buf.stats().bytesOnDisk;
    await readAll(buf);
    for (let i = 0; i < 200 && buf.stats().segments > 1; i++) await new Promise((r) => setTimeout(r, 10));
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    expect(segs.length).toBe(1); // only the segment being written
    let onDisk = 0;
    for (const s of segs) onDisk += (await stat(join(dir, s))).size;
    expect(buf.stats().bytesOnDisk).toBe(onDisk);
    expect(onDisk).toBeLessThan(before);
    await buf.close();
  });

  it('after a restart re-delivers everything not acknowledged, and nothing acknowledged', async () => {
    const dir = await tmp();
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append(Array.from({ length: 300 }, (_, i) => rec(i)));
    const first = await buf.read(120, 1024 * 1024);
    buf.ack(first);
    const second = await buf.read(100, 1024 * 1024); // read, never acknowledged
    expect(second.records.length).toBe(100);
    await buf.close();

    buf = await DiskBuffer.open(dir, opts);
    const again = await readAll(buf);
    expect(ids(again)).toEqual(ids(Array.from({ length: 180 }, (_, i) => rec(i + 120))));
    await buf.close();
  });

  it('moves the ack position only over a contiguous prefix when batches are acknowledged out of order', async () => {
    const dir = await tmp();
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append(Array.from({ length: 30 }, (_, i) => rec(i)));
    const a = await buf.read(10, 1 << 20);
    const b = await buf.read(10, 1 << 20);
    const c = await buf.read(10, 1 << 20);
    buf.ack(c);
    buf.ack(a);
    await buf.close();
    buf = await DiskBuffer.open(dir, opts);
    expect(ids(await readAll(buf))).toEqual(ids([...b.records, ...c.records]));
    await buf.close();
  });

  it('skips a record torn by an unclean stop, keeps its neighbours, and appends after it stay readable', async () => {
    const dir = await tmp();
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append([rec(1), rec(2), rec(3)]);
    await buf.close();
    const seg = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort()[0];
    const size = (await stat(join(dir, seg))).size;
    await truncate(join(dir, seg), size - 10); // the last record loses its tail
    await writeFile(join(dir, 'ack.json'), JSON.stringify({ version: 1, segment: 0, offset: 0 }));

    const warnings: string[] = [];
    buf = await DiskBuffer.open(dir, opts, (m) => warnings.push(m));
    await buf.append([rec(4)]);
    expect(ids(await readAll(buf))).toEqual(['id-1', 'id-2', 'id-4']);
    expect(buf.stats().corruptRecords).toBe(1);
    expect(warnings.join(' ')).toMatch(/torn/);
    await buf.close();
  });

  it('skips a record whose checksum fails and reads the records around it', async () => {
    const dir = await tmp();
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append([rec(1), rec(2), rec(3)]);
    await buf.close();
    const seg = join(dir, (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort()[0]);
    const bytes = await readFile(seg);
    const second = bytes.indexOf('"i":2');
    bytes[second + 1] ^= 0xff; // flip a payload byte of record 2
    await writeFile(seg, bytes);

    buf = await DiskBuffer.open(dir, opts);
    expect(ids(await readAll(buf))).toEqual(['id-1', 'id-3']);
    expect(buf.stats().corruptRecords).toBe(1);
    await buf.close();
  });

  it('checksums cover the record id and source too, not only the payload', async () => {
    const dir = await tmp();
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append([rec(1), rec(2), rec(3), { ...rec(4), source: 'other' }]);
    await buf.close();
    const seg = join(dir, (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort()[0]);
    const bytes = await readFile(seg);
    bytes[bytes.indexOf('id-2') + 3] ^= 0x01; // id-2 becomes id-3
    bytes[bytes.indexOf('other') + 1] ^= 0x20; // other becomes oTher
    await writeFile(seg, bytes);

    buf = await DiskBuffer.open(dir, opts);
    const back = await readAll(buf);
    expect(ids(back)).toEqual(['id-1', 'id-3']);
    expect(back.map((r) => r.source)).toEqual(['audit', 'audit']);
    expect(buf.stats().corruptRecords).toBe(2);
    await buf.close();
  });

  it('reads back each record with its own source and id, in memory and from disk after a restart', async () => {
    const dir = await tmp();
    const sources = ['audit', 'alarms', 'alarms', 'audit', 'kubelet', 'audit'];
    const written = sources.map((source, i) => ({ ...rec(i + 1), source }));
    let buf = await DiskBuffer.open(dir, opts);
    await buf.append(written);
    const inMemory = await readAll(buf, false);
    expect(inMemory.map((r) => [r.id, r.source])).toEqual(written.map((r) => [r.id, r.source]));
    await buf.close();
    buf = await DiskBuffer.open(dir, opts);
    const fromDisk = await readAll(buf);
    expect(fromDisk.map((r) => [r.id, r.source, r.payload.toString()])).toEqual(written.map((r) => [r.id, r.source, r.payload.toString()]));
    await buf.close();
  });

  it('drops newest records when full with drop_newest, and accepts again once acks free space', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, { ...opts, maxBytes: 200 * 1024, segmentBytes: 16 * 1024, whenFull: 'drop_newest' });
    let dropped = 0;
    let accepted = 0;
    for (let i = 0; i < 100; i++) {
      const r = await buf.append(Array.from({ length: 10 }, (_, j) => rec(i * 10 + j, 1000)));
      if (r === 'dropped') dropped += 1;
      else accepted += 1;
    }
    expect(dropped).toBeGreaterThan(0);
    expect(buf.stats().bytesOnDisk).toBeLessThanOrEqual(200 * 1024);
    const got = await readAll(buf);
    expect(got.length).toBe(accepted * 10);
    // Releasing acknowledged segments runs in the background: wait for it rather than for a fixed time.
    for (let i = 0; i < 200 && buf.stats().segments > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await buf.append([rec(9999, 1000)])).toBe('ok');
    await buf.close();
  });

  it('blocks appends when full with block, and releases them when the reader acknowledges', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, { ...opts, maxBytes: 100 * 1024, segmentBytes: 8 * 1024, whenFull: 'block' });
    let appended = 0;
    const writer = (async () => {
      for (let i = 0; i < 60; i++) {
        await buf.append(Array.from({ length: 5 }, (_, j) => rec(i * 5 + j, 1000)));
        appended += 1;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    expect(appended).toBeLessThan(60); // held back by the cap
    expect(buf.stats().bytesOnDisk).toBeLessThanOrEqual(100 * 1024);
    const got: OutRecord[] = [];
    while (got.length < 300) {
      await buf.waitForData(100);
      const b = await buf.read(20, 1 << 20);
      got.push(...b.records);
      buf.ack(b);
    }
    await writer;
    expect(ids(got)).toEqual(ids(Array.from({ length: 300 }, (_, i) => rec(i, 1000))));
    // Segments released while appends rolled new ones: once the background release settles, the
    // accounting matches the disk (no drift from sizes read before an await).
    const diskBytes = async () => {
      let n = 0;
      for (const f of (await readdir(dir)).filter((x) => x.endsWith('.seg'))) n += (await stat(join(dir, f)).catch(() => ({ size: 0 }))).size;
      return n;
    };
    let onDisk = await diskBytes();
    for (let i = 0; i < 100 && buf.stats().bytesOnDisk !== onDisk; i++) {
      await new Promise((r) => setTimeout(r, 20));
      onDisk = await diskBytes();
    }
    expect(buf.stats().bytesOnDisk).toBe(onDisk);
    expect(buf.stats().bytesOnDisk).toBeLessThanOrEqual(100 * 1024);
    await buf.close();
  });

  it('commits many concurrent appends in few fsyncs (group commit) without losing order', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, opts);
    await Promise.all(Array.from({ length: 200 }, (_, i) => buf.append([rec(i)])));
    expect(ids(await readAll(buf))).toEqual(ids(Array.from({ length: 200 }, (_, i) => rec(i))));
    await buf.close();
  });

  it('commits appends that arrive within the commit window of the previous commit together, in one fsync, in order', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, { ...opts, commitWindowMs: 2000 });
    expect(await buf.append([rec(0)])).toBe('ok'); // after a quiet spell: committed at once
    expect(buf.stats().commits).toBe(1);
    // A reader hands over blocks some ms apart, each append waiting for its own durability (not awaited here).
    const appends: Promise<string>[] = [];
    for (let i = 1; i <= 10; i++) {
      appends.push(buf.append([rec(i)]));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(buf.stats().commits).toBe(1); // none of them is durable yet, so none has resolved
    expect(await Promise.all(appends)).toEqual(Array(10).fill('ok'));
    expect(buf.stats().commits).toBe(2);
    expect(ids(await readAll(buf))).toEqual(ids(Array.from({ length: 11 }, (_, i) => rec(i))));
    await buf.close();
    // Durable as one: a restart reads all of them back.
    const again = await DiskBuffer.open(dir, opts);
    expect(again.backlog().records).toBe(0);
    await again.close();
  });
});

describe('DiskBuffer after a restart', () => {
  it('does not append again the raw-log records an earlier run buffered (sources re-read from their checkpoints), but always appends alarms', async () => {
    const dir = await tmp();
    const first = await DiskBuffer.open(dir, opts);
    const before = Array.from({ length: 300 }, (_, i) => rec(i));
    for (let i = 0; i < before.length; i += 50) await first.append(before.slice(i, i + 50));
    const delivered = await first.read(120, 1024 * 1024);
    first.ack(delivered);
    await first.close(); // as after kill -9: everything appended is on disk

    const again = await DiskBuffer.open(dir, opts);
    // The source checkpoint was at 200: 200..299 are read again, then new lines follow.
    const reread = before.slice(200);
    const fresh = Array.from({ length: 100 }, (_, i) => rec(300 + i));
    await again.append(reread.slice(0, 60));
    await again.append([...reread.slice(60), ...fresh.slice(0, 10)]);
    await again.append(fresh.slice(10));
    const got = ids(await readAll(again));
    const expected = [...ids(before.slice(120)), ...ids(reread.filter((r) => r.kind === 'alarm')), ...ids(fresh)];
    expect(got).toEqual(expected);
    expect(again.stats().alreadyBuffered).toBe(reread.filter((r) => r.kind === 'log').length);
    await again.close();
  });

  it('never takes a new record for a buffered one because the id repeats (a client can set Audit-ID): the bytes must match too', async () => {
    const dir = await tmp();
    const first = await DiskBuffer.open(dir, opts);
    const old = { id: 'same-id/ResponseComplete', kind: 'log' as const, source: 'audit', payload: Buffer.from('{"requestURI":"/api/v1/pods"}') };
    await first.append([rec(1), old]);
    await first.close();
    const again = await DiskBuffer.open(dir, opts);
    const reused = { ...old, payload: Buffer.from('{"requestURI":"/api/v1/secrets"}') };
    await again.append([old, reused]);
    const got = await readAll(again);
    expect(got.map((r) => r.payload.toString())).toEqual([rec(1).payload.toString(), old.payload.toString(), reused.payload.toString()]);
    expect(again.stats().alreadyBuffered).toBe(1);
    await again.close();
  });

  it('stops looking once re-reading has passed what it knew: after known records, an append with none known ends it', async () => {
    const dir = await tmp();
    const first = await DiskBuffer.open(dir, opts);
    await first.append([rec(1), rec(2), rec(3)]);
    await first.close();
    const again = await DiskBuffer.open(dir, opts);
    await again.append([rec(1)]);
    await again.append([rec(10), rec(11)]);
    await again.append([rec(2)]);
    expect(ids(await readAll(again))).toEqual(['id-1', 'id-2', 'id-3', 'id-10', 'id-11', 'id-2']);
    expect(again.stats().alreadyBuffered).toBe(1);
    await again.close();
  });

  it('keeps looking when re-reading starts before what it knew (a lost checkpoint: files read from their start)', async () => {
    const dir = await tmp();
    const first = await DiskBuffer.open(dir, opts);
    await first.append([rec(1), rec(2), rec(3)]);
    await first.close();
    const again = await DiskBuffer.open(dir, opts);
    await again.append([rec(20), rec(22)]); // older lines, never buffered
    await again.append([rec(1), rec(2)]);
    await again.append([rec(3), rec(30)]);
    expect(ids(await readAll(again))).toEqual(['id-1', 'id-2', 'id-3', 'id-20', 'id-22', 'id-30']);
    expect(again.stats().alreadyBuffered).toBe(3);
    await again.close();
  });
});

describe('DiskBuffer backlog', () => {
  it('counts the records and bytes not yet acknowledged apart from the bytes on disk, and none once all are', async () => {
    const dir = await tmp();
    const buf = await DiskBuffer.open(dir, opts);
    const records = Array.from({ length: 300 }, (_, i) => rec(i));
    await buf.append(records);
    const all = buf.backlog();
    expect(all.records).toBe(300);
    expect(all.bytes).toBe(buf.stats().bytesOnDisk);
    expect(all.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
    const first = await buf.read(120, 1024 * 1024);
    buf.ack(first);
    const rest = buf.backlog();
    expect(rest.records).toBe(180);
    expect(rest.bytes).toBeLessThan(all.bytes);
    expect(rest.bytes).toBeGreaterThan(0);
    await readAll(buf);
    expect(buf.backlog()).toEqual({ records: 0, bytes: 0, oldestAgeSeconds: 0 });
    expect(buf.stats().bytesOnDisk).toBeGreaterThan(0); // acknowledged, still on disk until its segment is left
    await buf.close();
  });

  it('counts the backlog an earlier run left, with the age of its oldest record from the time stored with it', async () => {
    const dir = await tmp();
    const appendedAt = Date.now();
    const first = await DiskBuffer.open(dir, opts);
    await first.append(Array.from({ length: 100 }, (_, i) => rec(i)));
    first.ack(await first.read(30, 1024 * 1024));
    await first.close();
    await new Promise((r) => setTimeout(r, 1500));

    const again = await DiskBuffer.open(dir, opts);
    const b = again.backlog();
    expect(b.records).toBe(70);
    // Stored in whole seconds: at least the time slept, at most the time since the append began plus that second.
    expect(b.oldestAgeSeconds).toBeGreaterThanOrEqual(1.5);
    expect(b.oldestAgeSeconds).toBeLessThanOrEqual((Date.now() - appendedAt) / 1000 + 1);
    expect(ids(await readAll(again))).toEqual(ids(Array.from({ length: 70 }, (_, i) => rec(30 + i))));
    expect(again.backlog().records).toBe(0);
    await again.close();
  });

  it('reads segments an older version wrote (records without their time), counting their age from the file time', async () => {
    const dir = await tmp();
    const old = Array.from({ length: 20 }, (_, i) => rec(i));
    const segment = join(dir, '0000000001.seg');
    await writeFile(segment, Buffer.concat(old.map(encodeV1)));
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(segment, hourAgo, hourAgo);
    const buf = await DiskBuffer.open(dir, opts);
    expect(buf.backlog().records).toBe(20);
    expect(buf.backlog().oldestAgeSeconds).toBeGreaterThanOrEqual(3600);
    await buf.append([rec(20)]);
    const got = await readAll(buf);
    expect(ids(got)).toEqual(ids([...old, rec(20)]));
    expect(got[3].payload.equals(old[3].payload)).toBe(true);
    await buf.close();
  });
});

/** A buffer of 50 records, the first 20 acknowledged, left with its ack position cut short. */
async function bufferWithDamagedAck(): Promise<string> {
  const dir = await tmp();
  const first = await DiskBuffer.open(dir, opts);
  await first.append(Array.from({ length: 50 }, (_, i) => rec(i)));
  first.ack(await first.read(20, 1024 * 1024));
  await first.close();
  await writeFile(join(dir, 'ack.json'), '{"version":1,"segm');
  return dir;
}

describe('DiskBuffer state damaged or lost', () => {
  it('sets a damaged ack position aside, says so, and sends again from the first record not known to be delivered', async () => {
    const dir = await bufferWithDamagedAck();
    const reports: QuarantinedState[] = [];
    const again = await DiskBuffer.open(dir, { ...opts, quarantined: (q) => reports.push(q) });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ kind: 'buffer_ack', path: join(dir, 'ack.json') });
    expect(reports[0].reason).not.toMatch(/Unexpected|SyntaxError/);
    expect((await readFile(reports[0].movedTo!, 'utf8'))).toBe('{"version":1,"segm');
    // Records 0-19 (alarms among them) were acknowledged: their keys say so; the rest is sent again.
    expect(again.backlog().records).toBe(30);
    expect(ids(await readAll(again))).toEqual(ids(Array.from({ length: 30 }, (_, i) => rec(i + 20))));
    await again.close();
  });

  it('recovers a truncated or garbled ack position only up to the first record not acknowledged (batches acked out of order)', async () => {
    for (const damage of ['', '{"version":1,"segment":"x","offset":-4}', '\u0000\u0000\u0000']) {
      const dir = await tmp();
      const first = await DiskBuffer.open(dir, opts);
      await first.append(Array.from({ length: 600 }, (_, i) => rec(i, 400))); // several segments
      const a = await first.read(250, 1 << 20);
      const b = await first.read(100, 1 << 20); // never acknowledged
      const c = await first.read(250, 1 << 20);
      first.ack(a);
      first.ack(c);
      await first.close();
      await writeFile(join(dir, 'ack.json'), damage);
      const again = await DiskBuffer.open(dir, { ...opts, quarantined: () => {} });
      expect(again.backlog().records).toBe(350);
      expect(ids(await readAll(again))).toEqual(ids([...b.records, ...c.records]));
      await again.close();
    }
  });

  it('sends everything again when the ack position is damaged and the keys of the acknowledged records are gone too', async () => {
    const dir = await bufferWithDamagedAck();
    await writeFile(join(dir, 'acked.keys'), 'garbage');
    const again = await DiskBuffer.open(dir, { ...opts, quarantined: () => {} });
    expect(ids(await readAll(again))).toEqual(ids(Array.from({ length: 50 }, (_, i) => rec(i))));
    await again.close();
  });

  it('recognises re-read records it already delivered after a restart, also once their segments are deleted', async () => {
    const dir = await tmp();
    const first = await DiskBuffer.open(dir, opts);
    const delivered = Array.from({ length: 2000 }, (_, i) => rec(i, 300));
    for (let i = 0; i < delivered.length; i += 100) await first.append(delivered.slice(i, i + 100));
    await readAll(first);
    for (let i = 0; i < 200 && first.stats().segments > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(first.stats().segments).toBe(1); // the delivered records' segments are gone
    await first.close();

    const again = await DiskBuffer.open(dir, opts);
    // The source lost its checkpoint (killed before saving it): everything is read again, then a new line.
    for (let i = 0; i < delivered.length; i += 100) await again.append(delivered.slice(i, i + 100));
    await again.append([rec(2000 * 7)]);
    expect(ids(await readAll(again))).toEqual([...ids(delivered.filter((r) => r.kind === 'alarm')), 'id-14000']);
    expect(again.stats().alreadyBuffered).toBe(delivered.filter((r) => r.kind === 'log').length);
    await again.close();
  });
});

describe('DiskBuffer on a full disk', () => {
  const disks: SmallDisk[] = [];
  afterEach(async () => {
    for (const d of disks.splice(0)) await d.unmount();
  });

  it('keeps appends waiting while the disk is full, reports it, and writes them whole once space returns', async () => {
    const disk = await SmallDisk.mount(join(await tmp(), 'disk'), 4 * 1024 * 1024);
    disks.push(disk);
    const buf = await DiskBuffer.open(join(disk.dir, 'buffer'), { ...opts, segmentBytes: 256 * 1024 });
    const before = Array.from({ length: 100 }, (_, i) => rec(i, 1000));
    await buf.append(before);
    await disk.fill(20 * 1024);
    const blocked = Array.from({ length: 100 }, (_, i) => rec(100 + i, 1000)); // ~100 KiB: more than is free
    let settled = false;
    const append = buf.append(blocked).finally(() => (settled = true));
    for (let i = 0; i < 500 && buf.writeProblem() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(buf.writeProblem()).toMatch(/no space left on device \(ENOSPC\)/);
    expect(buf.stats().writeErrors.get('ENOSPC')).toBeGreaterThan(0);
    expect(settled).toBe(false);
    expect(buf.backlog().records).toBe(100);

    await disk.release();
    expect(await append).toBe('ok');
    expect(buf.writeProblem()).toBeUndefined();
    await buf.append([rec(200)]);
    expect(ids(await readAll(buf))).toEqual(ids([...before, ...blocked, rec(200)]));
    await buf.close();
    // And after a restart, where every record is read back and checked, the segment holds no torn or stray bytes.
    const again = await DiskBuffer.open(join(disk.dir, 'buffer'), opts);
    expect(again.backlog().records).toBe(0);
    await again.close();
  });

  it('gives up appends waiting for a write that keeps failing when it is closed', async () => {
    const disk = await SmallDisk.mount(join(await tmp(), 'disk'), 1024 * 1024);
    disks.push(disk);
    const buf = await DiskBuffer.open(join(disk.dir, 'buffer'), opts);
    await disk.fill();
    const append = buf.append([rec(1, 64 * 1024)]);
    append.catch(() => {});
    for (let i = 0; i < 500 && buf.writeProblem() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(buf.writeProblem()).toBeDefined();
    await buf.close();
    await expect(append).rejects.toThrow(/closed before these records could be written/);
  });
});

/** A record in the layout before the append time was stored ("KAR1": magic, body length, crc32(body), kind | body). */
function encodeV1(r: OutRecord): Buffer {
  const id = Buffer.from(r.id);
  const source = Buffer.from(r.source);
  const body = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id, Buffer.from([source.length]), source, r.payload]);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(0x4b415231, 0);
  header.writeUInt32BE(body.length, 4);
  header.writeUInt32BE(crc32(body), 8);
  header[12] = r.kind === 'alarm' ? 1 : 0;
  return Buffer.concat([header, body]);
}
