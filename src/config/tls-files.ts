// Reading the PEM files a TLS setting names, with errors that say which field and why.
import { readFile } from 'node:fs/promises';
import { ioReason } from './io-error.ts';

export async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${field}: cannot read ${path}: ${ioReason(err)}`, { cause: err });
  }
}
