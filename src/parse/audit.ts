// Parses one kube-apiserver audit log line: the head always, the request/response bodies only when asked for.
import { createHash } from 'node:crypto';
import { objectRefOfURI } from './request-uri.ts';

export interface ObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  apiVersion?: string;
  subresource?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface ResponseStatus {
  code?: number;
  status?: string;
  reason?: string;
  message?: string;
}

/** The fields before the bodies, which most decisions need, plus the two timestamps from the end of the line. */
export interface AuditHead {
  /** `audit.k8s.io/v1` or `v1beta1`; undefined only in hand-made events that leave it out (Falco's test traces). */
  apiVersion: string | undefined;
  level: string;
  auditID: string;
  stage: string;
  requestURI: string;
  verb: string;
  /** `{}` for failed authentication (401). */
  user: UserInfo;
  impersonatedUser: UserInfo | undefined;
  /** X-Forwarded-For entries first, the peer address last. */
  sourceIPs: string[];
  userAgent: string | undefined;
  /** Absent for non-resource URLs. */
  objectRef: ObjectRef | undefined;
  responseStatus: ResponseStatus | undefined;
  requestReceivedTimestamp: string | undefined;
  stageTimestamp: string | undefined;
}

export type ParseResult = { ok: true; event: AuditEvent } | { ok: false; error: string };

const API_VERSIONS = new Set(['audit.k8s.io/v1', 'audit.k8s.io/v1beta1']);

// Top-level keys the apiserver writes before the bodies, in Go's struct order.
const HEAD_KEYS = new Set([
  'kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser',
  'sourceIPs', 'userAgent', 'objectRef', 'responseStatus',
]);
// Top-level keys after the bodies.
const TAIL_KEYS = new Set(['requestReceivedTimestamp', 'stageTimestamp', 'annotations']);

// Every line the apiserver writes starts like this (v1 and v1beta1); anything else takes the full parse.
const CANONICAL_PREFIX = '{"kind":"Event","apiVersion":"audit.k8s.io/v1';
const REQ_KEY = ',"requestObject":';
const RESP_KEY = ',"responseObject":';
const TIME_KEY = ',"requestReceivedTimestamp":';
const TAIL_START = ',"requestReceivedTimestamp":"';

// The apiserver writes every head key (impersonatedUser only when impersonating) in events that have bodies. A head
// without one is unusual enough to take the full parse: the key may stand after a body.
const IMPERSONATED_NEEDLE = 'User":';
// The start of an event among the bodies: a torn line with the next one glued on.
const GLUED_EVENT = /Event","apiVersion":"audit\.k8s\.io\//g;

// Lines shorter than this take one JSON.parse: it costs about what parsing head and tail apart costs.
const MIN_CHEAP_LINE = 1536;
const MIN_BODY_BYTES = 512;

const EMPTY_ANNOTATIONS: Record<string, string> = Object.freeze({}) as Record<string, string>;

type Json = Record<string, any>;

/** One parsed audit line. The head is always there; `full()` parses the whole line on first use. */
export class AuditEvent {
  readonly line: string;
  readonly head: AuditHead;
  /** The event carries a `requestObject` (present and not null). */
  readonly hasRequestObject: boolean;
  /** True when the head was read without parsing the bodies. */
  readonly cheap: boolean;
  #annotations: Record<string, string>;
  #full: Json | undefined;
  #hasResponse: boolean | undefined;
  // Cheap path only: where the bodies start and where the tail starts.
  #bodyAt: number;
  #tailAt: number;

  constructor(
    line: string,
    head: AuditHead,
    annotations: Record<string, string>,
    hasRequestObject: boolean,
    hasResponseObject: boolean | undefined,
    full: Json | undefined,
    bodyAt = -1,
    tailAt = -1,
  ) {
    this.line = line;
    this.head = head;
    this.#annotations = annotations;
    this.hasRequestObject = hasRequestObject;
    this.#hasResponse = hasResponseObject;
    this.#full = full;
    this.cheap = full === undefined;
    this.#bodyAt = bodyAt;
    this.#tailAt = tailAt;
  }

  /**
   * The whole event, parsed once and cached. Throws only when the bodies of a line are damaged in a way that kept
   * the head, the tail and the framing intact (bit rot, not truncation): count the line as malformed then.
   */
  full(): Json {
    if (this.#full === undefined) {
      try {
        this.#full = JSON.parse(this.line) as Json;
      } catch (err) {
        throw new Error(`audit event ${this.head.auditID}: body is not valid JSON (${jsonError(err)})`);
      }
    }
    return this.#full;
  }

  /** The whole event has been parsed (by the full parse of a short or unusual line, or a call of full()). */
  get parsed(): boolean {
    return this.#full !== undefined;
  }

  /** Top-level annotations (`authorization.k8s.io/decision`, `pod-security.kubernetes.io/…`), `{}` when absent. */
  annotations(): Record<string, string> {
    return this.#annotations;
  }

  /** The event carries a `responseObject` (present and not null). */
  get hasResponseObject(): boolean {
    if (this.#hasResponse === undefined) this.#hasResponse = this.#findResponseObject();
    return this.#hasResponse;
  }

  // Cheap path with a requestObject: the top-level responseObject, if any, starts exactly where the requestObject
  // value ends; a candidate is that one when the text before it is one complete JSON value.
  #findResponseObject(): boolean {
    const line = this.line;
    const valueAt = this.#bodyAt + REQ_KEY.length;
    let at = line.indexOf(RESP_KEY, valueAt);
    for (let tries = 0; at !== -1 && at < this.#tailAt; tries++) {
      if (tries === 2) {
        // Many look-alike keys: stop guessing. A damaged line counts as having one (the cautious answer).
        try {
          return this.full().responseObject != null;
        } catch {
          return true;
        }
      }
      try {
        JSON.parse(line.slice(valueAt, at));
        return !line.startsWith('null', at + RESP_KEY.length);
      } catch {
        at = line.indexOf(RESP_KEY, at + 1);
      }
    }
    return false;
  }
}

/** Parses one line (without its newline). Never throws: a line that is not an audit event gets a short reason. */
export function parseAuditLine(line: string): ParseResult {
  if (typeof line !== 'string') return { ok: false, error: 'not JSON: not a string' };
  if (line.startsWith(CANONICAL_PREFIX)) {
    const event = parseCheap(line);
    if (event !== undefined) return { ok: true, event };
  }
  return parseWhole(line);
}

/**
 * The head of an already parsed event, exactly as the cheap path builds it (same fields, same order), or the reason
 * it is not an audit event.
 */
export function headFromFull(obj: unknown): AuditHead | string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return `not an audit event: ${typeName(obj)}`;
  return buildHead(obj as Json, obj as Json);
}

/** Annotations of an already parsed event as `annotations()` returns them, or the reason they are unusable. */
export function annotationsFromFull(obj: Json): Record<string, string> | string {
  return checkAnnotations(obj.annotations);
}

function parseWhole(line: string): ParseResult {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: `not JSON: ${jsonError(err)}` };
  }
  const head = headFromFull(obj);
  if (typeof head === 'string') return { ok: false, error: head };
  const full = obj as Json;
  const annotations = checkAnnotations(full.annotations);
  if (typeof annotations === 'string') return { ok: false, error: annotations };
  const event = new AuditEvent(line, head, annotations, full.requestObject != null, full.responseObject != null, full);
  return { ok: true, event };
}

/**
 * The head is everything before the first top-level body key, the tail everything from the last
 * `,"requestReceivedTimestamp":"`; both are parsed on their own and the bodies between them are skipped.
 *
 * Sound against whatever a client controls (strings, user.extra and annotation keys, whole bodies): inside a JSON
 * string every `"` is escaped, so `,"requestObject":` with its unescaped quotes is always a key. If it is the key of
 * a nested map, `head + "}"` leaves an object open and JSON.parse fails; a tail start inside the annotations map
 * leaves a `}` too many. Only top-level cuts parse, and then head and tail are exactly what a full parse gives.
 * The top-level layout, which only the apiserver writes, is checked where that is cheap: every head key must be in
 * the head (a reordered line takes the full parse) and the tail must hold only tail keys. Not looked for: a
 * duplicate top-level key among the bodies, ambiguous JSON that no apiserver writes.
 * Damage: a truncated line fails the tail parse; a NUL or a glued-on next event among the bodies is looked for;
 * other damage inside a body (a flipped byte) is not seen here, and full() throws on it.
 * Returns undefined whenever unsure; the caller then parses the whole line.
 */
function parseCheap(line: string): AuditEvent | undefined {
  if (line.length < MIN_CHEAP_LINE) return undefined;
  const bodyAt = findBodyStart(line);
  if (bodyAt === -1 || line.startsWith(TIME_KEY, bodyAt)) return undefined; // no bodies
  const tailAt = line.lastIndexOf(TAIL_START);
  if (tailAt - bodyAt < MIN_BODY_BYTES) return undefined;
  const isRequest = line.startsWith(REQ_KEY, bodyAt);
  if (line.startsWith('null', bodyAt + (isRequest ? REQ_KEY.length : RESP_KEY.length))) return undefined;
  const last = line.charCodeAt(tailAt - 1);
  if (last !== 0x7d /* } */ && last !== 0x5d /* ] */) return undefined;
  // Damage the head and tail would not show: a zero-filled block (NUL) or a torn line with the next one glued on.
  if (line.indexOf('\0', bodyAt) !== -1) return undefined;
  GLUED_EVENT.lastIndex = bodyAt;
  const glued = GLUED_EVENT.exec(line);
  if (glued !== null && glued.index < tailAt) return undefined;

  let headObj: Json;
  let tailObj: Json;
  try {
    headObj = JSON.parse(line.slice(0, bodyAt) + '}') as Json;
    tailObj = JSON.parse('{' + line.slice(tailAt + 1)) as Json;
  } catch {
    return undefined;
  }
  let keys = 0;
  for (const k in headObj) {
    if (!HEAD_KEYS.has(k)) return undefined;
    keys++;
  }
  const impersonated = 'impersonatedUser' in headObj;
  if (keys - (impersonated ? 1 : 0) !== HEAD_KEYS.size - 1) return undefined;
  if (!impersonated) {
    const at = line.indexOf(IMPERSONATED_NEEDLE, bodyAt);
    if (at !== -1 && at < tailAt) return undefined; // could be impersonatedUser after a body (or runAsUser: only costs)
  }
  for (const k in tailObj) if (!TAIL_KEYS.has(k)) return undefined;
  // Without annotations in the tail, a reordered line could hold them among the bodies.
  if (tailObj.annotations === undefined) return undefined;
  const head = buildHead(headObj, tailObj);
  if (typeof head === 'string') return undefined; // let the full parse name the problem
  const annotations = checkAnnotations(tailObj.annotations);
  if (typeof annotations === 'string') return undefined;
  return new AuditEvent(line, head, annotations, isRequest, isRequest ? undefined : true, undefined, bodyAt, tailAt);
}

function findBodyStart(line: string): number {
  let at = line.indexOf(',"re', CANONICAL_PREFIX.length);
  while (at !== -1) {
    if (line.startsWith(REQ_KEY, at) || line.startsWith(RESP_KEY, at) || line.startsWith(TIME_KEY, at)) return at;
    at = line.indexOf(',"re', at + 4);
  }
  return -1;
}

// Both paths build the head here, so they agree field for field.
function buildHead(o: Json, times: Json): AuditHead | string {
  if (o.kind !== 'Event') return `not an audit event: kind ${short(o.kind)}`;
  // The apiserver always writes it; hand-made events (most of Falco's traces) leave it out.
  if (o.apiVersion !== undefined && !API_VERSIONS.has(o.apiVersion)) {
    return `not an audit event: apiVersion ${short(o.apiVersion)}`;
  }
  // Trimmed or hand-written events may leave the auditID out too (a request, with its verb or URI, is still there): a
  // hash of the content stands in for it, so the same line read again gets the same id (delivery recognises re-read
  // records by it).
  const request = typeof o.verb === 'string' || typeof o.requestURI === 'string';
  const auditID = o.auditID === undefined && request ? contentAuditID(o) : o.auditID;
  if (typeof auditID !== 'string' || auditID === '') return 'missing auditID';
  // The apiserver always writes the stage; events trimmed by a log pipeline or written by hand may leave it out, and
  // then stand for the request as a whole (one line per request): its completion.
  const stage = o.stage ?? 'ResponseComplete';
  if (typeof stage !== 'string' || stage === '') return 'missing stage';
  try {
    const requestURI = optString(o.requestURI, 'requestURI') ?? '';
    // Without an objectRef, a resource request's URI still names the object (the apiserver omits it for
    // non-resource URLs only, which name none).
    const objectRef = o.objectRef ?? objectRefOfURI(requestURI);
    if (objectRef !== undefined && !isStringRecord(objectRef)) throw new BadField('objectRef');
    const responseStatus = o.responseStatus ?? undefined;
    if (responseStatus !== undefined && (!isObject(responseStatus) || !optNumber(responseStatus.code))) {
      throw new BadField('responseStatus');
    }
    const sourceIPs = o.sourceIPs ?? [];
    if (!isStringArray(sourceIPs)) throw new BadField('sourceIPs');
    return {
      apiVersion: o.apiVersion,
      level: optString(o.level, 'level') ?? '',
      auditID,
      stage,
      requestURI,
      verb: optString(o.verb, 'verb') ?? '',
      user: o.user === undefined ? {} : checkUser(o.user, 'user'),
      impersonatedUser: o.impersonatedUser == null ? undefined : checkUser(o.impersonatedUser, 'impersonatedUser'),
      sourceIPs,
      userAgent: optString(o.userAgent, 'userAgent'),
      objectRef,
      responseStatus,
      requestReceivedTimestamp: optString(times.requestReceivedTimestamp, 'requestReceivedTimestamp'),
      stageTimestamp: optString(times.stageTimestamp, 'stageTimestamp'),
    };
  } catch (err) {
    if (err instanceof BadField) return `bad ${err.field}`;
    throw err;
  }
}

/** A stable stand-in auditID for an event without one: `content-` and the start of the SHA-256 of its JSON. */
function contentAuditID(o: Json): string {
  return `content-${createHash('sha256').update(JSON.stringify(o)).digest('hex').slice(0, 32)}`;
}

// Thrown inside buildHead only, for a field of the wrong type (never in anything the apiserver writes).
class BadField extends Error {
  readonly field: string;
  constructor(field: string) {
    super(field);
    this.field = field;
  }
}

function optString(v: unknown, name: string): string | undefined {
  if (v == null) return undefined;
  if (typeof v !== 'string') throw new BadField(name);
  return v;
}

function optNumber(v: unknown): boolean {
  return v == null || typeof v === 'number';
}

function checkUser(v: unknown, name: string): UserInfo {
  if (!isObject(v)) throw new BadField(name);
  if (v.username != null && typeof v.username !== 'string') throw new BadField(`${name}.username`);
  if (v.uid != null && typeof v.uid !== 'string') throw new BadField(`${name}.uid`);
  if (v.groups != null && !isStringArray(v.groups)) throw new BadField(`${name}.groups`);
  if (v.extra != null) {
    if (!isObject(v.extra)) throw new BadField(`${name}.extra`);
    for (const k in v.extra) if (!isStringArray(v.extra[k])) throw new BadField(`${name}.extra`);
  }
  return v as UserInfo;
}

function checkAnnotations(v: unknown): Record<string, string> | string {
  if (v == null) return EMPTY_ANNOTATIONS;
  if (!isStringRecord(v)) return 'bad annotations: expected an object of strings';
  return v as Record<string, string>;
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (const s of v) if (typeof s !== 'string') return false;
  return true;
}

function isStringRecord(v: unknown): boolean {
  if (!isObject(v)) return false;
  for (const k in v) if (typeof v[k] !== 'string') return false;
  return true;
}

function typeName(v: unknown): string {
  if (v === null) return 'JSON null';
  if (Array.isArray(v)) return 'JSON array';
  return `JSON ${typeof v}`;
}

function short(v: unknown): string {
  const s = v === undefined ? 'missing' : JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

// V8 quotes the input in some messages; a log line should not carry pieces of a request body.
function jsonError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/,\s.*\bis not valid JSON$/s, '');
}
