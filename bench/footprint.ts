// Footprint benchmark: what `kaudit run` costs (CPU per thread, memory, system calls) following a live audit log at fixed rates.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnMeasured, threadCpuSeconds } from '../test/utils/proc.ts';

/*
 * npm run bench:footprint -- [--rates 0,100,1000,5000] [--warmup 10] [--window 60] [--agent path/to/bin/kaudit.js]
 *                            [--workers N] [--node-flags="--trace-gc"]
 * Per rate: a writer process appends audit events at that rate to a live file, rotating (32 MiB) and gzipping
 * backups as the apiserver does; `kaudit run` follows it with all rules on, raw events to an http sink whose
 * receiver runs in its own process, alarms to a file. After the warm-up, CPU per thread, read/write system calls
 * (/proc/PID/io) and memory (/proc/PID/status) are read at the start and end of the window. Then the writer stops,
 * the agent is stopped with SIGTERM, and the receiver's count is checked against what was written.
 * Figures only: nothing here asserts.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '0,100,1000,5000' },
    warmup: { type: 'string', default: '10' },
    window: { type: 'string', default: '60' },
    agent: { type: 'string', default: join(ROOT, 'bin/kaudit.js') },
    workers: { type: 'string' },
    /** Extra Node flags for the agent, e.g. to profile it or try a V8 setting. */
    'node-flags': { type: 'string', default: '' },
  },
});
const MAIN = resolve(values.agent);
const NODE_FLAGS = values['node-flags'].split(/\s+/).filter(Boolean);
const rates = values.rates.split(',').map(Number);
const warmupMs = Number(values.warmup) * 1000;
const windowMs = Number(values.window) * 1000;
if (rates.some((r) => !Number.isFinite(r) || r < 0) || !(windowMs > 0) || !(warmupMs >= 0)) {
  process.stderr.write('bench:footprint: --rates takes non-negative numbers, --window and --warmup seconds\n');
  process.exit(2);
}

interface Snapshot {
  t: number;
  threads: Record<string, number>;
  readCalls: number;
  writeCalls: number;
  rss: number;
  hwm: number;
  anon: number;
  file: number;
}

function snapshot(pid: number): Snapshot {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const io = readFileSync(`/proc/${pid}/io`, 'latin1');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const count = (key: string) => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return {
    t: Date.now(), threads: threadCpuSeconds(pid), readCalls: count('syscr'), writeCalls: count('syscw'),
    rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile'),
  };
}

/** Thread names grouped as operators read them: main, the parse worker(s), V8's helpers, libuv's file threads. */
function group(name: string): string {
  if (name === 'MainThread') return 'main';
  if (name === 'V8Worker') return 'v8';
  if (name.startsWith('libuv')) return 'io';
  if (name.startsWith('kaudit-')) return 'parse';
  return 'other';
}

function cpuByGroup(a: Snapshot, b: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(b.threads)) {
    const g = group(name);
    out[g] = (out[g] ?? 0) + s - (a.threads[name] ?? 0);
  }
  return out;
}

/** Reads a child's stdout as JSON lines. */
function jsonLines(child: ChildProcess): (timeoutMs: number) => Promise<Record<string, unknown> | undefined> {
  const queue: Array<Record<string, unknown>> = [];
  const waiting: Array<(v: Record<string, unknown> | undefined) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const w = waiting.shift();
    if (w) w(v);
    else queue.push(v);
  });
  return (ms) => {
    if (queue.length > 0) return Promise.resolve(queue.shift());
    return new Promise((res) => {
      const settle = (v: Record<string, unknown> | undefined) => {
        clearTimeout(timer);
        res(v);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(settle), 1);
        res(undefined);
      }, ms);
      waiting.push(settle);
    });
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  rate: number;
  cpuPct: number;
  groups: Record<string, number>;
  rss: number;
  rssMin: number;
  hwm: number;
  anon: number;
  file: number;
  readsPerS: number;
  writesPerS: number;
  delivered: string;
}

async function measure(rate: number): Promise<Row> {
  const tmp = await mkdtemp(join(tmpdir(), 'kaudit-footprint-'));
  const children: ChildProcess[] = [];
  try {
    const receiver = spawn(process.execPath, [join(ROOT, 'test/utils/receiver.ts'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(receiver);
    const fromReceiver = jsonLines(receiver);
    const port = (await fromReceiver(10_000))?.port;
    if (typeof port !== 'number') throw new Error('receiver did not start');
    const writer = spawn(process.execPath, [join(ROOT, 'bench/footprint-writer.ts'), '--dir', join(tmp, 'logs'), '--rate', String(rate)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(writer);
    const fromWriter = jsonLines(writer);
    if ((await fromWriter(10_000))?.started !== true) throw new Error('writer did not start');

    const config = join(tmp, 'kaudit.yaml');
    await writeFile(config, [
      'log_level: warn',
      `state_dir: ${JSON.stringify(join(tmp, 'state'))}`,
      'http: { listen: "127.0.0.1:0" }',
      ...(values.workers === undefined ? [] : [`workers: ${values.workers}`]),
      'sources:',
      `  audit: { kind: audit, path: ${JSON.stringify(join(tmp, 'logs', 'kubernetes.audit'))} }`,
      'sinks:',
      `  siem: { kind: http, url: "http://127.0.0.1:${port}/ingest", inputs: [audit] }`,
      `  alarms: { kind: file, path: ${JSON.stringify(join(tmp, 'alarms.ndjson'))}, inputs: [alarms] }`,
      '',
    ].join('\n'));
    const agent = spawnMeasured(process.execPath, [...NODE_FLAGS, MAIN, 'run', '--config', config], { cwd: ROOT, sampleMs: 1000 });
    children.push(agent.child);
    await sleep(warmupMs);
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${(await agent.exited).stderr.slice(-500)}`);
    const a = snapshot(agent.pid);
    const rssSamples: number[] = [];
    for (let left = windowMs; left > 0; left -= 1000) {
      await sleep(Math.min(1000, left));
      rssSamples.push(snapshot(agent.pid).rss);
    }
    const b = snapshot(agent.pid);

    writer.kill('SIGTERM');
    const written = Number((await fromWriter(10_000))?.written ?? NaN);
    await sleep(3000); // the last events reach the receiver
    const { exit } = await agent.stop('SIGTERM', 20_000);
    receiver.kill('SIGTERM');
    let final: Record<string, unknown> | undefined;
    while ((final = await fromReceiver(5000)) !== undefined && final.final !== true);
    const received = Number(final?.received ?? NaN);
    const alarms = await readFile(join(tmp, 'alarms.ndjson'), 'utf8').then((t) => t.split('\n').filter(Boolean).length, () => 0);

    const seconds = (b.t - a.t) / 1000;
    const groups = cpuByGroup(a, b);
    const cpu = Object.values(groups).reduce((x, y) => x + y, 0);
    return {
      rate,
      cpuPct: (100 * cpu) / seconds,
      groups: Object.fromEntries(Object.entries(groups).map(([g, s]) => [g, (100 * s) / seconds])),
      rss: b.rss, rssMin: Math.min(...rssSamples), hwm: b.hwm, anon: b.anon, file: b.file,
      readsPerS: (b.readCalls - a.readCalls) / seconds,
      writesPerS: (b.writeCalls - a.writeCalls) / seconds,
      delivered: `${received}/${written}${received === written ? '' : ' (MISSING)'}, ${alarms} alarms, exit ${exit.code ?? exit.signal}`,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  }
}

const MiB = 1024 * 1024;
process.stdout.write(`node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? '?'}); `
  + `${values.warmup} s warm-up, ${values.window} s window per rate; ${MAIN}\n\n`);
process.stdout.write(`${['events/s', 'CPU %', 'main', 'parse', 'v8', 'io', 'RSS MiB', '(min)', 'VmHWM', 'anon', 'file', 'reads/s', 'writes/s'].map((c) => c.padStart(8)).join(' ')}  delivered\n`);
for (const rate of rates) {
  const r = await measure(rate);
  const pct = (v: number | undefined) => (v ?? 0).toFixed(1).padStart(8);
  const mib = (v: number) => (v / MiB).toFixed(0).padStart(8);
  process.stdout.write(`${String(rate).padStart(8)} ${pct(r.cpuPct)} ${pct(r.groups.main)} ${pct(r.groups.parse)} ${pct(r.groups.v8)} ${pct(r.groups.io)} `
    + `${mib(r.rss)} ${mib(r.rssMin)} ${mib(r.hwm)} ${mib(r.anon)} ${mib(r.file)} ${r.readsPerS.toFixed(0).padStart(8)} ${r.writesPerS.toFixed(0).padStart(8)}  ${r.delivered}\n`);
}
