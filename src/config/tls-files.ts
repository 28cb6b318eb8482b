// The TLS settings of a client (the sinks that connect out), and reading the PEM files a TLS setting names, with
// errors that say which field and why.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { path } from './fields.ts';
import { ioReason } from './io-error.ts';

/** A sink's `tls`: verified by default. */
export const tlsSchema = z.strictObject({
  /** PEM bundle of CAs trusted for the server certificate, instead of the system store. */
  ca_file: path({ readAtStart: true }).optional(),
  /** Client certificate (PEM) for mutual TLS; needs key_file. */
  cert_file: path({ readAtStart: true }).optional(),
  key_file: path({ readAtStart: true }).optional(),
  /** Name sent as SNI and checked against the certificate, when it differs from the URL's host. */
  server_name: z.string().min(1).optional(),
  /** Accept any server certificate. For tests only: it gives up the server's identity. */
  insecure_skip_verify: z.boolean().default(false),
}).refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
  message: 'cert_file and key_file go together (a client certificate and its key)',
});


export async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${field}: cannot read ${path}: ${ioReason(err)}`, { cause: err });
  }
}
