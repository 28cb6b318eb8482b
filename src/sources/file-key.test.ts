// A file's identity in record ids (`fileKey`) stays the same while the file grows past the fingerprint length and
// after a restart, so that a line read again gets the id it had.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { CheckpointStore } from '../delivery/checkpoint.ts';
import { FileSet, type SourceChunk } from './file-set.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const quiet = { bytesRead: () => {}, fileOpened: () => {}, fileFinished: () => {}, problem: () => {}, cannotRead: () => {}, readableAgain: () => {}, lost: () => {} };

/** A FileSet over `path` that records the file keys of the lines it hands out; acknowledges chunks while `ack()` says so. */
async function reader(path: string, stateFile: string, ack: () => boolean) {
  const store = await CheckpointStore.open(stateFile);
  const keys = new Map<string, number>();
  let lines = 0;
  const files = new FileSet({ source: 's', path, readFrom: 'head', maxLineBytes: 64 * 1024, chunkBytes: 4096, pollMs: 50, quietMs: 50 }, store, async (chunk: SourceChunk) => {
    const n = chunk.data.toString().split('\n').filter(Boolean).length;
    keys.set(chunk.fileKey, (keys.get(chunk.fileKey) ?? 0) + n);
    lines += n;
    if (ack()) chunk.onDurable();
  }, quiet);
  files.start();
  const until = async (n: number) => {
    while (lines < n) await new Promise((r) => setTimeout(r, 20));
  };
  return { files, store, keys, until };
}

it('keeps a file\'s record identity while it grows past the fingerprint length, and after a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-filekey-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, '0.log');
  const state = join(dir, 'state.json');
  const line = (i: number) => `2026-12-07T10:41:17.${String(i).padStart(9, '0')}Z stdout F line ${i}\n`;
  await writeFile(path, line(0) + line(1)); // far shorter than the 1 KiB fingerprint
  let durable = true;
  const first = await reader(path, state, () => durable);
  await first.until(2);
  await first.store.flush();
  const key = [...first.keys.keys()];
  expect(key).toHaveLength(1);
  // It grows past the fingerprint length; what is read now never becomes durable (a kill before the buffers had it).
  durable = false;
  await appendFile(path, Array.from({ length: 100 }, (_, i) => line(i + 2)).join(''));
  await first.until(102);
  await first.files.stop();
  expect([...first.keys.keys()]).toEqual(key);
  // The restart reads those lines again, under the same identity.
  const again = await reader(path, state, () => true);
  await again.until(100);
  await again.files.stop();
  expect([...again.keys.keys()]).toEqual(key);
});
