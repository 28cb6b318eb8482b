// Secret references: credentials come from an environment variable or a file, never inline in the config.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { fieldMarks, path } from './fields.ts';
import { ioReason } from './io-error.ts';

export const secretRefSchema = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: path() }),
], { error: 'expected a secret reference { env: NAME } or { file: PATH } (inline secrets are not accepted)' })
  .register(fieldMarks, { kind: 'secret' });

export type SecretRef = z.infer<typeof secretRefSchema>;

export class SecretError extends Error {
  readonly code = 'KAUDIT_SECRET';
}

/** Reads the secret's value; trailing newlines of files are dropped (as `kubectl create secret --from-file` leaves them). */
export async function resolveSecret(ref: SecretRef): Promise<string> {
  if ('env' in ref) {
    const value = process.env[ref.env];
    if (value === undefined || value === '') throw new SecretError(`environment variable ${ref.env} is not set`);
    return value;
  }
  try {
    return (await readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new SecretError(`cannot read secret file ${ref.file}: ${ioReason(err)}`);
  }
}

/** How a secret reference is shown in check-config output and logs: where it comes from, never the value. */
export function describeSecret(ref: SecretRef): string {
  return 'env' in ref ? `<secret from env ${ref.env}>` : `<secret from file ${ref.file}>`;
}
