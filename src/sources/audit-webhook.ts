// The audit webhook source: an HTTPS endpoint for kube-apiserver's webhook audit backend. Each POSTed EventList goes
// through the same parse, redaction, detection and sink buffers as the audit file's lines, and is answered 200 only
// once every event of it is durable in the buffers of the sinks it routes to: the apiserver's own retry (batch mode:
// 5 tries over ~80 s, then it drops the batch) then gives at least once for as long as kaudit answers. Events made
// durable lately are remembered, so that a post retried after its answer was lost is not delivered twice.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { ioReason } from '../config/io-error.ts';
import { listenOn } from '../config/listen.ts';
import type { LiveSecrets } from '../config/live-secrets.ts';
import type { AuditWebhookSourceConfig } from '../config/schema.ts';
import { readTlsFile } from '../config/tls-files.ts';
import type { ChunkConsumer, SourceChunk } from './file-set.ts';

/** What the source counts, by answer: `ok` (durable), `bad_request`, `unauthenticated`, `too_large`, `unavailable`. */
export interface WebhookMetrics {
  bytesRead(n: number): void;
  request(result: WebhookResult): void;
}

export type WebhookResult = 'ok' | 'bad_request' | 'unauthenticated' | 'not_found' | 'too_large' | 'unavailable';

export interface AuditWebhookOptions {
  source: string;
  config: AuditWebhookSourceConfig;
  /** The bearer token, when the config names one (read again when its file changes). */
  secrets?: LiveSecrets;
  submit: ChunkConsumer;
  metrics: WebhookMetrics;
  logger: Logger;
}

/** Connections open at once: a few per apiserver (one per webhook client, plus retries). */
const MAX_CONNECTIONS = 64;

/** Events remembered as made durable, so a post retried after its answer was lost is not delivered again. */
const RECENT_EVENTS = 65_536;

/**
 * A request's events, one JSON document per line, as the parse stage reads the audit file, leaving out those `seen`
 * (by `auditID/stage`); `keys` are those of the events kept.
 */
export function eventListLines(body: Buffer, seen: (key: string) => boolean = () => false): { lines: Buffer; events: number; keys: string[] } | { problem: string } {
  let list: unknown;
  try {
    list = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { problem: `body is not JSON (${(err as Error).message})` };
  }
  const l = list as { kind?: unknown; apiVersion?: unknown; items?: unknown };
  if (l === null || typeof l !== 'object' || l.kind !== 'EventList' || typeof l.apiVersion !== 'string' || !l.apiVersion.startsWith('audit.k8s.io/')) {
    return { problem: `expected an audit.k8s.io EventList, found ${l === null || typeof l !== 'object' ? typeof l : `kind ${JSON.stringify(l.kind)} apiVersion ${JSON.stringify(l.apiVersion)}`}` };
  }
  if (!Array.isArray(l.items)) return { problem: 'EventList has no items list' };
  // Items of a list carry no kind: each becomes the line the log backend writes for it (kind and apiVersion first),
  // as compact JSON: what the apiserver sent, but for Go's \u003c-style escapes of <, > and &.
  const head = `{"kind":"Event","apiVersion":${JSON.stringify(l.apiVersion)},`;
  const keys: string[] = [];
  const lines: string[] = [];
  for (const item of l.items as unknown[]) {
    const e = item as { auditID?: unknown; stage?: unknown } | null;
    const key = typeof e?.auditID === 'string' && typeof e.stage === 'string' ? `${e.auditID}/${e.stage}` : undefined;
    if (key !== undefined && seen(key)) continue;
    if (key !== undefined) keys.push(key);
    const json = JSON.stringify(item);
    lines.push(json.startsWith('{"') ? head + json.slice(1) : json); // not an object: the parse stage rejects it
  }
  return { lines: Buffer.from(lines.length > 0 ? `${lines.join('\n')}\n` : ''), events: lines.length, keys };
}

export class AuditWebhookSource {
  readonly #o: AuditWebhookOptions;
  #server: Server | undefined;
  #offset = 0;
  #requests = 0;
  #stopping = false;
  /** Requests between receipt and answer: the stop waits for them to be submitted. */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** `auditID/stage` of the events this source made durable lately. */
  readonly #recent = new LRUCache<string, true>({ max: RECENT_EVENTS });

  constructor(o: AuditWebhookOptions) {
    this.#o = o;
  }

  /** Listens; throws naming the field (`listen: …`, `tls.cert_file: …`) when the address or a certificate is unusable. */
  async start(): Promise<string> {
    const { config } = this.#o;
    const tls = {
      cert: await readTlsFile(config.tls.cert_file, 'tls.cert_file'),
      key: await readTlsFile(config.tls.key_file, 'tls.key_file'),
      ca: config.tls.client_ca_file === undefined ? undefined : await readTlsFile(config.tls.client_ca_file, 'tls.client_ca_file'),
    };
    let server: Server;
    try {
      server = createServer({
        cert: tls.cert, key: tls.key,
        // A client certificate is verified when presented; a request without one may still carry the bearer token.
        ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: false }),
        // The apiserver keeps one connection open between batches (30 s apart by default).
        keepAliveTimeout: 65_000,
        // A client that trickles its request in (slowloris) is cut off instead of holding a connection forever.
        headersTimeout: 10_000,
        requestTimeout: 60_000,
      }, (req, res) => this.#handle(req, res));
      // One per apiserver is the normal load; the cap keeps a flood of connections from exhausting the agent.
      server.maxConnections = MAX_CONNECTIONS;
    } catch (err) {
      throw new Error(`tls: the certificate, key or client CA is not usable PEM (${(err as Error).message})`, { cause: err });
    }
    await listenOn(server, config.listen).catch((err: Error) => {
      throw new Error(`listen ${config.listen}: ${err.message}`, { cause: err });
    });
    server.on('error', (err) => this.#o.logger.error({ source: this.#o.source, err: ioReason(err) }, 'audit webhook server error'));
    this.#server = server;
    const bound = server.address() as { address: string; port: number };
    return `https://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}${config.path}`;
  }

  /**
   * Takes no more requests (new ones get 503, the apiserver retries them); resolves once those received are answered:
   * durable, or past ack_timeout, or cut off by closeConnections() when the stop gives up on them.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#server?.close();
    this.#server?.closeIdleConnections();
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Drops the connections of requests still waiting (their events were not made durable: the apiserver retries). */
  closeConnections(): void {
    this.#server?.closeAllConnections();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const done = this.#serve(req, res).catch((err: unknown) => {
      this.#o.logger.error({ source: this.#o.source, err: String(err) }, 'webhook request failed');
      this.#answer(res, 'unavailable', 503, 'internal error; retry');
    });
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { config } = this.#o;
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (url.pathname !== config.path) return this.#answer(res, 'not_found', 404, `not found; the audit webhook is at ${config.path}`);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return this.#answer(res, 'bad_request', 405, 'only POST');
    }
    if (!(await this.#authenticated(req))) {
      req.resume();
      return this.#answer(res, 'unauthenticated', 401, 'unauthenticated: present the client certificate or bearer token the source is configured with');
    }
    if (this.#stopping) {
      req.resume();
      return this.#answer(res, 'unavailable', 503, 'stopping; retry', true);
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > config.max_body_bytes) {
      req.resume();
      return this.#answer(res, 'too_large', 413, `body of ${declared} bytes is over max_body_bytes (${config.max_body_bytes})`);
    }
    const body = await readBody(req, config.max_body_bytes);
    if (body === undefined) return this.#answer(res, 'too_large', 413, `body is over max_body_bytes (${config.max_body_bytes})`);
    this.#o.metrics.bytesRead(body.length);
    const parsed = eventListLines(body, (key) => this.#recent.has(key));
    if ('problem' in parsed) {
      this.#o.logger.warn({ source: this.#o.source, remote: req.socket.remoteAddress, bytes: body.length, reason: parsed.problem }, 'webhook request refused: not an audit EventList');
      return this.#answer(res, 'bad_request', 400, parsed.problem);
    }
    if (parsed.events === 0) return this.#answer(res, 'ok', 200, '');
    const durable = await this.#submit(parsed.lines);
    if (durable) for (const key of parsed.keys) this.#recent.set(key, true);
    if (!durable) return this.#answer(res, 'unavailable', 503, `events not yet durable after ${config.ack_timeout} ms; retry`, true);
    this.#answer(res, 'ok', 200, '');
  }

  /** Hands the events to the pipeline; true once they are durable in every routed buffer, false after ack_timeout. */
  async #submit(lines: Buffer): Promise<boolean> {
    const { config, source } = this.#o;
    const offset = this.#offset;
    this.#offset += lines.length;
    this.#requests += 1;
    let durable!: () => void;
    const isDurable = new Promise<true>((resolve) => (durable = () => resolve(true)));
    const chunk: SourceChunk = {
      source, fileKey: `webhook:${source}`, path: `${config.path} (request ${this.#requests})`, kind: 'lines',
      offset, data: lines, commitOffset: offset + lines.length, owned: false, onDurable: durable,
    };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), config.ack_timeout)));
    try {
      // Waiting for room in the pipeline counts against the same timeout: a full buffer is answered 503 in time.
      return await Promise.race([this.#o.submit(chunk).then(() => isDurable), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #authenticated(req: IncomingMessage): Promise<boolean> {
    const { config } = this.#o;
    if (config.tls.client_ca_file !== undefined && (req.socket as TLSSocket).authorized) return true;
    if (config.bearer_token !== undefined && this.#o.secrets !== undefined) {
      await this.#o.secrets.refresh();
      const expected = Buffer.from(`Bearer ${this.#o.secrets.get(`sources.${this.#o.source}.bearer_token`)}`);
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
    }
    return config.allow_unauthenticated;
  }

  #answer(res: ServerResponse, result: WebhookResult, status: number, text: string, retryLater = false): void {
    this.#o.metrics.request(result);
    if (res.headersSent || res.destroyed) return;
    if (retryLater) res.setHeader('retry-after', '1');
    res.writeHead(status, { 'content-type': 'text/plain' }).end(text === '' ? '' : `${text}\n`);
  }
}

/** The request body, or undefined as soon as it grows past `max` (the rest is read and dropped, not kept). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size > max) {
        parts.length = 0;
        resolve(undefined);
      } else {
        parts.push(part);
      }
    });
    req.on('end', () => resolve(size > max ? undefined : Buffer.concat(parts, size)));
    req.on('error', reject);
  });
}
