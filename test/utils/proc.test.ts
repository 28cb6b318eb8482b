// Tests of the /proc measurement helpers against real child processes.
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ProcSampler, readProcSample, runMeasured, spawnMeasured, summarizeRss } from './proc.ts';
import type { MeasureOptions, ProcSample } from './proc.ts';

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
    // The child allocates, frees, says so and waits to be stopped: the sample just before the signal comes after the
    // free whatever the machine's load (no race between the child's timers and the sampler's).
    const code = `let b = Buffer.alloc(200 * 1024 * 1024, 1); b = null; globalThis.gc?.(); process.stdout.write('freed\\n'); setInterval(() => {}, 1000);`;
    const c = spawnMeasured(process.execPath, ['--expose-gc', '-e', code]);
    await new Promise<void>((resolve) => c.child.stdout!.once('data', () => resolve()));
    const { beforeSignal, exit } = await c.stop('SIGTERM');
    expect(beforeSignal!.hwmBytes).toBeGreaterThan(200 * MB);
    expect(exit.peakRssBytes).toBeGreaterThan(200 * MB);
  });

  it('samples RSS over time: a leak shows late growth, steady memory does not', async () => {
    // The child works in steps and waits after each for its sample: one sample a step, whatever the machine's load.
    const stepped = async (setup: string, step: string): Promise<ProcSample[]> => {
      const code = `${setup}; let n = 0; const next = () => { ${step}; process.stdout.write('step\\n'); };
        require('node:readline').createInterface({ input: process.stdin }).on('line', () => (++n < 12 ? next() : process.exit(0))); next();`;
      const c = spawnMeasured(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
      const samples: ProcSample[] = [];
      for await (const _line of createInterface({ input: c.child.stdout! })) {
        samples.push(c.sampler.sampleNow()!);
        c.child.stdin!.write('go\n');
      }
      expect((await c.exited).code).toBe(0);
      return samples;
    };
    const l = summarizeRss(await stepped('const keep = []', 'keep.push(Buffer.alloc(20 * 1024 * 1024, 1))'));
    const s = summarizeRss(await stepped('const b = Buffer.alloc(50 * 1024 * 1024, 1)', 'b.length'));
    expect(l.samples).toBe(12);
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
