// Loading the config: YAML text → validated, typed Config with absolute paths, with errors that name the bad field.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { fieldName, mapMarked } from './fields.ts';
import { ioReason } from './io-error.ts';
import { configSchema, type Config } from './schema.ts';
import { formatDuration } from './units.ts';

export class ConfigError extends Error {
  readonly code = 'KAUDIT_CONFIG';
  readonly problems: string[];
  readonly file?: string;
  constructor(problems: string[], file?: string) {
    super(`${file ? `${file}: ` : ''}${problems.join('; ')}`);
    this.problems = problems;
    this.file = file;
  }
}

/**
 * Validates an already parsed value (a YAML document's contents, or `{}` for the defaults). Relative paths are
 * resolved against the config file's directory (the current directory when there is no file): where the agent
 * is started from does not change what it reads.
 */
export function parseConfig(raw: unknown, file?: string): Config {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue), file);
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(problems, file);
  const base = file === undefined ? process.cwd() : dirname(resolve(file));
  return mapMarked(configSchema, result.data, (mark, value) => (mark.kind === 'path' ? resolve(base, value as string) : value)) as Config;
}

/**
 * Checks that span fields: sink inputs name real sources, every source's records reach a sink (else it is read
 * and its checkpoint moves on with nothing delivered), and retry backoffs are in order.
 */
function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const known = new Set([...Object.keys(config.sources), 'alarms', '*']);
  const sinks = Object.entries(config.sinks);
  for (const [name, sink] of sinks) {
    sink.inputs.forEach((input, i) => {
      if (!known.has(input)) {
        problems.push(`sinks.${name}.inputs[${i}]: expected a source name, alarms or *, found "${input}" (sources: ${Object.keys(config.sources).join(', ') || 'none'})`);
      }
    });
    if (sink.retry.max_backoff < sink.retry.initial_backoff) {
      problems.push(`sinks.${name}.retry.max_backoff: expected at least initial_backoff (${formatDuration(sink.retry.initial_backoff)}), found ${formatDuration(sink.retry.max_backoff)}`);
    }
  }
  if (problems.length > 0) return problems; // a misspelt input would also leave its source without a sink
  const takes = (input: string) => sinks.some(([, s]) => s.inputs.includes(input) || s.inputs.includes('*'));
  for (const source of Object.keys(config.sources)) {
    if (!takes(source) && !(config.detection.enabled && takes('alarms'))) {
      problems.push(`sources.${source}: no sink takes its events${config.detection.enabled ? ' or the alarms' : ''}, so they would be read and dropped (add "${source}" or "*" to a sink's inputs)`);
    }
  }
  return problems;
}

export async function loadConfig(file?: string): Promise<Config> {
  if (file === undefined) return parseConfig({});
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file: ${ioReason(err)}`], file);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `YAML syntax error at line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`), file);
  }
  return parseConfig(doc.toJS(), file);
}

/** One line per problem: where, what was expected, what was found. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = fieldName(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => `${where === '(top level)' ? k : `${where}.${k}`}: unknown field`).join('; ');
    case 'invalid_type': {
      const found = (issue as { input?: unknown }).input;
      if (found === undefined) return `${where}: required field is missing (expected ${issue.expected})`;
      return `${where}: expected ${issue.expected}, found ${describeValue(found)}`;
    }
    case 'invalid_value': {
      const choices = issue.values.map((v) => JSON.stringify(v)).join(', ');
      const found = (issue as { input?: unknown }).input;
      if (found === undefined) return `${where}: required field is missing (expected one of ${choices})`;
      return `${where}: expected one of ${choices}, found ${describeValue(found)}`;
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}
