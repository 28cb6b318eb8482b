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

/** The first decompressed bytes of a .gz file through an open descriptor. Undefined when nothing decompresses. */
export function readGzipHeadFrom(fh: FileHandle): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const input = bytesOf(fh, 16 * 1024);
    const gunzip = createGunzip();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      input.destroy();
      gunzip.destroy();
      const head = Buffer.concat(chunks).subarray(0, FINGERPRINT_BYTES);
      resolve(head.length > 0 ? head : undefined);
    };
    gunzip.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      if (total >= FINGERPRINT_BYTES) finish();
    });
    gunzip.on('end', finish);
    gunzip.on('error', finish);
    input.on('error', finish);
    input.pipe(gunzip);
  });
}
