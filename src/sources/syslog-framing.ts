// Syslog messages out of a TCP or TLS byte stream (RFC 6587): octet counting (`LEN SP MSG`) or newline framing, told
// apart per frame by its first byte (a digit starts a count; a message starts with `<`), as rsyslog does. Bounded:
// the framer holds at most one message of `max` bytes; a longer one is cut there and the rest of it skipped.

const SP = 0x20;
const LF = 0x0a;
const CR = 0x0d;
/** `LEN SP`: up to 9 digits (rsyslog's limit as well). */
const MAX_COUNT_DIGITS = 9;

export interface FramerEvents {
  /** A whole message, or its first `max` bytes (`cut`): a view into the chunk read (not copied; chunks are never reused). */
  message(bytes: Buffer, cut: boolean): void;
  /** The stream ended inside an octet-counted frame: what there was of it is dropped. */
  incomplete(bytes: number): void;
}

export class SyslogStreamFramer {
  readonly #max: number;
  readonly #on: FramerEvents;
  #held: Buffer = Buffer.alloc(0);
  /** Bytes of the current octet-counted frame still to come (-1: between frames or in a newline frame). */
  #remaining = -1;
  /** Bytes of a cut message still to drop: counted (octet counting) or up to the next LF (Infinity). */
  #skip = 0;

  constructor(max: number, on: FramerEvents) {
    this.#max = max;
    this.#on = on;
  }

  /** Bytes held for a message not yet complete. */
  get held(): number {
    return this.#held.length;
  }

  push(chunk: Buffer): void {
    let buf = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    for (;;) {
      if (this.#skip > 0) {
        const lf = this.#skip === Infinity ? buf.indexOf(LF) : -1;
        const drop = this.#skip === Infinity ? (lf < 0 ? buf.length : lf + 1) : Math.min(this.#skip, buf.length);
        buf = buf.subarray(drop);
        if (this.#skip !== Infinity) this.#skip -= drop;
        else if (lf >= 0) this.#skip = 0;
        if (this.#skip > 0 || buf.length === 0) break;
      }
      if (this.#remaining >= 0) {
        // Inside an octet-counted frame: `#held` never grows past `max`.
        const want = Math.min(this.#remaining, this.#max);
        if (buf.length < want) break;
        const cut = want < this.#remaining;
        this.#on.message(buf.subarray(0, want), cut);
        this.#skip = this.#remaining - want;
        this.#remaining = -1;
        buf = buf.subarray(want);
        continue;
      }
      if (buf.length === 0) break;
      if (buf[0] === LF || buf[0] === CR || buf[0] === 0) {
        buf = buf.subarray(1); // blank lines and NUL trailers between frames
        continue;
      }
      const count = octetCount(buf);
      if (count === 'more') break;
      if (count !== undefined) {
        this.#remaining = count.length;
        buf = buf.subarray(count.headerBytes);
        continue;
      }
      const lf = buf.indexOf(LF);
      if (lf < 0) {
        if (buf.length > this.#max) {
          this.#on.message(buf.subarray(0, this.#max), true);
          this.#skip = Infinity;
          buf = buf.subarray(buf.length);
        }
        break;
      }
      const end = lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf;
      const cut = end > this.#max;
      this.#on.message(buf.subarray(0, cut ? this.#max : end), cut);
      buf = buf.subarray(lf + 1);
    }
    // Copied: a held view would keep the whole read buffer alive.
    this.#held = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  /** The stream ended: a newline-framed message without its LF is whole (senders often leave out the last one). */
  end(): void {
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    if (this.#remaining >= 0) this.#on.incomplete(held.length);
    else if (held.length > 0 && this.#skip === 0 && octetCount(held) === undefined) this.#on.message(held, false);
    else if (held.length > 0) this.#on.incomplete(held.length);
    this.#remaining = -1;
  }
}

/** An octet count at the start of `buf`; `more` when the digits may go on; undefined: not octet counting. */
function octetCount(buf: Buffer): { length: number; headerBytes: number } | 'more' | undefined {
  let i = 0;
  while (i < buf.length && i <= MAX_COUNT_DIGITS && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
  if (i === 0) return undefined;
  if (i === buf.length && i <= MAX_COUNT_DIGITS) return 'more';
  if (buf[i] !== SP || i > MAX_COUNT_DIGITS) return undefined;
  return { length: Number(buf.toString('latin1', 0, i)), headerBytes: i + 1 };
}
