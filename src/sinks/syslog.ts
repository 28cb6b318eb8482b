// The `syslog` sink: each record one syslog message (RFC 5424 or 3164) over UDP, TCP, TLS or RELP.
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { duration, sizeIn } from '../config/units.ts';
import { readTlsFile, tlsSchema } from '../config/tls-files.ts';
import { RelpTransport } from './relp.ts';
import { FACILITIES, formatMessage, SEVERITIES, type Facility, type MessageFormat, type Severity } from './syslog-format.ts';
import { StreamTransport, UdpTransport, type Peer, type Transport } from './syslog-transport.ts';
import type { SinkKind } from './types.ts';

/**
 * The SD-ID's enterprise number: 32473, which IANA reserves for examples in documentation (RFC 5612). kaudit has no
 * number of its own; an operator with one sets `enterprise_id`.
 */
const DOCUMENTATION_PEN = 32473;
/** The well-known ports: syslog over UDP and TCP, syslog over TLS (RFC 5425), and the one rsyslog's RELP examples use. */
const DEFAULT_PORTS = { udp: 514, tcp: 514, tls: 6514, relp: 2514 } as const;
/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
/** rsyslog's default maxMessageSize: a bigger datagram would be cut by a receiver left at its defaults anyway. */
const DEFAULT_DATAGRAM = 8 * 1024;

const names = (table: object) => Object.keys(table) as [string, ...string[]];
const severity = (fallback: Severity) => z.enum(names(SEVERITIES)).default(fallback);
/** RFC 5424 PRINTUSASCII, 1 to `max` characters. */
const printable = (max: number) => z.string().regex(new RegExp(`^[\\x21-\\x7e]{1,${max}}$`), `expected 1 to ${max} printable ASCII characters, no spaces`);

const options = z.object({
  /** udp: no acknowledgement; tcp, tls: written to the socket; relp: every message acknowledged (at least once). */
  transport: z.enum(['udp', 'tcp', 'tls', 'relp']),
  host: z.string().min(1),
  /** Default: 514 (udp, tcp), 6514 (tls), 2514 (relp). */
  port: z.number().refine((n) => Number.isInteger(n) && n >= 1 && n <= 65_535, {
    error: (iss) => `expected a port from 1 to 65535, found ${String(iss.input)}`,
  }).optional(),
  format: z.enum(['rfc5424', 'rfc3164']).default('rfc5424'),
  /** tcp and tls: RFC 6587 octet counting (default), or a newline after each message. */
  framing: z.enum(['octet_counting', 'newline']).optional(),
  facility: z.enum(names(FACILITIES)).default('local0'),
  /** Severity of raw logs, and of alarms by level. */
  severity: z.strictObject({
    log: severity('info'),
    high: severity('crit'),
    medium: severity('err'),
    low: severity('warning'),
    note: severity('notice'),
  }).prefault({}),
  app_name: printable(48).default('kaudit'),
  /** Default: the node name (NODE_NAME), else the host's name. */
  hostname: printable(255).optional(),
  /** The private enterprise number in the SD-ID of alarms' structured data (`kaudit@<number>`). */
  enterprise_id: z.number().int().positive().default(DOCUMENTATION_PEN),
  /** udp: longer messages are cut to this size and counted. */
  max_message_bytes: sizeIn(480, MAX_DATAGRAM).optional(),
  /** tls and relp: verified by default. */
  tls: tlsSchema.optional(),
  /** Connecting, and a whole batch (tcp, tls: written; relp: acknowledged); past it the batch is retried. */
  timeout: duration.refine((ms) => ms > 0 && ms <= 3_600_000, 'expected a timeout between 1ms and 1h').default(30_000),
});

type SyslogOptions = z.infer<typeof options>;

/** Settings the schema accepts one by one but that do not go together with the transport, each as `field: why`. */
function refusals(opts: SyslogOptions): string[] {
  const out: string[] = [];
  const t = opts.transport;
  if (opts.tls !== undefined && t !== 'tls' && t !== 'relp') out.push(`tls: only used with transport tls or relp, not ${t}`);
  if (opts.framing !== undefined && t !== 'tcp' && t !== 'tls') out.push(`framing: only used with transport tcp or tls, not ${t}`);
  if (opts.max_message_bytes !== undefined && t !== 'udp') {
    out.push(`max_message_bytes: only used with transport udp (a stream carries messages of any size), not ${t}`);
  }
  if (opts.format === 'rfc3164' && opts.app_name.length > 32) out.push('app_name: RFC 3164 allows at most 32 characters');
  return out;
}

export const syslogSink: SinkKind<typeof options> = {
  options,
  preflight: (opts) => refusals(opts),
  async create(opts, ctx) {
    const where = `sinks.${ctx.name}`;
    const [refused] = refusals(opts);
    if (refused !== undefined) throw new Error(`${where}.${refused}`);
    if (opts.tls?.insecure_skip_verify) ctx.logger.warn('tls.insecure_skip_verify is set: the server certificate is not verified');

    const peer: Peer = {
      host: opts.host,
      port: opts.port ?? DEFAULT_PORTS[opts.transport],
      timeoutMs: opts.timeout,
      tls: opts.transport === 'tls' || (opts.transport === 'relp' && opts.tls !== undefined) ? await tlsOptions(opts, where) : undefined,
    };
    const transport: Transport = opts.transport === 'udp' ? new UdpTransport(peer)
      : opts.transport === 'relp' ? new RelpTransport(peer)
      : new StreamTransport(peer, opts.framing ?? 'octet_counting');

    const format: MessageFormat = {
      format: opts.format,
      facility: opts.facility as Facility,
      severity: opts.severity as MessageFormat['severity'],
      appName: opts.app_name,
      hostname: opts.hostname ?? defaultHostname(),
      procId: String(process.pid),
      sdId: `kaudit@${opts.enterprise_id}`,
    };
    const cap = opts.transport === 'udp' ? opts.max_message_bytes ?? DEFAULT_DATAGRAM : Infinity;
    const truncated = ctx.metrics?.syslogTruncated(ctx.name);

    return {
      encode(batch): Buffer[] {
        const now = new Date();
        return batch.map((record) => {
          const message = formatMessage(record, format, now);
          if (message.length <= cap) return message;
          truncated?.(1);
          return cutUtf8(message, cap);
        });
      },
      send: (messages: Buffer[], signal) => transport.send(messages, signal),
      close: () => transport.close(),
    };
  },
};

async function tlsOptions(opts: SyslogOptions, where: string): Promise<ConnectionOptions> {
  const tls = opts.tls;
  return {
    ca: tls?.ca_file ? await readTlsFile(tls.ca_file, `${where}.tls.ca_file`) : undefined,
    cert: tls?.cert_file ? await readTlsFile(tls.cert_file, `${where}.tls.cert_file`) : undefined,
    key: tls?.key_file ? await readTlsFile(tls.key_file, `${where}.tls.key_file`) : undefined,
    servername: tls?.server_name ?? (isIP(opts.host) === 0 ? opts.host : undefined),
    rejectUnauthorized: !tls?.insecure_skip_verify,
  };
}

/** The node's name as Kubernetes gives it to the pod (the DaemonSet sets NODE_NAME), else the host's name. */
function defaultHostname(): string {
  const name = process.env.NODE_NAME || osHostname();
  return /^[\x21-\x7e]{1,255}$/.test(name) ? name : '-';
}

/** The first `max` bytes of a message, without a UTF-8 character cut in two at the end. */
export function cutUtf8(message: Buffer, max: number): Buffer {
  let end = max;
  // Back off continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (message[end] & 0xc0) === 0x80) end--;
  return message.subarray(0, end);
}
