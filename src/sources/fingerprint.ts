// File identity by content: a hash of the first bytes (decompressed for .gz), so renames, copies and gzip keep it.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
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

/** Reads the first bytes of a plain file. Undefined for an empty or vanished file. */
export async function readHead(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(FINGERPRINT_BYTES);
    const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
    return bytesRead > 0 ? buf.subarray(0, bytesRead) : undefined;
  } finally {
    await fh.close();
  }
}

/** Reads the first decompressed bytes of a .gz file. Undefined when nothing can be decompressed. */
export async function readGzipHead(path: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const input = createReadStream(path, { highWaterMark: 16 * 1024 });
    const gunzip = createGunzip();
    const finish = () => {
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
