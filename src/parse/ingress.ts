// Access-log lines of the ingress-nginx controller (its default `upstreaminfo` format, or any nginx log_format given in
// the config) into the `ingress` fields of a container record.
//
// nginx writes a variable's value as it is, except that with `escape=default` (ingress-nginx's default) `"`, `\` and
// bytes below 0x20 or above 0x7e are written `\xHH`, and an empty value is written `-`. So a quoted value never holds
// a raw `"`, and a value ends where the format's next literal text starts — except the upstream variables, which list
// one value per upstream tried, separated by `, ` (and ` : ` across an internal redirect).

/** The controller's default format (ingress-nginx docs, "Log format"; `log-format-upstream` in its ConfigMap). */
export const DEFAULT_INGRESS_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" ' +
  '$request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr ' +
  '$upstream_response_length $upstream_response_time $upstream_status $req_id';

/** How each nginx variable is named in the record, and whether its value is a number; others keep their own name. */
const FIELDS: Record<string, { name: string; number?: true }> = {
  remote_addr: { name: 'remote_addr' },
  the_real_ip: { name: 'real_ip' },
  proxy_protocol_addr: { name: 'proxy_protocol_addr' },
  remote_user: { name: 'remote_user' },
  http_x_forwarded_for: { name: 'x_forwarded_for' },
  proxy_add_x_forwarded_for: { name: 'x_forwarded_for' },
  time_local: { name: 'time' },
  time_iso8601: { name: 'time' },
  request_method: { name: 'method' },
  request_uri: { name: 'path' },
  uri: { name: 'path' },
  server_protocol: { name: 'protocol' },
  host: { name: 'host' },
  status: { name: 'status', number: true },
  body_bytes_sent: { name: 'bytes_out', number: true },
  bytes_sent: { name: 'bytes_out', number: true },
  request_length: { name: 'bytes_in', number: true },
  request_time: { name: 'request_time', number: true },
  http_referer: { name: 'referer' },
  http_user_agent: { name: 'user_agent' },
  proxy_upstream_name: { name: 'upstream_name' },
  proxy_alternative_upstream_name: { name: 'upstream_alternative_name' },
  upstream_addr: { name: 'upstream_addr' },
  upstream_response_length: { name: 'upstream_bytes', number: true },
  upstream_response_time: { name: 'upstream_time', number: true },
  upstream_status: { name: 'upstream_status', number: true },
  req_id: { name: 'request_id' },
  request_id: { name: 'request_id' },
};

const MONTHS: Record<string, string> = {
  Jan: '01', Feb: '02', Mar: '03', Apr: '04', May: '05', Jun: '06', Jul: '07', Aug: '08', Sep: '09', Oct: '10', Nov: '11', Dec: '12',
};
const TIME_LOCAL = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{2})(\d{2})$/;

/** A compiled log_format: literal texts around the variables, `literals.length === vars.length + 1`. */
export interface AccessLogFormat {
  literals: string[];
  vars: string[];
}

/** Splits a log_format into literals and variables (`$name`, `${name}`); throws with the reason when it cannot be parsed back. */
export function compileAccessLogFormat(format: string): AccessLogFormat {
  const literals: string[] = [];
  const vars: string[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    literals.push(format.slice(last, m.index));
    vars.push(m[1] ?? m[2]);
    last = m.index + m[0].length;
  }
  literals.push(format.slice(last));
  if (vars.length === 0) throw new Error('names no $variable');
  for (let i = 1; i < vars.length; i++) {
    if (literals[i] === '') throw new Error(`$${vars[i - 1]} and $${vars[i]} have nothing between them: where one ends cannot be told`);
  }
  if (!vars.includes('request') && !vars.includes('request_uri') && !vars.includes('uri')) throw new Error('names none of $request, $request_uri, $uri: not an access log');
  return { literals, vars };
}

/** `\xHH` escapes back to bytes (decoded as UTF-8), `-` to nothing. */
function valueOf(raw: string): string | undefined {
  if (raw === '-' || raw === '') return undefined;
  if (!raw.includes('\\x')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c && raw[i + 1] === 'x' && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 2, i + 4))) {
      bytes.push(parseInt(raw.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c < 0x80) bytes.push(c);
    else bytes.push(...Buffer.from(raw[i]));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Where a value that ends at `literal` ends, from `from`; upstream lists go on past their `, ` and ` : ` separators. */
function valueEnd(line: string, from: number, literal: string, list: boolean): number {
  let at = line.indexOf(literal, from);
  if (!list) return at;
  while (at > 0 && (line[at - 1] === ',' || line.startsWith(' : ', at) || (line[at - 1] === ':' && line[at - 2] === ' '))) {
    at = line.indexOf(literal, at + 1);
  }
  return at;
}

/** The last of an upstream list (the upstream that answered): `10.0.0.1:80, 10.0.0.2:80` → `10.0.0.2:80`. */
function lastOfList(v: string): string {
  const parts = v.split(/, | : /);
  return parts[parts.length - 1];
}

/** `07/Dec/2026:10:41:17 +0100` → `2026-12-07T09:41:17.000Z`; undefined when it is not that shape. */
function isoOfTimeLocal(v: string): string | undefined {
  const m = TIME_LOCAL.exec(v);
  const month = m ? MONTHS[m[2]] : undefined;
  if (!m || month === undefined) return undefined;
  const ms = Date.parse(`${m[3]}-${month}-${m[1]}T${m[4]}:${m[5]}:${m[6]}${m[7]}:${m[8]}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * The `ingress` fields of one access-log line, or undefined when the line is not in the format (the controller's own
 * log lines, an error log line). The client is `client_ip`: the address the controller logged for it — `$the_real_ip`,
 * else `$proxy_protocol_addr`, else `$remote_addr`, which the controller itself sets from X-Forwarded-For when it
 * trusts the header (`use-forwarded-headers`). A raw `$http_x_forwarded_for` is kept as `x_forwarded_for`, not used:
 * any client can write it.
 */
export function parseAccessLine(line: string, format: AccessLogFormat): Record<string, unknown> | undefined {
  const { literals, vars } = format;
  if (!line.startsWith(literals[0])) return undefined;
  let pos = literals[0].length;
  const out: Record<string, unknown> = {};
  for (let i = 0; i < vars.length; i++) {
    const name = vars[i];
    const literal = literals[i + 1];
    const end = literal === '' ? line.length : valueEnd(line, pos, literal, name.startsWith('upstream_'));
    if (end < 0) return undefined;
    const raw = line.slice(pos, end);
    pos = end + literal.length;
    if (!setField(out, name, raw)) return undefined;
  }
  if (pos !== line.length) return undefined;
  const client = out.real_ip ?? out.proxy_protocol_addr ?? out.remote_addr;
  if (client !== undefined) out.client_ip = client;
  return out;
}

/** Puts one variable's value into `out` under its record name; false when the value cannot be that variable's. */
function setField(out: Record<string, unknown>, name: string, raw: string): boolean {
  if (name === 'request') {
    const v = valueOf(raw);
    if (v === undefined) return true;
    // `GET /path HTTP/1.1`; anything else (a TLS handshake on the plain port, garbage) stays whole as `request`.
    const parts = v.split(' ');
    if (parts.length === 3 && /^[A-Z]+$/.test(parts[0]) && /^HTTP\/\d(\.\d)?$/.test(parts[2])) {
      out.method = parts[0];
      out.path = parts[1];
      out.protocol = parts[2];
    } else out.request = v;
    return true;
  }
  const field = FIELDS[name] ?? { name };
  let v = valueOf(raw);
  if (v === undefined) return true;
  if (name.startsWith('upstream_')) v = lastOfList(v);
  if (name === 'time_local') {
    const iso = isoOfTimeLocal(v);
    if (iso === undefined) return false;
    v = iso;
  }
  if (field.number) {
    if (v === '-') return true; // the last upstream of a list gave no answer
    const n = Number(v);
    if (!Number.isFinite(n)) return false;
    out[field.name] = n;
    return true;
  }
  out[field.name] = v;
  return true;
}

const compiled = new Map<string, AccessLogFormat>();

/** The compiled format for a config's text (`default`: the controller's), compiled once per worker. */
export function accessLogFormatOf(text: string): AccessLogFormat {
  let f = compiled.get(text);
  if (f === undefined) {
    f = compileAccessLogFormat(text === 'default' ? DEFAULT_INGRESS_FORMAT : text);
    compiled.set(text, f);
  }
  return f;
}
