// Credentials recognised by shape outside Secrets: values under credential-like names, and values that look like one.
import type { PatternsConfig } from '../config/schema.ts';
import { walkJson } from './json-walk.ts';

/** Every marker starts with this, so a consumer can tell a blanked value from a real one. */
export const REDACTED_PREFIX = '[redacted: ';
/** Replaces a value a pattern recognised; names the pattern. */
export function patternMarker(name: string): string {
  return `${REDACTED_PREFIX}${name}]`;
}

/**
 * Key-name patterns (case-insensitive, at the end of the name). `endings`: the last two (or four) letters of every
 * name the pattern matches, a cheap test that spares the regular expression most names (`name`, `image`, `kind`,
 * `resourceVersion`, …).
 */
export const KEY_PATTERNS: Record<string, { regex: string; endings: string[] }> = {
  password: { regex: 'pass(?:word|wd|phrase)|pwd', endings: ['rd', 'wd', 'se'] },
  secret: { regex: 'secret(?:[-_.]?key)?', endings: ['et', 'ey'] },
  token: { regex: 'tokens?', endings: ['en', 'ns'] },
  api_key: { regex: 'api[-_.]?key', endings: ['ey'] },
  access_key: { regex: 'access[-_.]?key', endings: ['ey'] },
  /** Also a kubeconfig's `client-key-data` (the base64 of a PEM private key, kept in ConfigMaps too). */
  private_key: { regex: 'private[-_.]?key|client[-_.]?key[-_.]?data', endings: ['ey', 'ta'] },
  credentials: { regex: 'credentials?', endings: ['al', 'ls'] },
  authorization: { regex: 'authorization', endings: ['tion'] },
};

/**
 * Value patterns: what is blanked is the first group when the pattern has one (the scheme, the key's armour and the
 * user name stay: they say what was there), else the whole match. `core`: words every match contains, searched
 * for first; `needle`: a looser pattern tried where a core is found, so that most strings and lines are spared the
 * scan (`containerd://…` and plain URLs).
 */
export const VALUE_PATTERNS: Record<string, { regex: string; flags: string; core: string; needle: string }> = {
  /** Authorization header values: `Bearer <token>`, `Basic <base64 user:password>`. */
  bearer: { regex: '\\b(?:Bearer|Basic)[ \\t]+([A-Za-z0-9._~+/-]{8,}=*)', flags: 'i', core: 'bearer|basic', needle: '(?:bearer|basic)[ \\t]' },
  /** JSON Web Tokens (service account tokens, OIDC tokens): three base64url parts, the first two JSON objects. */
  jwt: { regex: 'eyJ[A-Za-z0-9_-]{4,}\\.eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*', flags: '', core: 'eyJ', needle: 'eyJ' },
  /** PEM private keys: the armour lines stay, the key between them goes (to the end when the END line is missing). */
  pem_private_key: { regex: '-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----([\\s\\S]*?)(?=-----END [A-Z0-9 ]*PRIVATE KEY-----|$)', flags: '', core: 'PRIVATE KEY', needle: 'PRIVATE KEY' },
  /** The password of a URL's user information: `postgres://app:<password>@db:5432`. */
  url_password: { regex: '[A-Za-z][A-Za-z0-9+.-]*://[^\\s/:@"\'\\\\]*:([^\\s/@"\'\\\\]+)@', flags: '', core: '://', needle: '://[^/\\s@]*@' },
  /** MySQL's `-p<password>` on a command line that runs a MySQL client (also a JSON argument list). */
  mysql_password: { regex: '\\b(?:mysql|mariadb|mysqldump|mysqladmin)\\b[^\\n;|&]*?(?:[ \\t]|\\\\*",[ \\t]*\\\\*")-p([^\\s"\'\\\\]+)', flags: '', core: 'mysql|mariadb', needle: '(?:mysql|mariadb)[^\\n]*[ \\t"]-p' },
};

/**
 * Not scanned by default: bodies of a fixed shape with no place for a credential (control-plane bookkeeping, RBAC,
 * access reviews: most of a busy apiserver's writes), and the request bodies of writes to subresources that carry
 * only their own part (the kubelet's status patches, bindings, evictions, scale). Not the status writes of
 * workloads: a controller sends the whole object, pod template and env included.
 */
export const DEFAULT_SKIP = [
  'leases', 'endpointslices', 'endpoints', 'events', 'nodes', 'namespaces', 'serviceaccounts',
  'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings',
  'subjectaccessreviews', 'selfsubjectaccessreviews', 'localsubjectaccessreviews', 'selfsubjectrulesreviews',
  'pods/status', 'pods/binding', 'pods/eviction', 'deployments/scale', 'replicasets/scale', 'statefulsets/scale',
];

/** The reason a custom pattern's text is refused, or undefined (used by the config schema). */
export function badPattern(source: string): string | undefined {
  try {
    new RegExp(source, 'i');
  } catch (err) {
    return `not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
  return undefined;
}

type Json = Record<string, any>;

interface ValueRule {
  name: string;
  re: RegExp;
  marker: string;
}

// `name: value`, `name=value`, `"name":"value"` (also with escaped quotes, as in JSON held in a JSON string), the
// space-separated `--name value` of command lines, and `"--name","value"` of an argument list written as JSON. The
// value itself is read by valueSpan().
const ASSIGNMENT = /(\\*)(["']?)([A-Za-z_][\w.-]*)\1\2[ \t]*([:=])[ \t]*|(?:^|[\s"'])--?([A-Za-z][\w.-]*)[ \t]+(?=[^\s-])|(\\*)"--?([A-Za-z][\w.-]*)\6",[ \t]*(?=\\*")/g;
// mayHold()'s contexts around a word of a key pattern: after it, before it.
const ASSIGNED = /[\w.-]*\\*["']?[ \t]*[:=][ \t]*(?!\{)/y;
const FLAG_END = /[\w.-]*(?:[ \t]|\\*",)/y;
const PAIR_NAME = /(?:name|key)\\*["']?[ \t]*[:=][ \t]*\\*["']?$/i;
const NAME_CHAR = /[\w.-]/;
/** A flag that takes the next argument as its value: `--password`, `-token`. */
const FLAG = /^--?([A-Za-z][\w.-]*)$/;
const COMMAND_PARAM = /([?&])command=([^&#]*)/g;
const MYSQL_CLIENT = /(?:^|\/)(?:mysql|mariadb|mysqldump|mysqladmin)$/;
/** How far apart `name: X` and `value: Y` may be to count as one item in text. */
const PAIR_REACH = 200;
/** What starts or ends an item between a name and a value: a brace, or a YAML list dash at the start of a line. */
const ITEM_BOUNDARY = /[{}]|(?:\n|\\n)[ \t]*-/;

/**
 * Whether a short string has a character every recognisable form needs: a separator (`:`, `=`), a space (a flag's
 * value, `Bearer …`, a key's armour, a command line), a dot (a JWT) or a quote (JSON text). Most strings of a body
 * (names, images, policies, quantities) are decided here, before any regular expression.
 */
function hasSeparator(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a || c === 0x3d || c === 0x20 || c === 0x2e || c === 0x22 || c === 0x09 || c === 0x0a) return true;
  }
  return false;
}

/** `from` and `to` are close, with no item boundary between them. */
function sameItem(text: string, from: number, to: number): boolean {
  return to - from < PAIR_REACH && !ITEM_BOUNDARY.test(text.slice(from, to));
}

/** The compiled patterns; undefined from compilePatterns when none is in force. */
export class CredentialPatterns {
  readonly #keyNames: string[] = [];
  readonly #keyRe: RegExp | undefined;
  readonly #endings2 = new Set<number>();
  readonly #endings4 = new Set<number>();
  readonly #customKeys: Array<{ name: string; re: RegExp }> = [];
  readonly #values: ValueRule[] = [];
  readonly #mysql: boolean;
  /**
   * What mayHold() searches: the words of the key patterns (group 1) and the cores of the value patterns; at each,
   * the context that makes it a candidate is checked (a superset of what the scan finds: the scan decides).
   */
  readonly #words: RegExp | undefined;
  /** The value patterns' needles, tried where a core is found. */
  readonly #valueNeedle: RegExp | undefined;
  readonly #skip = new Map<string, Set<string> | true>();
  /** Custom value patterns have no needle: every string and query is scanned. */
  readonly #scanAll: boolean;

  constructor(cfg: PatternsConfig) {
    const keyWords: string[] = [];
    const cores: string[] = [];
    const valueNeedles: string[] = [];
    const builtinKeys: string[] = [];
    // A built-in is on unless set to false; a string (a new name, or a built-in's) is the operator's own regex.
    for (const [name, setting] of Object.entries({ ...allOn(KEY_PATTERNS), ...cfg.keys })) {
      if (setting === false) continue;
      if (typeof setting === 'string') {
        this.#customKeys.push({ name, re: new RegExp(setting, 'i') });
        continue;
      }
      const p = KEY_PATTERNS[name];
      this.#keyNames.push(name);
      builtinKeys.push(`(${p.regex})`);
      for (const e of p.endings) (e.length === 2 ? this.#endings2 : this.#endings4).add(code(e, e.length));
      keyWords.push(p.regex);
    }
    this.#keyRe = builtinKeys.length > 0 ? new RegExp(`(?:${builtinKeys.join('|')})$`, 'i') : undefined;
    for (const [name, setting] of Object.entries({ ...allOn(VALUE_PATTERNS), ...cfg.values })) {
      if (setting === false) continue;
      const p = typeof setting === 'string' ? undefined : VALUE_PATTERNS[name];
      this.#values.push({ name, re: p ? new RegExp(p.regex, `${p.flags}gd`) : new RegExp(setting as string, 'igd'), marker: patternMarker(name) });
      if (p === undefined) continue;
      cores.push(p.core);
      valueNeedles.push(p.needle);
    }
    this.#mysql = cfg.values.mysql_password !== false;
    this.#scanAll = this.#customKeys.length > 0 || Object.values(cfg.values).some((v) => typeof v === 'string');
    if (keyWords.length > 0 || cores.length > 0) {
      this.#words = new RegExp(`(${keyWords.join('|') || '(?!)'})${cores.length > 0 ? `|${cores.join('|')}` : ''}`, 'gi');
      this.#valueNeedle = valueNeedles.length > 0 ? new RegExp(valueNeedles.join('|'), 'iy') : undefined;
    }
    for (const entry of cfg.skip) {
      const [resource, sub] = entry.split('/', 2);
      const known = this.#skip.get(resource);
      if (sub === undefined) this.#skip.set(resource, true);
      else if (known !== true) this.#skip.set(resource, (known ?? new Set<string>()).add(sub));
    }
  }

  /** The name of the key pattern `name` matches, if any. */
  keyPattern(name: string): string | undefined {
    if (this.#keyRe !== undefined && this.#mayEndAt(name, name.length)) {
      const m = this.#keyRe.exec(name);
      if (m !== null) for (let i = 1; i < m.length; i++) if (m[i] !== undefined) return this.#keyNames[i - 1];
    }
    for (const c of this.#customKeys) if (c.re.test(name)) return c.name;
    return undefined;
  }

  /** The text before `end` ends in letters some built-in key pattern ends in. */
  #mayEndAt(text: string, end: number): boolean {
    return (end >= 2 && this.#endings2.has(code(text, end) & 0xffff)) || (end >= 4 && this.#endings4.has(code(text, end)));
  }

  /**
   * Which bodies of an event on this resource go unscanned (`skip`): both for a listed resource; the request's for a
   * listed subresource (a write there sends the subresource's part, such as the kubelet's status patches; the
   * response, when logged, is the whole object and is scanned).
   */
  skips(resource: string | undefined, subresource: string | undefined): 'both' | 'request' | undefined {
    if (resource === undefined) return undefined;
    const s = this.#skip.get(resource);
    if (s === true) return 'both';
    return s !== undefined && subresource !== undefined && s.has(subresource) ? 'request' : undefined;
  }

  /**
   * Cheap test run on every requestURI: can it hold a credential (a query parameter under a credential-like name, a
   * token, an exec command line)? Most URIs have no query or only the usual parameters and are decided here.
   */
  uriMayHold(uri: string): boolean {
    const q = uri.indexOf('?');
    if (q === -1) return false;
    if (this.#scanAll || (this.#valueNeedle !== undefined && uri.indexOf('eyJ', q) !== -1)) return true;
    for (let eq = uri.indexOf('=', q); eq !== -1; eq = uri.indexOf('=', eq + 1)) {
      if (uri.startsWith('command', eq - 7)) return true; // exec's command line
      if (!this.#mayEndAt(uri, eq)) continue;
      let start = eq;
      while (start > q + 1 && uri.charCodeAt(start - 1) !== 0x26 /* & */ && uri.charCodeAt(start - 1) !== 0x3b /* ; */) start--;
      if (this.keyPattern(uri.slice(start, eq)) !== undefined) return true;
    }
    return false;
  }

  /** The requestURI with credentials in its query blanked (exec command lines included); the same string if none. */
  redactUri(uri: string): string {
    const out = this.redactText(uri);
    if (!out.includes('command=')) return out;
    // exec/attach: the command's arguments, one `command=` each, are one argument list. Only changed ones are
    // encoded again; the others keep the client's encoding.
    const raw = [...out.matchAll(COMMAND_PARAM)].map((m) => m[2]);
    const args = raw.map(decodeQuery);
    if (!this.redactList(args, false)) return out;
    const before = [...args];
    this.redactList(args, true);
    let i = 0;
    return out.replace(COMMAND_PARAM, (all, sep: string) => {
      const n = i++;
      return args[n] === before[n] ? all : `${sep}command=${encodeURIComponent(args[n])}`;
    });
  }

  /**
   * Blanks in place what a parsed body holds: map entries and string lists under credential-like keys, `value` beside
   * a credential-like `name` or `key` (env, HTTP headers), argument lists, recognisable values inside any string.
   */
  redactBody(root: unknown): boolean {
    let changed = false;
    // Server-side apply's bookkeeping (`managedFields`: field managers, times and field sets, keys only) is a large
    // part of a body and holds no values: not walked.
    walkJson(root, (node) => {
      if (Array.isArray(node)) {
        if (node.some((v) => typeof v === 'string')) changed = this.redactList(node, true) || changed;
        return true;
      }
      for (const k in node) {
        const v = node[k];
        if (typeof v === 'string') {
          if (!hides(v)) continue;
          const hit = this.keyPattern(k);
          const next = hit !== undefined ? patternMarker(hit) : this.mayHold(v) ? this.redactText(v) : v;
          if (next === v) continue;
          node[k] = next;
          changed = true;
        } else if (Array.isArray(v) && k !== 'managedFields') {
          const hit = this.keyPattern(k);
          if (hit === undefined) continue;
          for (let i = 0; i < v.length; i++) {
            if (typeof v[i] !== 'string' || !hides(v[i])) continue;
            v[i] = patternMarker(hit);
            changed = true;
          }
        }
      }
      // `{name: DB_PASSWORD, value: …}` (env), `{name: Authorization, value: …}` (probe headers), `{key: …, value: …}`.
      const value = node.value;
      if (typeof value === 'string' && hides(value) && !value.startsWith(REDACTED_PREFIX)) {
        const label = typeof node.name === 'string' ? node.name : typeof node.key === 'string' ? node.key : undefined;
        const hit = label === undefined ? undefined : this.keyPattern(label);
        if (hit !== undefined) {
          node.value = patternMarker(hit);
          changed = true;
        }
      }
      return true;
    }, 'managedFields');
    return changed;
  }

  /**
   * An argument list (a container's command and args, an exec command): `--password VALUE` blanks the next argument,
   * `-p<password>` goes when the list runs a MySQL client, and each argument is scanned as text.
   */
  redactList(list: unknown[], apply: boolean): boolean {
    let changed = false;
    const mysql = this.#mysql && list.some((s) => typeof s === 'string' && MYSQL_CLIENT.test(s));
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (typeof s !== 'string' || !hides(s)) continue;
      let next = s;
      if (s.charCodeAt(0) === 0x2d /* - */) {
        const flag = FLAG.exec(s);
        const arg = list[i + 1];
        const hit = flag === null ? undefined : this.keyPattern(flag[1]);
        if (hit !== undefined && typeof arg === 'string' && hides(arg) && arg.charCodeAt(0) !== 0x2d) {
          if (!apply) return true;
          list[i + 1] = patternMarker(hit);
          changed = true;
          i++;
          continue;
        }
        if (mysql && s.length > 2 && s.charCodeAt(1) === 0x70 /* p */ && !s.startsWith(REDACTED_PREFIX, 2)) next = `-p${patternMarker('mysql_password')}`;
      }
      if (next === s && this.mayHold(s)) next = this.redactText(s);
      if (next === s) continue;
      if (!apply) return true;
      list[i] = next;
      changed = true;
    }
    return changed;
  }

  /**
   * Whether `text` may hold something a pattern recognises: false means redactText would leave it as it is, and, for
   * a whole line (its JSON text), that redactBody would find nothing in its bodies either.
   */
  mayHold(text: string): boolean {
    if (this.#scanAll) return true;
    const words = this.#words;
    if (words === undefined || (text.length < 64 && !hasSeparator(text))) return false;
    words.lastIndex = 0;
    for (let m = words.exec(text); m !== null; m = words.exec(text)) {
      if (m[1] === undefined) {
        this.#valueNeedle!.lastIndex = m.index;
        if (this.#valueNeedle!.test(text)) return true;
        continue;
      }
      // A name in text counts followed by a separator and not an object (`password=`, `"token":"`; not
      // `"serviceAccountToken":{`), as a flag (`--secret value`, `"--secret","…"`), or as the value of a `name` or
      // `key` (`"name":"API_TOKEN"`, `name: API_TOKEN`).
      const end = m.index + m[0].length;
      ASSIGNED.lastIndex = end;
      if (ASSIGNED.test(text)) return true;
      let start = m.index;
      while (start > 0 && NAME_CHAR.test(text[start - 1])) start--;
      if (text.charCodeAt(start) === 0x2d /* - */) {
        FLAG_END.lastIndex = end;
        if (FLAG_END.test(text)) return true;
      }
      if (PAIR_NAME.test(text.slice(Math.max(0, start - 16), start))) return true;
    }
    return false;
  }

  /**
   * Text of any kind (a config file in a ConfigMap, a shell command, a URL, JSON held in a string, a damaged line):
   * value patterns first, then `name: value` / `name=value` / `"name":"value"` / `--name value` under a
   * credential-like name, and `value` after (or before) a `name` or `key` that is one, as env lists are written.
   * Tolerant: it never parses, so it works on text that is not valid JSON (or not JSON at all).
   */
  redactText(text: string): string {
    let out = text;
    for (const v of this.#values) out = replaceMatches(out, v.re, v.marker);
    if (this.#keyRe === undefined && this.#customKeys.length === 0) return out;
    const edits: Array<[number, number, string]> = [];
    // Env lists in text: a `name` (or `key`) and the `value` of the same item, in either order.
    let name: { hit: string | undefined; end: number } | undefined; // the last name, waiting for its value
    let value: { start: number; end: number } | undefined; // the last value that came before its name
    ASSIGNMENT.lastIndex = 0;
    for (let m = ASSIGNMENT.exec(out); m !== null; m = ASSIGNMENT.exec(out)) {
      const flag = m[5] !== undefined || m[7] !== undefined;
      const key = m[3] ?? m[5] ?? m[7];
      const span = flag
        ? valueSpan(out, ASSIGNMENT.lastIndex, ' ', m.index, false)
        : valueSpan(out, ASSIGNMENT.lastIndex, m[4], m.index + m[1].length + m[2].length, m[2] !== '');
      if (span === undefined) continue;
      const hit = this.keyPattern(key);
      if (hit !== undefined) {
        // A number after a JSON key (`"pin":1234`): the marker goes in quotes, so that the JSON stays valid.
        const quote = span[2] ? `${m[1] ?? ''}"` : '';
        edits.push([span[0], span[1], `${quote}${patternMarker(hit)}${quote}`]);
        continue;
      }
      const lower = key.toLowerCase();
      if (lower === 'value') {
        if (name !== undefined && sameItem(out, name.end, m.index)) {
          if (name.hit !== undefined) edits.push([span[0], span[1], patternMarker(name.hit)]);
          value = undefined;
        } else {
          value = { start: span[0], end: span[1] };
        }
        name = undefined;
      } else if (lower === 'name' || lower === 'key') {
        const label = this.keyPattern(out.slice(span[0], span[1]));
        if (label !== undefined && value !== undefined && sameItem(out, value.end, m.index)) edits.push([value.start, value.end, patternMarker(label)]);
        value = undefined;
        name = { hit: label, end: span[1] };
      }
    }
    return applyEdits(out, edits);
  }
}

/** Compiles `redaction.patterns`; undefined when it is off or every pattern is. */
export function compilePatterns(cfg: PatternsConfig | undefined): CredentialPatterns | undefined {
  const c = cfg ?? { enabled: true, keys: {}, values: {}, skip: DEFAULT_SKIP };
  if (!c.enabled) return undefined;
  const anyOn = (builtins: Record<string, unknown>, set: Record<string, boolean | string>) =>
    Object.keys({ ...builtins, ...set }).some((k) => set[k] !== false);
  if (!anyOn(KEY_PATTERNS, c.keys) && !anyOn(VALUE_PATTERNS, c.values)) return undefined;
  return new CredentialPatterns(c);
}

/** The last four (at most) characters before `end`, lower-cased, in one number. */
function code(text: string, end: number): number {
  let c = 0;
  for (let i = Math.max(0, end - 4); i < end; i++) c = c << 8 | (text.charCodeAt(i) | 0x20);
  return c >>> 0;
}

function allOn(builtins: Record<string, unknown>): Record<string, boolean> {
  return Object.fromEntries(Object.keys(builtins).map((k) => [k, true]));
}

/** Empty values and markers hide nothing. */
function hides(s: string): boolean {
  return s !== '' && !s.startsWith(REDACTED_PREFIX);
}

/**
 * Where the value after a separator lies: [start, end, jsonNumber]. Quoted (also with escaped quotes): up to its
 * closing quote, or the end of the text when it has none (a cut line). Unquoted after a quoted name (JSON): one
 * token. Unquoted after `:` to the end of the line (config files: `password: two words`); after `=` or a flag to the
 * next space or separator, except at the start of a line (`.env` files). true, false, null and structures are no
 * credentials: undefined.
 */
function valueSpan(text: string, at: number, sep: string, nameAt: number, quotedName: boolean): [number, number, boolean] | undefined {
  const quoted = quotedAt(text, at);
  if (quoted !== undefined) return [quoted[0], quoted[1], false];
  const c = text[at];
  // Structures (`{…}`, `[…]`, and Go's `&{…}` in error messages) are no credential themselves.
  if (c === undefined || c === '\\' || c === '{' || c === '[' || c === '&' || c === '(' || c === '<') return undefined;
  const stop = !quotedName && (sep === ':' || (sep === '=' && lineStart(text, nameAt))) ? LINE_END : WORD_END;
  stop.lastIndex = at;
  const end = stop.exec(text)?.index ?? text.length;
  const value = text.slice(at, end).trimEnd();
  if (value === '' || value === 'true' || value === 'false' || value === 'null' || value.startsWith(REDACTED_PREFIX)) return undefined;
  return [at, at + value.length, quotedName && /^-?\d[\d.eE+-]*$/.test(value)];
}

const LINE_END = /[\r\n"'\\]/g;
const WORD_END = /[\s&;,"'\\)\]}<>]/g;

/** The name at `at` starts a line (of the text, or after an escaped `\n` in JSON text). */
function lineStart(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  return at === 0 || before === 0x0a || before === 0x0d || (before === 0x6e /* n */ && text.charCodeAt(at - 2) === 0x5c);
}

/**
 * The quoted string at `at` (`"…"` or `'…'`, behind as many backslashes as the JSON it sits in is escaped): [content
 * start, content end, just after it]. One with no closing quote (a cut line) runs to the end of the text.
 */
export function quotedAt(text: string, at: number): [number, number, number] | undefined {
  let q = at;
  while (text.charCodeAt(q) === 0x5c /* \ */) q++;
  const c = text[q];
  if (c !== '"' && c !== "'") return undefined;
  const escapes = q - at;
  for (let i = q + 1; i < text.length; i++) {
    if (text[i] !== c) continue;
    let k = 0;
    while (text.charCodeAt(i - 1 - k) === 0x5c) k++;
    if (k === escapes) return [q + 1, i - escapes, i + 1];
  }
  return [q + 1, text.length, text.length];
}

/** Replaces each match's first group (or the whole match when the pattern has no group) by the marker. */
function replaceMatches(text: string, re: RegExp, marker: string): string {
  re.lastIndex = 0;
  const edits: Array<[number, number, string]> = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0] === '') {
      re.lastIndex++;
      continue;
    }
    const [start, end] = m.length > 1 && m.indices![1] !== undefined ? m.indices![1] : m.indices![0];
    if (end > start && !text.startsWith(REDACTED_PREFIX, start)) edits.push([start, end, marker]);
  }
  return applyEdits(text, edits);
}

/** The text with each [start, end) replaced by its marker; an edit overlapping an earlier one is left out. */
export function applyEdits(text: string, edits: Array<[number, number, string]>): string {
  if (edits.length === 0) return text;
  edits.sort((a, b) => a[0] - b[0]);
  let out = '';
  let last = 0;
  for (const [start, end, marker] of edits) {
    if (start < last) continue; // overlaps one already applied
    out += text.slice(last, start) + marker;
    last = end;
  }
  return out + text.slice(last);
}

/** A query parameter's value as a client meant it (`+` and %-escapes decoded; kept as it is when malformed). */
export function decodeQuery(s: string): string {
  const plus = s.replaceAll('+', ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}
