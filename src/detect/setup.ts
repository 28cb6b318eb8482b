// Turns the detection config into plain worker data, validates the rules once, and builds a detector from that data.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { DetectionEngine } from './engine.ts';
import { noDetection, type Detector } from './hook.ts';
import { loadRuleFiles, SYSTEM_RULES_DIR, type RuleSet } from './rules.ts';

/** What a worker needs to build its own engine (plain data: it crosses threads). */
export interface DetectionInit {
  ruleFiles: string[];
  clusterName: string;
  clusterId: string;
  updateIntervalMs: number;
}

/** The shipped rule files (`rules/*.yaml`, sorted); none when the directory is absent. */
export function systemRuleFiles(dir = SYSTEM_RULES_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort().map((f) => join(dir, f));
}

/**
 * The detection part of the processor init, or undefined when detection is off. Loads every rule file once here
 * so a broken rule stops the agent at start (RuleError) instead of in a worker.
 */
export function detectionInit(config: Config, overrides: { updateIntervalMs?: number } = {}): { init: DetectionInit | undefined; rules: RuleSet | undefined } {
  const d = config.detection;
  if (!d.enabled) return { init: undefined, rules: undefined };
  const ruleFiles = [...(d.system_rules ? systemRuleFiles() : []), ...d.rules];
  const rules = loadRuleFiles(ruleFiles);
  return {
    init: {
      ruleFiles,
      clusterName: config.cluster.name,
      clusterId: config.cluster.id,
      updateIntervalMs: overrides.updateIntervalMs ?? d.update_interval,
    },
    rules,
  };
}

export function buildDetector(init: DetectionInit | undefined): Detector {
  if (init === undefined) return noDetection;
  return new DetectionEngine(loadRuleFiles(init.ruleFiles), {
    clusterName: init.clusterName, clusterId: init.clusterId, updateIntervalMs: init.updateIntervalMs,
  });
}
