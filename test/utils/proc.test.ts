// Tests of the /proc measurement helpers against real child processes.
import { describe, expect, it } from 'vitest';
import { ProcSampler, readProcSample, runMeasured, spawnMeasured, summarizeRss } from './proc.ts';
import type { MeasureOptions } from './proc.ts';

const MB = 1024 * 1024;
const node = (code: string, opts: MeasureOptions = {}) => runMeasured(process.execPath, ['-e', code], opts);

describe('proc', () => {
  it('reads this process: CPU seconds, RSS, peak RSS and threads', () => {
    const s = readProcSample(process.pid)!;
    expect(s.cpuSeconds).toBeGreaterThan(0);
    expect(s.rssBytes).toBeGreaterThan(10 * MB);
    expect(s.hwmBytes).toBeGreaterThanOrEqual(s.rssBytes);
    expect(s.threads).toBeGreaterThan(1);
    expect(readProcSample(2 ** 22 + 12345)).toBeUndefined();
  });

  it('counts the CPU of every thread of a child, read at exit', async () => {
    // Main thread and a worker both spin until the process has used 0.8 s of CPU.
    const code = `
      const { Worker } = require('node:worker_threads');
      const spin = 'const t = Date.now(); while (process.cpuUsage().user + process.cpuUsage().system < 800000 && Date.now() - t < 10000) {}';
      new Worker(spin, { eval: true });
      eval(spin);
    `;
    const r = await node(code);
    expect(r.code).toBe(0);
    expect(r.cpuSeconds).toBeGreaterThanOrEqual(0.75);
    expect(r.cpuSeconds).toBeLessThan(3);
    expect(r.cpuSource).toBe('rusage'); // exact: taken from this process's reaped-children times
    expect(r.samples.some((s) => s.threads > 7)).toBe(true); // Node's own threads plus the worker
  });

  it('reports peak RSS from VmHWM after the memory was freed', async () => {
    const code = `
      let b = Buffer.alloc(200 * 1024 * 1024, 1);
      setTimeout(() => { b = null; globalThis.gc?.(); setTimeout(() => {}, 300); }, 300);
    `;
    const r = await node(code);
    expect(r.peakRssBytes).toBeGreaterThan(200 * MB);
    // The high-water mark stays at the peak in later samples (the very last one may be of the exited process).
    const later = r.samples.filter((s) => s.hwmBytes > 0).at(-1)!;
    expect(later.hwmBytes).toBeGreaterThan(200 * MB);
  });

  it('samples RSS over time: a leak shows late growth, steady memory does not', async () => {
    // Samples from the child's "ready" on, so a slow start under load does not look like growth.
    const afterReady = async (code: string) => {
      let readyAt = Infinity;
      const exit = await node(`${code}; process.stdout.write('ready\\n')`, { sampleMs: 50, onStdout: () => (readyAt = Math.min(readyAt, Date.now())) });
      return exit.samples.filter((x) => x.t >= readyAt);
    };
    const leak = await afterReady(`const keep = []; const t = setInterval(() => keep.push(Buffer.alloc(20 * 1024 * 1024, 1)), 100); setTimeout(() => clearInterval(t), 1200)`);
    const steady = await afterReady(`const b = Buffer.alloc(50 * 1024 * 1024, 1); setTimeout(() => b.length, 1200)`);
    const l = summarizeRss(leak);
    const s = summarizeRss(steady);
    expect(l.samples).toBeGreaterThan(5);
    expect(l.lateGrowth).toBeGreaterThan(50 * MB);
    expect(s.max).toBeGreaterThan(50 * MB);
    expect(s.lateGrowth).toBeLessThan(10 * MB);
  });

  it('stop() samples just before the signal and waits for the exit', async () => {
    const c = spawnMeasured(process.execPath, ['-e', 'setInterval(() => {}, 1000); process.stdout.write("up\\n")'], { sampleMs: 20 });
    await new Promise<void>((resolve) => c.child.stdout!.once('data', () => resolve()));
    const { beforeSignal, exit } = await c.stop('SIGTERM');
    expect(beforeSignal?.rssBytes).toBeGreaterThan(0);
    expect(exit.signal).toBe('SIGTERM');
    expect(exit.stdout).toBe('up\n');
    expect(c.sampler.samples.length).toBeGreaterThan(0);
  });

  it('kills a child that runs past timeoutMs and says so', async () => {
    const r = await node('setInterval(() => {}, 1000)', { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
  });

  it('ProcSampler stops by itself when the process is gone', async () => {
    const c = spawnMeasured(process.execPath, ['-e', '0']);
    await c.exited;
    const s = new ProcSampler(c.pid, 10).start();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.samples).toEqual([]);
    s.stop();
  });
});
