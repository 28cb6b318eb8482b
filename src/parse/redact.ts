// Blanks credentials (Secret values, issued tokens, configured paths, patterns) in audit events before anything is forwarded.
import type { PatternsConfig, RedactionConfig } from '../config/schema.ts';
import type { AuditEvent, ObjectRef } from './audit.ts';
import { walkJson } from './json-walk.ts';
import { compilePatterns, REDACTED_PREFIX } from './patterns.ts';

export { REDACTED_PREFIX };
/** Replaces each value of a Secret's `data` / `stringData` (the keys stay: which keys changed is evidence). */
export const SECRET_MARKER = '[redacted: secret value]';
/** Replaces kubectl's `last-applied-configuration` annotation of a Secret, which holds a copy of its data. */
export const LAST_APPLIED_MARKER = '[redacted: secret last-applied-configuration]';
/** Replaces the `value` of each operation of a JSON patch to a Secret. */
export const PATCH_VALUE_MARKER = '[redacted: secret patch value]';
/** Replaces an issued or reviewed token (TokenRequest `status.token`, TokenReview `spec.token`). */
export const TOKEN_MARKER = '[redacted: token]';
/** Replaces the value at a configured path; names the path. */
export function pathMarker(path: string): string {
  return `${REDACTED_PREFIX}${path}]`;
}

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export interface Redactor {
  /**
   * The line to forward instead of `event.line` when something was blanked; undefined when nothing needs to change
   * (the common case, decided without parsing the bodies). Runs once the rules have matched the event as written:
   * bodies are blanked in the event's parsed form (walking what the rules parsed), the head on a copy. Throws only
   * if `event.full()` does (a damaged line): such an event must not be forwarded.
   */
  redact(event: AuditEvent): string | undefined;
}

type Json = Record<string, any>;

interface Step {
  key: string;
  each: boolean;
}

interface CompiledPath {
  path: string;
  marker: string;
  steps: Step[];
  /** `lastKey"`, in every line that holds the path (no leading quote: a rarer first character searches faster). */
  needle: string;
  /** The path starts in requestObject / responseObject: events without bodies cannot hold it. */
  inBody: boolean;
}

// Lines that may hold a Secret / SecretList or a TokenRequest / TokenReview object. A short substring with a first
// character rare in JSON is searched first (fast); the pattern then drops look-alikes such as `imagePullSecrets`
// and `serviceAccountToken`, which are in most pod bodies.
const SECRET_NEEDLE = 'Secret';
const SECRET_KIND = /"Secret(?:List)?"/;
const TOKEN_NEEDLE = 'kenRe';
const TOKEN_KIND = /"Token(?:Request|Review)"/;

const PATH_SEGMENT = /^([A-Za-z0-9_$-]+)(\[\*\])?$/;

/** The redaction settings; without `patterns`, the patterns' defaults. */
export type RedactionSettings = Omit<RedactionConfig, 'patterns'> & { patterns?: PatternsConfig };

/** Compiles the redaction settings once at start-up; throws on a malformed path. */
export function compileRedaction(cfg: RedactionSettings): Redactor {
  const paths = cfg.paths.map(compilePath);
  const secrets = cfg.secrets;
  const tokens = cfg.token_requests;
  const patterns = compilePatterns(cfg.patterns);
  if (!secrets && !tokens && paths.length === 0 && patterns === undefined) return { redact: () => undefined };
  const pathsOutsideBodies = paths.some((p) => !p.inBody);

  return {
    redact(event: AuditEvent): string | undefined {
      // The requestURI is decided on the head (an exec command line, a token in the query): no parse for it.
      const headUri = event.head.requestURI;
      const blankedUri = patterns !== undefined && patterns.uriMayHold(headUri) ? patterns.redactUri(headUri) : headUri;
      const uri = blankedUri !== headUri;
      const bodies = event.hasRequestObject || event.hasResponseObject;
      if (!bodies && !pathsOutsideBodies && !uri) return undefined;
      const line = event.line;
      const ref = event.head.objectRef;
      // Go never escapes letters; a line that does (a raw patch body) could spell a kind or key past the searches.
      const escaped = hasEscapedLetter(line);
      const secretSuspect = bodies && secrets && (escaped || ref?.resource === 'secrets' || mayHold(line, SECRET_NEEDLE, SECRET_KIND));
      const tokenSuspect = bodies && tokens && (escaped || isTokenRef(ref) || mayHold(line, TOKEN_NEEDLE, TOKEN_KIND));
      // Bodies of control-plane bookkeeping (leases, kubelets' status patches, …: most of a busy apiserver's writes)
      // are not scanned, and the others only when their text may hold what a pattern recognises.
      const skip = bodies && patterns !== undefined ? patterns.skips(ref?.resource, ref?.subresource) : 'both';
      // Bodies already parsed (by the rules) are walked; the text of others is searched first, which costs less than
      // parsing them.
      const scan = (skip === undefined || (skip === 'request' && event.head.level === 'RequestResponse' && event.hasResponseObject)) &&
        (escaped || event.parsed || patterns!.mayHold(line));
      const suspect = secretSuspect || tokenSuspect || scan || uri || paths.some((p) => (bodies || !p.inBody) && line.includes(p.needle));
      if (!suspect) return undefined;

      const full = event.full();
      let changed = false;
      if (secretSuspect || tokenSuspect) {
        for (const key of ['requestObject', 'responseObject']) {
          const body = full[key];
          if (body == null) continue;
          if (secretSuspect && ref?.resource === 'secrets') changed = redactSecretBody(full, key) || changed;
          if (tokenSuspect && isTokenRef(ref)) changed = redactTokenBody(body, ref!) || changed;
          if (typeof body === 'object') changed = walk(body, secretSuspect, tokenSuspect) || changed;
        }
      }
      let out = full;
      for (const p of paths) {
        if (p.inBody) {
          changed = applyPath(full, p, 0) || changed;
          continue;
        }
        // Outside the bodies, blank a copy: the head that detection reads (user, sourceIPs, …) keeps its values.
        const top = p.steps[0].key;
        if (!Object.hasOwn(full, top)) continue;
        if (out === full) out = { ...full };
        if (out[top] === full[top]) out[top] = structuredClone(full[top]);
        changed = applyPath(out, p, 0) || changed;
      }
      if (scan) {
        for (const key of skip === 'request' ? ['responseObject'] : ['requestObject', 'responseObject']) {
          if (full[key] !== null && typeof full[key] === 'object') changed = patterns!.redactBody(full[key]) || changed;
        }
      }
      // Unless a configured path blanked it already.
      if (uri && out.requestURI === headUri) {
        if (out === full) out = { ...full };
        out.requestURI = blankedUri;
        changed = true;
      }
      return changed ? JSON.stringify(out) : undefined;
    },
  };
}

function compilePath(path: string): CompiledPath {
  const steps = path.split('.').map((seg) => {
    const m = PATH_SEGMENT.exec(seg);
    if (m === null) throw new Error(`redaction path ${JSON.stringify(path)}: bad segment ${JSON.stringify(seg)}`);
    return { key: m[1], each: m[2] !== undefined };
  });
  const first = steps[0].key;
  return {
    path,
    marker: pathMarker(path),
    steps,
    needle: `${steps[steps.length - 1].key}"`,
    inBody: first === 'requestObject' || first === 'responseObject',
  };
}

function mayHold(line: string, needle: string, kind: RegExp): boolean {
  return line.includes(needle) && kind.test(line);
}

/**
 * Go never escapes letters, so `\u0061`-style escapes only come from raw patch bodies a client wrote (the apiserver
 * logs patches as sent). There a kind or key could be spelled so that the substring checks miss it: parse such lines.
 */
function hasEscapedLetter(line: string): boolean {
  let at = line.indexOf('\\u00');
  while (at !== -1) {
    const c = line.charCodeAt(at + 4);
    if (c >= 0x34 /* 4 */ && c <= 0x37 /* 7 */) return true;
    at = line.indexOf('\\u00', at + 4);
  }
  return false;
}

function isTokenRef(ref: ObjectRef | undefined): boolean {
  if (ref === undefined) return false;
  return (ref.resource === 'serviceaccounts' && ref.subresource === 'token') || ref.resource === 'tokenreviews';
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Null and '' hide nothing and stay. Assigning to an existing own key (even `__proto__`, which JSON.parse makes an
// own property) never reaches a setter.
function replace(obj: Json, key: string, marker: string): boolean {
  if (!Object.hasOwn(obj, key) || !hides(obj[key], marker)) return false;
  obj[key] = marker;
  return true;
}

function hides(v: unknown, marker: string): boolean {
  return v != null && v !== '' && v !== marker;
}

/** Every value of a map to the marker, keys kept; anything else that is not null as a whole. */
function blankValues(parent: Json, key: string, marker: string): boolean {
  if (!Object.hasOwn(parent, key)) return false;
  const map = parent[key];
  if (!isObject(map)) return replace(parent, key, marker);
  let changed = false;
  for (const k of Object.keys(map)) changed = replace(map, k, marker) || changed;
  return changed;
}

function redactSecret(secret: Json): boolean {
  let changed = blankValues(secret, 'data', SECRET_MARKER);
  changed = blankValues(secret, 'stringData', SECRET_MARKER) || changed;
  const annotations = secret.metadata?.annotations;
  if (isObject(annotations)) changed = replace(annotations, LAST_APPLIED, LAST_APPLIED_MARKER) || changed;
  return changed;
}

/**
 * A body of a request on `secrets`, whatever its form: patches carry only the delta and no `kind` (merge and
 * strategic-merge patches: `data`, `stringData`, the last-applied annotation; JSON patches: an array of operations).
 */
function redactSecretBody(full: Json, key: string): boolean {
  const body = full[key];
  if (Array.isArray(body)) {
    let changed = false;
    for (const op of body) {
      if (!isObject(op) || !Object.hasOwn(op, 'value')) continue;
      // `{"op":"add","path":"/data","value":{…}}` keeps its keys; every other value goes whole.
      const blanked = isObject(op.value)
        ? blankValues(op, 'value', PATCH_VALUE_MARKER)
        : replace(op, 'value', PATCH_VALUE_MARKER);
      changed = blanked || changed;
    }
    return changed;
  }
  if (isObject(body)) return redactSecret(body);
  // A body the apiserver could only log as text (a YAML patch): no way to keep the keys.
  return replace(full, key, SECRET_MARKER);
}

function redactTokenBody(body: unknown, ref: ObjectRef): boolean {
  if (!isObject(body)) return false;
  if (ref.resource === 'tokenreviews') return isObject(body.spec) && replace(body.spec, 'token', TOKEN_MARKER);
  return isObject(body.status) && replace(body.status, 'token', TOKEN_MARKER);
}

/**
 * Finds Secrets, SecretLists, TokenRequests and TokenReviews at any depth (a v1 List, a Table with objects, a
 * custom resource embedding one). Iterative: a deeply nested body cannot overflow the stack.
 */
function walk(root: object, secrets: boolean, tokens: boolean): boolean {
  let changed = false;
  walkJson(root, (node) => {
    if (Array.isArray(node)) return true;
    const kind = node.kind;
    if (secrets && kind === 'Secret') {
      changed = redactSecret(node) || changed;
      return false;
    }
    if (secrets && kind === 'SecretList' && Array.isArray(node.items)) {
      // List items carry no kind of their own.
      for (const item of node.items) if (isObject(item)) changed = redactSecret(item) || changed;
    }
    if (tokens && kind === 'TokenRequest' && isObject(node.status)) {
      changed = replace(node.status, 'token', TOKEN_MARKER) || changed;
    }
    if (tokens && kind === 'TokenReview' && isObject(node.spec)) {
      changed = replace(node.spec, 'token', TOKEN_MARKER) || changed;
    }
    return true;
  });
  return changed;
}

function applyPath(node: unknown, p: CompiledPath, i: number): boolean {
  if (!isObject(node)) return false;
  const { key, each } = p.steps[i];
  if (!Object.hasOwn(node, key)) return false;
  const last = i === p.steps.length - 1;
  if (!each) return last ? replace(node, key, p.marker) : applyPath(node[key], p, i + 1);
  const list = node[key];
  if (!Array.isArray(list)) return false;
  let changed = false;
  for (let j = 0; j < list.length; j++) {
    if (last) {
      if (hides(list[j], p.marker)) {
        list[j] = p.marker;
        changed = true;
      }
    } else {
      changed = applyPath(list[j], p, i + 1) || changed;
    }
  }
  return changed;
}
