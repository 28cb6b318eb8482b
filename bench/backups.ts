// Benchmark: what finished backups in the log directory cost the agent at start, while idle, and while the live file grows.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { readProcSample } from '../test/utils/proc.ts';
import { auditLine } from './gen-audit.ts';

/*
 * npm run bench:backups -- [--counts 1,100,1000,5000] [--idle SECONDS] [--rate EVENTS_PER_S] [--lines N] [--agent path/to/bin/kaudit.js]
 * Per count: a directory with that many gzipped backups (`--lines` events each, named as kube-apiserver names them)
 * and a live file; a first `run --once` reads them all (not measured). Then, with every backup finished:
 *   start   a second `run --once`: seconds from spawn to "kaudit started" and to "all files read to the end"
 *           (the start pass), and the info lines it logged about files
 *   idle    `run`, once its start pass is over: CPU of the whole process over `--idle` seconds, in % of one core
 *   busy    the same agent while `--rate` events per second are appended to the live file, for as long (the
 *           events' own cost included: compare rows, not this column with the idle one)
 * Figures only: tests assert behaviour, this prints numbers to compare between changes (`--agent` measures
 * another checkout's CLI).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '1,100,1000,5000' },
    idle: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
    lines: { type: 'string', default: '10' },
    agent: { type: 'string', default: join(ROOT, 'bin/kaudit.js') },
  },
});
const MAIN = resolve(values.agent);
const counts = values.counts.split(',').map(Number);
const idleSeconds = Number(values.idle);
const linesPerBackup = Number(values.lines);
const rate = Number(values.rate);
if (counts.some((n) => !Number.isInteger(n) || n < 0) || !(idleSeconds > 0) || !(linesPerBackup > 0) || !(rate > 0)) {
  process.stderr.write('bench:backups: --counts takes non-negative integers, --idle, --rate and --lines positive numbers\n');
  process.exit(2);
}

interface Agent {
  pid: number;
  startedAt: number;
  /** Resolves with the time (ms since spawn) of the first log line whose msg matches. */
  logged(msg: RegExp, timeoutMs: number): Promise<number>;
  /** Log lines seen so far whose msg matches. */
  count(msg: RegExp): number;
  exited: Promise<number | null>;
}

function startAgent(config: string, once: boolean): Agent {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [MAIN, 'run', '--config', config, ...(once ? ['--once'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  const seen: Array<{ msg: string; at: number }> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      seen.push({ msg: String((JSON.parse(line) as { msg?: unknown }).msg), at: Date.now() - startedAt });
    } catch {
      return; // not a log line
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    pid: child.pid!,
    startedAt,
    exited,
    count: (msg) => seen.filter((s) => msg.test(s.msg)).length,
    logged: (msg, timeoutMs) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line ${msg} within ${timeoutMs} ms`)), timeoutMs);
      const look = () => {
        const hit = seen.find((s) => msg.test(s.msg));
        if (hit) {
          clearTimeout(timer);
          resolve(hit.at);
        } else waiters.push(look);
      };
      look();
      void exited.then(() => setTimeout(() => {
        clearTimeout(timer);
        reject(new Error(`agent exited before logging ${msg}`));
      }, 100));
    }),
  };
}

/** `count` gzipped backups with realistic names and a live file, under `dir`. */
function writeLogs(dir: string, count: number): string {
  mkdirSync(dir, { recursive: true });
  const t0 = Date.UTC(2026, 10, 22, 0, 0, 0);
  let i = 0;
  const body = () => `${Array.from({ length: linesPerBackup }, () => auditLine(i++)).join('\n')}\n`;
  for (let k = 0; k < count; k++) {
    const stamp = new Date(t0 + k * 60_000).toISOString().slice(0, 23).replaceAll(':', '-');
    writeFileSync(join(dir, `kubernetes-${stamp}.audit.gz`), gzipSync(body()));
  }
  const live = join(dir, 'kubernetes.audit');
  writeFileSync(live, body());
  return live;
}

interface Row {
  backups: number;
  startedSeconds: number;
  caughtUpSeconds: number;
  fileLines: number;
  idleCpuPercent: number;
  busyCpuPercent: number;
}

/** CPU of process `pid` in % of one core while `during` runs. */
async function cpuPercent(pid: number, during: () => Promise<void>): Promise<number> {
  const before = readProcSample(pid);
  await during();
  const after = readProcSample(pid);
  if (!before || !after) throw new Error('the agent exited early');
  return ((after.cpuSeconds - before.cpuSeconds) / ((after.t - before.t) / 1000)) * 100;
}

/** Appends `rate` events per second to `file` for `seconds`, in 20 ms steps (one write per event, as the apiserver does). */
async function appendSteadily(file: string, seconds: number): Promise<void> {
  const t0 = Date.now();
  let written = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    for (; written < due; written++) appendFileSync(file, `${auditLine(1_000_000 + written)}\n`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function measure(count: number): Promise<Row> {
  const tmp = await mkdtemp(join(tmpdir(), 'kaudit-bench-backups-'));
  try {
    const live = writeLogs(join(tmp, 'logs'), count);
    const config = join(tmp, 'kaudit.yaml');
    await writeFile(config, [
      'log_level: info',
      `state_dir: ${JSON.stringify(join(tmp, 'state'))}`,
      'http: null',
      'sources:',
      `  audit: { kind: audit, path: ${JSON.stringify(live)} }`,
      'sinks:',
      `  out: { kind: file, path: ${JSON.stringify(join(tmp, 'out.ndjson'))} }`,
      '',
    ].join('\n'));
    const timeoutMs = 300_000;
    const caughtUp = /^all files read to the end/;

    const first = startAgent(config, true); // reads every backup once: from now on they are finished
    await first.logged(caughtUp, timeoutMs);
    if ((await first.exited) !== 0) throw new Error('the first run --once failed');

    const again = startAgent(config, true);
    const startedMs = await again.logged(/^kaudit started$/, timeoutMs);
    const caughtUpMs = await again.logged(caughtUp, timeoutMs);
    await again.exited;
    const fileLines = again.count(/^reading file$/);

    const idle = startAgent(config, false);
    await idle.logged(/^kaudit started$/, timeoutMs);
    // The start pass of this run takes about as long as the one measured above.
    await new Promise((r) => setTimeout(r, caughtUpMs + 2000));
    const idleCpuPercent = await cpuPercent(idle.pid, () => new Promise((r) => setTimeout(r, idleSeconds * 1000)));
    const busyCpuPercent = await cpuPercent(idle.pid, () => appendSteadily(live, idleSeconds));
    process.kill(idle.pid, 'SIGTERM');
    await idle.exited;
    return { backups: count, startedSeconds: startedMs / 1000, caughtUpSeconds: caughtUpMs / 1000, fileLines, idleCpuPercent, busyCpuPercent };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

process.stdout.write(`node ${process.version}, ${availableParallelism()} cores; agent ${MAIN}; ${linesPerBackup} events per backup; idle, then ${rate} events/s, over ${idleSeconds} s each\n\n`);
const cols = ['backups', 'started s', 'caught up s', 'file log lines', 'idle CPU %', 'busy CPU %'];
process.stdout.write(`${cols.map((c) => c.padStart(16)).join('')}\n`);
for (const n of counts) {
  const r = await measure(n);
  process.stdout.write(`${[String(r.backups), r.startedSeconds.toFixed(2), r.caughtUpSeconds.toFixed(2), String(r.fileLines), r.idleCpuPercent.toFixed(1), r.busyCpuPercent.toFixed(1)].map((c) => c.padStart(16)).join('')}\n`);
}
