// Turns the detection config into plain worker data and builds a detector from that data.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { writeFileAtomic } from '../delivery/atomic-file.ts';
import { Baseline, sharedMemory } from './baseline.ts';
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
  /** The baseline every detector of the process shares (its memory crosses threads shared, not copied). */
  baseline?: BaselinePlan;
  /** Where this detector keeps the shared baseline (only one of them does); unset: not kept. */
  baselineFile?: string;
}

/** `detection.baseline` for the detectors, and the memory they share. */
export interface BaselinePlan {
  memory: SharedArrayBuffer;
  learningDays: number;
  decayDays: number;
  /** Days of routine hits after which a hit is expected; unset: hits are never lowered (`expected: false`). */
  expectedAfterDays?: number;
  /** Rules judge and the baseline learns, no alarm is raised (kaudit scan --baseline-from). */
  learnOnly?: boolean;
}

/** How often changed aggregation state is written to disk. */
const SAVE_INTERVAL_MS = 2000;
const BASELINE_SAVE_INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;
/** The shared baseline's file in the detection state directory (`baseline-<n>.json` were the threads' own before). */
export const BASELINE_FILE = 'baseline.bin';

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
    baseline: baselinePlan(d.baseline),
  };
}

/** The shared baseline of `detection.baseline` (its memory allocated, nothing learned yet). */
export function baselinePlan(b: Config['detection']['baseline']): BaselinePlan {
  const learningDays = Math.ceil(b.learning_period / DAY_MS);
  return {
    memory: sharedMemory({ maxIdentities: b.max_identities, maxTuples: b.max_tuples }),
    learningDays,
    decayDays: Math.ceil(b.decay / DAY_MS),
    // "Most days of the learning period".
    expectedAfterDays: b.expected ? Math.max(2, Math.floor(learningDays / 2) + 1) : undefined,
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
  /** What each identity normally does: one for every detector of the process, kept by one of them (`baseline.bin`). */
  readonly #baseline: Baseline | undefined;
  readonly #baselineFile: string | undefined;
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
    const plan = init.baseline;
    this.#baseline = new Baseline({ memory: plan?.memory, learningDays: plan?.learningDays, decayDays: plan?.decayDays });
    this.#engine = new DetectionEngine(rules, {
      clusterName: init.clusterName, clusterId: init.clusterId, updateIntervalMs: init.updateIntervalMs, baseline: this.#baseline,
      expectedAfterDays: plan?.expectedAfterDays, learnOnly: plan?.learnOnly,
    });
    this.detector = this.#engine;
    this.#stateFile = init.stateFile;
    this.#baselineFile = init.baselineFile;
    if (this.#stateFile !== undefined && this.#owner) {
      this.restored = this.#engine.loadState(readState(this.#stateFile));
      // The shared baseline is read once, by the one detector that keeps it, before any event (a host built to take
      // over finds it in memory).
      if (this.#baselineFile !== undefined) this.#baseline.load(readBytes(this.#baselineFile));
      this.#savedBaseline = this.#baseline.version;
      this.#startSaving();
    }
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
      const version = this.#baseline?.version;
      if (this.#baseline === undefined || this.#baselineFile === undefined || !this.#owner || version === this.#savedBaseline) return;
      // The baseline changes with nearly every new tuple and can be large: written once a minute, and at close.
      if (!final && Date.now() - this.#baselineSavedAt < BASELINE_SAVE_INTERVAL_MS) return;
      this.#baselineSavedAt = Date.now();
      await mkdir(dirname(this.#baselineFile), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.#baselineFile, this.#baseline.save());
      this.#savedBaseline = version!;
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
    await this.save(true).catch(() => {});
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
    this.#savedBaseline = this.#baseline?.version ?? 0;
    this.#startSaving();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.save(true);
  }
}

/** A baseline file's bytes; none when missing (first start) or unreadable (learning starts afresh). */
function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch {
    return new Uint8Array(0);
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
