// Learns what each identity of the cluster does (per rule condition: verb × resource × namespace, user agents, …) and says what it never did.
import { LRUCache } from 'lru-cache';

export interface BaselineOptions {
  /** Days from the first event seen before anything counts as first seen. */
  learningDays?: number;
  /** Days after which a tuple not seen again is forgotten. */
  decayDays?: number;
  /** Identities kept (least recently seen dropped first). */
  maxIdentities?: number;
  /** Tuples kept per identity (least recently seen dropped first). */
  maxPerIdentity?: number;
}

/** The baseline as saved in the state directory: days are whole UTC days since the epoch. */
export interface SavedBaseline {
  version: 1;
  since: number | null;
  identities: Array<[identity: string, firstMs: number, tuples: Array<[tuple: string, lastDay: number]>]>;
}

const DAY_MS = 86_400_000;
/** An identity's own first hour is not judged: a new deployment's start-up is all new. */
const IDENTITY_GRACE_MS = 3_600_000;

interface Identity {
  firstMs: number;
  tuples: LRUCache<string, number>;
}

export class Baseline {
  readonly #learningDays: number;
  readonly #decayDays: number;
  readonly #maxPerIdentity: number;
  readonly #identities: LRUCache<string, Identity>;
  /** The first day the baseline saw (undefined: nothing yet). */
  #since: number | undefined;
  /** The latest request time learned: the decay is counted up to it (replayed or scanned logs keep their own time). */
  #latestMs = 0;
  /** Bumped on every change, so that a saver knows when there is something new. */
  version = 0;

  constructor(opts: BaselineOptions = {}) {
    this.#learningDays = opts.learningDays ?? 7;
    this.#decayDays = opts.decayDays ?? 30;
    this.#maxPerIdentity = opts.maxPerIdentity ?? 256;
    this.#identities = new LRUCache({ max: opts.maxIdentities ?? 20_000 });
  }

  /** Whether `tuple` is new for `identity` at `atMs`: never while learning, nor in the identity's first hour. */
  firstSeen(identity: string, tuple: string, atMs: number): boolean {
    const day = Math.floor(atMs / DAY_MS);
    if (this.#since === undefined || day - this.#since < this.#learningDays) return false;
    const known = this.#identities.peek(identity);
    if (known === undefined) return true;
    if (atMs - known.firstMs < IDENTITY_GRACE_MS) return false;
    const last = known.tuples.peek(tuple);
    return last === undefined || day - last > this.#decayDays;
  }

  /** Records that `identity` did `tuple` at `atMs`. */
  learn(identity: string, tuple: string, atMs: number): void {
    const day = Math.floor(atMs / DAY_MS);
    if (this.#since === undefined || day < this.#since) this.#since = day;
    if (atMs > this.#latestMs) this.#latestMs = atMs;
    let known = this.#identities.get(identity);
    if (known === undefined) {
      known = { firstMs: atMs, tuples: new LRUCache({ max: this.#maxPerIdentity }) };
      this.#identities.set(identity, known);
    }
    if (atMs < known.firstMs) known.firstMs = atMs;
    if (known.tuples.get(tuple) === day) return;
    known.tuples.set(tuple, day);
    this.version += 1;
  }

  /** How many identities and tuples are kept. */
  get size(): { identities: number; tuples: number } {
    let tuples = 0;
    for (const id of this.#identities.values()) tuples += id.tuples.size;
    return { identities: this.#identities.size, tuples };
  }

  /**
   * The baseline to be saved, tuples past the decay (up to `nowMs`, by default the latest request learned) left out;
   * least recently used first, so that loading keeps the order.
   */
  save(nowMs = this.#latestMs): SavedBaseline {
    const today = Math.floor(nowMs / DAY_MS);
    const identities: SavedBaseline['identities'] = [];
    for (const [name, id] of [...this.#identities.entries()].reverse()) {
      const tuples = [...id.tuples.entries()].reverse().filter(([, last]) => today - last <= this.#decayDays);
      if (tuples.length > 0) identities.push([name, id.firstMs, tuples]);
    }
    return { version: 1, since: this.#since ?? null, identities };
  }

  /** Restores a saved baseline (anything unreadable is skipped: learning goes on from what is left). */
  load(saved: SavedBaseline): void {
    if (saved?.version !== 1 || !Array.isArray(saved.identities)) return;
    if (typeof saved.since === 'number') this.#since = saved.since;
    for (const entry of saved.identities) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !Array.isArray(entry[2])) continue;
      const id: Identity = { firstMs: entry[1], tuples: new LRUCache({ max: this.#maxPerIdentity }) };
      for (const t of entry[2]) if (Array.isArray(t) && typeof t[0] === 'string' && typeof t[1] === 'number') id.tuples.set(t[0], t[1]);
      this.#identities.set(entry[0], id);
    }
  }
}

/** The identity a baseline learns for: the username, with every node folded into one (a new node is no new behaviour). */
export function baselineIdentity(username: string | undefined): string | undefined {
  if (username === undefined || username === '') return undefined;
  return username.startsWith('system:node:') ? 'system:node:*' : username;
}
