// The syslog source: listeners on UDP, TCP, TLS and RELP whose messages go through the pipeline like lines of a file
// (parsed, redacted and matched by the rules in a parse worker, then appended to the sinks' buffers). Messages are
// gathered into blocks while the pipeline is busy; past `queue_bytes` waiting, stream connections stop being read
// (their senders wait) and UDP datagrams are dropped and counted. RELP answers each message only once it is durable in
// every routed buffer, so a RELP sender (rsyslog's omrelp) gets at least once end to end; the others get what the
// transport gives (a kill loses what was received and not yet durable).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, isIPv6, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ioReason } from '../config/io-error.ts';
import { listenAddress, listenOn } from '../config/listen.ts';
import type { SyslogSourceConfig, SyslogTlsConfig } from '../config/schema.ts';
import { readTlsFile } from '../config/tls-files.ts';
import { syslogFrame, type SyslogTransport } from '../parse/syslog.ts';
import type { ChunkConsumer } from './file-set.ts';
import { RelpServerSession } from './relp-server.ts';
import { SyslogStreamFramer } from './syslog-framing.ts';

/** What the source counts besides bytes: connections, and what it could not keep. */
export interface SyslogMetrics {
  bytesRead(n: number): void;
  /** `queue_full` (UDP while the pipeline is backed up), `incomplete` (a stream ended mid-frame), `bad_frame` (RELP). */
  dropped(transport: SyslogTransport, reason: 'queue_full' | 'incomplete' | 'bad_frame'): void;
  /** A message cut to max_message_bytes. */
  truncated(transport: SyslogTransport): void;
  /** A connection refused: over max_connections. */
  refused(transport: SyslogTransport): void;
  /** Reports the open connections of each transport, and the kernel's drops on the UDP socket, at each scrape. */
  observe(connections: () => Record<string, number>, udpDrops: () => number | undefined): void;
}

export interface SyslogSourceOptions {
  source: string;
  config: SyslogSourceConfig;
  submit: ChunkConsumer;
  metrics: SyslogMetrics;
  logger: Logger;
}

type Ack = (durable: boolean) => void;

/** A RELP session stops being read with this many messages unanswered (librelp's senders keep 128 by default). */
const RELP_WINDOW = 1024;

export class SyslogSource {
  readonly #o: SyslogSourceOptions;
  /** Record ids are `<this>@<offset>`: unique to this run, so nothing received now is taken for an earlier record. */
  readonly #key: string;
  #offset = 0;
  #parts: Buffer[] = [];
  #bytes = 0;
  #acks: Ack[] = [];
  #submitting = false;
  #scheduled = false;
  #stopping = false;
  /** Resolves when the block being handed to the pipeline was taken. */
  #handedOver: Promise<void> = Promise.resolve();
  readonly #servers: Server[] = [];
  #udp: UdpSocket | undefined;
  /** Open connections (the raw socket, under TLS as well), by transport. */
  readonly #streams = new Map<Socket, SyslogTransport>();
  /** RELP sessions by the socket they read (the TLS one under TLS). */
  readonly #relp = new Map<Socket, RelpServerSession>();
  readonly #paused = new Set<Socket>();

  constructor(o: SyslogSourceOptions) {
    this.#o = o;
    this.#key = `syslog:${o.source}:${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  }

  /** Opens every configured listener; throws naming the field (`tcp.listen: …`, `tls.cert_file: …`) when one cannot. */
  async start(): Promise<string[]> {
    const { config } = this.#o;
    const urls: string[] = [];
    try {
      if (config.udp) urls.push(`udp://${await this.#listenUdp(config.udp.listen, config.udp.receive_buffer_bytes)}`);
      if (config.tcp) urls.push(`tcp://${await this.#listenStream('tcp', 'tcp.listen', config.tcp.listen)}`);
      if (config.tls) urls.push(`tls://${await this.#listenStream('tls', 'tls.listen', config.tls.listen, await tlsOptions(config.tls, 'tls'))}`);
      if (config.relp) {
        const tls = config.relp.tls && await tlsOptions(config.relp.tls, 'relp.tls');
        urls.push(`relp://${await this.#listenStream('relp', 'relp.listen', config.relp.listen, tls)}`);
      }
    } catch (err) {
      this.#closeListeners();
      throw err;
    }
    this.#o.metrics.observe(() => this.#connections(), () => (this.#udp === undefined ? undefined : udpDrops(this.#udp.address().port)));
    return urls;
  }

  /** Takes no more messages; resolves once those received are handed to the pipeline (RELP answers follow). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#closeListeners();
    for (const socket of [...this.#streams.keys(), ...this.#relp.keys()]) socket.pause();
    while (this.#submitting || this.#bytes > 0) {
      await this.#drain();
      await this.#handedOver;
    }
  }

  /** Ends every connection: RELP sessions with `serverclose` after the answers due (what was not durable is resent). */
  closeConnections(): void {
    for (const [socket, relp] of this.#relp) {
      relp.serverClose();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    for (const socket of this.#streams.keys()) if (!this.#relp.has(socket)) socket.destroy();
  }

  async #listenUdp(listen: string, receiveBuffer: number): Promise<string> {
    const { host, port } = listenAddress(listen);
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: receiveBuffer });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(new Error(`udp.listen ${listen}: ${ioReason(err)}`, { cause: err })));
      socket.bind(port, host, () => resolve());
    });
    socket.on('error', (err) => this.#o.logger.error({ source: this.#o.source, err: ioReason(err) }, 'syslog UDP socket error'));
    socket.on('message', (msg, peer) => {
      if (this.#stopping) return;
      this.#o.metrics.bytesRead(msg.length);
      if (this.#bytes >= this.#o.config.queue_bytes) {
        this.#o.metrics.dropped('udp', 'queue_full');
        return;
      }
      this.#take('udp', msg, peer.address, peer.port);
    });
    this.#udp = socket;
    const bound = socket.address();
    return hostPort(bound.address, bound.port);
  }

  async #listenStream(transport: SyslogTransport, field: string, listen: string, tls?: TlsOptions): Promise<string> {
    const server = tls === undefined ? createNetServer() : createTlsServer(tls);
    // Counted on the raw connection (before a TLS handshake): a flood of handshakes is refused as well.
    server.on('connection', (socket: Socket) => {
      if (this.#stopping || this.#streams.size >= this.#o.config.max_connections) {
        this.#o.metrics.refused(transport);
        socket.destroy();
        return;
      }
      this.#streams.set(socket, transport);
      socket.once('close', () => {
        this.#streams.delete(socket);
        this.#paused.delete(socket);
      });
      socket.on('error', () => {}); // a peer that resets: the close above ends it
      if (tls === undefined) this.#serve(socket, transport);
    });
    if (tls !== undefined) {
      server.on('secureConnection', (socket) => this.#serve(socket, transport));
      server.on('tlsClientError', (err, socket) => {
        this.#o.logger.warn({ source: this.#o.source, transport, remote: socket.remoteAddress, err: ioReason(err) }, 'syslog TLS handshake failed');
      });
    }
    await listenOn(server, listen).catch((err: Error) => {
      throw new Error(`${field} ${listen}: ${err.message}`, { cause: err });
    });
    this.#servers.push(server);
    const bound = server.address() as { address: string; port: number };
    return hostPort(bound.address, bound.port);
  }

  /** Reads one stream connection (after its TLS handshake, if any). */
  #serve(socket: Socket, transport: SyslogTransport): void {
    socket.on('error', () => {}); // a peer that resets (under TLS, the TLS socket's own error): the close ends it
    const ip = plainAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    const max = this.#o.config.max_message_bytes;
    let relp: RelpServerSession | undefined;
    let framer: SyslogStreamFramer | undefined;
    if (transport === 'relp') {
      relp = new RelpServerSession(socket, max, {
        message: (bytes, cut, ack) => this.#take('relp', bytes, ip, port, cut, ack),
        protocolError: (reason) => {
          this.#o.metrics.dropped('relp', 'bad_frame');
          this.#o.logger.warn({ source: this.#o.source, remote: ip, reason }, 'RELP session closed: the peer broke the protocol');
        },
      });
      this.#relp.set(socket, relp);
      socket.once('close', () => this.#relp.delete(socket));
    } else {
      framer = new SyslogStreamFramer(max, {
        message: (bytes, cut) => this.#take(transport, bytes, ip, port, cut),
        incomplete: () => this.#o.metrics.dropped(transport, 'incomplete'),
      });
    }
    // A frame begun and not finished within frame_timeout (a stalled or hostile sender) ends the connection; an idle
    // connection between frames is left open (a sender keeps one for its next message).
    socket.setTimeout(this.#o.config.frame_timeout, () => {
      if ((framer?.held ?? 0) > 0 || (relp !== undefined && relp.held > 0)) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#stopping) return;
      this.#o.metrics.bytesRead(chunk.length);
      if (relp !== undefined) relp.push(chunk);
      else framer!.push(chunk);
      if (this.#bytes >= this.#o.config.queue_bytes || (relp !== undefined && relp.unanswered >= RELP_WINDOW)) this.#pause(socket);
    });
    socket.on('end', () => {
      if (!this.#stopping) framer?.end();
      if (relp === undefined) socket.end();
    });
    socket.on('close', () => {
      this.#paused.delete(socket);
      if (!this.#stopping && framer !== undefined && framer.held > 0) framer.end();
    });
  }

  /** Queues one message for the next block. */
  #take(transport: SyslogTransport, bytes: Buffer, ip: string, port: number, cut = false, ack?: Ack): void {
    if (this.#stopping) return; // never answered: a RELP sender sends it again
    if (cut) this.#o.metrics.truncated(transport);
    let message = bytes;
    if (transport === 'udp' && bytes.length > this.#o.config.max_message_bytes) {
      message = bytes.subarray(0, this.#o.config.max_message_bytes);
      cut = true;
      this.#o.metrics.truncated(transport);
    }
    for (const part of syslogFrame(message, { transport, ip, port, at: Date.now(), cut })) {
      this.#parts.push(part);
      this.#bytes += part.length;
    }
    if (ack !== undefined) this.#acks.push(ack);
    if (!this.#scheduled && !this.#submitting) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#drain();
      });
    }
  }

  /** Hands the gathered messages to the pipeline, block after block, while there are any. */
  async #drain(): Promise<void> {
    if (this.#submitting) return;
    this.#submitting = true;
    try {
      while (this.#bytes > 0) {
        const data = Buffer.concat(this.#parts, this.#bytes);
        const acks = this.#acks;
        this.#parts = [];
        this.#bytes = 0;
        this.#acks = [];
        this.#resume();
        const offset = this.#offset;
        this.#offset += data.length;
        this.#handedOver = this.#o.submit({
          source: this.#o.source, fileKey: this.#key, path: `syslog source ${this.#o.source}`, kind: 'lines',
          offset, data, commitOffset: offset + data.length, owned: false,
          onDurable: () => { for (const ack of acks) ack(true); },
          origin: { parser: 'syslog', fileKey: this.#key, offset },
        });
        await this.#handedOver;
      }
    } finally {
      this.#submitting = false;
    }
  }

  #pause(socket: Socket): void {
    socket.pause();
    this.#paused.add(socket);
  }

  /** Reads again the connections paused for a full queue (a RELP session waits for its answers instead). */
  #resume(): void {
    if (this.#stopping) return;
    for (const socket of this.#paused) {
      const relp = this.#relp.get(socket);
      if (relp !== undefined && relp.unanswered >= RELP_WINDOW) continue;
      this.#paused.delete(socket);
      socket.resume();
    }
  }

  #connections(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const transport of this.#streams.values()) out[transport] = (out[transport] ?? 0) + 1;
    return out;
  }

  #closeListeners(): void {
    for (const server of this.#servers) server.close();
    this.#servers.length = 0;
    this.#udp?.close();
    this.#udp = undefined;
  }
}

async function tlsOptions(tls: SyslogTlsConfig, field: string): Promise<TlsOptions> {
  const ca = tls.client_ca_file === undefined ? undefined : await readTlsFile(tls.client_ca_file, `${field}.client_ca_file`);
  const options: TlsOptions = {
    cert: await readTlsFile(tls.cert_file, `${field}.cert_file`),
    key: await readTlsFile(tls.key_file, `${field}.key_file`),
    // With a client CA, only senders with a certificate it signed are served.
    ...(ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: true }),
  };
  try {
    createTlsServer(options).close();
  } catch (err) {
    throw new Error(`${field}: the certificate, key or client CA is not usable PEM (${(err as Error).message})`, { cause: err });
  }
  return options;
}

/** An IPv4 peer as itself, not as the IPv4-mapped IPv6 address a dual-stack socket reports. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * Datagrams the kernel dropped on the UDP socket bound to `port` (its receive buffer was full), from the `drops`
 * column of /proc/net/udp and udp6; undefined where that cannot be read.
 */
export function udpDrops(port: number): number | undefined {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let found: number | undefined;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13 || !cols[1].endsWith(hexPort)) continue;
      found = (found ?? 0) + Number(cols[cols.length - 1]);
    }
  }
  return found;
}
