// End to end: a real rsyslogd forwards what it is given to the real agent's syslog source over UDP, TCP, TLS and RELP
// (omfwd and omrelp, rsyslog's own forward formats); each record at the agent's sink carries the fields rsyslog parsed.
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { startRsyslogForwarder, type Received, type RsyslogForwarder } from '../utils/rsyslog.ts';
import { certsForTestFile } from '../utils/tls.ts';
import { until } from '../utils/until.ts';

type SyslogRecord = {
  time: string; format: string; facility: string; facility_code: number; severity: string; severity_code: number;
  hostname?: string; app_name?: string; proc_id?: string; msg_id?: string; structured_data?: Record<string, Record<string, string | string[]>>;
  message: string; transport: string; peer: { ip: string; port: number }; falco?: Record<string, unknown>;
};

const certs = certsForTestFile();

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Starts the agent with a syslog source on every transport (TLS requiring a client certificate), to a file sink. */
async function startAgent(settings: Record<string, unknown> = {}, detection = false) {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-syslog-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const ports = { udp: await freePort(), tcp: await freePort(), tls: await freePort(), relp: await freePort(), http: await freePort() };
  const out = join(dir, 'out.ndjson');
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: { listen: `127.0.0.1:${ports.http}` },
    detection: { enabled: detection },
    sources: {
      syslog: {
        kind: 'syslog',
        udp: { listen: `127.0.0.1:${ports.udp}` },
        tcp: { listen: `127.0.0.1:${ports.tcp}` },
        tls: { listen: `127.0.0.1:${ports.tls}`, cert_file: certs.server.certFile, key_file: certs.server.keyFile, client_ca_file: certs.caFile },
        relp: { listen: `127.0.0.1:${ports.relp}` },
        dead_letter: join(dir, 'dead.ndjson'),
        ...settings,
      },
    },
    sinks: { out: { kind: 'file', path: out, batch: { max_wait: 20 } } },
  });
  const start = async () => {
    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    await agent.started();
    return agent;
  };
  return { agent: await start(), start, ports, out, dir };
}

async function records(path: string): Promise<SyslogRecord[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  // Whole lines only: the sink may be mid-write, and an agent killed with kill -9 may have left a torn line (what it
  // held is sent again after the restart, so a torn line is never the only copy).
  const out: SyslogRecord[] = [];
  for (const l of text.split('\n').slice(0, -1)) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as SyslogRecord);
    } catch {
      // torn
    }
  }
  return out;
}

async function forwarder(...args: Parameters<typeof startRsyslogForwarder>): Promise<RsyslogForwarder> {
  const f = await startRsyslogForwarder(...args);
  cleanup.push(() => f.close());
  return f;
}

/** Messages of every shape rsyslog takes on its input: RFC 5424 with and without structured data, RFC 3164, Falco's. */
function messages(tag: string): string[] {
  return [
    `<34>1 2026-12-07T10:41:17.123456+00:00 node-1 sshd 4711 AUTH [origin ip="10.0.0.7" software="openssh"][meta sequenceId="1"] ${tag} Failed password for root from 10.0.0.9`,
    `<165>1 2026-12-07T10:41:18.5Z fw-edge.example kernel - DROP [ex@32473 src="203.0.113.9" note="a \\"quoted\\" \\] and \\\\"] ${tag} blocked inbound`,
    `<13>1 2026-12-07T10:41:19Z node-2 npd - - - ${tag} kernel: BUG: soft lockup - CPU#1 stuck for 22s`,
    `<86>Dec  7 10:41:20 node-3 sudo[912]: ${tag} alice : TTY=pts/0 ; COMMAND=/bin/sh`,
    `<14>1 2026-12-07T10:41:21.000Z node-4 falco 1 - - {"hostname":"node-4","output":"10:41:21.000000000: Critical Shell in container (user=root k8s.pod=web-0 ${tag})","priority":"Critical","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"2026-12-07T10:41:21.000000000Z","output_fields":{"k8s.pod.name":"web-0","proc.cmdline":"sh -i","user.name":"root"}}`,
    `<12>1 2026-12-07T10:41:22.000Z node-5 falco 1 - - 10:41:22.123456789: Warning Sensitive file opened for reading (file=/etc/shadow ${tag})`,
  ];
}

/** The message a record was for: the test's tag sits at the start of MSG (or inside Falco's JSON). */
function byTag(rs: readonly SyslogRecord[], tag: string): SyslogRecord[] {
  return rs.filter((r) => r.message.includes(tag));
}

/** Each record's fields against rsyslog's parse of the same message. */
function expectSameFields(got: SyslogRecord, given: Received): void {
  expect(got.facility_code, given.rawmsg).toBe(given.facility);
  expect(got.severity_code, given.rawmsg).toBe(given.severity);
  expect(got.hostname, given.rawmsg).toBe(given.host);
  expect(got.app_name ?? '-', given.rawmsg).toBe(given.app);
  expect(got.proc_id ?? '-', given.rawmsg).toBe(given.procid === '' ? '-' : given.procid);
  expect(got.msg_id ?? '-', given.rawmsg).toBe(given.msgid === '' ? '-' : given.msgid);
  expect(Date.parse(got.time), given.rawmsg).toBe(Date.parse(given.time));
  expect(got.message.trim(), given.rawmsg).toBe(given.msg.trim());
  expect(sdText(got.structured_data), given.rawmsg).toBe(given.sd);
}

/** Structured data written back as RFC 5424 text (PARAM-VALUE escapes), `-` for none. */
function sdText(sd: SyslogRecord['structured_data']): string {
  if (sd === undefined) return '-';
  const esc = (v: string) => v.replace(/["\\\]]/g, '\\$&');
  return Object.entries(sd).map(([id, params]) => `[${id}${Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => ` ${k}="${esc(x)}"`)).join('')}]`).join('');
}

describe('syslog source, fed by a real rsyslog', () => {
  it('takes RFC 5424 from omfwd over UDP, TCP and TLS (client certificate) and from omrelp: every field as rsyslog parsed it', async () => {
    const { ports, out } = await startAgent();
    const rsyslog = await forwarder({ udp: ports.udp, tcp: { port: ports.tcp }, tls: ports.tls, relp: ports.relp }, { certs });
    const given = messages('m5424');
    await rsyslog.give(given);
    await rsyslog.waitFor(given.length);
    const parsed = await rsyslog.received();
    expect(parsed).toHaveLength(given.length);
    const transports = ['udp', 'tcp', 'tls', 'relp'];
    await until('every message over every transport', async () => (await records(out)).length >= given.length * transports.length);
    const all = await records(out);
    expect(all).toHaveLength(given.length * transports.length);
    for (const transport of transports) {
      const got = all.filter((r) => r.transport === transport);
      expect(got.map((r) => r.format), transport).toEqual(given.map(() => 'rfc5424'));
      for (const [i, r] of parsed.entries()) {
        const match = got.filter((g) => g.message.trim() === r.msg.trim());
        expect(match, `${transport}: ${r.rawmsg}`).toHaveLength(1);
        expectSameFields(match[0], r);
        expect(match[0].peer.ip).toBe('127.0.0.1');
        if (i === 1) expect(match[0].structured_data).toEqual({ 'ex@32473': { src: '203.0.113.9', note: 'a "quoted" ] and \\' } });
      }
      // Falco's alerts: the JSON one with its rule, tags and fields; the text one with its priority.
      const [json] = byTag(got, '{"hostname"');
      expect(json.falco).toMatchObject({
        rule: 'Terminal shell in container', priority: 'Critical', tags: ['container', 'shell', 'mitre_execution'],
        output_fields: { 'k8s.pod.name': 'web-0', 'proc.cmdline': 'sh -i', 'user.name': 'root' },
      });
      const [text] = byTag(got, 'Sensitive file opened');
      expect(text.falco).toEqual({ priority: 'Warning', output: 'Sensitive file opened for reading (file=/etc/shadow m5424)' });
    }
  }, 90_000);

  it('takes RFC 3164 (rsyslog\'s traditional forward format) over TCP with newline framing and over UDP', async () => {
    const { ports, out } = await startAgent();
    const rsyslog = await forwarder({ udp: ports.udp, tcp: { port: ports.tcp, framing: 'traditional' } }, { template: 'RSYSLOG_TraditionalForwardFormat' });
    const given = messages('m3164');
    await rsyslog.give(given);
    await rsyslog.waitFor(given.length);
    const parsed = await rsyslog.received();
    await until('every message over both transports', async () => (await records(out)).length >= given.length * 2);
    const all = await records(out);
    expect(all).toHaveLength(given.length * 2);
    for (const transport of ['udp', 'tcp']) {
      const got = all.filter((r) => r.transport === transport);
      for (const r of parsed) {
        const match = got.filter((g) => g.message.trim() === r.msg.trim());
        expect(match, `${transport}: ${r.rawmsg}`).toHaveLength(1);
        const m = match[0];
        expect(m.format).toBe('rfc3164');
        expect([m.facility_code, m.severity_code, m.hostname, m.app_name]).toEqual([r.facility, r.severity, r.host, r.app]);
        // The traditional format carries the PID in the tag and drops MSGID, structured data and the time's year and fraction.
        if (r.procid !== '-' && r.procid !== '') expect(m.proc_id).toBe(r.procid);
        expect(m.time.slice(5, 19)).toBe(new Date(r.time).toISOString().slice(5, 19));
      }
      expect(byTag(got, '{"hostname"')[0].falco).toMatchObject({ rule: 'Terminal shell in container', priority: 'Critical' });
    }
  }, 90_000);

  it('takes RELP over TLS from omrelp, the sender authenticated by its client certificate', async () => {
    const port = await freePort();
    const { agent: tlsAgent, out: tlsOut } = await startAgent({
      relp: { listen: `127.0.0.1:${port}`, tls: { cert_file: certs.server.certFile, key_file: certs.server.keyFile, client_ca_file: certs.caFile } },
    });
    const rsyslog = await forwarder({ relpTls: port }, { certs });
    const given = messages('relptls');
    await rsyslog.give(given);
    await until('every message over RELP/TLS', async () => (await records(tlsOut)).length >= given.length);
    const got = await records(tlsOut);
    expect(got.map((r) => r.transport)).toEqual(given.map(() => 'relp'));
    expect(got.map((r) => r.message.trim()).sort()).toEqual((await rsyslog.received()).map((r) => r.msg.trim()).sort());
    expect(tlsAgent.logEntries().filter((e) => e.msg === 'syslog TLS handshake failed')).toEqual([]);
  }, 90_000);

  it('raises the shipped rules\' alarms on Falco\'s alerts forwarded by rsyslog: Critical high with Falco\'s rule name, Warning low', async () => {
    const { ports, out } = await startAgent({}, true);
    const rsyslog = await forwarder({ tcp: { port: ports.tcp } });
    await rsyslog.give(messages('alarm'));
    const alarms = async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"kaudit.Alarm"'))
      .map((l) => JSON.parse(l) as { rule: { id: string; level: string }; source: string; summary: string; evidence: SyslogRecord });
    await until('two alarms', async () => (await alarms()).length >= 2);
    const got = (await alarms()).map((a) => [a.rule.id, a.rule.level, a.source, a.summary]).sort();
    expect(got).toEqual([
      ['KA-SYSLOG-001', 'high', 'syslog', 'Falco Critical on node-4: Terminal shell in container: 10:41:21.000000000: Critical Shell in container (user=root k8s.pod=web-0 alarm)'],
      ['KA-SYSLOG-003', 'low', 'syslog', 'Falco Warning on node-5: (none): Sensitive file opened for reading (file=/etc/shadow alarm)'],
    ]);
    expect((await alarms())[0].evidence.transport).toBe('tcp');
  }, 90_000);

  it('loses nothing over RELP when the agent is killed with kill -9 mid-stream and started again: rsyslog resends what was not answered', async () => {
    const { agent, start, ports, out } = await startAgent();
    const rsyslog = await forwarder({ relp: ports.relp });
    // Messages of 1 KiB: enough bytes that the agent is still taking them in (received, not yet durable) when killed.
    const N = 30_000;
    const pad = 'x'.repeat(1000);
    const given = Array.from({ length: N }, (_, i) => `<86>1 2026-12-07T10:41:17.000Z node-1 app - - - relp-${i} ${pad}`);
    const giving = rsyslog.give(given);
    await until('part of the stream at the sink', async () => (await records(out)).length >= 1000, 60_000);
    await agent.kill9();
    const atKill = (await records(out)).length;
    await giving;
    await new Promise((r) => setTimeout(r, 1000));
    const again = await start();
    const missing = async () => {
      const got = new Set((await records(out)).map((r) => r.message.slice(0, r.message.indexOf(' '))));
      return given.map((_, i) => `relp-${i}`).filter((m) => !got.has(m));
    };
    await until('every message at the sink', async () => (await missing()).length === 0, 90_000).catch(() => {});
    const lost = await missing();
    const total = (await records(out)).length;
    console.log(`relp kill -9: ${N} given, ${atKill} at the sink when killed, ${total} in all (${total - (N - lost.length)} duplicates), ${lost.length} missing`);
    expect(lost, `missing ${lost.length}, e.g. ${lost.slice(0, 3).join(', ')}`).toEqual([]);
    // Killed in the middle of the stream, not after it.
    expect(atKill).toBeLessThan(N);
    expect((await again.stop()).code).toBe(0);
  }, 180_000);

});

/** A sample of the agent's metrics: `name{labels}` → value. */
async function metrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l.startsWith('kaudit_syslog') || l.startsWith('kaudit_source_parse')).map((l) => {
    const at = l.lastIndexOf(' ');
    return [l.slice(0, at), Number(l.slice(at + 1))];
  }));
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('syslog source, bad senders', () => {
  it('counts and dead-letters what is not syslog, cuts what is too long, and keeps taking the good messages', async () => {
    const { ports, out, dir } = await startAgent({ max_message_bytes: 1024 });
    const udp = createSocket('udp4');
    const send = (m: string | Buffer) => new Promise<void>((resolve) => udp.send(m, ports.udp, '127.0.0.1', () => resolve()));
    await send('not syslog at all');
    await send(`<13>1 2026-12-07T10:00:00Z h app - - - big ${'y'.repeat(3000)}`);
    await send('<13>1 2026-12-07T10:00:00Z h app - - - good udp');
    udp.close();
    const tcp = await open(ports.tcp);
    // A count that is not one, a PRI out of range, an octet-counted frame too long, then a good one.
    const long = `<13>1 2026-12-07T10:00:00Z h app - - - long ${'z'.repeat(2000)}`;
    tcp.end(`12x <13>bad count\n<999>bad pri\n${long.length} ${long}<13>1 2026-12-07T10:00:00Z h app - - - good tcp\n`);
    await until('the good messages', async () => (await records(out)).some((r) => r.message === 'good tcp') && (await records(out)).some((r) => r.message === 'good udp'));
    const got = await records(out);
    const cut = got.filter((r) => (r as { truncated?: boolean }).truncated === true);
    expect(cut.map((r) => [r.transport, Buffer.byteLength(JSON.stringify(r.message)) < 1100])).toEqual([['udp', true], ['tcp', true]]);
    const dead = (await readFile(join(dir, 'dead.ndjson'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { error: string });
    expect(dead.map((d) => d.error)).toEqual([
      'no <PRI> at the start (found "not syslog at al")',
      'no <PRI> at the start (found "12x <13>bad coun")',
      'bad PRI <999>',
    ]);
    // A RELP peer that breaks the protocol: its session is closed and counted; one that sends before open likewise.
    for (const garbage of ['GET / HTTP/1.1\r\n\r\n', '1 syslog 5 <13>x\n']) {
      const relp = await open(ports.relp);
      relp.resume();
      const closed = new Promise<void>((resolve) => relp.once('close', () => resolve()));
      relp.write(garbage);
      await closed;
    }
    const m = await metrics(ports.http);
    expect(m.get('kaudit_syslog_dropped_total{source="syslog",transport="relp",reason="bad_frame"}')).toBe(2);
    expect(m.get('kaudit_source_parse_errors_total{source="syslog"}')).toBe(3);
    expect(m.get('kaudit_syslog_truncated_total{source="syslog",transport="udp"}')).toBe(1);
    expect(m.get('kaudit_syslog_truncated_total{source="syslog",transport="tcp"}')).toBe(1);
  }, 60_000);

  it('refuses connections beyond max_connections and counts them; the connections it holds still deliver', async () => {
    const { ports, out } = await startAgent({ max_connections: 4 });
    const held = await Promise.all([0, 1, 2, 3].map(() => open(ports.tcp)));
    const closed = await Promise.all(Array.from({ length: 10 }, async () => {
      const s = await open(ports.tcp).catch(() => undefined);
      return s === undefined ? true : new Promise<boolean>((resolve) => s.once('close', () => resolve(true)));
    }));
    expect(closed.every((c) => c)).toBe(true);
    for (const [i, s] of held.entries()) s.end(`<13>1 2026-12-07T10:00:00Z h app - - - held ${i}\n`);
    await until('the held connections\' messages', async () => (await records(out)).length === 4);
    const m = await metrics(ports.http);
    expect(m.get('kaudit_syslog_connections_refused_total{source="syslog",transport="tcp"}')).toBe(10);
  }, 60_000);

  it('gives up a frame never finished after frame_timeout, with its connection; other senders are not held up', async () => {
    const { ports, out } = await startAgent({ frame_timeout: 500 });
    const stalled = await open(ports.tcp);
    const ended = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
    stalled.write('200 <13>1 2026-12-07T10:00:00Z h app - - - never finished');
    const relp = await open(ports.relp);
    relp.write('1 open 0\n2 syslog 100 <13>1 2026-12-07T10:00:00Z h app - - - half'); // RELP: data promised, never sent
    const relpEnded = new Promise<void>((resolve) => relp.once('close', () => resolve()));
    relp.resume(); // the answer to open is read, so that the close is seen
    const other = await open(ports.tcp);
    other.end('<13>1 2026-12-07T10:00:00Z h app - - - from another sender\n');
    await until('the other sender\'s message', async () => (await records(out)).some((r) => r.message === 'from another sender'));
    await ended;
    await relpEnded;
    await until('the incomplete frame counted', async () => (await metrics(ports.http)).get('kaudit_syslog_dropped_total{source="syslog",transport="tcp",reason="incomplete"}') === 1);
    expect((await records(out)).map((r) => r.message)).toEqual(['from another sender']);
  }, 60_000);
});

describe('syslog source config', () => {
  it('refuses a source without a listener, a bad address and an unreadable certificate, each with its field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-syslog-config-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      sources: {
        none: { kind: 'syslog' },
        bad: { kind: 'syslog', udp: { listen: '127.0.0.1:99999' } },
      },
    });
    const r = await runCli(['check-config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sources.none: a syslog source needs at least one listener: udp, tcp, tls or relp');
    expect(r.stderr).toContain('sources.bad.udp.listen: port 99999 is out of range');
    // Files are checked once the config is valid.
    const tls = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      sources: { syslog: { kind: 'syslog', tls: { listen: ':6514', cert_file: join(dir, 'missing.crt'), key_file: join(dir, 'missing.key') } } },
    }, 'tls.yaml');
    const t = await runCli(['check-config', tls]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain(`sources.syslog.tls.cert_file: cannot read ${join(dir, 'missing.crt')}`);
  });

  it('fails the start naming the listener when its port is taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-syslog-port-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    const config = await writeAgentConfig(dir, { state_dir: join(dir, 'state'), http: null, sources: { syslog: { kind: 'syslog', relp: { listen: `127.0.0.1:${port}` } } } });
    const r = await runCli(['run', '--config', config]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`sources.syslog.relp.listen 127.0.0.1:${port}: the address is in use (another process listens on this port)`);
  });
});
