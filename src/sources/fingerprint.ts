// File identity by content: a hash of the first bytes (decompressed for .gz), so renames, copies and gzip keep it.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Bytes hashed for a fingerprint. Shorter files are fingerprinted on what they have and matched by prefix. */
export const FINGERPRINT_BYTES = 1024;

export interface Fingerprint {
  hash: string;
  /** How many bytes were hashed (less than FINGERPRINT_BYTES while the file is short). */
  len: number;
  /** The bytes hashed, for prefix matching against states recorded while the file was shorter. */
  head: Buffer;
}

export function hashBytes(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

export function fingerprintOf(head: Buffer): Fingerprint {
  return { hash: hashBytes(head), len: head.length, head };
}

/** The first bytes of a plain file through an open descriptor. Undefined when it is empty. */
export async function readHeadFrom(fh: FileHandle): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(FINGERPRINT_BYTES);
  const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
  return bytesRead > 0 ? buf.subarray(0, bytesRead) : undefined;
}

/**
 * A file's bytes from its start, read through the descriptor at explicit positions. (A stream created on a
 * FileHandle closes the handle when destroyed, even with autoClose off; the handle must outlive the stream.)
 */
export function bytesOf(fh: FileHandle, chunkBytes: number): Readable {
  return Readable.from((async function* () {
    for (let position = 0; ;) {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  })(), { objectMode: false });
}

/** What the start of a .gz file decompresses to: its first bytes, or why it does not decompress. */
export type GzipHead =
  | { head: Buffer | undefined; problem?: undefined }
  | { head?: undefined; problem: 'not_gzip' | 'damaged_gzip'; detail: string };

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * The first decompressed bytes of a .gz file through an open descriptor (undefined when it holds nothing), or why
 * nothing decompresses. Damage after some bytes decompressed shows only when the file is read.
 */
export function readGzipHeadFrom(fh: FileHandle): Promise<GzipHead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const input = bytesOf(fh, 16 * 1024);
    const gunzip = createGunzip();
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      input.destroy();
      gunzip.destroy();
      const head = Buffer.concat(chunks).subarray(0, FINGERPRINT_BYTES);
      if (head.length > 0 || err === undefined) resolve({ head: head.length > 0 ? head : undefined });
      else resolve(gzipProblem(err));
    };
    let first = true;
    input.on('data', (d: Buffer) => {
      if (first && d.length >= 2 && !d.subarray(0, 2).equals(GZIP_MAGIC)) finish(new Error('not gzip'));
      first = false;
    });
    gunzip.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      if (total >= FINGERPRINT_BYTES) finish();
    });
    gunzip.on('end', () => finish());
    gunzip.on('error', finish);
    input.on('error', finish);
    input.pipe(gunzip);
  });
}

function gzipProblem(err: Error): GzipHead {
  if (err.message === 'not gzip') return { problem: 'not_gzip', detail: 'no gzip header' };
  if ((err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') return { problem: 'damaged_gzip', detail: 'ends before its first block' };
  if ((err as NodeJS.ErrnoException).code === 'Z_DATA_ERROR') return { problem: 'damaged_gzip', detail: 'invalid compressed data' };
  return { problem: 'damaged_gzip', detail: (err as NodeJS.ErrnoException).code ?? 'unreadable' };
}

/**
 * The uncompressed size a complete .gz file declares in its trailer (modulo 4 GiB, as gzip stores it), or
 * undefined when the file is too short to have one.
 */
export async function readGzipSizeFrom(fh: FileHandle, fileSize: number): Promise<number | undefined> {
  if (fileSize < 18) return undefined; // a 10-byte header, a block and an 8-byte trailer
  const trailer = Buffer.alloc(4);
  const { bytesRead } = await fh.read(trailer, 0, 4, fileSize - 4);
  return bytesRead === 4 ? trailer.readUInt32LE(0) : undefined;
}
