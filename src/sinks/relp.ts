// A RELP client (the Reliable Event Logging Protocol of rsyslog's imrelp): open, syslog with a window of unacknowledged
// messages, close. A batch counts as delivered only when the receiver answered `rsp 200` to every message of it.
import type { Socket } from 'node:net';
import pkg from '../../package.json' with { type: 'json' };
import { describeError, openSocket, type Peer, type Transport } from './syslog-transport.ts';
import type { SendVerdict } from './types.ts';

/** Messages sent and not yet acknowledged, at most (librelp's own default window). */
const WINDOW = 128;
/** Transaction numbers run from 1 to 999,999,999, then start again at 1. */
const MAX_TXNR = 999_999_999;
/** What a peer offers in `open` (and, from the source, answers it with): the sink and the source both speak only syslog. */
export const OFFERS = `relp_version=0\nrelp_software=kaudit,${pkg.version}\ncommands=syslog`;
const SPACE = 0x20;
const LF = 0x0a;

export class RelpTransport implements Transport {
  /** The session batches go on; with `concurrency` above 1, several batches share it. */
  #session: Promise<RelpSession> | undefined;
  readonly #peer: Peer;

  constructor(peer: Peer) {
    this.#peer = peer;
  }

  async send(messages: readonly Buffer[], signal: AbortSignal): Promise<SendVerdict> {
    let session: RelpSession | undefined;
    const onAbort = () => session?.fail('aborted (sink shutting down)');
    const timer = setTimeout(() => session?.fail(`timeout: not every message acknowledged within ${this.#peer.timeoutMs}ms`), this.#peer.timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      session = await (this.#session ??= this.#open(signal));
      if (signal.aborted) session.fail('aborted (sink shutting down)');
      await session.syslog(messages);
      return { kind: 'delivered' };
    } catch (err) {
      // What was acknowledged of this batch is sent again with the rest: duplicates, never a loss. The session is
      // over (a failure ends it), and the next batch opens a new one.
      session?.fail((err as Error).message);
      return { kind: 'retry', reason: (err as Error).message };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** A new session; once it ends (or fails to open), the next batch opens another. */
  #open(signal: AbortSignal): Promise<RelpSession> {
    const opening: Promise<RelpSession> = RelpSession.open(this.#peer, signal, () => {
      if (this.#session === opening) this.#session = undefined;
    });
    opening.catch(() => {
      if (this.#session === opening) this.#session = undefined;
    });
    return opening;
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    await (await session?.catch(() => undefined))?.close();
  }
}

interface Pending {
  resolve(data: string): void;
  reject(err: Error): void;
}

/** One RELP session on one connection. Any failure ends it: its unacknowledged commands fail, and a new one is opened. */
class RelpSession {
  readonly #socket: Socket;
  readonly #where: string;
  readonly #pending = new Map<number, Pending>();
  #txnr = 0;
  #input: Buffer = Buffer.alloc(0);
  #failure: Error | undefined;
  /** Woken by every answer and by the failure: senders waiting for room in the window. */
  #waiting: Array<() => void> = [];
  /** Called once, when the session ends. */
  readonly #onEnd: () => void;

  private constructor(socket: Socket, where: string, onEnd: () => void) {
    this.#socket = socket;
    this.#where = where;
    this.#onEnd = onEnd;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', (err) => this.fail(`connection to ${where}: ${describeError(err)}`));
    socket.on('close', () => this.fail(`connection to ${where} closed`));
  }

  static async open(peer: Peer, signal: AbortSignal, onEnd: () => void): Promise<RelpSession> {
    const where = `${peer.host}:${peer.port}`;
    const session = new RelpSession(await openSocket(peer, signal), where, onEnd);
    // A receiver that accepts the connection but never answers must not hold the sink: the batch is retried.
    const timer = setTimeout(() => session.fail(`${where} did not answer the RELP open command within ${peer.timeoutMs}ms`), peer.timeoutMs);
    const onAbort = () => session.fail('aborted (sink shutting down)');
    signal.addEventListener('abort', onAbort, { once: true });
    let answer: string;
    try {
      answer = await session.#command('open', Buffer.from(OFFERS));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
    const commands = /^commands=(.*)$/m.exec(answer)?.[1]?.split(',') ?? [];
    if (!commands.includes('syslog')) {
      session.fail(`${where} does not offer the RELP syslog command (offers: ${answer.replace(/\n/g, ' ')})`);
      throw session.#failure;
    }
    return session;
  }

  /** Sends every message, keeping at most WINDOW unacknowledged; resolves once each one was answered `200`. */
  async syslog(messages: readonly Buffer[]): Promise<void> {
    const answers: Promise<string>[] = [];
    this.#socket.cork();
    try {
      for (const m of messages) {
        while (this.#pending.size >= WINDOW && this.#failure === undefined) {
          this.#socket.uncork();
          await new Promise<void>((resolve) => this.#waiting.push(resolve));
          this.#socket.cork();
        }
        if (this.#failure) throw this.#failure;
        const answer = this.#command('syslog', m);
        answer.catch(() => {}); // awaited below; a failure meanwhile is seen through #failure
        answers.push(answer);
      }
    } finally {
      this.#socket.uncork();
    }
    await Promise.all(answers);
  }

  /** Ends the session as RELP does (`close`, answered), or cuts it after a second. */
  async close(): Promise<void> {
    if (this.#failure === undefined) {
      const answered = this.#command('close', Buffer.alloc(0)).catch(() => '');
      const timer = setTimeout(() => this.fail('closed'), 1000);
      await answered;
      clearTimeout(timer);
    }
    this.fail('closed');
  }

  /** Ends the session: pending commands fail with `reason`, the connection is destroyed. */
  fail(reason: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = new Error(reason);
    for (const p of this.#pending.values()) p.reject(this.#failure);
    this.#pending.clear();
    this.#wake();
    this.#socket.destroy();
    this.#onEnd();
  }

  /** Sends one command; resolves with the data of its `rsp` when the code is 200, rejects otherwise. */
  #command(command: string, data: Buffer): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#txnr = this.#txnr >= MAX_TXNR ? 1 : this.#txnr + 1;
    const txnr = this.#txnr;
    const head = data.length === 0 ? `${txnr} ${command} 0` : `${txnr} ${command} ${data.length} `;
    this.#socket.write(head);
    if (data.length > 0) this.#socket.write(data);
    this.#socket.write(NEWLINE);
    return new Promise((resolve, reject) => {
      this.#pending.set(txnr, {
        resolve: (answer) => {
          const code = answer.slice(0, 3);
          if (code === '200' || command === 'close') resolve(answer);
          else reject(new Error(`${this.#where} refused the ${command} command: rsp ${answer.split('\n')[0]}`));
        },
        reject,
      });
    });
  }

  /** Parses frames `TXNR SP COMMAND SP DATALEN [SP DATA] LF` from the receiver. */
  #read(chunk: Buffer): void {
    this.#input = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    for (;;) {
      const frame = parseFrame(this.#input);
      if (frame === 'incomplete') return;
      if (frame === 'invalid') {
        this.fail(`${this.#where} sent something that is not a RELP frame`);
        return;
      }
      this.#input = this.#input.subarray(frame.length);
      if (frame.command === 'serverclose') {
        this.fail(`${this.#where} closed the RELP session (serverclose)`);
        return;
      }
      const pending = this.#pending.get(frame.txnr);
      if (frame.command !== 'rsp' || pending === undefined) continue;
      this.#pending.delete(frame.txnr);
      pending.resolve(frame.data);
      this.#wake();
    }
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

const NEWLINE = Buffer.from('\n');

interface Frame {
  txnr: number;
  command: string;
  data: string;
  /** Bytes of the frame, trailer included. */
  length: number;
}

/** The first frame in `buf`, `incomplete` when more bytes are needed. */
export function parseFrame(buf: Buffer): Frame | 'incomplete' | 'invalid' {
  const sp1 = buf.indexOf(SPACE);
  if (sp1 === -1) return buf.length > 9 ? 'invalid' : 'incomplete';
  const sp2 = buf.indexOf(SPACE, sp1 + 1);
  if (sp2 === -1) return buf.length - sp1 > 33 ? 'invalid' : 'incomplete';
  let end = sp2 + 1;
  while (end < buf.length && buf[end] >= 0x30 && buf[end] <= 0x39) end++;
  if (end === buf.length) return end - sp2 > 10 ? 'invalid' : 'incomplete';
  const txnr = Number(buf.toString('latin1', 0, sp1));
  const command = buf.toString('latin1', sp1 + 1, sp2);
  const dataLength = Number(buf.toString('latin1', sp2 + 1, end));
  if (!Number.isInteger(txnr) || end === sp2 + 1 || !/^[a-z]+$/.test(command)) return 'invalid';
  if (dataLength === 0) return buf[end] === LF ? { txnr, command, data: '', length: end + 1 } : 'invalid';
  if (buf[end] !== SPACE) return 'invalid';
  const trailer = end + 1 + dataLength;
  if (buf.length <= trailer) return 'incomplete';
  if (buf[trailer] !== LF) return 'invalid';
  return { txnr, command, data: buf.toString('utf8', end + 1, trailer), length: trailer + 1 };
}
