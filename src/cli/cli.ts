// The kaudit command line: run, scan, rules, check-config, --version, --help (loaded by main.ts, the entry point).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { preflight, ruleProblem } from '../config/preflight.ts';
import type { Config } from '../config/schema.ts';
import { runCommand } from './run.ts';
import { scanCommand } from './scan.ts';
import { checkConfigCommand } from './check-config.ts';
import { rulesListCommand, rulesTestCommand } from './rules.ts';
import { reportCommand } from './report.ts';
import { RULE_SOURCES, RuleError } from '../detect/rules.ts';
import { StateDirInUseError } from '../delivery/state-lock.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const HELP = `kaudit ${pkg.version}: Kubernetes audit-log agent (collect, redact, detect, deliver at least once)

Usage:
  kaudit run [--config FILE] [--once]
                                    tail the audit log and deliver to the configured sinks
                                    (no --config: built-in defaults, /var/log/kubernetes/kubernetes.audit to stdout);
                                    --once: read what is there, deliver it, exit;
                                    SIGTERM/SIGINT stop cleanly, SIGHUP reloads the rule files
  kaudit scan [--config FILE] [--hits] [--output text|json] [--html REPORT]
              [--baseline-from PATH]... [--baseline FILE] [--baseline-save FILE] FILE...
                                    read audit files once (plain or .gz) through parse, redaction and
                                    detection; print a summary and a table of the alarms raised
                                    (json: one line per alarm, the summary last); --hits: every rule hit;
                                    --html: also write the alarms as an HTML report (as kaudit report);
                                    --baseline-from: learn what each identity does from these files,
                                    directories or globs first (no alarm raised on them), then judge
                                    FILE... with the learning period complete; --baseline: start from a
                                    saved baseline; --baseline-save: save the baseline learned (FILE...
                                    may then be left out)
  kaudit report [--output REPORT] INPUT...
                                    write one self-contained HTML report (status, trend, alarm list,
                                    details, allowlist entries) from the alarm records of NDJSON files
                                    (a file sink's output, plain or .gz); REPORT default kaudit-report.html
  kaudit rules list [--config FILE] [--output text|json]
                                    list every rule loaded under the config: id, level, category,
                                    type, enabled, file, name (json: one line per rule)
  kaudit rules test [--config FILE] [--output text|json] [--source NAME] RULEFILE EVENTS...
                                    run the rules of RULEFILE (with the lists and macros of the shipped
                                    and configured rule files) over audit events (NDJSON, plain or .gz,
                                    - for stdin); print every hit, invalid lines with their number, and
                                    the hits per rule of RULEFILE (json: the summary last); --source:
                                    over records of that source instead (containers, ingress, …: one
                                    JSON object per line, as the agent forwards them)
  kaudit check-config FILE          validate a config file, check what it needs from this machine (secrets,
                                    files read at start, rules) and print the effective config (paths
                                    absolute, secrets masked); run makes the same checks first
  kaudit --version | --help

Relative paths in a config are relative to the config file's directory.
Exit codes: 0 ok, 1 runtime failure (scan, report, rules test: a file could not be read, or the report
not written; run --once: records left undelivered at the end of the grace period), 2 bad usage, invalid
config or invalid rules, or (run) state_dir in use by another agent, 3 scan raised alarms / rules test had hits.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      output: { type: 'string', short: 'o' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
      once: { type: 'boolean' },
      hits: { type: 'boolean' },
      html: { type: 'string' },
      source: { type: 'string' },
      'baseline-from': { type: 'string', multiple: true },
      baseline: { type: 'string' },
      'baseline-save': { type: 'string' },
    },
  });
  const [command, ...args] = positionals;
  // In `run`, stdout belongs to the stdout sink, which treats a closed one as a failed delivery.
  if (command !== 'run') stopQuietlyWhenStdoutCloses();
  if (values.version) {
    process.stdout.write(`kaudit ${pkg.version}\n`);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return values.help || command === 'help' ? 0 : 2;
  }
  switch (command) {
    case 'run': {
      if (args.length > 0) return usage(`run takes no arguments (found ${args.join(' ')})`);
      const config = await checkedConfig(values.config, 'read');
      // The parse workers compile the rules while the agent starts: a broken file is the preflight's problem too.
      return runCommand(config, values.once === true, values.config).catch((err: unknown) => {
        throw err instanceof RuleError ? new ConfigError([ruleProblem(err)], values.config) : err;
      });
    }
    case 'scan':
      if (args.length === 0 && values['baseline-save'] === undefined) return usage('scan needs at least one FILE');
      return scanCommand(await loadConfig(values.config), args, values.output ?? 'text', {
        hits: values.hits === true, html: values.html, baselineFrom: values['baseline-from'], baseline: values.baseline, baselineSave: values['baseline-save'],
      });
    case 'report':
      if (args.length === 0) return usage('report needs at least one INPUT (NDJSON with alarm records, such as a file sink\'s output)');
      return reportCommand(args, values.output);
    case 'rules':
      return rules(args, values.config, values.output ?? 'text', values.source ?? 'audit');
    case 'check-config': {
      const file = args[0] ?? values.config;
      if (!file) return usage('check-config needs a FILE');
      return checkConfigCommand(await checkedConfig(file, 'load'));
    }
    default:
      return usage(`unknown command "${command}"`);
  }
}

/** The config of run and check-config: loaded, then preflighted, so that both refuse the same configs in the same words. */
async function checkedConfig(file: string | undefined, rules: 'load' | 'read'): Promise<Config> {
  const config = await loadConfig(file);
  await preflight(config, file, { rules });
  return config;
}

/** `kaudit scan … | head` closes the pipe early: the reader has what it wanted, so stop quietly instead of crashing on EPIPE. */
function stopQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

/** `rules list` and `rules test`: the subcommand is the first positional. */
async function rules(args: string[], configFile: string | undefined, output: string, source: string): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
      if (rest.length > 0) return usage(`rules list takes no arguments (found ${rest.join(' ')})`);
      return rulesListCommand(await loadConfig(configFile), output);
    case 'test':
      if (rest.length < 2) return usage('rules test needs a RULEFILE and at least one EVENTS file (- for stdin)');
      if (!RULE_SOURCES.has(source)) return usage(`--source must be one of ${[...RULE_SOURCES].join(', ')}, found "${source}"`);
      return rulesTestCommand(await loadConfig(configFile), rest[0], rest.slice(1), output, source);
    default:
      return usage(sub === undefined ? 'rules needs a subcommand: list or test' : `unknown rules subcommand "${sub}" (expected list or test)`);
  }
}

function usage(message: string): number {
  process.stderr.write(`kaudit: ${message}\nRun kaudit --help for usage.\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof RuleError) {
      process.stderr.write(`kaudit: invalid rules: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof StateDirInUseError) {
      process.stderr.write(`kaudit: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`kaudit: invalid config: ${err.message}\n`);
      process.exitCode = 2;
    } else if ((err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.exitCode = usage((err as Error).message);
    } else {
      process.stderr.write(`kaudit: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
