// Benchmark: records/s and MB/s the syslog sink reaches against a local rsyslogd, per transport, batching on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { OutRecord } from '../src/delivery/record.ts';
import { syslogSink } from '../src/sinks/syslog.ts';
import { startRsyslog, type Rsyslog } from '../test/utils/rsyslog.ts';
import { makeTestCerts } from '../test/utils/tls.ts';
import { auditLine } from './gen-audit.ts';

/*
 * npm run bench:sink:syslog -- [--records N] [--batch N] [--transports udp,tcp,tls,relp,relp-tls]
 * Per transport: one sink, `--records` audit events (~1.7 KB each, from gen-audit) in batches of `--batch`, each batch
 * encoded and sent as the delivery driver does (one at a time). Time runs from the first batch to the last one
 * delivered (tcp, tls: written to the socket; relp: every message acknowledged) and, for the second figure, to
 * rsyslogd having written every message to its file (its own work included). UDP: datagrams rsyslogd did not get are
 * counted as lost. rsyslogd queues messages in memory (its default), so imrelp acknowledges before they are written.
 * Figures only: tests assert behaviour, this prints numbers to compare between changes.
 */

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '1000' },
    transports: { type: 'string', default: 'udp,tcp,tls,relp,relp-tls' },
  },
});
const RECORDS = Number(values.records);
const BATCH = Number(values.batch);

const records: OutRecord[] = Array.from({ length: RECORDS }, (_, i) => {
  const payload = Buffer.from(auditLine(i));
  return { id: String(i), kind: 'log', source: 'audit', payload };
});
const payloadBytes = records.reduce((n, r) => n + r.payload.length, 0);

const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-syslog-'));
const certs = await makeTestCerts();
const logger = pino({ level: 'silent' });
const tls = { ca_file: certs.caFile, cert_file: certs.client.certFile, key_file: certs.client.keyFile };

function optionsFor(name: string, rsyslog: Rsyslog): Record<string, unknown> {
  const p = rsyslog.ports;
  switch (name) {
    case 'udp': return { transport: 'udp', port: p.udp };
    case 'tcp': return { transport: 'tcp', port: p.tcp };
    case 'tls': return { transport: 'tls', port: p.tls, tls };
    case 'relp': return { transport: 'relp', port: p.relp };
    case 'relp-tls': return { transport: 'relp', port: p.relpTls, tls };
    default: throw new Error(`unknown transport ${name}; expected udp, tcp, tls, relp or relp-tls`);
  }
}

console.log(`${RECORDS} records, ${(payloadBytes / 1e6).toFixed(1)} MB of JSON, batches of ${BATCH}`);
console.log('transport  sent: records/s    MB/s | written by rsyslogd: records/s    MB/s | lost');
try {
  for (const name of values.transports.split(',')) {
    // A fresh rsyslogd per transport, so each file holds only that run's messages.
    const rsyslog = await startRsyslog({ certs, queued: true });
    try {
      const sink = await syslogSink.create(syslogSink.options.parse({ host: '127.0.0.1', ...optionsFor(name, rsyslog) }), { name, logger, stateDir: dir });
      const signal = new AbortController().signal;
      const start = process.hrtime.bigint();
      for (let i = 0; i < RECORDS; i += BATCH) {
        const encoded = await sink.encode(records.slice(i, i + BATCH));
        const verdict = await sink.send(encoded, signal);
        if (verdict.kind !== 'delivered') throw new Error(`${name}: batch at ${i} not delivered: ${JSON.stringify(verdict)}`);
      }
      const sentS = Number(process.hrtime.bigint() - start) / 1e9;
      // Written: all of them, or (UDP) no more coming for a second.
      let written = 0;
      let lastChange = Date.now();
      while (written < RECORDS && Date.now() - lastChange < 1000) {
        await new Promise((r) => setTimeout(r, 20));
        const now = await rsyslog.count();
        if (now !== written) lastChange = Date.now();
        written = now;
      }
      const writtenS = Number(process.hrtime.bigint() - start) / 1e9 - (written < RECORDS ? 1 : 0);
      await sink.close();
      const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en').padStart(9)} ${(payloadBytes * (n / RECORDS) / 1e6 / s).toFixed(1).padStart(7)}`;
      console.log(`${name.padEnd(10)} ${' '.repeat(6)}${rate(RECORDS, sentS)} | ${' '.repeat(19)}${rate(written, writtenS)} | ${RECORDS - written}`);
    } finally {
      await rsyslog.close();
    }
  }
} finally {
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
}
