// Benchmark harness for one sink kind: records/s and MB/s the sink reaches against its fake backend, run as its own process.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.ts';
import type { SinkConfig } from '../src/config/schema.ts';
import type { OutRecord } from '../src/delivery/record.ts';
import { sinkKinds } from '../src/sinks/index.ts';
import type { SinkKind } from '../src/sinks/types.ts';
import { auditIdFor, auditLine } from './gen-audit.ts';

/*
 * npm run bench:sink:<kind> -- [--records N] [--batch N] [--compression gzip|none] [--rounds N]
 * Generates N realistic audit events (gen-audit.ts, ~1.7 KB each), starts the fake backend (test/utils/fake-*.ts) as a
 * child process, and sends the events through the sink as the delivery layer does (batches of --batch, the next one
 * encoded while the previous is in flight, one in flight at a time). Prints, per round: records/s, MB/s of records
 * (their JSON bytes), MB/s on the wire, and the sink process's CPU seconds; the backend's count checks that every
 * record arrived. The backend shares the machine's cores: compare runs made side by side.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface SinkBench {
  kind: keyof typeof sinkKinds;
  /** The fake backend's script, relative to the repository. */
  fake: string;
  /** The sink's config (kind-specific fields), given the fake's base URL. */
  config(url: string): Record<string, unknown>;
  /** What the backend's final line counts as delivered records. */
  countField: string;
}

export async function runSinkBench(bench: SinkBench): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '50000' },
      batch: { type: 'string', default: '1000' },
      compression: { type: 'string', default: 'gzip' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const n = Number(values.records);
  const batchSize = Number(values.batch);
  const records: OutRecord[] = [];
  let recordBytes = 0;
  for (let i = 0; i < n; i++) {
    const payload = Buffer.from(auditLine(i));
    recordBytes += payload.length;
    records.push({ id: `${auditIdFor(i)}/ResponseComplete`, kind: 'log', source: 'audit', payload });
  }
  console.log(`${bench.kind}: ${n} records, ${(recordBytes / 1e6).toFixed(1)} MB, batches of ${batchSize}, compression ${values.compression}`);

  for (let round = 1; round <= Number(values.rounds); round++) {
    const fake = spawn(process.execPath, [join(ROOT, bench.fake), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: fake.stdout! })[Symbol.asyncIterator]();
    const { port } = JSON.parse((await lines.next()).value as string) as { port: number };
    const cfg = parseConfig({ sinks: { s: { kind: bench.kind, ...bench.config(`http://127.0.0.1:${port}`), compression: values.compression } } }).sinks.s as SinkConfig;
    const kind = sinkKinds[bench.kind] as SinkKind;
    const sink = await kind.create(cfg as never, { name: 's', logger: pino({ level: 'warn' }), stateDir: ROOT, cluster: { name: 'bench', id: '' } });
    const signal = new AbortController().signal;
    let wire = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const encode = (from: number) => (from < n ? Promise.resolve(sink.encode(records.slice(from, from + batchSize))) : undefined);
    let next = encode(0);
    for (let from = 0; next !== undefined; from += batchSize) {
      const encoded = await next;
      next = encode(from + batchSize);
      wire += (encoded as { body?: Buffer }).body?.length ?? (encoded as Buffer).length;
      const verdict = await sink.send(encoded, signal);
      if (verdict.kind !== 'delivered') throw new Error(`batch at ${from}: ${JSON.stringify(verdict)}`);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    await sink.close();
    fake.kill('SIGTERM');
    const counts = JSON.parse((await lines.next()).value as string) as Record<string, number>;
    if (counts[bench.countField] !== n) throw new Error(`the backend counted ${counts[bench.countField]} of ${n} records`);
    console.log(`round ${round}: ${Math.round(n / seconds)} records/s, ${(recordBytes / 1e6 / seconds).toFixed(1)} MB/s of records, `
      + `${(wire / 1e6 / seconds).toFixed(1)} MB/s on the wire (${(wire / 1e6).toFixed(1)} MB), sink CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s in ${seconds.toFixed(2)} s, `
      + `${counts.requests} requests`);
  }
}
