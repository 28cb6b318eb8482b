// Runs the real agent (`kaudit run`) as a child process, as an operator would, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const CLI = fileURLToPath(new URL('../../bin/kaudit.js', import.meta.url));

/** Another user to run the agent as; supplementary groups are dropped (as `setpriv --clear-groups` does). */
export interface RunAs {
  uid: number;
  gid: number;
}

/** The unprivileged user (nobody), for what only a non-root agent sees: files it may not read. */
export const NOBODY: RunAs = { uid: 65534, gid: 65534 };

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<AgentExit>;
  private stderr = '';
  private stdout = '';

  /** `opts`: the working directory, and the user and group to run as (a non-root agent), when not the tests' own. */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string } & Partial<RunAs> = {}) {
    // process.execPath: the pinned Node 24 that runs the tests.
    this.child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      if (this.stdout.length < 4 * 1024 * 1024) this.stdout += d.toString();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 4 * 1024 * 1024) this.stderr = this.stderr.slice(-2 * 1024 * 1024);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static run(configPath: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, runAs?: RunAs): AgentProcess {
    return new AgentProcess(['run', '--config', configPath, ...extraArgs], env, runAs);
  }

  get pid(): number {
    return this.child.pid!;
  }

  logs(): string {
    return this.stderr;
  }

  output(): string {
    return this.stdout;
  }

  /** The agent's JSON log lines, parsed. */
  logEntries(): Array<Record<string, unknown>> {
    return this.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Resolves when the agent's log has a line whose msg matches; rejects if it exits first or after `ms`. */
  async waitForLog(msg: RegExp, ms = 20_000): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.logEntries().find((e) => typeof e.msg === 'string' && msg.test(e.msg));
      if (hit) return hit;
      if (this.child.exitCode !== null) throw new Error(`agent exited (${this.child.exitCode}) before logging ${msg}: ${this.stderr.slice(-2000)}`);
      if (Date.now() > end) throw new Error(`agent did not log ${msg} within ${ms} ms: ${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves once the agent has its sources open. */
  started(ms?: number): Promise<Record<string, unknown>> {
    return this.waitForLog(/^kaudit started$/, ms);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<AgentExit> {
    this.child.kill(signal);
    return this.exited;
  }

  async kill9(): Promise<AgentExit> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** The agent's log levels, lowest first, as its log writes them (`"level":"warn"`). */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Whether a log entry is at `level` or more severe. */
export function atLeast(entry: Record<string, unknown>, level: 'debug' | 'info' | 'warn' | 'error'): boolean {
  return LOG_LEVELS.indexOf(String(entry.level)) >= LOG_LEVELS.indexOf(level);
}

/** Writes a config file (YAML) into `dir` and returns its path. */
export async function writeAgentConfig(dir: string, config: Record<string, unknown>, name = 'kaudit.yaml'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(config));
  return path;
}

/** Runs a kaudit command to completion (in `cwd`, default the tests' own) and returns its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new AgentProcess(args, env, { cwd });
  return p.exited.then(({ code }) => ({ code, stdout: p.output(), stderr: p.logs() }));
}
