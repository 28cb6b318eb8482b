// Benchmark runner: throughput, CPU and peak RSS of the floor loop, `kaudit scan` and `kaudit run` on one generated audit log.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runMeasured, spawnMeasured, threadCpuSeconds } from '../test/utils/proc.ts';
import { FakeNode } from '../test/utils/kubelet.ts';
import { DEFAULT_SEED, GENERATOR_VERSION, writeAuditFile } from './gen-audit.ts';

/*
 * npm run bench -- [--events N] [--only floor,scan,run,run-gzip] [--seed S] [--timeout SECONDS] [--agent path/to/bin/kaudit.js]
 *                   [--node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"]
 *   floor  bench/floor.ts: read, split, JSON.parse, single thread: what plain Node costs per event
 *   scan   `kaudit scan FILE`, one shot
 *   run    `kaudit run` tailing the file into an http sink (ndjson, gzip) whose receiver runs in its own
 *          process; timed from spawn until the receiver has N events, CPU and VmHWM read from the
 *          agent's /proc entry just before SIGTERM
 *          [--containers P --container-lines L]: with a busy containers source beside it (P pods, L lines each)
 * Figures only: tests assert behaviour, this prints numbers to compare between changes.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODES = ['floor', 'scan', 'run', 'run-gzip'] as const;
type Mode = (typeof MODES)[number];

interface Row {
  mode: Mode;
  events?: number;
  wallSeconds?: number;
  cpuSeconds?: number;
  peakRssBytes?: number;
  note: string;
}

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    only: { type: 'string', default: MODES.join(',') },
    seed: { type: 'string', default: String(DEFAULT_SEED) },
    timeout: { type: 'string', default: '90' },
    /** The CLI entry to measure (another checkout's, to compare). */
    agent: { type: 'string', default: join(ROOT, 'bin/kaudit.js') },
    /**
     * run, run-gzip: a containers source beside the audit source, on this many pods of a kubelet-shaped node whose logs
     * hold `container-lines` lines each when the agent starts (read at full speed while the audit file is): what a
     * busy node's container logs take from the audit path. Their records go to a file sink.
     */
    containers: { type: 'string', default: '0' },
    'container-lines': { type: 'string', default: '20000' },
    /** Extra Node flags for the agent (scan and run), e.g. to profile it. */
    'node-flags': { type: 'string', default: '' },
  },
});
const MAIN = resolve(values.agent);
const NODE_FLAGS = values['node-flags'].split(/\s+/).filter(Boolean);
const N = Number(values.events);
const seed = Number(values.seed);
const timeoutMs = Number(values.timeout) * 1000;
const only = new Set(values.only.split(',').map((s) => s.trim()).filter(Boolean));
for (const m of only) {
  if (!(MODES as readonly string[]).includes(m)) {
    process.stderr.write(`bench: unknown mode "${m}" in --only; expected some of ${MODES.join(',')}\n`);
    process.exit(2);
  }
}
if (!Number.isInteger(N) || N <= 0) {
  process.stderr.write('bench: --events must be a positive integer\n');
  process.exit(2);
}

// One directory per data set: the agent treats `<name>-<time>.<ext>` files beside the live file as backups.
const dataDir = join(ROOT, 'bench/data', `audit-n${N}-s${seed}-v${GENERATOR_VERSION}`);
const file = join(dataDir, 'kubernetes.audit');
if (!existsSync(file)) {
  mkdirSync(dataDir, { recursive: true });
  const t0 = performance.now();
  process.stdout.write(`generating ${N} events into ${relative(ROOT, file)} … `);
  writeAuditFile(file, N, seed);
  process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
const fileBytes = statSync(file).size;
process.stdout.write(
  `node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? '?'}); ` +
    `${N} events, ${(fileBytes / 1e6).toFixed(1)} MB, mean ${Math.round(fileBytes / N)} bytes/line\n\n`,
);

// ---- modes ---------------------------------------------------------------------------------

async function floor(): Promise<Row> {
  const r = await runMeasured(process.execPath, [join(ROOT, 'bench/floor.ts'), file], { cwd: ROOT, timeoutMs });
  if (r.code !== 0) return { mode: 'floor', note: `failed (${exitText(r.code, r.signal)}): ${firstLine(r.stderr)}` };
  const out = JSON.parse(r.stdout.trim()) as { events: number };
  return {
    mode: 'floor',
    events: out.events,
    wallSeconds: r.wallSeconds,
    cpuSeconds: r.cpuSeconds,
    peakRssBytes: r.peakRssBytes,
    note: 'read 4 MiB chunks, split, JSON.parse every line',
  };
}

async function scan(): Promise<Row> {
  if (!existsSync(MAIN)) return { mode: 'scan', note: 'not available yet' };
  const r = await runMeasured(process.execPath, [...NODE_FLAGS, MAIN, 'scan', file], { cwd: ROOT, timeoutMs });
  if (r.timedOut) return { mode: 'scan', note: `timed out after ${timeoutMs / 1000} s` };
  if (r.code !== 0 && r.code !== 3) return { mode: 'scan', note: `${unavailable(r.stderr)} (${exitText(r.code, r.signal)}: ${firstLine(r.stderr || r.stdout)})` };
  // `total: 1 files, N events, …`: check the scan saw every event.
  const seen = /total:.*?(\d+) events/.exec(r.stdout)?.[1];
  const note =
    seen === undefined
      ? 'one-shot; its output gave no event count, rates assume all events'
      : Number(seen) === N
        ? 'one-shot, all events seen'
        : `one-shot, but it reported ${seen} events`;
  return { mode: 'scan', events: N, wallSeconds: r.wallSeconds, cpuSeconds: r.cpuSeconds, peakRssBytes: r.peakRssBytes, note };
}

/** `kaudit run` into the receiver; `run` uses the sink's defaults (no compression), `run-gzip` gzip level 1. */
async function run(mode: 'run' | 'run-gzip' = 'run'): Promise<Row> {
  if (!existsSync(MAIN)) return { mode, note: 'not available yet' };
  const tmp = await mkdtemp(join(tmpdir(), 'kaudit-bench-'));
  const receiver = spawn(process.execPath, [join(ROOT, 'test/utils/receiver.ts'), '--port', '0', '--expect', String(N)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const recvLines = jsonLines(receiver);
  try {
    const first = await recvLines.next(10_000);
    const port = (first as { port?: number } | undefined)?.port;
    if (port === undefined) return { mode, note: 'receiver did not start' };

    const config = join(tmp, 'kaudit.yaml');
    const containers = await busyContainers(tmp);
    await writeFile(
      config,
      [
        'log_level: warn',
        `state_dir: ${JSON.stringify(join(tmp, 'state'))}`,
        'http: null',
        `workers: ${process.env.KAUDIT_BENCH_WORKERS ?? 1}`,
        'sources:',
        `  audit: { kind: audit, path: ${JSON.stringify(file)} }`,
        ...containers.sources,
        'sinks:',
        '  bench:',
        '    kind: http',
        `    url: http://127.0.0.1:${port}/ingest`,
        '    format: ndjson',
        `    compression: ${mode === 'run-gzip' ? 'gzip' : 'none'}`,
        '    inputs: [audit]',
        '  alarms:',
        '    kind: file',
        `    path: ${JSON.stringify(join(tmp, 'alarms.ndjson'))}`,
        '    inputs: [alarms]',
        ...containers.sinks,
        '',
      ].join('\n'),
    );
    const agent = spawnMeasured(process.execPath, [...NODE_FLAGS, MAIN, 'run', '--config', config], { cwd: ROOT, sampleMs: 100 });
    const agentExit = agent.exited.then((e) => ({ kind: 'exit' as const, e }));
    const done = recvLines.next(timeoutMs).then((d) => ({ kind: 'done' as const, d: d as ReceivedLine | undefined }));
    const first_ = await Promise.race([done, agentExit]);
    if (first_.kind === 'exit') {
      const e = first_.e;
      return { mode, note: `${unavailable(e.stderr)} (agent exited early, ${exitText(e.code, e.signal)}: ${firstLine(e.stderr || e.stdout)})` };
    }
    const got = first_.d;
    const threads = threadCpuSeconds(agent.pid);
    // The receiver shares the two cores with the agent: its CPU is part of what the run costs the machine.
    const receiverCpu = Object.values(threadCpuSeconds(receiver.pid!)).reduce((a, b) => a + b, 0);
    const { beforeSignal, exit } = await agent.stop('SIGTERM', 15_000);
    const shutdownSeconds = (Date.now() - (beforeSignal?.t ?? Date.now())) / 1000;
    const final = (await stopReceiver(receiver, recvLines)) as ReceivedLine | undefined;
    if (got?.received === undefined) {
      return {
        mode,
        note: `timed out after ${timeoutMs / 1000} s: receiver had ${final?.received ?? '?'} of ${N} events${exit.stderr ? `; agent: ${firstLine(exit.stderr)}` : ''}`,
      };
    }
    const wallSeconds = (got.doneAt - agent.startedAt) / 1000;
    const notes = [
      `first event after ${((got.firstAt - agent.startedAt) / 1000).toFixed(2)} s`,
      `shutdown ${shutdownSeconds.toFixed(2)} s (${exitText(exit.code, exit.signal)})`,
      `${(got.wireBytes / 1e6).toFixed(1)} MB${mode === 'run-gzip' ? ' gzip' : ''} in ${got.requests} requests`,
    ];
    if (final && final.received > N) notes.push(`${final.received - N} duplicates`);
    const alarms = await readFile(join(tmp, 'alarms.ndjson'), 'utf8').then((t) => t.split('\n').filter(Boolean).length, () => 0);
    notes.push(`${alarms} alarm records (all rules on)`);
    notes.push(`CPU s by thread: ${threadSummary(threads)}`);
    notes.push(`receiver CPU ${receiverCpu.toFixed(2)} s`);
    if (containers.out !== undefined) {
      const lines = await readFile(containers.out).then((b) => b.reduce((n, c) => n + (c === 0x0a ? 1 : 0), 0), () => 0);
      notes.push(`beside it ${containers.pods} pods' container logs: ${lines} of ${containers.lines} lines delivered by the end`);
    }
    if (got.invalid > 0) notes.push(`${got.invalid} sampled lines were not JSON`);
    return {
      mode,
      events: N,
      wallSeconds,
      cpuSeconds: beforeSignal ? beforeSignal.cpuSeconds + beforeSignal.childrenCpuSeconds : undefined,
      peakRssBytes: Math.max(beforeSignal?.hwmBytes ?? 0, agent.sampler.peakRssBytes),
      note: notes.join(', '),
    };
  } finally {
    if (receiver.exitCode === null && receiver.signalCode === null) receiver.kill('SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The config lines of the busy containers source (--containers) and its sink, its pods' logs written; none without it. */
async function busyContainers(tmp: string): Promise<{ sources: string[]; sinks: string[]; out?: string; pods: number; lines: number }> {
  const pods = Number(values.containers);
  const perPod = Number(values['container-lines']);
  if (!(pods > 0)) return { sources: [], sinks: [], pods: 0, lines: 0 };
  const node = await new FakeNode(tmp).init();
  for (let p = 0; p < pods; p++) {
    const [c] = await node.pod('shop', `web-${p}`, ['app']);
    for (let from = 0; from < perPod; from += 5000) {
      const messages = Array.from({ length: Math.min(5000, perPod - from) }, (_, i) => JSON.stringify({ level: 'info', logger: 'orders', msg: 'order processed', order_id: `o-${p}-${from + i}`, duration_ms: (from + i) % 300 }));
      await c.print(messages);
    }
  }
  const out = join(tmp, 'containers.ndjson');
  return {
    sources: [`  pods: { kind: containers, path: ${JSON.stringify(node.links)}, pods_path: ${JSON.stringify(node.pods)} }`],
    sinks: ['  containers:', '    kind: file', `    path: ${JSON.stringify(out)}`, '    inputs: [pods]'],
    out, pods, lines: pods * perPod,
  };
}

/** `main 3.1, kaudit-parse-0 4.2, v8-helpers 0.9, io 0.4`: where the agent's CPU went (threads alive at the end; V8's helpers collect garbage and compile hot code). */
function threadSummary(threads: Record<string, number>): string {
  const groups: Record<string, number> = {};
  for (const [name, s] of Object.entries(threads)) {
    const g = name === 'MainThread' ? 'main' : name === 'V8Worker' ? 'v8-helpers' : name.startsWith('libuv') ? 'io' : name.startsWith('kaudit-') ? name : 'other';
    groups[g] = (groups[g] ?? 0) + s;
  }
  return Object.entries(groups).filter(([, s]) => s >= 0.01).map(([g, s]) => `${g} ${s.toFixed(2)}`).join(', ');
}

interface ReceivedLine {
  received: number;
  bytes: number;
  wireBytes: number;
  requests: number;
  firstAt: number;
  doneAt: number;
  invalid: number;
}

/** Reads a child's stdout as JSON lines; next() resolves with the next one, or undefined on timeout or end. */
function jsonLines(child: ChildProcess): { next(timeoutMs: number): Promise<unknown> } {
  const queue: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  let ended = false;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    const w = waiting.shift();
    if (w) w(v);
    else queue.push(v);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return {
    next(ms: number): Promise<unknown> {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          const k = waiting.indexOf(settle);
          if (k >= 0) waiting.splice(k, 1);
          resolve(undefined);
        }, ms);
        const settle = (v: unknown): void => {
          clearTimeout(timer);
          resolve(v);
        };
        waiting.push(settle);
      });
    },
  };
}

/** SIGTERM makes the receiver print its final counts; returns them. */
async function stopReceiver(receiver: ChildProcess, lines: { next(ms: number): Promise<unknown> }): Promise<unknown> {
  receiver.kill('SIGTERM');
  for (;;) {
    const v = (await lines.next(5000)) as { final?: boolean } | undefined;
    if (v === undefined || v.final) return v;
  }
}

// ---- output --------------------------------------------------------------------------------

/** A command the CLI does not know yet is "not available"; anything else that exits is a failure. */
function unavailable(stderr: string): string {
  return /unknown command/.test(stderr) ? 'not available yet' : 'failed';
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit ${code}`;
}

/** The most telling line of an error output: the first naming an error, else the first non-empty one. */
function firstLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim() !== '');
  const line = (
    lines.find((l) => /^\s*(\w*Error( \[\w+\])?:|kaudit:)/.test(l)) ?? lines.find((l) => /\b\w*Error\b/.test(l)) ?? lines[0] ?? ''
  ).trim();
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}

const COLS = ['mode', 'events/s', 'MB/s', 'wall s', 'CPU s', 'events/CPU-s', 'peak RSS MB', 'note'];
const WIDTHS = [8, 10, 7, 7, 7, 13, 12, 0];

function printRow(r: Row, header: boolean): void {
  const fmt = (cells: string[]): string =>
    cells.map((c, k) => (k === 0 ? c.padEnd(WIDTHS[k]) : WIDTHS[k] ? c.padStart(WIDTHS[k]) : c)).join('  ');
  if (header) process.stdout.write(`${fmt(COLS)}\n`);
  const have = r.wallSeconds !== undefined && r.events !== undefined;
  const eps = have ? r.events! / r.wallSeconds! : undefined;
  const mbps = have ? fileBytes / 1e6 / r.wallSeconds! : undefined;
  const perCpu = r.cpuSeconds && r.events !== undefined ? r.events / r.cpuSeconds : undefined;
  const num = (v: number | undefined, digits = 0): string => (v === undefined ? '–' : v.toFixed(digits));
  process.stdout.write(
    `${fmt([
      r.mode,
      num(eps),
      num(mbps, 1),
      num(r.wallSeconds, 2),
      num(r.cpuSeconds, 2),
      num(perCpu),
      num(r.peakRssBytes === undefined ? undefined : r.peakRssBytes / 1e6, 0),
      r.note,
    ])}\n`,
  );
}

// ---- main ----------------------------------------------------------------------------------

let printed = 0;
for (const mode of MODES) {
  if (!only.has(mode)) continue;
  const row = mode === 'floor' ? await floor() : mode === 'scan' ? await scan() : await run(mode);
  printRow(row, printed++ === 0);
}
process.stdout.write('\n');
