// Tests of the `syslog` sink against a real rsyslogd (UDP, TCP with both framings, TLS, RELP, RELP over TLS).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { runCli, writeAgentConfig } from '../../test/utils/agent.ts';
import { freePort } from '../../test/utils/ports.ts';
import { startRsyslog, type Received, type Rsyslog } from '../../test/utils/rsyslog.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { parseConfig } from '../config/load.ts';
import type { OutRecord } from '../delivery/record.ts';
import { Metrics } from '../observe/metrics.ts';
import { syslogSink } from './syslog.ts';
import { sendBatch, type Sink } from './types.ts';

const silent = pino({ level: 'silent' });
const HOST = 'node-a.example';
/** local0 (16) × 8 + the severity. */
const pri = (severity: number) => 16 * 8 + severity;

let certs: TestCerts;
let rsyslog: Rsyslog;
let dir: string;
const open: Sink[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-syslog-'));
  certs = await makeTestCerts();
  rsyslog = await startRsyslog({ certs });
});
afterAll(async () => {
  await rsyslog?.close();
  await certs?.cleanup();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function sink(raw: Record<string, unknown>, metrics?: Metrics): Promise<Sink> {
  const s = await syslogSink.create(syslogSink.options.parse({ host: '127.0.0.1', hostname: HOST, ...raw }), { name: 'siem', logger: silent, stateDir: dir, metrics });
  open.push(s);
  return s;
}

/** Audit events with a mark of the test in their auditID (rsyslog's file is shared by the tests). */
function logRecords(mark: string, n: number, from = 0): OutRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const line = auditLine(from + k).replace(/"auditID":"([^"]+)"/, `"auditID":"${mark}-$1"`);
    const auditID = /"auditID":"([^"]+)"/.exec(line)![1];
    return { id: `${auditID}/ResponseComplete`, kind: 'log', source: 'audit', payload: Buffer.from(line) };
  });
}

/** An alarm whose fields hold every character RFC 5424 has PARAM-VALUE escape, and more than ASCII. */
function alarmRecord(mark: string): OutRecord {
  const alarm = {
    kind: 'kaudit.Alarm', alarmID: `${mark}-7f3a`,
    rule: { id: 'KA-EXEC-001', name: 'Exec into a pod', type: 'system', category: 'command-execution', level: 'medium' },
    cluster: { name: 'prod', id: 'c1' }, firstSeen: '2026-11-20T06:12:44.018271Z', lastSeen: '2026-11-20T06:13:01.5Z', count: 3,
    summary: 'alice ran "sh -c cat /etc/shadow] \\x" in pod ñ-web',
    evidence: { user: 'alice', sourceIP: '10.0.0.7', verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web-0' },
    event: { kind: 'Event', auditID: 'a1' },
  };
  return { id: alarm.alarmID, kind: 'alarm', source: 'alarms', payload: Buffer.from(JSON.stringify(alarm)) };
}

const stageTime = (r: OutRecord) => /"stageTimestamp":"([^"]+)"/.exec(r.payload.toString())![1];
/** What rsyslog must have got for a raw log in RFC 5424, byte for byte. */
const rfc5424Log = (r: OutRecord) => `<${pri(6)}>1 ${stageTime(r)} ${HOST} kaudit ${process.pid} log - ${r.payload.toString()}`;

/** The messages of rsyslog's file whose MSG carries `mark`, in the order received. */
async function receivedWith(mark: string, n: number): Promise<Received[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const got = (await rsyslog.received()).filter((r) => r.rawmsg.includes(`"${mark}-`));
    if (got.length >= n || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const abort = () => new AbortController().signal;

describe('syslog sink against rsyslogd', () => {
  const transports: Array<[string, Record<string, unknown>, () => number]> = [
    ['udp', { transport: 'udp', max_message_bytes: 65_507 }, () => rsyslog.ports.udp],
    ['tcp, octet counting', { transport: 'tcp' }, () => rsyslog.ports.tcp],
    ['tcp, newline framing', { transport: 'tcp', framing: 'newline' }, () => rsyslog.ports.tcp],
    ['tls with a client certificate', { transport: 'tls', tls: {} }, () => rsyslog.ports.tls!],
    ['relp', { transport: 'relp' }, () => rsyslog.ports.relp],
    ['relp over tls with a client certificate', { transport: 'relp', tls: {} }, () => rsyslog.ports.relpTls!],
  ];

  it.each(transports)('%s: rsyslog writes exactly what was sent, fields intact', async (name, options, port) => {
    const mark = `t${name.replace(/\W+/g, '')}`;
    const tls = options.tls === undefined ? {} : { tls: { ca_file: certs.caFile, cert_file: certs.client.certFile, key_file: certs.client.keyFile } };
    const s = await sink({ ...options, ...tls, port: port() });
    const logs = logRecords(mark, 5);
    const alarm = alarmRecord(mark);
    expect(await sendBatch(s, [...logs, alarm], abort())).toEqual({ kind: 'delivered' });

    const got = await receivedWith(mark, 6);
    expect(got).toHaveLength(6);
    const viaRelp = (options.transport === 'relp');
    const input = options.transport === 'udp' ? 'udp' : options.transport === 'tls' ? 'tls' : viaRelp && options.tls ? 'relp-tls' : viaRelp ? 'relp' : 'tcp';
    expect(got.map((g) => g.input)).toEqual(Array(6).fill(input));
    // UDP may reorder in principle; on loopback it does not, and the others keep the order by protocol.
    got.slice(0, 5).forEach((g, k) => {
      expect(g.rawmsg).toBe(rfc5424Log(logs[k]));
      expect(g).toMatchObject({ msg: logs[k].payload.toString(), sd: '-', app: 'kaudit', host: HOST, msgid: 'log', procid: String(process.pid), severity: 6, facility: 16 });
      expect(Date.parse(g.time)).toBe(Date.parse(stageTime(logs[k])));
    });

    const a = got[5];
    expect(a).toMatchObject({ msg: alarm.payload.toString(), app: 'kaudit', host: HOST, msgid: 'alarm', severity: 3, facility: 16 });
    expect(a.sd).toBe(`[kaudit@32473 alarmID="${mark}-7f3a" rule="KA-EXEC-001" level="medium" category="command-execution" count="3" `
      + 'firstSeen="2026-11-20T06:12:44.018271Z" lastSeen="2026-11-20T06:13:01.5Z" cluster="prod" user="alice" sourceIP="10.0.0.7" '
      + 'verb="create" resource="pods" subresource="exec" namespace="default" name="web-0" '
      + 'summary="alice ran \\"sh -c cat /etc/shadow\\] \\\\x\\" in pod ñ-web"]');
    expect(a.rawmsg).toBe(`<${pri(3)}>1 2026-11-20T06:13:01.5Z ${HOST} kaudit ${process.pid} alarm ${a.sd} ${alarm.payload.toString()}`);
  });

  it('rfc3164: the BSD header with the tag and pid, the JSON line as the message', async () => {
    const s = await sink({ transport: 'tcp', port: rsyslog.ports.tcp, format: 'rfc3164', facility: 'authpriv', severity: { log: 'notice' } });
    const [log] = logRecords('bsd', 1);
    expect(await sendBatch(s, [log], abort())).toEqual({ kind: 'delivered' });
    const [got] = await receivedWith('bsd', 1);
    const t = new Date(stageTime(log));
    const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][t.getUTCMonth()];
    const bsdTime = `${month} ${String(t.getUTCDate()).padStart(2, ' ')} ${t.toISOString().slice(11, 19)}`;
    expect(got.rawmsg).toBe(`<${10 * 8 + 5}>${bsdTime} ${HOST} kaudit[${process.pid}]: ${log.payload.toString()}`);
    expect(got).toMatchObject({ app: 'kaudit', host: HOST, severity: 5, facility: 10, sd: '-' });
    expect(got.msg.trim()).toBe(log.payload.toString());
  });

  it('udp: a message over max_message_bytes is cut to it (whole UTF-8 characters) and counted', async () => {
    const metrics = new Metrics();
    const s = await sink({ transport: 'udp', port: rsyslog.ports.udp, max_message_bytes: 2048 }, metrics);
    const [small] = logRecords('udpcut', 1);
    const big: OutRecord = { ...small, id: 'big', payload: Buffer.from(`{"auditID":"udpcut-big","note":"${'é'.repeat(3000)}"}`) };
    expect(await sendBatch(s, [small, big], abort())).toEqual({ kind: 'delivered' });

    const got = await receivedWith('udpcut', 2);
    expect(got).toHaveLength(2);
    expect(got[0].rawmsg).toBe(rfc5424Log(small));
    const full = `<${pri(6)}>1 `;
    expect(got[1].rawmsg.startsWith(full)).toBe(true);
    const cut = Buffer.from(got[1].rawmsg);
    // The header plus as many two-byte characters as fit in 2048 bytes: 2047 or 2048 bytes.
    expect(cut.length).toBeGreaterThanOrEqual(2047);
    expect(cut.length).toBeLessThanOrEqual(2048);
    expect(got[1].rawmsg).not.toContain('\uFFFD');
    expect(await metrics.registry.getSingleMetricAsString('kaudit_sink_syslog_truncated_total')).toContain('kaudit_sink_syslog_truncated_total{sink="siem"} 1');
  });

  it('tls: a server certificate from another CA is refused and the batch retried', async () => {
    const s = await sink({ transport: 'tls', port: rsyslog.ports.tls, tls: { ca_file: certs.selfSigned.certFile, cert_file: certs.client.certFile, key_file: certs.client.keyFile } });
    const verdict = await sendBatch(s, logRecords('badca', 1), abort());
    expect(verdict.kind).toBe('retry');
    expect((verdict as { reason: string }).reason).toMatch(/cannot connect to 127\.0\.0\.1:\d+: .*(certificate|CERT)/i);
  });

  it('relp: nothing listening is a retry; after a restart of rsyslog the next batch goes on a new session', async () => {
    const s = await sink({ transport: 'relp', port: rsyslog.ports.relp });
    expect(await sendBatch(s, logRecords('relprs', 2), abort())).toEqual({ kind: 'delivered' });
    await rsyslog.stop();
    try {
      const down = await sendBatch(s, logRecords('relprs', 2, 2), abort());
      expect(down.kind).toBe('retry');
      expect((down as { reason: string }).reason).toMatch(/127\.0\.0\.1:\d+/);
    } finally {
      await rsyslog.start();
    }
    expect(await sendBatch(s, logRecords('relprs', 2, 2), abort())).toEqual({ kind: 'delivered' });
    const got = await receivedWith('relprs', 4);
    expect(got.map((g) => g.msg)).toEqual(logRecords('relprs', 4).map((r) => r.payload.toString()));
  });

  it('relp: a receiver that accepts the connection but never answers is a retry once the timeout is over', async () => {
    const mute = createServer(() => {});
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = mute.address() as AddressInfo;
      const verdict = await sendBatch(await sink({ transport: 'relp', port, timeout: 300 }), logRecords('silent', 1), abort());
      expect(verdict).toEqual({ kind: 'retry', reason: `127.0.0.1:${port} did not answer the RELP open command within 300ms` });
    } finally {
      mute.close();
    }
  });

  it('relp: a batch with one message answered other than 200 is retried whole', async () => {
    // A scripted RELP peer: rsyslog cannot be made to refuse one message. It answers `open`, then 200 to every
    // syslog command but the second, which gets 500.
    const seen: string[] = [];
    const peer = createServer((socket) => {
      let input = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        input = Buffer.concat([input, chunk]);
        for (;;) {
          const m = /^(\d+) (\w+) (\d+)[ \n]/.exec(input.toString('latin1', 0, Math.min(input.length, 40)));
          const len = m === null ? 0 : Number(m[3]);
          const start = m === null ? 0 : m[0].length;
          const end = len === 0 ? start : start + len + 1;
          if (m === null || input.length < end) return;
          const [txnr, command] = [m[1], m[2]];
          input = input.subarray(end);
          const rsp = (data: string) => socket.write(`${txnr} rsp ${Buffer.byteLength(data)} ${data}\n`);
          if (command === 'open') rsp('200 OK\nrelp_version=0\ncommands=syslog');
          if (command !== 'syslog') continue;
          seen.push(txnr);
          rsp(seen.length === 2 ? '500 queue is full' : '200 OK');
        }
      });
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = peer.address() as AddressInfo;
      const verdict = await sendBatch(await sink({ transport: 'relp', port }), logRecords('refused', 3), abort());
      expect(verdict).toEqual({ kind: 'retry', reason: `127.0.0.1:${port} refused the syslog command: rsp 500 queue is full` });
      expect(seen).toEqual(['2', '3', '4']);
    } finally {
      peer.close();
    }
  });

  it('hostname: the node name from NODE_NAME by default', async () => {
    const before = process.env.NODE_NAME;
    process.env.NODE_NAME = 'worker-7.cluster.local';
    try {
      const s = await syslogSink.create(syslogSink.options.parse({ host: '127.0.0.1', transport: 'tcp', port: rsyslog.ports.tcp }), { name: 'siem', logger: silent, stateDir: dir });
      open.push(s);
      expect(await sendBatch(s, logRecords('nodename', 1), abort())).toEqual({ kind: 'delivered' });
    } finally {
      if (before === undefined) delete process.env.NODE_NAME;
      else process.env.NODE_NAME = before;
    }
    const [got] = await receivedWith('nodename', 1);
    expect(got.host).toBe('worker-7.cluster.local');
  });

  it('a port nobody listens on is a retry naming the address', async () => {
    const port = await freePort();
    for (const transport of ['tcp', 'relp']) {
      const verdict = await sendBatch(await sink({ transport, port }), logRecords('nobody', 1), abort());
      expect(verdict).toEqual({ kind: 'retry', reason: expect.stringMatching(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED: connection refused`)) });
    }
  });
});

describe('syslog sink config', () => {
  const parse = (options: Record<string, unknown>) => parseConfig({ sinks: { out: { kind: 'syslog', host: 'syslog.example.com', ...options } } }).sinks.out;
  const refused = (options: Record<string, unknown>) => syslogSink.preflight!(parse(options) as never);

  it('applies the defaults', () => {
    expect(parse({ transport: 'tcp' })).toMatchObject({
      format: 'rfc5424', facility: 'local0', app_name: 'kaudit', enterprise_id: 32473, timeout: 30_000,
      severity: { log: 'info', high: 'crit', medium: 'err', low: 'warning', note: 'notice' },
    });
  });

  it('names the field and the range or the choices', () => {
    expect(() => parse({})).toThrow(/sinks\.out\.transport/);
    expect(() => parse({ transport: 'tcp', port: 70_000 })).toThrow(/sinks\.out\.port: expected a port from 1 to 65535, found 70000/);
    expect(() => parse({ transport: 'tcp', port: 0 })).toThrow(/sinks\.out\.port: expected a port from 1 to 65535/);
    expect(() => parse({ transport: 'udp', max_message_bytes: 100_000 })).toThrow(/sinks\.out\.max_message_bytes: expected a size from 480 bytes to 65507 bytes, found 100000 bytes/);
    expect(() => parse({ transport: 'tcp', facility: 'local9' })).toThrow(/sinks\.out\.facility: expected one of "kern", .*"local7", found string "local9"/);
    expect(() => parse({ transport: 'tcp', severity: { high: 'urgent' } })).toThrow(/sinks\.out\.severity\.high: expected one of "emerg", .*found string "urgent"/);
    expect(() => parse({ transport: 'tcp', app_name: 'kube audit' })).toThrow(/sinks\.out\.app_name: expected 1 to 48 printable ASCII characters/);
  });

  it('check-config reports what the transport does not use and a tls file it cannot read, each with its field (exit 2)', async () => {
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      sources: { audit: { kind: 'audit', path: join(dir, 'kubernetes.audit') } },
      sinks: {
        udp: { kind: 'syslog', transport: 'udp', host: '127.0.0.1', tls: { ca_file: certs.caFile }, framing: 'newline' },
        secure: { kind: 'syslog', transport: 'tls', host: '127.0.0.1', tls: { ca_file: join(dir, 'missing-ca.pem') } },
      },
    }, 'syslog-check.yaml');
    const checked = await runCli(['check-config', config]);
    expect(checked.code).toBe(2);
    const problems = checked.stderr.trim().replace(/^kaudit: invalid config: [^:]+: /, '').split('; ');
    expect(problems.sort()).toEqual([
      `sinks.secure.tls.ca_file: cannot read ${join(dir, 'missing-ca.pem')}: no such file or directory`,
      'sinks.udp.framing: only used with transport tcp or tls, not udp',
      'sinks.udp.tls: only used with transport tls or relp, not udp',
    ]);
  });

  it('refuses settings the transport does not use', () => {
    expect(refused({ transport: 'udp', tls: { ca_file: '/etc/ca.crt' } })).toEqual(['tls: only used with transport tls or relp, not udp']);
    expect(refused({ transport: 'tcp', tls: { ca_file: '/etc/ca.crt' } })).toEqual(['tls: only used with transport tls or relp, not tcp']);
    expect(refused({ transport: 'relp', framing: 'newline' })).toEqual(['framing: only used with transport tcp or tls, not relp']);
    expect(refused({ transport: 'udp', framing: 'octet_counting' })).toEqual(['framing: only used with transport tcp or tls, not udp']);
    expect(refused({ transport: 'tcp', max_message_bytes: 4096 })).toEqual([expect.stringMatching(/^max_message_bytes: only used with transport udp/)]);
    expect(refused({ transport: 'tcp', format: 'rfc3164', app_name: 'a'.repeat(33) })).toEqual(['app_name: RFC 3164 allows at most 32 characters']);
    expect(refused({ transport: 'tls', framing: 'newline', tls: { ca_file: '/etc/ca.crt' } })).toEqual([]);
    expect(refused({ transport: 'relp', tls: {} })).toEqual([]);
  });
});
