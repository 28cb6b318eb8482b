// `kaudit rules list` and `kaudit rules test`: what a rule author runs before a rule file reaches the agent.
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Config } from '../config/schema.ts';
import { readFailure } from '../config/io-error.ts';
import { DetectionEngine, type RuleHit } from '../detect/engine.ts';
import { loadRuleFiles, type CompiledRule } from '../detect/rules.ts';
import { ruleFilesOf } from '../detect/setup.ts';
import { parseAuditLine } from '../parse/audit.ts';
import { compileRedaction, type Redactor } from '../parse/redact.ts';

/** Invalid lines shown per events file; the rest are only counted. */
const MAX_PROBLEMS = 20;

interface EventsSummary {
  file: string;
  events: number;
  invalid: number;
  error?: string;
  problems: Array<{ line: number; error: string }>;
}

/** The rule files the agent loads under this config, in its order (even with detection switched off: authors still list them). */
function checkOutput(output: string): boolean {
  if (output === 'text' || output === 'json') return true;
  process.stderr.write(`kaudit: --output must be text or json, found "${output}"\n`);
  return false;
}

/** `kaudit rules list`: every rule loaded under the config. Exit code 0, or 2 (RuleError) from the loader. */
export function rulesListCommand(config: Config, output: string): number {
  if (!checkOutput(output)) return 2;
  const { rules } = loadRuleFiles(ruleFilesOf(config));
  if (output === 'json') {
    for (const r of rules) {
      process.stdout.write(`${JSON.stringify({ id: r.id, level: r.level, category: r.category, source: [...r.sources], type: r.type, enabled: r.enabled, file: r.file, name: r.name })}\n`);
    }
    return 0;
  }
  const rows = rules.map((r) => [r.id, r.level, r.category, [...r.sources].join(','), r.type, r.enabled ? 'yes' : 'no', displayPath(r.file), r.name]);
  process.stdout.write(alignedTable([['ID', 'LEVEL', 'CATEGORY', 'SOURCE', 'TYPE', 'ENABLED', 'FILE', 'NAME'], ...rows]));
  const count = (f: (r: CompiledRule) => boolean) => rules.filter(f).length;
  process.stdout.write(
    `${counted(rules.length, 'rule')}: ${count((r) => r.enabled)} enabled, ${count((r) => r.type === 'system')} system, ${count((r) => r.type === 'custom')} custom\n`,
  );
  return 0;
}

/**
 * `kaudit rules test RULEFILE EVENTS...`: the rules of RULEFILE (with the lists and macros of the config's rule files)
 * over audit events, or over records of `source` (one JSON object per line). Exit code: 1 an events file could not be
 * read (fully), 3 a rule hit, 0 otherwise.
 */
export async function rulesTestCommand(config: Config, ruleFile: string, eventFiles: string[], output: string, source = 'audit'): Promise<number> {
  if (!checkOutput(output)) return 2;
  const target = resolve(ruleFile);
  const files = ruleFilesOf(config);
  // A file the config already loads keeps its place (loaded twice, its rule ids would clash); any other comes last.
  if (!files.some((f) => resolve(f) === target)) files.push(ruleFile);
  const set = loadRuleFiles(files);
  const own = set.rules.filter((r) => resolve(r.file) === target);
  const engine = new DetectionEngine({ ...set, rules: own }, { clusterName: config.cluster.name, clusterId: config.cluster.id });
  // Hits show events as the agent forwards them: redacted.
  const redactor = compileRedaction(config.redaction);

  const counts = new Map(own.map((r) => [r.id, 0]));
  const summaries: EventsSummary[] = [];
  let hitCount = 0;
  for (const file of eventFiles) {
    summaries.push(await testEvents(file, source === 'audit' ? auditHits(redactor, engine) : recordHits(source, engine), (hit, line) => {
      hitCount += 1;
      counts.set(hit.ruleId, (counts.get(hit.ruleId) ?? 0) + 1);
      printHit(hit, file, line, output);
    }));
  }

  const ruleRows = own.map((r) => ({ id: r.id, name: r.name, level: r.level, category: r.category, enabled: r.enabled, hits: counts.get(r.id) ?? 0 }));
  const total = {
    files: summaries.length,
    events: summaries.reduce((n, s) => n + s.events, 0),
    invalid: summaries.reduce((n, s) => n + s.invalid, 0),
    hits: hitCount,
  };
  if (output === 'json') {
    // The summary stays the last line, as in scan.
    process.stdout.write(`${JSON.stringify({ ruleFile, files: summaries, rules: ruleRows, total })}\n`);
  } else {
    for (const s of summaries) printEventsSummary(s);
    process.stdout.write(`rules of ${ruleFile}: ${own.length}\n`);
    if (own.length > 0) {
      const rows = ruleRows.map((r) => [r.id, r.level, r.category, r.enabled ? String(r.hits) : `${r.hits} (disabled)`, r.name]);
      process.stdout.write(alignedTable([['RULE', 'LEVEL', 'CATEGORY', 'HITS', 'NAME'], ...rows]));
    }
    process.stdout.write(`total: ${counted(total.files, 'file')}, ${counted(total.events, 'event')}, ${counted(total.invalid, 'invalid line')}, ${counted(total.hits, 'hit')}\n`);
  }
  if (summaries.some((s) => s.error !== undefined)) return 1;
  return hitCount > 0 ? 3 : 0;
}

function printHit(hit: RuleHit, file: string, line: number, output: string): void {
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ hit: { ...hit, file, line } })}\n`);
  } else {
    const where = hit.source === undefined ? `${hit.auditID} ${hit.stage}` : `${hit.source} ${file}:${line}`;
    process.stdout.write(`hit ${where} ${hit.ruleId} ${hit.category} ${hit.level}: ${hit.summary}\n`);
  }
}

function printEventsSummary(s: EventsSummary): void {
  process.stdout.write(`${s.file}: ${counted(s.events, 'event')}, ${counted(s.invalid, 'invalid line')}${s.error ? `, ERROR: ${s.error}` : ''}\n`);
  for (const p of s.problems) process.stdout.write(`  line ${p.line}: ${p.error}\n`);
  if (s.invalid > s.problems.length) process.stdout.write(`  … and ${counted(s.invalid - s.problems.length, 'more invalid line')}\n`);
}

/** The hits on one line (an audit event redacted as the agent forwards it, or a record), or why the line is not one. */
type LineHits = (text: string) => RuleHit[] | { error: string };

function auditHits(redactor: Redactor, engine: DetectionEngine): LineHits {
  return (text) => {
    const parsed = parseAuditLine(text);
    if (!parsed.ok) return { error: parsed.error };
    const redacted = redactor.redact(parsed.event);
    return engine.hits(parsed.event, () => redacted);
  };
}

/** A record of `source` as the agent forwards it (already redacted): one JSON object. */
function recordHits(source: string, engine: DetectionEngine): LineHits {
  return (text) => {
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      return { error: 'not JSON' };
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return { error: 'not a JSON object' };
    const hits: RuleHit[] = [];
    engine.evaluateRecord(source, record as Record<string, unknown>, undefined, hits);
    return hits;
  };
}

/** Every line of one events file (plain, .gz, or `-` for stdin) through the engine. */
async function testEvents(file: string, lineHits: LineHits, onHit: (hit: RuleHit, line: number) => void): Promise<EventsSummary> {
  const summary: EventsSummary = { file, events: 0, invalid: 0, problems: [] };
  const problem = (line: number, error: string) => {
    summary.invalid += 1;
    if (summary.problems.length < MAX_PROBLEMS) summary.problems.push({ line, error });
  };
  try {
    for await (const { line, bytes } of numberedLines(await openEvents(file))) {
      const text = lineText(bytes);
      if (text === '') continue;
      if (text === undefined) {
        problem(line, 'invalid UTF-8');
        continue;
      }
      try {
        const hits = lineHits(text);
        if (!Array.isArray(hits)) {
          problem(line, hits.error);
          continue;
        }
        for (const hit of hits) onHit(hit, line);
      } catch (err) {
        problem(line, `processing failed: ${(err as Error).message}`);
        continue;
      }
      summary.events += 1;
    }
  } catch (err) {
    summary.error = readFailure(err);
  }
  return summary;
}

async function openEvents(file: string): Promise<AsyncIterable<Buffer>> {
  if (file === '-') return process.stdin;
  await stat(file); // a missing file fails here with a clear message, before any stream is made
  const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
  if (!file.endsWith('.gz')) return input;
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  input.on('error', (err) => gunzip.destroy(err));
  return input.pipe(gunzip);
}

/** The lines of a byte stream with their 1-based numbers; a last line without a newline counts too. */
async function* numberedLines(stream: AsyncIterable<Buffer>): AsyncGenerator<{ line: number; bytes: Buffer }> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    let pos = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, pos)) {
      const piece = chunk.subarray(pos, nl);
      // Pieces of a long line are joined once, at its newline.
      yield { line: ++n, bytes: parts.length > 0 ? Buffer.concat([...parts, piece]) : piece };
      parts = [];
      pos = nl + 1;
    }
    if (pos < chunk.length) parts.push(chunk.subarray(pos));
  }
  if (parts.length > 0) yield { line: ++n, bytes: Buffer.concat(parts) };
}

/** The line as text without a trailing CR; '' for a blank line, undefined when it is not UTF-8. */
function lineText(bytes: Buffer): string | undefined {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
  const line = bytes.subarray(0, end);
  if (!isUtf8(line)) return undefined;
  const text = line.toString('utf8');
  return text.trim() === '' ? '' : text;
}

function counted(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** Shorter paths for the table: relative to the working directory when the file is below it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

/** Columns padded to their widest cell; the last one is left as is. */
function alignedTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]) : c)).join('  ')).join('\n') + '\n';
}
