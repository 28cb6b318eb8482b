// Benchmark of the `sls` sink: records/s and MB/s it sends to the fake SLS (in its own thread), deflate and lz4.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { OutRecord } from '../src/delivery/record.ts';
import { slsSink } from '../src/sinks/sls.ts';
import type { Sink } from '../src/sinks/types.ts';
import { FakeSls } from '../test/utils/fake-sls.ts';
import { auditLine } from './gen-audit.ts';

/*
 * npm run bench:sink:sls -- [--events N] [--batch N] [--compression deflate,lz4,none]
 * Generated audit events (bench/gen-audit.ts) go through the sink's encode and send, batch after batch with the next
 * batch encoded while one is in flight (as the delivery driver does), to the fake SLS, which runs in a worker thread
 * and checks each request in full (signature, MD5, decompression, protobuf decoding). Timed from the first encode to
 * the last answer. MB/s counts the records' own bytes (the audit events as read); the wire column is what was sent.
 * CPU: the sink's, all threads of the process (encoding on the main thread, compression on the thread pool) less the
 * fake's thread, per record: less sensitive than the rates to other load on the machine.
 * Figures only: tests assert behaviour, this prints numbers to compare between changes.
 */

const KEY = { id: 'LTAIbench', secret: 'bench-secret' };

const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;
const PROJECT = 'bench-project';
const LOGSTORE = 'bench-store';

if (!isMainThread) {
  // The fake, on its own thread: its checks and decoding do not take the sink's time.
  const fake = await FakeSls.start({ keys: { [KEY.id]: { secret: KEY.secret } }, projects: { [PROJECT]: [LOGSTORE] }, keep: false });
  parentPort!.on('message', (msg: string) => {
    if (msg === 'stats') parentPort!.postMessage({ ...fake.accepted, cpu: cpuSeconds(process.threadCpuUsage()) });
    else void fake.close().then(() => parentPort!.close());
  });
  parentPort!.postMessage({ endpoint: fake.endpoint(), ...workerData });
} else {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '50000' },
      batch: { type: 'string', default: '1000' },
      compression: { type: 'string', default: 'deflate,lz4' },
    },
  });
  const events = Number(values.events);
  const batchSize = Number(values.batch);
  const records: OutRecord[] = Array.from({ length: events }, (_, i) => ({ id: `r${i}`, kind: 'log', source: 'audit', payload: Buffer.from(auditLine(i)) }));
  const recordBytes = records.reduce((n, r) => n + r.payload.length, 0);
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-sls-'));
  process.env.BENCH_SLS_ID = KEY.id;
  process.env.BENCH_SLS_SECRET = KEY.secret;
  console.log(`${events} audit events, ${(recordBytes / 1e6).toFixed(1)} MB, batches of ${batchSize}`);
  console.log('compression   records/s   MB/s (records)   MB/s (wire)   CPU µs/record   LogGroup/records   requests');
  try {
    for (const compression of values.compression.split(',')) {
      const worker = new Worker(new URL(import.meta.url), { workerData: {} });
      const [{ endpoint }] = (await once(worker, 'message')) as [{ endpoint: string }];
      const options = slsSink.options.parse({
        endpoint, project: PROJECT, logstore: LOGSTORE, compression,
        access_key_id: { env: 'BENCH_SLS_ID' }, access_key_secret: { env: 'BENCH_SLS_SECRET' },
      });
      const sink = await slsSink.create(options, { name: 'bench', logger: pino({ level: 'silent' }), stateDir: dir }) as Sink<unknown>;
      // Warm up: the first batch loads protobufjs, undici and lz4 and opens the connection.
      await sink.send(await sink.encode(records.slice(0, 10)), new AbortController().signal);
      const cpuBefore = cpuSeconds(process.cpuUsage());
      worker.postMessage('stats');
      const [{ cpu: fakeCpuBefore }] = (await once(worker, 'message')) as [{ cpu: number }];
      const started = performance.now();
      let requests = 0;
      let next = sink.encode(records.slice(0, batchSize));
      for (let at = 0; at < events; at += batchSize) {
        const encoded = await next;
        if (at + batchSize < events) next = sink.encode(records.slice(at + batchSize, at + 2 * batchSize));
        const verdict = await sink.send(encoded, new AbortController().signal);
        if (verdict.kind !== 'delivered') throw new Error(`batch at ${at}: ${JSON.stringify(verdict)}`);
        requests++;
      }
      const seconds = (performance.now() - started) / 1000;
      worker.postMessage('stats');
      const [stats] = (await once(worker, 'message')) as [{ logs: number; wireBytes: number; rawBytes: number; cpu: number }];
      const sinkCpu = cpuSeconds(process.cpuUsage()) - cpuBefore - (stats.cpu - fakeCpuBefore);
      worker.postMessage('close');
      await sink.close();
      await once(worker, 'exit');
      if (stats.logs !== events + 10) throw new Error(`the fake accepted ${stats.logs} logs, expected ${events + 10}`);
      console.log([
        compression.padEnd(12),
        String(Math.round(events / seconds)).padStart(10),
        (recordBytes / 1e6 / seconds).toFixed(1).padStart(16),
        (stats.wireBytes / 1e6 / seconds).toFixed(1).padStart(13),
        (sinkCpu / events * 1e6).toFixed(0).padStart(15),
        (stats.rawBytes / recordBytes).toFixed(2).padStart(18),
        String(requests).padStart(10),
      ].join(' '));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
