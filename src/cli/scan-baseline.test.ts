// `kaudit scan --baseline-from`: the baseline learns from the first half of the real apiserver capture (in time order,
// gzipped backups among it) and judges the second half with its learning period complete. First-seen fires on what an
// identity did not do in the first half and on nothing it did; --baseline-save and --baseline give the same verdicts;
// a plain scan of a capture shorter than the learning period raises no first-seen alarm.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../test/utils/agent.ts';

const CAPTURE = new URL('../../../shared/corpus/real-apiserver/', import.meta.url).pathname;
// The live file sorts last, as in time.
const FILES = readdirSync(CAPTURE).filter((f) => f.startsWith('kubernetes')).sort().map((f) => join(CAPTURE, f));
const LEARN = FILES.slice(0, FILES.length / 2);
const JUDGE = FILES.slice(FILES.length / 2);

interface Event { auditID: string; stage: string; verb: string; user: { username?: string }; objectRef?: { resource?: string; subresource?: string }; responseStatus?: { code?: number } }

function events(files: string[]): Event[] {
  return files.flatMap((f) => {
    const data = readFileSync(f);
    return (f.endsWith('.gz') ? gunzipSync(data) : data).toString('utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Event);
  });
}
/** What KA-BASE-001/002 compare: the identity and its verb, resource and subresource. */
const tupleOf = (e: Event) => [e.user.username, e.verb, e.objectRef?.resource ?? '', e.objectRef?.subresource ?? ''].join(' ');

const dir = mkdtempSync(join(tmpdir(), 'kaudit-scan-baseline-'));
function config(workers: number): string {
  const file = join(dir, `kaudit-${workers}.yaml`);
  writeFileSync(file, `state_dir: ${dir}\nworkers: ${workers}\nsources: { audit: { kind: audit, path: ${join(dir, 'unused.audit')} } }\n`);
  return file;
}

/** The first-seen hits of a json scan, as the tuples of their events, and its summary. */
async function scan(args: string[], workers = 1) {
  const r = await runCli(['scan', '--config', config(workers), '--output', 'json', '--hits', ...args]);
  expect(r.stderr).toBe('');
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const byId = new Map(events(JUDGE).map((e) => [e.auditID, e]));
  const firstSeen = out.filter((o) => o.hit?.ruleId?.startsWith('KA-BASE')).map((o) => tupleOf(byId.get(o.hit.auditID)!));
  return { code: r.code, firstSeen: [...new Set(firstSeen)].sort(), summary: out.at(-1) };
}

describe('kaudit scan --baseline-from', () => {
  it('judges the second half of the capture against the first: new behaviour is first seen, usual behaviour is not', async () => {
    const { code, firstSeen, summary } = await scan([...LEARN.flatMap((f) => ['--baseline-from', f]), ...JUDGE], 2);
    expect(code).toBe(3);
    expect(summary.baseline).toMatchObject({ files: LEARN.length });
    expect(summary.baseline.events).toBe(events(LEARN).length);
    // Allowed requests of the first half are the baseline (learned when they complete, a watch when it starts).
    const learned = new Set(events(LEARN).filter((e) => (e.stage === 'ResponseComplete' || (e.stage === 'ResponseStarted' && e.verb === 'watch')) && (e.responseStatus?.code ?? 500) < 400).map(tupleOf));
    expect(firstSeen.filter((t) => learned.has(t))).toEqual([]);
    // New behaviour of identities known from the first half, among them an exec by one that never exec'd.
    expect(firstSeen).toContain('mallory create pods exec');
    expect(firstSeen).toContain('dana@corp.example create pods portforward');
    // Known identities repeating what they did in the first half: many such requests, none first seen.
    const repeated = events(JUDGE).filter((e) => e.stage === 'ResponseComplete' && !e.user.username?.startsWith('system:') && learned.has(tupleOf(e)));
    expect(repeated.length).toBeGreaterThan(50);
  });

  it('saves what it learned (--baseline-save) for later scans (--baseline), with the same verdicts', async () => {
    const saved = join(dir, 'saved', 'capture.baseline');
    const learn = await runCli(['scan', '--config', config(1), ...LEARN.flatMap((f) => ['--baseline-from', f]), '--baseline-save', saved]);
    expect(learn.code).toBe(0);
    expect(learn.stdout).toMatch(/^baseline: learned from 6 files, \d+ events, 0 invalid lines: \d+ identities, \d+ entries; learning period complete$/m);
    const fromSaved = await scan(['--baseline', saved, ...JUDGE]);
    const fromFiles = await scan([...LEARN.flatMap((f) => ['--baseline-from', f]), ...JUDGE]);
    expect(fromSaved.firstSeen).toEqual(fromFiles.firstSeen);
    expect(fromSaved.firstSeen.length).toBeGreaterThan(10);
  });

  it('raises no first-seen alarm without a baseline on a capture shorter than the learning period', async () => {
    const { firstSeen, summary } = await scan(FILES);
    expect(summary.total.events).toBe(events(FILES).length);
    expect(firstSeen).toEqual([]);
  });

  it('names the path and the reason when a baseline cannot be read', async () => {
    const missing = await runCli(['scan', '--config', config(1), '--baseline-from', join(dir, 'nothing-*.audit'), JUDGE[0]]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`kaudit: --baseline-from ${join(dir, 'nothing-*.audit')}: no such file, directory or matching file\n`);
    const junk = join(dir, 'junk.baseline');
    writeFileSync(junk, 'not a baseline');
    const bad = await runCli(['scan', '--config', config(1), '--baseline', junk, JUDGE[0]]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`kaudit: --baseline ${junk}: not a baseline saved by kaudit scan --baseline-save\n`);
  });
});
