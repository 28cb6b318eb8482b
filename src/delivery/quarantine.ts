// State files found damaged at start are renamed aside (kept for a post-mortem) instead of stopping the agent.
import { rename } from 'node:fs/promises';

/** Which state file was damaged: a source checkpoint or a sink buffer's ack position. */
export type StateKind = 'checkpoint' | 'buffer_ack';

export interface QuarantinedState {
  kind: StateKind;
  /** The damaged file, as it was named. */
  path: string;
  /** Where it now is; undefined when it could not be renamed (it is then ignored in place). */
  movedTo: string | undefined;
  /** Why it was not usable, in words (never a stack). */
  reason: string;
  /** What the agent does instead. */
  recovery: string;
}

/** Told of every quarantined file: the agent logs it as an error and counts it. */
export type QuarantineReport = (q: QuarantinedState) => void;

/**
 * Renames a damaged file to `<path>.damaged-<UTC time>` and reports it. A file that cannot be renamed (read-only
 * state, a full directory) is reported as left in place: the caller ignores its content either way.
 */
export async function quarantine(kind: StateKind, path: string, reason: string, recovery: string, report: QuarantineReport): Promise<void> {
  const movedTo = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  let moved: string | undefined = movedTo;
  try {
    await rename(path, movedTo);
  } catch {
    moved = undefined;
  }
  report({ kind, path, movedTo: moved, reason, recovery });
}

/** The reason a JSON state file could not be read, without Node's parser text. */
export function unreadableReason(err: unknown): string {
  if (err instanceof SyntaxError) return 'not valid JSON (empty or cut short?)';
  return (err as Error).message;
}
