// The syslog source: messages/s and MB/s the real `kaudit run` takes over TCP (one connection, octet counting, as
// fast as the agent reads) and over UDP (paced bursts; what the agent could not keep is reported, not waited for),
// parsed, matched by the rules and delivered to an HTTP sink; with the agent's CPU seconds and peak RSS.
// Messages are a mix of what a node sends: sshd and sudo (RFC 3164), RFC 5424 with structured data, Falco JSON alerts.
// Usage: npm run bench:source:syslog -- [--messages N] [--rules on|off] [--only tcp|udp]
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess, writeAgentConfig } from '../test/utils/agent.ts';
import { freePort } from '../test/utils/ports.ts';
import { ProcSampler } from '../test/utils/proc.ts';
import { Receiver } from '../test/utils/receiver.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    rules: { type: 'string', default: 'on' },
    only: { type: 'string' },
  },
});
const count = Number(values.messages);

/** Message `i` of the mix (every tenth a Falco alert, the rest node daemons). */
function message(i: number): string {
  const host = `node-${i % 7}`;
  switch (i % 10) {
    case 0: return `<10>1 2026-12-07T10:41:21.${String(i % 1000).padStart(3, '0')}Z ${host} falco 812 - - ${JSON.stringify({
      hostname: host, output: `10:41:21.000000000: Warning Sensitive file opened for reading (file=/etc/shadow pod=web-${i % 50})`, priority: 'Warning',
      rule: 'Read sensitive file untrusted', source: 'syscall', tags: ['filesystem', 'mitre_credential_access'], time: '2026-12-07T10:41:21.000000000Z',
      output_fields: { 'fd.name': '/etc/shadow', 'k8s.pod.name': `web-${i % 50}`, 'proc.cmdline': 'cat /etc/shadow', 'user.name': 'root' },
    })}`;
    case 1: case 2: case 3: return `<38>Dec  7 10:41:${String(i % 60).padStart(2, '0')} ${host} sshd[${1000 + (i % 9000)}]: Accepted publickey for admin from 10.0.${i % 256}.${i % 200} port ${40000 + (i % 20000)} ssh2: ED25519 SHA256:AbCdEf${i}`;
    case 4: return `<86>Dec  7 10:41:20 ${host} sudo[${i % 30000}]: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart kubelet`;
    default: return `<134>1 2026-12-07T10:41:17.123456+00:00 ${host} kubelet ${i % 4096} NPD [origin ip="10.0.0.${i % 250}" software="node-problem-detector"][meta sequenceId="${i}"] Node condition KernelDeadlock is now: False, reason: KernelHasNoDeadlock`;
  }
}

const messages = Array.from({ length: count }, (_, i) => Buffer.from(message(i)));
const mb = messages.reduce((n, m) => n + m.length, 0) / 1e6;

/** Runs the agent; `feed` sends, and resolves with how many messages it expects delivered. */
async function measure(name: string, transport: 'tcp' | 'udp', feed: (port: number) => Promise<number>, dir: string): Promise<void> {
  const rx = await Receiver.start();
  const port = await freePort();
  const http = await freePort();
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, `state-${name}`),
    http: { listen: `127.0.0.1:${http}` },
    detection: { enabled: values.rules === 'on' },
    sources: { syslog: { kind: 'syslog', [transport]: { listen: `127.0.0.1:${port}` } } },
    sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['syslog'], batch: { max_wait: 50 } } },
  }, `${name}.yaml`);
  const agent = AgentProcess.run(config);
  await agent.started(60_000);
  const sampler = new ProcSampler(agent.pid, 100).start();
  const cpuBefore = sampler.last?.cpuSeconds ?? 0;
  const started = performance.now();
  const expected = await feed(port);
  // UDP: whatever arrives within a quiet second after the last datagram is what the agent kept.
  if (transport === 'tcp') await rx.waitForDocuments(expected, 600_000);
  else for (let last = -1; rx.documentCount !== last;) {
    last = rx.documentCount;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const seconds = (performance.now() - started) / 1000 - (transport === 'udp' ? 1 : 0);
  const cpu = (sampler.sampleNow()?.cpuSeconds ?? 0) - cpuBefore;
  sampler.stop();
  const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  const notKept = metrics.split('\n').filter((l) => /^kaudit_(syslog_dropped|syslog_udp_receive_errors|source_parse_errors)/.test(l) && !l.endsWith(' 0'));
  await agent.stop();
  await rx.close();
  const got = rx.documentCount;
  process.stdout.write(`${name.padEnd(4)} ${Math.round(got / seconds).toLocaleString('en-US').padStart(8)} messages/s  ${((mb * got) / count / seconds).toFixed(1).padStart(5)} MB/s  `
    + `${cpu.toFixed(2)} CPU s (${((cpu / got) * 1e6).toFixed(1)} µs/message)  peak RSS ${Math.round(sampler.peakRssBytes / 2 ** 20)} MiB  `
    + `delivered ${got}/${count}${notKept.length > 0 ? `  not kept: ${notKept.join(', ')}` : ''}\n`);
}

const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-syslog-'));
try {
  process.stdout.write(`${count.toLocaleString('en-US')} messages (${mb.toFixed(1)} MB), detection ${values.rules}\n`);
  if (values.only !== 'udp') {
    await measure('tcp', 'tcp', async (port) => {
      const socket = connect(port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      for (const m of messages) {
        if (!socket.write(`${m.length} ${m.toString('latin1')}`, 'latin1')) await new Promise((r) => socket.once('drain', r));
      }
      await new Promise<void>((r) => socket.end(() => r()));
      return count;
    }, dir);
  }
  if (values.only !== 'tcp') {
    await measure('udp', 'udp', async (port) => {
      // Bursts of 500 datagrams, then a pause: a busy node's senders, not a flood the kernel buffer cannot take.
      const socket = createSocket('udp4');
      for (let i = 0; i < messages.length; i++) {
        await new Promise<void>((r) => socket.send(messages[i], port, '127.0.0.1', () => r()));
        if (i % 500 === 499) await new Promise((r) => setTimeout(r, 5));
      }
      socket.close();
      return count;
    }, dir);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
