// SLS request signing (signature version 1): the Authorization header computed from the AccessKey secret.
import { createHash, createHmac } from 'node:crypto';

export interface SignInput {
  method: string;
  /** The request path without the query (PutLogs has none). */
  path: string;
  /** Every header of the request, names in lower case; those that take part are picked here. */
  headers: Record<string, string>;
  accessKeyId: string;
  accessKeySecret: string;
}

/** Content-MD5 as SLS wants it: the MD5 of the body as sent (compressed), in upper-case hex. */
export function contentMd5(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex').toUpperCase();
}

/**
 * The text that is signed: the method, Content-MD5, Content-Type and Date (each empty when absent), one line each;
 * then every `x-log-*` and `x-acs-*` header as `name:value` lines sorted by name; then the resource path (with its
 * query parameters sorted, when there are any; PutLogs has none).
 */
export function stringToSign({ method, path, headers }: Pick<SignInput, 'method' | 'path' | 'headers'>): string {
  const signed = Object.keys(headers)
    .filter((name) => name.startsWith('x-log-') || name.startsWith('x-acs-'))
    .sort()
    .map((name) => `${name}:${headers[name].trim()}\n`)
    .join('');
  return `${method}\n${headers['content-md5'] ?? ''}\n${headers['content-type'] ?? ''}\n${headers.date ?? ''}\n${signed}${path}`;
}

/** `LOG <AccessKeyId>:<base64 of the HMAC-SHA1 of the string to sign, keyed with the AccessKey secret>`. */
export function authorization(input: SignInput): string {
  const signature = createHmac('sha1', input.accessKeySecret).update(stringToSign(input), 'utf8').digest('base64');
  return `LOG ${input.accessKeyId}:${signature}`;
}
