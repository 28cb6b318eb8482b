// The `file` sink: NDJSON appended to a local file, fsynced per batch, rotated by size.
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { path } from '../config/fields.ts';
import { countIn, KiB, sizeIn } from '../config/units.ts';
import { encodeNdjson } from './encode.ts';
import type { SendVerdict, SinkKind } from './types.ts';

const options = z.object({
  path: path(),
  /** Rotate when the file would pass this size: `<path>` becomes `<path>.1`, `.1` becomes `.2`, … */
  max_bytes: sizeIn(1 * KiB).default(100 * 1024 * 1024),
  /** Rotated files kept beside the live one. */
  max_files: countIn(0, 1000).default(5),
});

export const fileSink: SinkKind<typeof options> = {
  options,
  async create(opts) {
    await mkdir(dirname(opts.path), { recursive: true });
    let handle: FileHandle | undefined;
    let written = 0;

    async function openLive(): Promise<FileHandle> {
      if (!handle) {
        handle = await open(opts.path, 'a', 0o640);
        written = (await handle.stat()).size;
      }
      return handle;
    }

    async function rotate(): Promise<void> {
      await handle?.close();
      handle = undefined;
      if (opts.max_files === 0) {
        await rm(opts.path, { force: true });
        return;
      }
      await rm(`${opts.path}.${opts.max_files}`, { force: true });
      for (let i = opts.max_files - 1; i >= 1; i--) {
        if (await exists(`${opts.path}.${i}`)) await rename(`${opts.path}.${i}`, `${opts.path}.${i + 1}`);
      }
      await rename(opts.path, `${opts.path}.1`);
    }

    // Batches are written one at a time (a sink may be driven with concurrency above 1).
    let queue: Promise<unknown> = Promise.resolve();

    async function write(body: Buffer): Promise<SendVerdict> {
      try {
        let fh = await openLive();
        if (written > 0 && written + body.length > opts.max_bytes) {
          await rotate();
          fh = await openLive();
        }
        await fh.write(body);
        await fh.datasync();
        written += body.length;
        return { kind: 'delivered' };
      } catch (err) {
        await handle?.close().catch(() => {});
        handle = undefined;
        return { kind: 'retry', reason: `file ${opts.path}: ${(err as Error).message}` };
      }
    }

    return {
      encode: encodeNdjson,
      send(body: Buffer) {
        const result = queue.then(() => write(body));
        queue = result;
        return result;
      },
      async close() {
        await queue;
        await handle?.close();
        handle = undefined;
      },
    };
  },
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
