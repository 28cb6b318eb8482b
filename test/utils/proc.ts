// Child-process measurement from /proc: CPU seconds (all threads), peak RSS, and RSS sampled over time.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface ProcSample {
  /** Date.now() when read. */
  t: number;
  /** utime + stime of the whole process: every thread, including threads that already ended. */
  cpuSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** cutime + cstime: children the process has waited for. */
  childrenCpuSeconds: number;
  /** VmRSS. */
  rssBytes: number;
  /** VmHWM: peak RSS so far. */
  hwmBytes: number;
  threads: number;
}

let ticks: number | undefined;

/** USER_HZ, the unit of the times in /proc/<pid>/stat (100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field, which may itself contain spaces and parentheses. */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** One reading of /proc/<pid>/stat and /proc/<pid>/status; undefined once the process is gone. */
export function readProcSample(pid: number): ProcSample | undefined {
  try {
    const f = statFields(pid); // f[0] is field 3 (state), so field n is f[n - 3]
    const hz = clockTicksPerSecond();
    const user = Number(f[11]) / hz;
    const system = Number(f[12]) / hz;
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return {
      t: Date.now(),
      cpuSeconds: user + system,
      userSeconds: user,
      systemSeconds: system,
      childrenCpuSeconds: (Number(f[13]) + Number(f[14])) / hz,
      rssBytes: statusKb(status, 'VmRSS') * 1024,
      hwmBytes: statusKb(status, 'VmHWM') * 1024,
      threads: Number(f[17]),
    };
  } catch {
    return undefined;
  }
}

function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : 0; // a zombie has no memory lines
}

/**
 * CPU seconds of the live threads of a process, summed by thread name (`MainThread`, a worker's name,
 * `V8Worker` for the garbage collector's helpers, `libuv-worker` for the file-system pool). Threads that
 * already ended are not counted. Empty once the process is gone.
 */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const hz = clockTicksPerSecond();
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / hz;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU seconds of this process's children that have exited and been reaped (cutime + cstime). */
export function reapedChildrenCpuSeconds(): number {
  const f = statFields('self');
  return (Number(f[13]) + Number(f[14])) / clockTicksPerSecond();
}

/** Samples a process at a fixed interval until stopped or gone. */
export class ProcSampler {
  readonly pid: number;
  readonly intervalMs: number;
  readonly samples: ProcSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(pid: number, intervalMs = 100) {
    this.pid = pid;
    this.intervalMs = intervalMs;
  }

  start(): this {
    this.sampleNow();
    this.timer ??= setInterval(() => {
      if (this.sampleNow() === undefined) this.stop();
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Reads now and keeps the sample. */
  sampleNow(): ProcSample | undefined {
    const s = readProcSample(this.pid);
    if (s) this.samples.push(s);
    return s;
  }

  /** Stops the timer; returns the last sample. */
  stop(): ProcSample | undefined {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.last;
  }

  get last(): ProcSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Highest VmHWM (or VmRSS) seen. */
  get peakRssBytes(): number {
    let peak = 0;
    for (const s of this.samples) peak = Math.max(peak, s.hwmBytes, s.rssBytes);
    return peak;
  }
}

export interface RssSummary {
  samples: number;
  first: number;
  last: number;
  min: number;
  max: number;
  /** Max after the warm-up minus max during the first half after it: near 0 when memory is bounded. */
  lateGrowth: number;
}

/**
 * RSS over a run, ignoring the first `warmupMs`, for "memory stays bounded" assertions:
 * compare `max` with a budget, and `lateGrowth` with a small slack (a leak keeps growing late).
 */
export function summarizeRss(samples: readonly ProcSample[], warmupMs = 0): RssSummary {
  const t0 = samples[0]?.t ?? 0;
  const s = samples.filter((x) => x.t - t0 >= warmupMs);
  if (s.length === 0) return { samples: 0, first: 0, last: 0, min: 0, max: 0, lateGrowth: 0 };
  const rss = s.map((x) => x.rssBytes);
  const half = Math.max(1, Math.floor(rss.length / 2));
  const early = Math.max(...rss.slice(0, half));
  const late = Math.max(...rss.slice(half).concat(0));
  return { samples: s.length, first: rss[0], last: rss[rss.length - 1], min: Math.min(...rss), max: Math.max(...rss), lateGrowth: Math.max(0, late - early) };
}

/** Keeps the last `limit` bytes of a stream, and counts all of them. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  total = 0;
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  push(c: Buffer): void {
    this.total += c.length;
    this.chunks.push(c);
    this.size += c.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= (this.chunks.shift() as Buffer).length;
  }
  text(): string {
    const b = Buffer.concat(this.chunks);
    return b.subarray(Math.max(0, b.length - this.limit)).toString('utf8');
  }
}

export interface MeasuredExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  wallSeconds: number;
  /**
   * CPU seconds of the child (all threads, plus its own reaped children). From this process's
   * cutime/cstime delta when that agrees with the samples (exact, taken at exit), else the last sample.
   */
  cpuSeconds: number;
  cpuSource: 'rusage' | 'sample';
  /** Highest VmHWM sampled (sampling misses growth in the last interval before exit). */
  peakRssBytes: number;
  samples: ProcSample[];
  /** The last `captureBytes` of stdout and stderr. */
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  timedOut: boolean;
}

export interface MeasureOptions extends SpawnOptions {
  /** Sampling interval; default 50 ms. */
  sampleMs?: number;
  /** Output kept per stream (tail); default 64 KiB. */
  captureBytes?: number;
  /** SIGKILL after this long; the result says timedOut. */
  timeoutMs?: number;
  /** Called with each stdout chunk as it arrives. */
  onStdout?: (chunk: Buffer) => void;
}

export interface MeasuredChild {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  sampler: ProcSampler;
  /** Resolves when the child has exited. */
  exited: Promise<MeasuredExit>;
  /** Samples once more (the figures "just before"), sends `signal`, SIGKILLs after `killAfterMs`, and waits for exit. */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<{ beforeSignal: ProcSample | undefined; exit: MeasuredExit }>;
}

/** Spawns a child with stdout/stderr piped, sampling its /proc entry until it exits. */
export function spawnMeasured(command: string, args: readonly string[], opts: MeasureOptions = {}): MeasuredChild {
  const { sampleMs = 50, captureBytes = 64 * 1024, timeoutMs, onStdout, ...spawnOpts } = opts;
  const reapedBefore = reapedChildrenCpuSeconds();
  const startedAt = Date.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
  const pid = child.pid ?? -1; // -1: spawn failed, 'error' follows and rejects `exited`
  const sampler = new ProcSampler(pid, sampleMs);
  if (pid > 0) sampler.start();
  const out = new Tail(captureBytes);
  const err = new Tail(captureBytes);
  child.stdout?.on('data', (c: Buffer) => {
    out.push(c);
    onStdout?.(c);
  });
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  let timedOut = false;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);

  const exited = new Promise<MeasuredExit>((resolve, reject) => {
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      sampler.stop();
      reject(e);
    });
    // 'close' waits for the pipes too, so the captured output is complete.
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const exitAt = Date.now();
      const reaped = reapedChildrenCpuSeconds() - reapedBefore;
      sampler.stop();
      const last = sampler.last;
      const sampled = last ? last.cpuSeconds + last.childrenCpuSeconds : 0;
      // The delta also counts any other child reaped meanwhile: trust it only when it fits the samples.
      const sinceLast = last ? (exitAt - last.t) / 1000 : Infinity;
      const plausible = reaped >= sampled - 0.02 && reaped <= sampled + sinceLast * availableParallelism() + 0.02;
      resolve({
        code,
        signal,
        wallSeconds: (exitAt - startedAt) / 1000,
        cpuSeconds: plausible ? reaped : sampled,
        cpuSource: plausible ? 'rusage' : 'sample',
        peakRssBytes: sampler.peakRssBytes,
        samples: sampler.samples,
        stdout: out.text(),
        stderr: err.text(),
        stdoutBytes: out.total,
        timedOut,
      });
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 10_000) => {
    const beforeSignal = sampler.sampleNow();
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.kill(signal);
    try {
      return { beforeSignal, exit: await exited };
    } finally {
      clearTimeout(killer);
    }
  };

  return { child, pid, startedAt, sampler, exited, stop };
}

/** Runs a child to completion and measures it. */
export function runMeasured(command: string, args: readonly string[], opts: MeasureOptions = {}): Promise<MeasuredExit> {
  return spawnMeasured(command, args, opts).exited;
}
