// Learns what each identity of the cluster does (per rule condition: verb × resource × namespace, user agents, …) and says what it never did.
import { BaselineTable, hash64, mixKey } from './baseline-table.ts';

export interface BaselineOptions {
  /** Days from the first event seen before anything counts as first seen. */
  learningDays?: number;
  /** Days after which a tuple not seen again is forgotten. */
  decayDays?: number;
  /** Identities kept (least recently seen dropped first, among those that share a probe window). */
  maxIdentities?: number;
  /** Tuples kept, all identities together (the same). */
  maxTuples?: number;
  /**
   * The memory of a baseline made elsewhere (sharedMemory()): every thread built on it reads and learns one and the
   * same baseline. Unset: a baseline of its own.
   */
  memory?: SharedArrayBuffer;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** An identity's own first hour is not judged: a new deployment's start-up is all new. */
const IDENTITY_GRACE_MS = 3_600_000;
export const BASELINE_DEFAULTS = { learningDays: 7, decayDays: 30, maxIdentities: 10_000, maxTuples: 65_536 };

/** Header slots of the shared memory (Int32). */
const H_MAGIC = 0;
const H_SINCE = 1; // first day seen + 1 (0: nothing yet)
const H_LOCK = 2;
const H_VERSION = 3;
const H_COMPLETE = 4; // 1: the learning period is over whatever the dates (kaudit scan --baseline-from)
const H_ID_SLOTS = 5;
const H_TUPLE_SLOTS = 6;
const HEADER = 8;
const MAGIC = 0x6b626c31; // "kbl1"
/** Texts whose hashes are remembered. */
const HASHES_KEPT = 4096;
/** A writer that cannot get the lock in this many tries skips its write (learning lost, the event never held up). */
const LOCK_TRIES = 100_000;

/** Slots of a table for `max` entries: a power of two, at least 64. */
function slotsFor(max: number): number {
  let n = 64;
  while (n < max) n *= 2;
  return n;
}

/**
 * The memory for a baseline of these bounds, to hand to every thread (it is shared, not copied, when posted). A
 * header, the identities' table, then the tuples' table; each slot 4 Int32: key (2), then two values.
 */
export function sharedMemory(opts: BaselineOptions = {}): SharedArrayBuffer {
  const ids = slotsFor(opts.maxIdentities ?? BASELINE_DEFAULTS.maxIdentities);
  const tuples = slotsFor(opts.maxTuples ?? BASELINE_DEFAULTS.maxTuples);
  const memory = new SharedArrayBuffer((HEADER + 4 * (ids + tuples)) * 4);
  const header = new Int32Array(memory, 0, HEADER);
  header[H_MAGIC] = MAGIC;
  header[H_ID_SLOTS] = ids;
  header[H_TUPLE_SLOTS] = tuples;
  return memory;
}

/**
 * One baseline, in shared memory: the main thread and every parse worker read and learn the same one, so an identity
 * learns once whichever thread parses its events, and it moves with nothing when parsing moves between threads.
 * Reads take no lock; writes (a new tuple, a new day) take a short spin lock. Identities and tuples are kept as
 * 64-bit hashes of their text.
 */
export class Baseline {
  readonly #learningDays: number;
  readonly #decayDays: number;
  readonly #header: Int32Array;
  /** identity → last day seen, first minute seen. */
  readonly #ids: BaselineTable;
  /** identity and tuple → last day seen, days seen. */
  readonly #tuples: BaselineTable;
  /** Hashes of the texts seen lately (this thread's): the same identities and tuples come again and again. */
  #hashes = new Map<string, number>();

  constructor(opts: BaselineOptions = {}) {
    this.#learningDays = opts.learningDays ?? BASELINE_DEFAULTS.learningDays;
    this.#decayDays = opts.decayDays ?? BASELINE_DEFAULTS.decayDays;
    const memory = opts.memory ?? sharedMemory(opts);
    this.#header = new Int32Array(memory, 0, HEADER);
    const ids = this.#header[H_ID_SLOTS];
    this.#ids = new BaselineTable(memory, HEADER * 4, ids);
    this.#tuples = new BaselineTable(memory, (HEADER + 4 * ids) * 4, this.#header[H_TUPLE_SLOTS]);
  }

  /** The shared memory, for another thread's Baseline. */
  get memory(): SharedArrayBuffer {
    return this.#header.buffer as SharedArrayBuffer;
  }

  /** Bumped on every change, so that a saver knows when there is something new. */
  get version(): number {
    return Atomics.load(this.#header, H_VERSION);
  }

  /** Whether the learning period is over at `day`. */
  #learned(day: number): boolean {
    if (Atomics.load(this.#header, H_COMPLETE) === 1) return true;
    const since = Atomics.load(this.#header, H_SINCE);
    return since !== 0 && day - (since - 1) >= this.#learningDays;
  }

  /** Whether `tuple` is new for `identity` at `atMs`: never while learning, nor in the identity's first hour. */
  firstSeen(identity: string, tuple: string, atMs: number): boolean {
    const day = Math.floor(atMs / DAY_MS);
    if (!this.#learned(day)) return false;
    const id = this.#hash(identity);
    const known = this.#ids.find(id);
    if (known < 0) return true;
    if (atMs - this.#ids.value(known) * MINUTE_MS < IDENTITY_GRACE_MS) return false;
    const t = this.#tuples.find(mixKey(id, this.#hash(tuple)));
    return t < 0 || day - this.#tuples.day(t) > this.#decayDays;
  }

  /** Records that `identity` did `tuple` at `atMs`. */
  learn(identity: string, tuple: string, atMs: number): void {
    this.#count(identity, this.#hash(tuple), atMs);
  }

  /**
   * Days on which `identity` did `what` (a tuple, or a rule hit: see ruleKey), up to `atMs`; 0 when never, or not
   * again within the decay.
   */
  daysSeen(identity: string, what: string, atMs: number): number {
    const t = this.#tuples.find(mixKey(this.#hash(identity), this.#hash(what)));
    if (t < 0 || Math.floor(atMs / DAY_MS) - this.#tuples.day(t) > this.#decayDays) return 0;
    return this.#tuples.value(t);
  }

  /** Records that `identity` did `what` on the day of `atMs` (learn() for what is not a tuple of a condition). */
  note(identity: string, what: string, atMs: number): void {
    this.#count(identity, this.#hash(what), atMs);
  }

  /** hash64, remembered (bounded: cleared when it holds too many). */
  #hash(text: string): number {
    let h = this.#hashes.get(text);
    if (h === undefined) {
      if (this.#hashes.size >= HASHES_KEPT) this.#hashes = new Map();
      h = hash64(text);
      this.#hashes.set(text, h);
    }
    return h;
  }

  #count(identity: string, what: number, atMs: number): void {
    const day = Math.floor(atMs / DAY_MS);
    const minute = Math.floor(atMs / MINUTE_MS);
    const id = this.#hash(identity);
    const key = mixKey(id, what);
    // Nearly every request repeats something learned today: looked up without the lock, nothing written.
    const i = this.#ids.find(id);
    const t = this.#tuples.find(key);
    if (i >= 0 && t >= 0 && this.#ids.day(i) === day && this.#tuples.day(t) === day && this.#ids.value(i) <= minute) return;
    if (!this.#lock()) return;
    try {
      const since = this.#header[H_SINCE];
      if (since === 0 || day < since - 1) Atomics.store(this.#header, H_SINCE, day + 1);
      this.#ids.upsert(id, (slot, fresh) => {
        if (fresh || minute < this.#ids.value(slot)) this.#ids.setValue(slot, minute);
        if (fresh || day > this.#ids.day(slot)) this.#ids.setDay(slot, day);
      });
      this.#tuples.upsert(key, (slot, fresh) => {
        const last = this.#tuples.day(slot);
        if (fresh || day - last > this.#decayDays) {
          this.#tuples.setDay(slot, day);
          this.#tuples.setValue(slot, 1);
        } else if (day > last) {
          this.#tuples.setDay(slot, day);
          this.#tuples.setValue(slot, this.#tuples.value(slot) + 1);
        }
      });
      Atomics.add(this.#header, H_VERSION, 1);
    } finally {
      Atomics.store(this.#header, H_LOCK, 0);
    }
  }

  #lock(): boolean {
    for (let i = 0; i < LOCK_TRIES; i++) if (Atomics.compareExchange(this.#header, H_LOCK, 0, 1) === 0) return true;
    return false;
  }

  /** Ends the learning period now, whatever the dates (what was learned is the whole history: kaudit scan --baseline-from). */
  completeLearning(): void {
    if (!this.#lock()) return;
    try {
      Atomics.store(this.#header, H_COMPLETE, 1);
      // Identities learned are past their first hour: their history is what was learned.
      this.#ids.forEach((slot) => this.#ids.setValue(slot, 0));
      Atomics.add(this.#header, H_VERSION, 1);
    } finally {
      Atomics.store(this.#header, H_LOCK, 0);
    }
  }

  /** How many identities and tuples (rule hits counted per day included) are kept. */
  get size(): { identities: number; tuples: number } {
    return { identities: this.#ids.used(), tuples: this.#tuples.used() };
  }

  /** The baseline as saved in the state directory: its memory as it is (a consistent copy, taken under the lock). */
  save(): Buffer {
    const copy = Buffer.alloc(this.memory.byteLength);
    const locked = this.#lock();
    try {
      copy.set(new Uint8Array(this.memory));
    } finally {
      if (locked) Atomics.store(this.#header, H_LOCK, 0);
    }
    new Int32Array(copy.buffer, copy.byteOffset, HEADER)[H_LOCK] = 0;
    return copy;
  }

  /**
   * Restores a saved baseline into this one (which holds nothing yet); a file of other bounds is re-read entry by entry
   * into these. Returns false, keeping nothing, when `saved` is no baseline (damaged: learning starts again).
   */
  load(saved: Uint8Array): boolean {
    if (saved.byteLength < HEADER * 4 || saved.byteLength % 4 !== 0) return false;
    const words = new Int32Array(saved.buffer, saved.byteOffset, saved.byteLength / 4);
    const ids = words[H_ID_SLOTS];
    const tuples = words[H_TUPLE_SLOTS];
    if (words[H_MAGIC] !== MAGIC || ids <= 0 || tuples <= 0 || saved.byteLength !== (HEADER + 4 * (ids + tuples)) * 4) return false;
    if (!this.#lock()) return false;
    try {
      this.#header[H_SINCE] = words[H_SINCE];
      this.#header[H_COMPLETE] = words[H_COMPLETE];
      this.#ids.copyFrom(words, HEADER, ids);
      this.#tuples.copyFrom(words, HEADER + 4 * ids, tuples);
      Atomics.add(this.#header, H_VERSION, 1);
    } finally {
      Atomics.store(this.#header, H_LOCK, 0);
    }
    return true;
  }
}

/** What a rule hit is counted as in the baseline: the rule on a kind of object. */
export function ruleKey(ruleId: string, resource: string | undefined): string {
  return `rule\0${ruleId}\0${resource ?? ''}`;
}

/** The identity a baseline learns for: the username, with every node folded into one (a new node is no new behaviour). */
export function baselineIdentity(username: string | undefined): string | undefined {
  if (username === undefined || username === '') return undefined;
  return username.startsWith('system:node:') ? 'system:node:*' : username;
}
