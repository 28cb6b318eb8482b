// The worker pool as the pipeline uses it: blocks processed on real worker threads, lent memory given back,
// rules swapped between blocks, and a worker that cannot load its rules reported instead of leaving its blocks hanging.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { loadRuleFiles, RuleError } from '../detect/rules.ts';
import { systemRuleFiles } from '../detect/setup.ts';
import { prestartParseWorkers } from './prestart.ts';
import { createProcessor, type ChunkProcessor } from './workers.ts';

const redaction = { secrets: true, token_requests: true, paths: [] };
const open: ChunkProcessor[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

const rule = (id: string, verb: string) => `rules:\n  - { id: ${id}, name: ${id}, category: test, level: low, match: { field: verb, equals: ${verb} } }\n`;

async function ruleFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-workers-'));
  const file = join(dir, 'rules.yaml');
  await writeFile(file, text);
  return file;
}

function block(from: number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => `${auditLine(from + i)}\n`).join(''));
}

describe('worker pool', () => {
  it('processes lent blocks on worker threads and gives the memory back with the results', async () => {
    const p = createProcessor(2, { redaction, detection: undefined });
    open.push(p);
    const data = block(0, 50);
    const copy = Buffer.from(data);
    const { result, data: back } = await p.processOwned(data);
    expect(data.length).toBe(0); // transferred away while the worker had it
    expect(back.equals(copy)).toBe(true);
    expect(result.count).toBe(50);
    expect(result.ids.split('\n')[0]).toMatch(/^[0-9a-f-]{36}\/ResponseComplete$/);
  });

  it('applies reloaded rules to every block sent after the reload, in every worker', async () => {
    const file = await ruleFile(rule('R-GET', 'get'));
    const init = { ruleFiles: [file], clusterName: 'c', clusterId: '', updateIntervalMs: 0 };
    const p = createProcessor(2, { redaction, detection: init, collectHits: true });
    open.push(p);
    const data = block(0, 200);
    const before = await Promise.all([p.process(data), p.process(data)]);
    expect(before.every((r) => r.hits!.length > 0 && r.hits!.every((h) => h.ruleId === 'R-GET'))).toBe(true);
    await writeFile(file, rule('R-UPDATE', 'update'));
    await p.reloadRules([file]);
    const after = await Promise.all([p.process(data), p.process(data)]);
    expect(after.every((r) => r.hits!.length > 0 && r.hits!.every((h) => h.ruleId === 'R-UPDATE'))).toBe(true);
  });

  it('rejects a reload a worker cannot load, and that worker keeps its rules', async () => {
    const file = await ruleFile(rule('R-GET', 'get'));
    const p = createProcessor(1, { redaction, detection: { ruleFiles: [file], clusterName: 'c', clusterId: '', updateIntervalMs: 0 }, collectHits: true });
    open.push(p);
    await expect(p.reloadRules([join(file, '..', 'missing.yaml')])).rejects.toThrow(/cannot read rule file/);
    const r = await p.process(block(0, 100));
    expect(r.hits!.length).toBeGreaterThan(0);
    expect(r.hits!.every((h) => h.ruleId === 'R-GET')).toBe(true);
  });

  it('reports through ready() a worker that cannot load its rules, with the reason, and fails its blocks', async () => {
    const deaths: Error[] = [];
    const p = createProcessor(1, {
      redaction, detection: { ruleFiles: ['/nonexistent/kaudit-rules.yaml'], clusterName: 'c', clusterId: '', updateIntervalMs: 0 },
    }, (err) => deaths.push(err));
    open.push(p);
    const ready = p.ready();
    await expect(ready).rejects.toBeInstanceOf(RuleError);
    await expect(ready).rejects.toThrow(/\/nonexistent\/kaudit-rules\.yaml: cannot read rule file/);
    await expect(p.process(block(0, 10))).rejects.toThrow(/block before init/);
    // The thread is alive (it answered); the agent stops its start on the rejection, not on a death.
    expect(deaths).toHaveLength(0);
  });

  it('says how many rules its workers loaded', async () => {
    const init = { ruleFiles: systemRuleFiles(), clusterName: 'c', clusterId: '', updateIntervalMs: 0 };
    const p = createProcessor(1, { redaction, detection: init, collectHits: true });
    open.push(p);
    expect(await p.ready()).toBe(loadRuleFiles(systemRuleFiles()).rules.length);
    const file = await ruleFile(rule('R-GET', 'get'));
    const q = createProcessor(2, { redaction, detection: { ...init, ruleFiles: [file] }, collectHits: true });
    open.push(q);
    expect(await q.ready()).toBe(1);
    const r = await q.process(block(0, 50));
    expect(r.hits!.length).toBeGreaterThan(0);
    expect(r.hits!.every((h) => h.ruleId === 'R-GET')).toBe(true);
  });

  it('takes a worker started before the config was read, and stops started workers it does not need', async () => {
    prestartParseWorkers(2);
    const p = createProcessor(1, { redaction, detection: undefined });
    open.push(p);
    const r = await p.process(block(0, 30));
    expect(r.count).toBe(30);
    // A second pool starts its worker anew (the unused one was stopped), and works the same.
    const q = createProcessor(1, { redaction, detection: undefined });
    open.push(q);
    expect((await q.process(block(0, 5))).count).toBe(5);
  });

  it('a worker started ahead that no pool takes does not keep the process alive (a start that fails on its config exits)', async () => {
    const prestart = fileURLToPath(new URL('./prestart.ts', import.meta.url));
    const script = `import { prestartParseWorkers } from ${JSON.stringify(prestart)}; prestartParseWorkers(1); console.log('started');`;
    // A worker that kept it alive would hold it until the timeout kills it (code null).
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => {
        resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout });
      });
      child.stdin?.end();
    });
    expect(out).toEqual({ code: 0, stdout: 'started\n' });
  });
});
