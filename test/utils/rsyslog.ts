// A real rsyslogd of the test's own (its config, work directory and loopback ports), receiving over UDP, TCP, TLS and
// RELP and writing each message it gets as one JSON line of the properties tests check.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import type { TestCerts } from './tls.ts';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

/** One message as rsyslog parsed it. */
export interface Received {
  /** The message as it came, framing removed. */
  rawmsg: string;
  msg: string;
  /** The structured data as sent (`-` for none). */
  sd: string;
  app: string;
  host: string;
  msgid: string;
  procid: string;
  severity: number;
  facility: number;
  /** TIMESTAMP of the message, RFC 3339. */
  time: string;
  /** The listener it came through: udp, tcp, tls, relp or relp-tls. */
  input: string;
}

export interface RsyslogPorts {
  udp: number;
  tcp: number;
  relp: number;
  /** Only when started with certificates. */
  tls?: number;
  relpTls?: number;
}

export interface Rsyslog {
  ports: RsyslogPorts;
  dir: string;
  /** Every message written so far. */
  received(): Promise<Received[]>;
  /** How many messages were written so far (counted, not parsed). */
  count(): Promise<number>;
  /** Waits until at least `n` messages were written (default: 20 s); resolves with how many there are. */
  waitFor(n: number, ms?: number): Promise<number>;
  /** SIGTERM (rsyslogd writes what it has queued first) or SIGKILL, and waits for rsyslogd to exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again with the same config and ports. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts rsyslogd. With `certs`, a TLS listener (gtls driver) and a RELP-over-TLS listener that both require a
 * client certificate signed by the test CA. `maxMessageSize`: rsyslog's own limit (default here 1 MiB). `queued`:
 * messages go through rsyslog's default in-memory queue (faster; what it acknowledged is lost if it is killed).
 */
export async function startRsyslog(opts: { certs?: TestCerts; maxMessageSize?: number; queued?: boolean } = {}): Promise<Rsyslog> {
  const dir = await rsyslogDir('kaudit-rsyslog-');
  const ports: RsyslogPorts = { udp: await freePort(), tcp: await freePort(), relp: await freePort() };
  if (opts.certs) {
    ports.tls = await freePort();
    ports.relpTls = await freePort();
  }
  const out = join(dir, 'received.ndjson');
  const conf = config(dir, out, ports, opts.certs, opts.maxMessageSize ?? 1024 * 1024, opts.queued === true);
  // Ready once every TCP listener accepts; the UDP one is opened with them.
  return { ports, ...await runRsyslogd(dir, conf, out, [ports.tcp, ports.relp, ports.tls, ports.relpTls]) };
}

async function rsyslogDir(prefix: string): Promise<string> {
  await access(RSYSLOGD).catch(() => {
    throw new Error(`${RSYSLOGD} is not installed: install the Debian packages rsyslog, rsyslog-relp and rsyslog-gnutls (.ci/run does)`);
  });
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Runs rsyslogd with `conf` (written into `dir`), which writes each message as one JSON line to `out`; started once
 * every TCP port in `tcpPorts` accepts.
 */
async function runRsyslogd(dir: string, text: string, out: string, tcpPorts: Array<number | undefined>): Promise<Omit<Rsyslog, 'ports'>> {
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(conf, text);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  async function start(): Promise<void> {
    stderr = '';
    const proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => { stderr += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child = proc;
    exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    // rsyslogd's own messages (a port it could not bind among them) go to rsyslogd.log: quoted when it fails.
    const log = () => `${stderr}${readFileSync(join(dir, 'rsyslogd.log'), { encoding: 'utf8', flag: 'a+' }).slice(-2000)}`;
    for (const port of tcpPorts) {
      if (port !== undefined) await listening(port, proc, log);
    }
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (child === undefined || child.exitCode !== null) return;
    child.kill(signal);
    await exited;
    child = undefined;
  }

  async function received(): Promise<Received[]> {
    const text = await readFile(out, 'utf8').catch(() => '');
    // Complete lines only: rsyslogd may be writing the last one.
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => {
      const r = JSON.parse(l) as Record<string, string>;
      return { ...r, severity: Number(r.severity), facility: Number(r.facility) } as unknown as Received;
    });
  }

  await start();
  return {
    dir,
    received,
    count: () => countLines(out),
    async waitFor(n, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        // Lines counted, not parsed: cheap enough to poll a file of many thousand messages.
        const count = await countLines(out);
        if (count >= n) return count;
        if (Date.now() > end) throw new Error(`rsyslog wrote ${count} of ${n} messages within ${ms} ms; its log: ${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    stop,
    start,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function countLines(file: string): Promise<number> {
  const buf = await readFile(file).catch(() => Buffer.alloc(0));
  let n = 0;
  for (let at = buf.indexOf(0x0a); at !== -1; at = buf.indexOf(0x0a, at + 1)) n++;
  return n;
}

/** Resolves once `port` accepts a connection; rejects if rsyslogd exits first or after 30 s (a loaded machine). */
async function listening(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`rsyslogd exited (${proc.exitCode}) at start: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`rsyslogd did not listen on 127.0.0.1:${port} within 30 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The properties written per message (rsyslog's property names), as the fields of Received. */
const PROPERTIES: Array<[string, string, string?]> = [
  ['rawmsg', 'rawmsg'], ['msg', 'msg'], ['sd', 'structured-data'], ['app', 'app-name'], ['host', 'hostname'],
  ['msgid', 'msgid'], ['procid', 'procid'], ['severity', 'syslogseverity'], ['facility', 'syslogfacility'],
  ['time', 'timereported', 'rfc3339'], ['input', 'inputname'],
];

function config(dir: string, out: string, ports: RsyslogPorts, certs: TestCerts | undefined, maxMessageSize: number, queued: boolean): string {
  const props = PROPERTIES.map(([field, name, date]) =>
    `  property(outname="${field}" name="${name}"${date ? ` dateFormat="${date}"` : ''} format="jsonf")`).join('\n');
  const tls = certs === undefined ? '' : `
input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="received" name="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imrelp" address="127.0.0.1" port="${ports.relpTls}" ruleset="received" name="relp-tls"
      tls="on" tls.caCert="${certs.caFile}" tls.myCert="${certs.server.certFile}" tls.myPrivKey="${certs.server.keyFile}"
      tls.authMode="certvalid")`;
  const driver = certs === undefined ? '' : `
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="${certs.caFile}"
  defaultNetstreamDriverCertFile="${certs.server.certFile}"
  defaultNetstreamDriverKeyFile="${certs.server.keyFile}"`;
  return `global(workDirectory="${dir}" maxMessageSize="${maxMessageSize}" net.enableDNS="off"${driver})
module(load="imudp")
module(load="imtcp" maxSessions="100")
module(load="imrelp")
input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="received" name="udp")
input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="received" name="tcp")
input(type="imrelp" address="127.0.0.1" port="${ports.relp}" ruleset="received" name="relp")${tls}
template(name="received" type="list" option.jsonf="on") {
${props}
}
# Direct (unless queued): a message is written to the file by the thread that received it, before imrelp
# acknowledges it, so that what was acknowledged survives a kill -9 of rsyslogd.
ruleset(name="received" queue.type="${queued ? 'LinkedList' : 'Direct'}") {
  action(type="omfile" file="${out}" template="received")
}
# rsyslogd's own messages go elsewhere, so the file holds only what was received.
action(type="omfile" file="${join(dir, 'rsyslogd.log')}")
`;
}

/** Where a forwarding rsyslogd sends what it is given: kaudit's listeners, each with an action of its own. */
export interface ForwardTargets {
  udp?: number;
  /** omfwd over TCP, octet-counted framing by default. */
  tcp?: { port: number; framing?: 'octet-counted' | 'traditional' };
  /** omfwd over TCP with the gtls driver, verifying the server as localhost; presents the client certificate. */
  tls?: number;
  relp?: number;
  /** omrelp over TLS, verifying the server as localhost; presents the client certificate. */
  relpTls?: number;
}

export interface RsyslogForwarder extends Omit<Rsyslog, 'ports'> {
  /** Its imtcp input (newline framing): what the test gives it. */
  inputPort: number;
  /** Sends messages (without framing) to its input, one per line. */
  give(messages: readonly string[]): Promise<void>;
}

/**
 * Starts rsyslogd forwarding every message it is given on its own TCP input to `targets`, each action with an
 * in-memory queue that retries for ever (so a receiver that is down or killed gets what it had not acknowledged when it
 * is back; over RELP, only what it acknowledged counts). `template`: rsyslog's name of the forwarding format. What it
 * was given is written as rsyslog parsed it (received()), before it is forwarded.
 */
export async function startRsyslogForwarder(targets: ForwardTargets, opts: { certs?: TestCerts; template?: string } = {}): Promise<RsyslogForwarder> {
  const dir = await rsyslogDir('kaudit-rsyslog-fwd-');
  const inputPort = await freePort();
  const out = join(dir, 'received.ndjson');
  const daemon = await runRsyslogd(dir, forwarderConfig(dir, out, inputPort, targets, opts.certs, opts.template ?? 'RSYSLOG_SyslogProtocol23Format'), out, [inputPort]);
  return {
    ...daemon,
    inputPort,
    async give(messages) {
      const socket = connect(inputPort, '127.0.0.1');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.end(messages.map((m) => `${m}\n`).join(''), () => resolve());
      });
    },
  };
}

function forwarderConfig(dir: string, out: string, inputPort: number, t: ForwardTargets, certs: TestCerts | undefined, template: string): string {
  const props = PROPERTIES.map(([field, name, date]) =>
    `  property(outname="${field}" name="${name}"${date ? ` dateFormat="${date}"` : ''} format="jsonf")`).join('\n');
  // Each action on a queue of its own that keeps retrying: one receiver down holds neither the others nor the input.
  const queued = 'queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1" action.resumeInterval="1"';
  const actions = [
    t.udp === undefined ? '' : `action(type="omfwd" target="127.0.0.1" port="${t.udp}" protocol="udp" template="${template}" ${queued})`,
    t.tcp === undefined ? '' : `action(type="omfwd" target="127.0.0.1" port="${t.tcp.port}" protocol="tcp" TCP_Framing="${t.tcp.framing ?? 'octet-counted'}" template="${template}" ${queued})`,
    t.tls === undefined ? '' : `action(type="omfwd" target="localhost" port="${t.tls}" protocol="tcp" TCP_Framing="octet-counted" template="${template}"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" ${queued})`,
    t.relp === undefined ? '' : `action(type="omrelp" target="127.0.0.1" port="${t.relp}" template="${template}" ${queued})`,
    t.relpTls === undefined || certs === undefined ? '' : `action(type="omrelp" target="127.0.0.1" port="${t.relpTls}" template="${template}"
         tls="on" tls.caCert="${certs.caFile}" tls.myCert="${certs.client.certFile}" tls.myPrivKey="${certs.client.keyFile}"
         tls.authMode="name" tls.permittedPeer=["localhost"] ${queued})`,
  ].filter((a) => a !== '').map((a) => `  ${a}`).join('\n');
  const driver = certs === undefined ? '' : `
  defaultNetstreamDriverCAFile="${certs.caFile}"
  defaultNetstreamDriverCertFile="${certs.client.certFile}"
  defaultNetstreamDriverKeyFile="${certs.client.keyFile}"`;
  return `global(workDirectory="${dir}" maxMessageSize="1m" net.enableDNS="off"${driver})
module(load="imtcp")
${t.relp === undefined && t.relpTls === undefined ? '' : 'module(load="omrelp")'}
input(type="imtcp" address="127.0.0.1" port="${inputPort}" ruleset="forward")
template(name="received" type="list" option.jsonf="on") {
${props}
}
ruleset(name="forward") {
  action(type="omfile" file="${out}" template="received")
${actions}
}
action(type="omfile" file="${join(dir, 'rsyslogd.log')}")
`;
}
