// A fake Loki for sink tests, written from the public push API documentation: a real HTTP server that checks the
// tenant and auth headers, decodes gzip, parses the push JSON, validates entries as Loki's distributor does and keeps
// them per stream (an identical entry sent again is kept once, as Loki does).
import type { IncomingHttpHeaders } from 'node:http';
import { Receiver, type Answer, type ReceivedRequest, type ReceiverOptions } from './receiver.ts';

export interface LokiEntry {
  /** Nanoseconds since the epoch, as sent. */
  ts: string;
  line: string;
}

export interface LokiStream {
  labels: Record<string, string>;
  entries: LokiEntry[];
}

export interface FakeLokiOptions extends Pick<ReceiverOptions, 'tls' | 'port'> {
  /** auth_enabled: a push without X-Scope-OrgID is refused. */
  requireTenant?: boolean;
  /** What a gateway in front of Loki checks. */
  auth?: { basic: { username: string; password: string } } | { bearer: string };
  /** limits_config.max_line_size (default 256KB). */
  maxLineSize?: number;
  /** limits_config.reject_old_samples_max_age (default 168h). */
  rejectOlderThanMs?: number;
  /** unordered_writes (default true, since Loki 2.4): false refuses an entry older than the stream's last. */
  unorderedWrites?: boolean;
  /** server.grpc_server_max_recv_msg_size for pushes (default 4 MiB): larger bodies get 413. */
  maxRecvBytes?: number;
  /** false: count the entries without keeping their lines (the benchmark's backend). Default true. */
  keepLines?: boolean;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Loki's window for unordered writes: an entry may be up to half of max_chunk_age (2h) older than the newest. */
const UNORDERED_WINDOW_NS = 3_600_000_000_000n;
/** creation_grace_period: how far ahead of now an entry may be. */
const GRACE_NS = 600_000_000_000n;

/** Loki's answers are plain text. */
const text = (status: number, body: string): Answer => ({ status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${body}\n` });

/** `{a="x", b="y"}`: how Loki writes a stream's labels in its messages. */
export function labelString(labels: Record<string, string>): string {
  return `{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(', ')}}`;
}

const nsTime = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

export class FakeLoki {
  readonly receiver: Receiver;
  /** By labelString. */
  readonly streams = new Map<string, LokiStream & { newest: bigint; byTs: Map<string, string[]> }>();
  /** X-Scope-OrgID of each push. */
  readonly tenants: Array<string | undefined> = [];
  readonly #opts: FakeLokiOptions;
  #rateLimitNext = 0;
  /** Entries taken, and decoded body bytes of the pushes. */
  entryCount = 0;
  bodyBytes = 0;

  private constructor(receiver: Receiver, opts: FakeLokiOptions) {
    this.receiver = receiver;
    this.#opts = opts;
  }

  static async start(opts: FakeLokiOptions = {}): Promise<FakeLoki> {
    let fake: FakeLoki | undefined;
    const receiver = await Receiver.start({ ...opts, light: opts.keepLines === false, respond: (req) => fake!.handle(req) });
    fake = new FakeLoki(receiver, opts);
    return fake;
  }

  url(): string {
    return this.receiver.url('');
  }

  /** The next `n` pushes are refused with 429, as the ingestion rate limit refuses them. */
  rateLimitNext(n: number): void {
    this.#rateLimitNext = n;
  }

  /** Every entry kept, across streams. */
  entries(): Array<LokiEntry & { labels: Record<string, string> }> {
    return [...this.streams.values()].flatMap((s) => s.entries.map((e) => ({ ...e, labels: s.labels })));
  }

  close(): Promise<void> {
    return this.receiver.close();
  }

  handle(req: ReceivedRequest): Answer {
    if (req.method !== 'POST' || new URL(req.url, 'http://loki').pathname !== '/loki/api/v1/push') return text(404, '404 page not found');
    const denied = this.#authProblem(req.headers);
    if (denied !== undefined) return text(401, denied);
    const tenant = req.headers['x-scope-orgid'] as string | undefined;
    if (this.#opts.requireTenant && !tenant) return text(401, 'no org id');
    if (req.wireBytes > (this.#opts.maxRecvBytes ?? 4 * 1024 * 1024)) return text(413, 'request body too large');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return text(400, 'failed to parse: snappy: corrupt input'); // anything else is read as snappy-compressed protobuf
    }
    if (req.decodeError !== undefined) return text(400, req.decodeError);
    if (this.#rateLimitNext > 0) {
      this.#rateLimitNext -= 1;
      return text(429, `Ingestion rate limit exceeded for user ${tenant ?? 'fake'} (limit: 4194304 bytes/sec) while attempting to ingest lines, reduce log volume or contact your Loki administrator to see if the limit can be increased`);
    }
    this.bodyBytes += req.body.length;
    let push: { streams?: Array<{ stream?: Record<string, unknown>; values?: unknown[] }> };
    try {
      push = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      return text(400, `loghttp.PushRequest: ${(err as Error).message}`);
    }
    if (!Array.isArray(push.streams)) return text(400, 'loghttp.PushRequest.Streams: expected an array');
    this.tenants.push(tenant);
    const problems: string[] = [];
    let total = 0;
    for (const s of push.streams) {
      const labels = s.stream ?? {};
      if (Object.keys(labels).length === 0) return text(400, 'error at least one label pair is required per stream');
      for (const [k, v] of Object.entries(labels)) {
        if (!LABEL_NAME.test(k) || typeof v !== 'string') return text(400, `error parsing labels ${JSON.stringify(labels)}: invalid label ${k}`);
      }
      for (const value of s.values ?? []) {
        total += 1;
        const problem = this.#append(labels as Record<string, string>, value);
        if (problem !== undefined) problems.push(problem);
      }
    }
    if (problems.length === 0) return { status: 204 };
    // Loki keeps what it could take, and lists (the first of) what it could not.
    return text(400, `${problems.slice(0, 10).join('\n')}\nuser '${tenant ?? 'fake'}', total ignored: ${problems.length} out of ${total}`);
  }

  #authProblem(headers: IncomingHttpHeaders): string | undefined {
    const auth = this.#opts.auth;
    if (auth === undefined) return undefined;
    const expected = 'basic' in auth ? `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}` : `Bearer ${auth.bearer}`;
    return headers.authorization === expected ? undefined : 'Unauthorized';
  }

  /** Validates and keeps one entry; returns Loki's reason when it refuses it. */
  #append(labels: Record<string, string>, value: unknown): string | undefined {
    const key = labelString(labels);
    if (!Array.isArray(value) || value.length < 2 || typeof value[0] !== 'string' || !/^\d+$/.test(value[0]) || typeof value[1] !== 'string') {
      return `entry for stream '${key}' is not [ "<unix epoch in nanoseconds>", "<log line>" ]`;
    }
    const [tsText, line] = value as [string, string];
    const ts = BigInt(tsText);
    const maxLine = this.#opts.maxLineSize ?? 256 * 1024;
    if (Buffer.byteLength(line) > maxLine) {
      return `Max entry size '${maxLine}' bytes exceeded for stream '${key}' while adding an entry with length '${Buffer.byteLength(line)}' bytes`;
    }
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const oldest = nowNs - BigInt(this.#opts.rejectOlderThanMs ?? 168 * 3_600_000) * 1_000_000n;
    if (ts < oldest) return `entry for stream '${key}' has timestamp too old: ${nsTime(ts)}, oldest acceptable timestamp is: ${nsTime(oldest)}`;
    if (ts > nowNs + GRACE_NS) return `entry for stream '${key}' has timestamp too new: ${nsTime(ts)}`;
    let stream = this.streams.get(key);
    if (stream === undefined) this.streams.set(key, (stream = { labels, entries: [], newest: 0n, byTs: new Map() }));
    if (this.#opts.keepLines === false) {
      this.entryCount += 1;
      return undefined;
    }
    const sameTime = stream.byTs.get(tsText) ?? [];
    if (sameTime.includes(line)) return undefined; // a duplicate: ignored
    if (this.#opts.unorderedWrites === false ? ts < stream.newest : ts < stream.newest - UNORDERED_WINDOW_NS) {
      return this.#opts.unorderedWrites === false
        ? `entry with timestamp ${nsTime(ts)} ignored, reason: 'entry out of order' for stream: ${key}`
        : `entry too far behind, entry timestamp is: ${nsTime(ts)}, oldest acceptable timestamp is: ${nsTime(stream.newest - UNORDERED_WINDOW_NS)}`;
    }
    stream.entries.push({ ts: tsText, line });
    this.entryCount += 1;
    stream.byTs.set(tsText, [...sameTime, line]);
    if (ts > stream.newest) stream.newest = ts;
    return undefined;
  }
}

// ---- standalone mode (benchmark backend) -------------------------------------------------------

/**
 * `node test/utils/fake-loki.ts [--port 0]`: counts the entries it is sent (any age), prints {"port":P} once
 * listening and {"entries":N,"bytes":B,"requests":R} on SIGTERM.
 */
if (import.meta.main) {
  const k = process.argv.indexOf('--port');
  const loki = await FakeLoki.start({ keepLines: false, rejectOlderThanMs: 100 * 365 * 24 * 3_600_000, port: k > 0 ? Number(process.argv[k + 1]) : 0 });
  process.stdout.write(`${JSON.stringify({ port: loki.receiver.port })}\n`);
  process.once('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ entries: loki.entryCount, bytes: loki.bodyBytes, requests: loki.receiver.requests.length })}\n`);
    process.exit(0);
  });
}
