// Turns the detection config into plain worker data and builds a detector from that data.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { writeFileAtomic } from '../delivery/atomic-file.ts';
import { Baseline, type SavedBaseline } from './baseline.ts';
import { DetectionEngine, type EngineHandover, type SavedAlarms } from './engine.ts';
import { noDetection, type Detector } from './hook.ts';
import { loadRuleFiles, SYSTEM_RULES_DIR } from './rules.ts';

/** What a worker needs to build its own engine (plain data: it crosses threads). */
export interface DetectionInit {
  ruleFiles: string[];
  clusterName: string;
  clusterId: string;
  updateIntervalMs: number;
  /** Where the aggregation state is kept across restarts; unset (kaudit scan): not kept. */
  stateFile?: string;
}

/** How often changed aggregation state is written to disk. */
const SAVE_INTERVAL_MS = 2000;
const BASELINE_SAVE_INTERVAL_MS = 60_000;

/** The shipped rule files (`rules/*.yaml`, sorted); none when the directory is absent. */
export function systemRuleFiles(dir = SYSTEM_RULES_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort().map((f) => join(dir, f));
}

/** The shipped profile of well-known controllers, one of the system rule files; `detection.known_controllers` drops it. */
export const KNOWN_CONTROLLERS_FILE = 'known-controllers.yaml';

/** Every rule file the config loads, in load order. */
export function ruleFilesOf(config: Config): string[] {
  const d = config.detection;
  const shipped = d.system_rules ? systemRuleFiles() : [];
  return [...(d.known_controllers ? shipped : shipped.filter((f) => basename(f) !== KNOWN_CONTROLLERS_FILE)), ...d.rules];
}

/** The detection part of the processor init without loading the rules (undefined when detection is off). */
export function detectionPlan(config: Config, overrides: { updateIntervalMs?: number; stateFile?: string } = {}): DetectionInit | undefined {
  const d = config.detection;
  if (!d.enabled) return undefined;
  return {
    ruleFiles: ruleFilesOf(config),
    clusterName: config.cluster.name,
    clusterId: config.cluster.id,
    updateIntervalMs: overrides.updateIntervalMs ?? d.update_interval,
    stateFile: overrides.stateFile,
  };
}

/** A detector's whole state as one host hands it to the next (plain data: it crosses threads). */
export interface DetectorHandover {
  engine: EngineHandover;
  /** The state version last written to the state file. */
  savedVersion: number;
}

/**
 * One thread's detector with its lifecycle: restores the aggregation state at start, saves it when it
 * changed (every 2 s and at close), and swaps rules on reload without losing that state. Exactly one host owns
 * a state file at a time: one built to take over (`from: 'handover'`) neither reads nor saves it until takeOver(),
 * and one that handed over saves it no more.
 */
export class DetectorHost {
  readonly detector: Detector;
  readonly #engine: DetectionEngine | undefined;
  readonly #stateFile: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #saving: Promise<void> = Promise.resolve();
  #savedVersion = 0;
  /** Whether this host saves the state file (false until it takes over, and after it handed over). */
  #owner: boolean;
  /** What each identity normally does, kept beside the alarms' state (`baseline-<n>.json`). */
  readonly #baseline = new Baseline();
  #baselineFile: string | undefined;
  #savedBaseline = 0;
  #baselineSavedAt = 0;
  /** Alarms restored from the state file at start. */
  readonly restored: number = 0;
  /** Rules in force (0 with detection off); reload() returns the new count. */
  readonly ruleCount: number = 0;

  constructor(init: DetectionInit | undefined, from: 'file' | 'handover' = 'file') {
    this.#owner = from === 'file';
    if (init === undefined) {
      this.detector = noDetection;
      return;
    }
    const rules = loadRuleFiles(init.ruleFiles);
    this.ruleCount = rules.rules.length;
    this.#engine = new DetectionEngine(rules, {
      clusterName: init.clusterName, clusterId: init.clusterId, updateIntervalMs: init.updateIntervalMs, baseline: this.#baseline,
    });
    this.detector = this.#engine;
    this.#stateFile = init.stateFile;
    if (this.#stateFile !== undefined) this.#baselineFile = join(dirname(this.#stateFile), basename(this.#stateFile).replace(/^alarms-/, 'baseline-'));
    if (this.#stateFile !== undefined && this.#owner) {
      this.restored = this.#engine.loadState(readState(this.#stateFile));
      this.#loadBaseline();
      this.#startSaving();
    }
  }

  /** The baseline is handed over through its file (it can be large, and a move is rare). */
  #loadBaseline(): void {
    if (this.#baselineFile === undefined) return;
    this.#baseline.load(readJson(this.#baselineFile) as SavedBaseline);
    this.#savedBaseline = this.#baseline.version;
  }

  #startSaving(): void {
    if (this.#stateFile === undefined || this.#engine === undefined) return;
    this.#timer = setInterval(() => {
      this.save().catch(() => {}); // a failed save is retried at the next tick; the state is also rebuilt by re-reading
    }, SAVE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Loads and compiles the rule files and swaps them in; throws (RuleError) and keeps the old rules if they are broken. */
  reload(ruleFiles: string[]): number {
    if (this.#engine === undefined) return 0;
    const rules = loadRuleFiles(ruleFiles);
    this.#engine.setRules(rules);
    return rules.rules.length;
  }

  /** Writes the aggregation state if it changed (temp file, fsync, rename), and the baseline (at most once a minute unless `final`). */
  save(final = false): Promise<void> {
    const run = async () => {
      const engine = this.#engine;
      if (engine === undefined || this.#stateFile === undefined || !this.#owner || engine.stateVersion === this.#savedVersion) return;
      const { state, version } = engine.saveState();
      await mkdir(dirname(this.#stateFile), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.#stateFile, JSON.stringify(state));
      this.#savedVersion = version;
    };
    const runBaseline = async () => {
      const version = this.#baseline.version;
      if (this.#baselineFile === undefined || !this.#owner || version === this.#savedBaseline) return;
      // The baseline changes with nearly every new tuple and can be large: written once a minute, and at close.
      if (!final && Date.now() - this.#baselineSavedAt < BASELINE_SAVE_INTERVAL_MS) return;
      this.#baselineSavedAt = Date.now();
      await mkdir(dirname(this.#baselineFile), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.#baselineFile, JSON.stringify(this.#baseline.save()));
      this.#savedBaseline = version;
    };
    // One save at a time; a failed one does not stop the next.
    this.#saving = this.#saving.catch(() => {}).then(run).then(runBaseline);
    return this.#saving;
  }

  /**
   * Stops saving (once a save in progress is done, so that it cannot land after the next owner's) and returns
   * everything the detector counted, for takeOver() in another host; this host is not to be used afterwards.
   */
  async handOver(): Promise<DetectorHandover | undefined> {
    clearInterval(this.#timer);
    await this.save(true).catch(() => {}); // the baseline goes over through its file
    this.#owner = false;
    return this.#engine && { engine: this.#engine.handOver(), savedVersion: this.#savedVersion };
  }

  /** Continues from what another host handed over, and owns the state file from now on. */
  takeOver(h: DetectorHandover | undefined): void {
    if (h !== undefined && this.#engine !== undefined) {
      this.#engine.takeOver(h.engine);
      this.#savedVersion = h.savedVersion;
    }
    this.#owner = true;
    this.#loadBaseline();
    this.#startSaving();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.save(true);
  }
}

/** A state file's JSON; undefined when missing (first start) or damaged (learning starts afresh). */
function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function readState(file: string): SavedAlarms {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SavedAlarms;
  } catch {
    // Missing (first start) or damaged: aggregation starts afresh; alarms are emitted again as new.
    return { version: 1, alarms: [] };
  }
}
