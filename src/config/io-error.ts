// Operating-system errors (files, listening sockets) as an operator reads them: the reason in words, not Node's text.
const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a parent in the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EADDRINUSE: 'the address is in use (another process listens on this port)',
  EADDRNOTAVAIL: 'no network interface of this machine has this address',
};

/** `no such file or directory`, `permission denied`, …; the error code itself for the rare others. */
export function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  return REASONS[code] ?? code;
}

/** Why an input file could not be read to its end: a truncated .gz, an operating-system error in words, or zlib's own text. */
export function readFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'Z_BUF_ERROR') return 'compressed file is truncated';
  return e.syscall !== undefined ? ioReason(err) : e.message;
}
