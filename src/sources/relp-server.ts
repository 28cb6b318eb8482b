// The receiving end of one RELP session (rsyslog's omrelp and librelp clients): `open` answered with our offers, each
// `syslog` answered `200 OK` only once the source says the message is durable, `close` answered once every earlier
// message was, and `serverclose` sent when the agent stops. Frames are `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
import type { Socket } from 'node:net';
import { OFFERS } from '../sinks/relp.ts';

/** A header is at most `999999999 ` + a command + ` 999999999 `: anything longer without one is not RELP. */
const MAX_HEADER = 64;
const HEADER = /^(\d{1,9}) ([a-z]{1,32}) (\d{1,9})([ \n])/;
const LF = 0x0a;

export interface RelpEvents {
  /** A message to keep; `ack(true)` once durable (answered 200), `ack(false)` when it cannot be (answered 500). */
  message(bytes: Buffer, cut: boolean, ack: (durable: boolean) => void): void;
  /** The peer broke the protocol: the session is closed. */
  protocolError(reason: string): void;
}

interface Frame {
  txnr: number;
  command: string;
  /** Data length as declared, and the bytes of it kept (at most `max`). */
  length: number;
  kept: Buffer[];
  keptBytes: number;
}

export class RelpServerSession {
  readonly #socket: Socket;
  readonly #max: number;
  readonly #on: RelpEvents;
  #held: Buffer = Buffer.alloc(0);
  /** The frame whose data is being read (`null`: waiting for a header). */
  #frame: Frame | null = null;
  /** Data bytes of the current frame still to come. */
  #dataLeft = 0;
  #open = false;
  /** Messages taken and not yet answered. */
  #unanswered = 0;
  /** Answers leave in the order the commands came: each waits for the one before. */
  #answers: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(socket: Socket, max: number, on: RelpEvents) {
    this.#socket = socket;
    this.#max = max;
    this.#on = on;
  }

  /** Messages taken and not yet answered (the connection is paused above the window). */
  get unanswered(): number {
    return this.#unanswered;
  }

  /** Bytes of a frame begun and not yet complete. */
  get held(): number {
    return this.#held.length + (this.#frame?.keptBytes ?? 0);
  }

  push(chunk: Buffer): void {
    let buf = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    while (!this.#closed && buf.length > 0) {
      if (this.#frame === null) {
        const header = HEADER.exec(buf.toString('latin1', 0, Math.min(buf.length, MAX_HEADER)));
        if (header === null) {
          if (buf.length >= MAX_HEADER || !/^\d{0,9}( [a-z]{0,32}( \d{0,9})?)?$/.test(buf.toString('latin1'))) {
            return this.#fail(`not a RELP frame: ${JSON.stringify(buf.toString('latin1', 0, 32))}`);
          }
          break; // a header still arriving
        }
        const length = Number(header[3]);
        if ((length === 0) !== (header[4] === '\n')) return this.#fail(`RELP frame with data length ${length} ${length === 0 ? 'and data' : 'and no data'}`);
        this.#frame = { txnr: Number(header[1]), command: header[2], length, kept: [], keptBytes: 0 };
        this.#dataLeft = length;
        buf = buf.subarray(header[0].length);
        if (length === 0) {
          this.#command(this.#frame);
          this.#frame = null;
        }
        continue;
      }
      if (this.#dataLeft > 0) {
        const take = Math.min(this.#dataLeft, buf.length);
        const room = this.#max - this.#frame.keptBytes;
        if (room > 0) {
          this.#frame.kept.push(Buffer.from(buf.subarray(0, Math.min(take, room))));
          this.#frame.keptBytes += Math.min(take, room);
        }
        this.#dataLeft -= take;
        buf = buf.subarray(take);
        continue;
      }
      if (buf[0] !== LF) return this.#fail(`RELP frame ${this.#frame.txnr} does not end with LF after its ${this.#frame.length} bytes of data`);
      buf = buf.subarray(1);
      this.#command(this.#frame);
      this.#frame = null;
    }
    this.#held = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  /** Tells the client the server is going (`serverclose`) after the answers due so far, then closes. */
  serverClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#answers = this.#answers.then(() => {
      if (!this.#socket.destroyed) this.#socket.end('0 serverclose 0\n');
    });
  }

  #command(frame: Frame): void {
    const data = frame.kept.length === 1 ? frame.kept[0] : Buffer.concat(frame.kept, frame.keptBytes);
    switch (frame.command) {
      case 'open':
        this.#open = true;
        this.#answer(frame.txnr, Promise.resolve(`200 OK\n${OFFERS}`));
        return;
      case 'syslog': {
        if (!this.#open) return this.#fail('syslog command before open');
        this.#unanswered += 1;
        const durable = new Promise<boolean>((resolve) => this.#on.message(data, frame.length > frame.keptBytes, resolve));
        this.#answer(frame.txnr, durable.then((ok) => {
          this.#unanswered -= 1;
          return ok ? '200 OK' : '500 not stored; send again';
        }));
        return;
      }
      case 'close':
        // Answered after every earlier message was, then the connection ends (librelp's server does the same).
        this.#answer(frame.txnr, Promise.resolve(''));
        this.#closed = true;
        this.#answers = this.#answers.then(() => void this.#socket.end());
        return;
      default:
        this.#answer(frame.txnr, Promise.resolve('500 command not supported'));
    }
  }

  #answer(txnr: number, text: Promise<string>): void {
    this.#answers = this.#answers.then(async () => {
      const data = Buffer.from(await text);
      if (this.#socket.destroyed) return;
      this.#socket.write(data.length === 0 ? `${txnr} rsp 0\n` : `${txnr} rsp ${data.length} `);
      if (data.length > 0) this.#socket.write(Buffer.concat([data, Buffer.from('\n')]));
    });
  }

  #fail(reason: string): void {
    this.#closed = true;
    this.#held = Buffer.alloc(0);
    this.#on.protocolError(reason);
    this.#socket.destroy();
  }
}
