// A fake Elasticsearch for sink tests, written from the public _bulk API documentation: a real HTTP server that
// checks auth, decodes gzip, parses the bulk NDJSON, keeps documents by _index/_id and answers per item as ES does.
import type { IncomingHttpHeaders } from 'node:http';
import { Receiver, type Answer, type ReceivedRequest, type ReceiverOptions } from './receiver.ts';

export type FakeEsAuth =
  | { basic: { username: string; password: string } }
  | { apiKey: string }
  | { bearer: string };

export interface StoredDoc {
  source: Record<string, unknown>;
  version: number;
}

/** One bulk action as it arrived. */
export interface BulkAction {
  op: string;
  index: string;
  id: string | undefined;
  status: number;
  errorType?: string;
}

export interface FakeEsOptions extends Pick<ReceiverOptions, 'tls' | 'port'> {
  auth?: FakeEsAuth;
  /** http.max_content_length: larger bodies get 413 (default 100mb, as in ES). */
  maxContentLength?: number;
  /** false: keep only the ids, without parsing or mapping the documents (the benchmark's backend). Default true. */
  keepSources?: boolean;
}

type FieldType = 'object' | 'long' | 'double' | 'text' | 'boolean';

const JSON_TYPES = /^application\/(json|x-ndjson|vnd\.elasticsearch\+(json|x-ndjson))\b/;
const ID_MAX_BYTES = 512;

/** ES's answer to a failed request: `{"error":{"root_cause":[…],"type","reason"},"status"}`. */
function errorAnswer(status: number, type: string, reason: string, headers: Record<string, string> = {}): Answer {
  const error = { type, reason };
  return { status, headers: { ...PRODUCT, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ error: { root_cause: [error], ...error }, status }) };
}

/** ES 7.14+ names itself in every answer; the official clients refuse to talk to a server that does not. */
const PRODUCT = { 'x-elastic-product': 'Elasticsearch' };

export class FakeElasticsearch {
  readonly receiver: Receiver;
  /** index → id → document. */
  readonly indices = new Map<string, Map<string, StoredDoc>>();
  /** Every bulk action answered, in order. */
  readonly actions: BulkAction[] = [];
  /** The query parameters of each bulk request (pipeline, refresh, …). */
  readonly queries: URLSearchParams[] = [];
  readonly #auth: FakeEsAuth | undefined;
  readonly #maxContentLength: number;
  readonly #keepSources: boolean;
  /** Dynamic mappings: index → field path → type, as the first document that had the field set them. */
  readonly #mappings = new Map<string, Map<string, FieldType>>();
  /** Documents answered 429 es_rejected_execution_exception before they are taken (a full write queue). */
  #rejectNextDocs = 0;
  /** Decoded body bytes of the bulk requests taken. */
  bodyBytes = 0;
  #seqNo = 0;

  private constructor(receiver: Receiver, opts: FakeEsOptions) {
    this.receiver = receiver;
    this.#auth = opts.auth;
    this.#maxContentLength = opts.maxContentLength ?? 100 * 1024 * 1024;
    this.#keepSources = opts.keepSources ?? true;
  }

  static async start(opts: FakeEsOptions = {}): Promise<FakeElasticsearch> {
    let fake: FakeElasticsearch | undefined;
    const receiver = await Receiver.start({ ...opts, light: opts.keepSources === false, respond: (req) => fake!.handle(req) });
    fake = new FakeElasticsearch(receiver, opts);
    return fake;
  }

  url(): string {
    return this.receiver.url('');
  }

  /** The next `n` documents are refused with 429, as a node whose write thread pool queue is full refuses them. */
  rejectNextDocuments(n: number): void {
    this.#rejectNextDocs = n;
  }

  /** Sets a field's type in an index's mapping, as an explicit mapping would. */
  map(index: string, field: string, type: FieldType): void {
    this.#mapping(index).set(field, type);
  }

  docs(index: string): Map<string, StoredDoc> {
    return this.indices.get(index) ?? new Map();
  }

  /** Every stored document, across indices. */
  allDocs(): StoredDoc[] {
    return [...this.indices.values()].flatMap((m) => [...m.values()]);
  }

  close(): Promise<void> {
    return this.receiver.close();
  }

  #mapping(index: string): Map<string, FieldType> {
    let m = this.#mappings.get(index);
    if (m === undefined) this.#mappings.set(index, (m = new Map()));
    return m;
  }

  handle(req: ReceivedRequest): Answer {
    const denied = this.#authProblem(req.headers);
    if (denied !== undefined) {
      return errorAnswer(401, 'security_exception', `${denied} for REST request [${req.url}]`, { 'www-authenticate': 'Basic realm="security", charset="UTF-8", ApiKey' });
    }
    const url = new URL(req.url, 'http://es');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const bulk = parts.at(-1) === '_bulk' && parts.length <= 2;
    if (!bulk || (req.method !== 'POST' && req.method !== 'PUT')) {
      return errorAnswer(405, 'illegal_argument_exception', `Incorrect HTTP method for uri [${req.url}] and method [${req.method}]`);
    }
    if (req.wireBytes > this.#maxContentLength) return { status: 413, headers: PRODUCT, body: '' };
    if (!JSON_TYPES.test(String(req.headers['content-type'] ?? ''))) {
      return errorAnswer(406, 'media_type_header_exception', `Content-Type header [${req.headers['content-type']}] is not supported`);
    }
    if (req.decodeError !== undefined) return errorAnswer(400, 'parse_exception', req.decodeError);
    const text = req.body.toString('utf8');
    this.bodyBytes += req.body.length;
    if (!text.endsWith('\n')) return errorAnswer(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]');
    this.queries.push(url.searchParams);
    const defaultIndex = parts.length === 2 ? decodeURIComponent(parts[0]) : undefined;
    const lines = text.split('\n').slice(0, -1);
    const items: Array<Record<string, unknown>> = [];
    let errors = false;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      let action: Record<string, { _index?: string; _id?: string; version?: number; version_type?: string }>;
      try {
        action = JSON.parse(lines[i]);
      } catch {
        return errorAnswer(400, 'x_content_parse_exception', `[1:1] Malformed action/metadata line [${i + 1}], expected START_OBJECT`);
      }
      const op = Object.keys(action)[0];
      if (!['index', 'create', 'delete'].includes(op) || Object.keys(action).length !== 1) {
        return errorAnswer(400, 'illegal_argument_exception', `Malformed action/metadata line [${i + 1}], expected one of [create, delete, index, update] but found [${op}]`);
      }
      const meta = action[op];
      const index = meta._index ?? defaultIndex;
      if (index === undefined) return errorAnswer(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;');
      const source = op === 'delete' ? undefined : lines[++i];
      if (op !== 'delete' && source === undefined) return errorAnswer(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]');
      const result = this.#apply(op, index, meta._id, source, meta.version_type === undefined ? undefined : { version: meta.version, type: meta.version_type });
      if (this.#keepSources) this.actions.push({ op, index, id: meta._id, status: result.status, errorType: (result.error as { type?: string } | undefined)?.type });
      if (result.error !== undefined) errors = true;
      items.push({ [op]: { _index: index, _id: meta._id, ...result } });
    }
    return { status: 200, headers: { ...PRODUCT, 'content-type': 'application/json' }, body: JSON.stringify({ took: 1, errors, items }) };
  }

  #authProblem(headers: IncomingHttpHeaders): string | undefined {
    const auth = this.#auth;
    if (auth === undefined) return undefined;
    const given = headers.authorization;
    if (given === undefined) return 'missing authentication credentials';
    const expected = 'basic' in auth
      ? `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}`
      : 'apiKey' in auth ? `ApiKey ${auth.apiKey}` : `Bearer ${auth.bearer}`;
    return given === expected ? undefined : 'unable to authenticate user';
  }

  #apply(op: string, index: string, id: string | undefined, sourceText: string | undefined, versioning?: { version?: number; type: string }): { status: number; error?: unknown; result?: string; _version?: number; _seq_no?: number } {
    const fail = (status: number, type: string, reason: string) => ({ status, error: { type, reason, index } });
    if (/[\\/*?"<>| ,#:A-Z]/.test(index) || /^[-_+]/.test(index)) {
      return fail(400, 'invalid_index_name_exception', `Invalid index name [${index}], must be lowercase and not contain the characters \\, /, *, ?, ", <, >, |, ' ', ',', #, :`);
    }
    if (id !== undefined && Buffer.byteLength(id) > ID_MAX_BYTES) {
      return fail(400, 'illegal_argument_exception', `id [${id}] is too long, must be no longer than 512 bytes but was: ${Buffer.byteLength(id)}`);
    }
    if (this.#rejectNextDocs > 0) {
      this.#rejectNextDocs -= 1;
      return fail(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation [shard_detail=[…], coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]');
    }
    const docs = this.indices.get(index) ?? new Map<string, StoredDoc>();
    const docId = id ?? `auto-${this.#seqNo}`;
    const existing = docs.get(docId);
    if (op === 'delete') {
      if (existing === undefined) return { status: 404, result: 'not_found' };
      docs.delete(docId);
      return { status: 200, result: 'deleted', _version: existing.version + 1, _seq_no: this.#seqNo++ };
    }
    if (versioning !== undefined) {
      // External versions (the caller's own numbering): `external` takes a higher version, `external_gte` an equal one too.
      if (!['external', 'external_gte'].includes(versioning.type) || !Number.isInteger(versioning.version) || versioning.version! < 0) {
        return fail(400, 'action_request_validation_exception', `Validation Failed: 1: illegal version value [${versioning.version}] for version type [${versioning.type}];`);
      }
      const current = existing?.version;
      if (current !== undefined && (versioning.type === 'external' ? versioning.version! <= current : versioning.version! < current)) {
        return fail(409, 'version_conflict_engine_exception', `[${docId}]: version conflict, current version [${current}] is higher or equal to the one provided [${versioning.version}]`);
      }
    }
    if (op === 'create' && existing !== undefined) {
      return fail(409, 'version_conflict_engine_exception', `[${docId}]: version conflict, document already exists (current version [${existing.version}])`);
    }
    if (!this.#keepSources) {
      docs.set(docId, { source: {}, version: (existing?.version ?? 0) + 1 });
      this.indices.set(index, docs);
      return { status: existing ? 200 : 201 };
    }
    let source: unknown;
    try {
      source = JSON.parse(sourceText!);
    } catch (err) {
      return fail(400, 'document_parsing_exception', `[1:1] failed to parse: ${(err as Error).message}`);
    }
    if (source === null || typeof source !== 'object' || Array.isArray(source)) {
      return fail(400, 'document_parsing_exception', '[1:1] failed to parse: the document is not a JSON object');
    }
    const conflict = this.#mapFields(index, source as Record<string, unknown>, '');
    if (conflict !== undefined) return fail(400, 'document_parsing_exception', `[1:1] failed to parse field [${conflict.field}] of type [${conflict.type}] in document with id '${docId}'. Preview of field's value: '${conflict.value}'`);
    const version = versioning?.version ?? (existing?.version ?? 0) + 1;
    docs.set(docId, { source: source as Record<string, unknown>, version });
    this.indices.set(index, docs);
    return { status: existing ? 200 : 201, result: existing ? 'updated' : 'created', _version: version, _seq_no: this.#seqNo++ };
  }

  /** Dynamic mapping: new fields take the type of their first value; a value the type cannot take fails the document. */
  #mapFields(index: string, obj: Record<string, unknown>, prefix: string): { field: string; type: FieldType; value: string } | undefined {
    const mapping = this.#mapping(index);
    const added: string[] = [];
    const walk = (o: Record<string, unknown>, at: string): { field: string; type: FieldType; value: string } | undefined => {
      for (const [k, v] of Object.entries(o)) {
        if (v === null) continue;
        const field = at === '' ? k : `${at}.${k}`;
        const values = Array.isArray(v) ? v : [v];
        for (const value of values) {
          if (value === null) continue;
          const type = typeOf(value);
          const known = mapping.get(field);
          if (known === undefined) {
            mapping.set(field, type);
            added.push(field);
          } else if (!accepts(known, value)) {
            return { field, type: known, value: JSON.stringify(value).slice(0, 40) };
          }
          if (type === 'object') {
            const inner = walk(value as Record<string, unknown>, field);
            if (inner !== undefined) return inner;
          }
        }
      }
      return undefined;
    };
    const conflict = walk(obj, prefix);
    // A failed document leaves the mapping as it was.
    if (conflict !== undefined) for (const f of added) mapping.delete(f);
    return conflict;
  }
}

function typeOf(v: unknown): FieldType {
  if (typeof v === 'object') return 'object';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'long' : 'double';
  return 'text';
}

/** Whether a field of this type takes the value (ES coerces numeric strings into numbers, and scalars into text). */
function accepts(type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'object': return typeof v === 'object';
    case 'text': return typeof v !== 'object';
    case 'boolean': return typeof v === 'boolean' || v === 'true' || v === 'false';
    case 'long': case 'double': return typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));
  }
}

// ---- standalone mode (benchmark backend) -------------------------------------------------------

/**
 * `node test/utils/fake-elasticsearch.ts [--port 0]`: keeps only the ids of what it is sent, prints {"port":P} once
 * listening and {"documents":N,"bytes":B,"requests":R} on SIGTERM.
 */
if (import.meta.main) {
  const k = process.argv.indexOf('--port');
  const es = await FakeElasticsearch.start({ keepSources: false, port: k > 0 ? Number(process.argv[k + 1]) : 0 });
  process.stdout.write(`${JSON.stringify({ port: es.receiver.port })}\n`);
  process.once('SIGTERM', () => {
    const documents = [...es.indices.values()].reduce((n, m) => n + m.size, 0);
    process.stdout.write(`${JSON.stringify({ documents, bytes: es.bodyBytes, requests: es.receiver.requests.length })}\n`);
    process.exit(0);
  });
}
