// Loading the config: YAML text → validated, typed Config, with errors that name the bad field.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

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

/** Validates an already parsed value (a YAML document's contents, or `{}` for the defaults). */
export function parseConfig(raw: unknown, file?: string): Config {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue), file);
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(problems, file);
  return result.data;
}

/** Checks that span sections: sink inputs name real sources. */
function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const known = new Set([...Object.keys(config.sources), 'alarms', '*']);
  for (const [name, sink] of Object.entries(config.sinks)) {
    sink.inputs.forEach((input, i) => {
      if (!known.has(input)) {
        problems.push(`sinks.${name}.inputs[${i}]: expected a source name, alarms or *, found "${input}" (sources: ${Object.keys(config.sources).join(', ') || 'none'})`);
      }
    });
  }
  return problems;
}

export async function loadConfig(file?: string): Promise<Config> {
  if (file === undefined) return parseConfig({});
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], file);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `YAML syntax error at line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`), file);
  }
  return parseConfig(doc.toJS(), file);
}

function pathOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** One line per problem: where, what was expected, what was found. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = pathOf(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => `${where === '(top level)' ? k : `${where}.${k}`}: unknown field`).join('; ');
    case 'invalid_type': {
      const found = (issue as { input?: unknown }).input;
      if (found === undefined) return `${where}: required field is missing (expected ${issue.expected})`;
      return `${where}: expected ${issue.expected}, found ${describeValue(found)}`;
    }
    case 'invalid_value':
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describeValue((issue as { input?: unknown }).input)}`;
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
