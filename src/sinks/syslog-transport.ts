// Syslog transports without acknowledgement: UDP datagrams (RFC 5426) and a TCP or TLS stream (RFC 6587, RFC 5425).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { SendVerdict } from './types.ts';

/** Where messages go and how to reach it; `tls` set: the stream is TLS. */
export interface Peer {
  host: string;
  port: number;
  tls?: ConnectionOptions;
  /** Connecting, and (stream transports) the whole send. */
  timeoutMs: number;
}

/** Sends a batch of syslog messages (each without framing). */
export interface Transport {
  send(messages: readonly Buffer[], signal: AbortSignal): Promise<SendVerdict>;
  close(): Promise<void>;
}

/** What the peer or the network did, for the codes whose Node text only repeats the code and the address. */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on the port)',
  ECONNRESET: 'connection reset by the receiver',
  EPIPE: 'connection closed by the receiver while sending',
  ETIMEDOUT: 'the network timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name does not resolve',
  EAI_AGAIN: 'host name lookup failed for now',
};

/** `CODE: what happened`, the code first: what operators search for (TLS codes come with their own clear text). */
export function describeError(err: unknown): string {
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(err);
  if (typeof code !== 'string') return text;
  return `${code}: ${SOCKET_ERRORS[code] ?? text}`;
}

/** A connected TCP or TLS socket (TLS: handshake done, certificate verified), or a rejection naming why not. */
export function openSocket(peer: Peer, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const where = `${peer.host}:${peer.port}`;
    const socket: Socket = peer.tls
      ? tlsConnect({ ...peer.tls, host: peer.host, port: peer.port })
      : netConnect({ host: peer.host, port: peer.port });
    const fail = (reason: string) => {
      cleanup();
      socket.destroy();
      reject(new Error(reason));
    };
    const onError = (err: Error) => fail(`cannot connect to ${where}: ${describeError(err)}`);
    const onAbort = () => fail('aborted (sink shutting down)');
    const timer = setTimeout(() => fail(`cannot connect to ${where}: no connection within ${peer.timeoutMs}ms`), peer.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once(peer.tls ? 'secureConnect' : 'connect', () => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * One TCP or TLS connection, opened when needed and again after it broke. A batch is `delivered` once the kernel
 * took all of it: a receiver that dies then loses what it had not read, and nothing tells the sender.
 */
export class StreamTransport implements Transport {
  /** The connection batches go on; with `concurrency` above 1, several batches share it (each one write). */
  #socket: Promise<Socket> | undefined;
  readonly #peer: Peer;
  readonly #frame: (messages: readonly Buffer[]) => Buffer;

  constructor(peer: Peer, framing: 'octet_counting' | 'newline') {
    this.#peer = peer;
    this.#frame = framing === 'octet_counting' ? octetCounted : newlineFramed;
  }

  async send(messages: readonly Buffer[], signal: AbortSignal): Promise<SendVerdict> {
    let socket: Socket;
    const connecting = this.#connection(signal);
    try {
      socket = await connecting;
    } catch (err) {
      return { kind: 'retry', reason: (err as Error).message };
    }
    const body = this.#frame(messages);
    return new Promise((resolve) => {
      const done = (verdict: SendVerdict) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
        if (verdict.kind !== 'delivered') this.#drop(connecting, socket);
        resolve(verdict);
      };
      const onAbort = () => done({ kind: 'retry', reason: 'aborted (sink shutting down)' });
      const onClose = () => done({ kind: 'retry', reason: `connection to ${this.#where} closed while sending` });
      const timer = setTimeout(() => done({ kind: 'retry', reason: `timeout: the batch was not written within ${this.#peer.timeoutMs}ms` }), this.#peer.timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', onClose);
      socket.write(body, (err) => done(err ? { kind: 'retry', reason: `writing to ${this.#where}: ${describeError(err)}` } : { kind: 'delivered' }));
    });
  }

  async close(): Promise<void> {
    const connecting = this.#socket;
    this.#socket = undefined;
    const socket = await connecting?.catch(() => undefined);
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  get #where(): string {
    return `${this.#peer.host}:${this.#peer.port}`;
  }

  #connection(signal: AbortSignal): Promise<Socket> {
    if (this.#socket !== undefined) return this.#socket;
    const connecting = openSocket(this.#peer, signal);
    this.#socket = connecting;
    connecting.then((socket) => {
      // A receiver that closes or resets the connection is noticed before the next batch, which goes on a new one.
      const drop = () => this.#drop(connecting, socket);
      socket.on('error', drop);
      socket.on('end', drop);
      socket.on('close', drop);
      // Syslog receivers send nothing; whatever comes is read and let go so that it never fills a buffer.
      socket.resume();
    }, () => {
      if (this.#socket === connecting) this.#socket = undefined;
    });
    return connecting;
  }

  #drop(connecting: Promise<Socket>, socket: Socket): void {
    if (this.#socket === connecting) this.#socket = undefined;
    socket.destroy();
  }
}

/** RFC 6587 3.4.1: each message preceded by its length in bytes and a space. */
function octetCounted(messages: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) parts.push(Buffer.from(`${m.length} `), m);
  return Buffer.concat(parts);
}

/** RFC 6587 3.4.2: each message followed by a newline (messages hold none: JSON has no raw line breaks). */
function newlineFramed(messages: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) parts.push(m, NEWLINE);
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');

/** One datagram per message; nothing is acknowledged, so a batch is `delivered` once the kernel sent every datagram. */
export class UdpTransport implements Transport {
  #socket: Promise<UdpSocket> | undefined;
  readonly #peer: Peer;

  constructor(peer: Peer) {
    this.#peer = peer;
  }

  async send(messages: readonly Buffer[]): Promise<SendVerdict> {
    try {
      const socket = await (this.#socket ??= this.#open());
      for (const m of messages) {
        await new Promise<void>((resolve, reject) => socket.send(m, (err) => (err ? reject(err) : resolve())));
      }
      return { kind: 'delivered' };
    } catch (err) {
      // A refused datagram (ICMP port unreachable) fails the next send on a connected socket: start over on a new one.
      const socket = this.#socket;
      this.#socket = undefined;
      socket?.then((s) => s.close(), () => {});
      return { kind: 'retry', reason: `sending to ${this.#peer.host}:${this.#peer.port} over UDP: ${describeError(err)}` };
    }
  }

  async close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    const s = await socket?.catch(() => undefined);
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** A socket connected to the peer (the host name resolved once; IPv6 when it resolves to IPv6). */
  async #open(): Promise<UdpSocket> {
    const { address, family } = await lookup(this.#peer.host);
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(this.#peer.port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket;
  }
}
