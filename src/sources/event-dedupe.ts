// What the k8s_events source has already forwarded, so that a relist, a restart or a new leader forwards each event
// (uid and count) once: a bounded set of identities made durable lately, and a resourceVersion mark at or below which
// every event was made durable. The mark is what crosses a restart (state directory) and a leader change (the Lease):
// a relist lists every event, and only those changed after the mark are new. Kept in the state directory as JSON.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from '../delivery/atomic-file.ts';
import { quarantine, unreadableReason, type QuarantineReport } from '../delivery/quarantine.ts';
import { eventIdentity, type ApiEvent } from '../parse/k8s-event.ts';

export interface DedupeState {
  /** Every event at or below this resourceVersion was made durable. */
  resourceVersion?: string;
  /** Identities made durable lately, oldest first. */
  seen: string[];
}

export class EventDedupe {
  readonly #seen: LRUCache<string, true>;
  /** Identities handed to the pipeline and not yet durable (a relist meanwhile must not hand them over again). */
  readonly #pending = new Set<string>();
  #mark: string | undefined;
  #dirty = false;

  constructor(max: number) {
    this.#seen = new LRUCache({ max });
  }

  get mark(): string | undefined {
    return this.#mark;
  }

  /**
   * `new`: to be forwarded, and pending from now on; `pending`: handed over already, not yet durable; `seen`: durable
   * already (remembered, or at or below the mark).
   */
  take(e: ApiEvent): 'new' | 'pending' | 'seen' {
    const key = eventIdentity(e);
    if (this.#pending.has(key)) return 'pending';
    if (this.#seen.has(key)) return 'seen';
    const rv = e.metadata?.resourceVersion;
    if (this.#mark !== undefined && rv !== undefined && atOrBelow(rv, this.#mark)) return 'seen';
    this.#pending.add(key);
    return 'new';
  }

  /** Events handed over are durable; `mark`, when given, is the resourceVersion every event up to which now is. */
  durable(keys: readonly string[], mark: string | undefined): void {
    for (const key of keys) {
      this.#pending.delete(key);
      this.#seen.set(key, true);
    }
    if (mark !== undefined && (this.#mark === undefined || !atOrBelow(mark, this.#mark))) this.#mark = mark;
    this.#dirty = true;
  }

  /** Events handed over will never be durable (leadership lost before they were submitted). */
  dropped(keys: readonly string[]): void {
    for (const key of keys) this.#pending.delete(key);
  }

  /** A mark from elsewhere (the Lease, left by the previous leader): taken when it is later than the one held. */
  adopt(mark: string | undefined): void {
    if (mark !== undefined && (this.#mark === undefined || !atOrBelow(mark, this.#mark))) this.#mark = mark;
  }

  /** Reads the saved state; a damaged file is set aside and reported (the Lease's mark, if any, still applies). */
  async load(path: string, quarantined: QuarantineReport): Promise<void> {
    let state: DedupeState;
    try {
      state = JSON.parse(await readFile(path, 'utf8')) as DedupeState;
      if (state === null || typeof state !== 'object') throw new Error('not a JSON object');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await quarantine('checkpoint', path, unreadableReason(err), 'events are relisted; those already forwarded may be forwarded again', quarantined);
      return;
    }
    for (const key of Array.isArray(state.seen) ? state.seen : []) if (typeof key === 'string') this.#seen.set(key, true);
    if (typeof state.resourceVersion === 'string') this.adopt(state.resourceVersion);
  }

  /** Writes the state when it changed since the last save. */
  async save(path: string): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const state: DedupeState = { ...(this.#mark === undefined ? {} : { resourceVersion: this.#mark }), seen: [...this.#seen.keys()].reverse() };
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFileAtomic(path, JSON.stringify(state));
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
  }
}

/**
 * Whether resourceVersion `rv` is at or below `mark`. Kubernetes calls resourceVersions opaque; an etcd-backed API
 * server's are etcd revisions (decimal integers that only grow), and only those are compared. Others are never
 * "below": the identities alone then keep repeats out.
 */
export function atOrBelow(rv: string, mark: string): boolean {
  if (!/^\d{1,30}$/.test(rv) || !/^\d{1,30}$/.test(mark)) return false;
  return BigInt(rv) <= BigInt(mark);
}
