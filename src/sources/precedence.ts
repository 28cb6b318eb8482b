// The audit log goes first: while an audit file is being read behind its writer, container and host-file reads wait.

/**
 * While the audit path is behind, the following file sets together read one block per this many ms: a node whose
 * audit log is never caught up still reads its container logs, a few blocks a second.
 */
export const FOLLOWER_INTERVAL_MS = 250;

/**
 * Shared by the sources of one agent. A leading file set (the audit log's) says when it is behind (its last read
 * filled its buffer: more is waiting) and when it is caught up; a following one (container logs, host files) waits
 * before each read while a leader is behind, all of them taking turns at one read per FOLLOWER_INTERVAL_MS. The main
 * thread, the parse threads and the disk then go to the audit events first when a busy node has both to read.
 */
export class SourcePrecedence {
  readonly #behind = new Set<object>();
  #waiters: Array<() => void> = [];
  /** When the next following read may start while a leader is behind. */
  #nextTurn = 0;

  /** A leading file set's state after a read: `behind` while more is waiting to be read. */
  lead(leader: object, behind: boolean): void {
    if (behind) {
      this.#behind.add(leader);
      return;
    }
    if (!this.#behind.delete(leader) || this.#behind.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#nextTurn = 0;
    for (const wake of waiters) wake();
  }

  /** Whether a leader is behind now. */
  get leaderBehind(): boolean {
    return this.#behind.size > 0;
  }

  /** Resolves at once when no leader is behind, else once they all caught up or when this follower's turn comes. */
  follow(intervalMs = FOLLOWER_INTERVAL_MS): Promise<void> | undefined {
    if (this.#behind.size === 0) return undefined;
    const now = Date.now();
    const turn = Math.max(now, this.#nextTurn);
    this.#nextTurn = turn + intervalMs;
    if (turn === now) return undefined;
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // Its turn came: out of the list, which would otherwise grow for as long as the leader stays behind.
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve();
      }, turn - now);
      this.#waiters.push(wake);
    });
  }
}

/** A following file set's options: nothing to wait for when the agent has no precedence to share. */
export function following(shared: SourcePrecedence | undefined): { precedence?: { shared: SourcePrecedence; role: 'follow' } } {
  return shared === undefined ? {} : { precedence: { shared, role: 'follow' } };
}
