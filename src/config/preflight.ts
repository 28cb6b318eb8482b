// The preflight: what a valid config still needs from the machine (secrets, files read at start, rules, host names),
// checked all at once before anything starts, so check-config and run refuse the same configs with the same words.
import { lookup } from 'node:dns/promises';
import { open } from 'node:fs/promises';
import { isIP } from 'node:net';
import { loadRuleFiles, RuleError } from '../detect/rules.ts';
import { ruleFilesOf } from '../detect/setup.ts';
import { sinkKinds } from '../sinks/index.ts';
import type { SinkKind } from '../sinks/types.ts';
import { forEachMarked, fieldName } from './fields.ts';
import { ioReason } from './io-error.ts';
import { listenAddress } from './listen.ts';
import { ConfigError } from './load.ts';
import { configSchema, type Config } from './schema.ts';
import { resolveSecret, type SecretRef } from './secret.ts';

export interface PreflightOptions {
  /**
   * `load`: parse and compile the rule files (check-config). `read`: only check that they can be read; `run` leaves
   * compiling to its parse workers, which do it while the rest starts, and reports a broken file as the same problem.
   */
  rules: 'load' | 'read';
}

/** Throws a ConfigError listing every problem found, each with its field. */
export async function preflight(config: Config, file: string | undefined, opts: PreflightOptions): Promise<void> {
  const checks: Array<Promise<string | undefined>> = [];
  forEachMarked(configSchema, config, (mark, value, at) => {
    const field = fieldName(at);
    if (mark.kind === 'secret') checks.push(secretProblem(value as SecretRef, field));
    else if (mark.kind === 'path' && mark.readAtStart) checks.push(fileProblem(value as string, field));
    else if (mark.kind === 'listen') checks.push(hostProblem(value as string, field));
  });
  const problems = (await Promise.all(checks)).filter((p) => p !== undefined);
  for (const [name, sink] of Object.entries(config.sinks)) {
    const kind = sinkKinds[sink.kind as keyof typeof sinkKinds] as SinkKind;
    for (const problem of kind.preflight?.(sink as never) ?? []) problems.push(`sinks.${name}.${problem}`);
  }
  // Rules are compiled only when every rule file could be read: a missing one is reported once, above.
  const rulesReadable = !problems.some((p) => p.startsWith('detection.rules'));
  if (opts.rules === 'load' && config.detection.enabled && rulesReadable) {
    try {
      loadRuleFiles(ruleFilesOf(config));
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      problems.push(ruleProblem(err));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, file);
}

/** A broken rule file, as the preflight and a failed start both report it. */
export function ruleProblem(err: RuleError): string {
  return `detection.rules: ${err.message}`;
}

async function secretProblem(ref: SecretRef, field: string): Promise<string | undefined> {
  try {
    await resolveSecret(ref);
    return undefined;
  } catch (err) {
    return `${field}: ${(err as Error).message}`;
  }
}

/** A file read at start must be a readable regular file. */
async function fileProblem(path: string, field: string): Promise<string | undefined> {
  try {
    const fh = await open(path, 'r');
    try {
      if (!(await fh.stat()).isFile()) return `${field}: ${path} is not a regular file`;
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (err) {
    return `${field}: cannot read ${path}: ${ioReason(err)}`;
  }
}

/** A host name to listen on must resolve (an IP address needs nothing). */
async function hostProblem(listen: string, field: string): Promise<string | undefined> {
  const { host } = listenAddress(listen);
  if (isIP(host) !== 0) return undefined;
  try {
    await lookup(host);
    return undefined;
  } catch (err) {
    return `${field}: host name ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`;
  }
}
