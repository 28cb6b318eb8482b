// Secrets that follow their files: resolved at start, read again when a file's content changes, without a restart.
import type { Logger } from 'pino';
import { describeSecret, resolveSecret, type SecretRef } from './secret.ts';

/**
 * Least time between two reads of the secret files on the way to a request. Content, not a watch: a projected
 * service-account token is replaced by swapping the `..data` symlink of its directory, which a watch on the file
 * misses, and a read of a small file every few seconds costs nothing.
 */
export const RECHECK_MS = 2000;

export interface SecretField {
  /** The config field, e.g. `sinks.siem.auth.bearer`: how errors and logs name the secret. */
  field: string;
  ref: SecretRef;
  /** Why a value cannot be used (a line break in a header value), or undefined when it can. */
  check?: (value: string) => string | undefined;
}

interface Slot extends SecretField {
  value: string;
  /** The last problem logged for the file, so a lasting one is logged once. */
  problem?: string;
}

export class LiveSecrets {
  readonly #slots: Map<string, Slot>;
  readonly #log: Logger;
  #checkedAt = Date.now();
  #checking: Promise<boolean> | undefined;

  private constructor(slots: Map<string, Slot>, log: Logger) {
    this.#slots = slots;
    this.#log = log;
  }

  /** Resolves every secret; throws naming the field and where the secret comes from, never its value. */
  static async resolve(fields: readonly SecretField[], log: Logger): Promise<LiveSecrets> {
    const slots = new Map<string, Slot>();
    for (const f of fields) {
      let value: string;
      try {
        value = await resolveSecret(f.ref);
      } catch (err) {
        throw new Error(`${f.field}: ${(err as Error).message}`, { cause: err });
      }
      const problem = f.check?.(value);
      if (problem !== undefined) throw new Error(`${f.field}: ${describeSecret(f.ref)} ${problem}`);
      slots.set(f.field, { ...f, value });
    }
    return new LiveSecrets(slots, log);
  }

  get(field: string): string {
    const slot = this.#slots.get(field);
    if (slot === undefined) throw new Error(`no secret ${field}`);
    return slot.value;
  }

  /**
   * Reads the secret files again when the last read is older than RECHECK_MS (or at once with `now`: SIGHUP, a
   * request the server refused); true when a value changed. A file that cannot be read or holds an unusable value
   * leaves the previous value in force, with a warning.
   */
  refresh(now = false): Promise<boolean> {
    if (this.#checking !== undefined) return this.#checking;
    if (!now && Date.now() - this.#checkedAt < RECHECK_MS) return Promise.resolve(false);
    this.#checking = this.#readAll().finally(() => {
      this.#checkedAt = Date.now();
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #readAll(): Promise<boolean> {
    let changed = false;
    for (const slot of this.#slots.values()) {
      if (!('file' in slot.ref)) continue; // the environment of a running process does not change
      const value = await this.#read(slot);
      if (value === undefined || value === slot.value) continue;
      slot.value = value;
      changed = true;
      this.#log.info({ field: slot.field, file: slot.ref.file }, 'secret file changed; using the new value');
    }
    return changed;
  }

  async #read(slot: Slot): Promise<string | undefined> {
    let value: string | undefined;
    let problem: string | undefined;
    try {
      value = await resolveSecret(slot.ref);
      // Empty: caught between a truncate and a write (an in-place rewrite); the next read has the new value.
      const unusable = value === '' ? 'is empty' : slot.check?.(value);
      if (unusable !== undefined) problem = `${describeSecret(slot.ref)} ${unusable}`;
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem === undefined) {
      slot.problem = undefined;
      return value;
    }
    if (slot.problem !== problem) {
      this.#log.warn({ field: slot.field }, `${slot.field}: ${problem}; keeping the previous value`);
      slot.problem = problem;
    }
    return undefined;
  }
}
