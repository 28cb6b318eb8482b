// Which alarms a sink takes, beyond `inputs`: a least level, categories, rules (as Falcosidekick's minimumpriority).
import { z } from 'zod';

/** Alarm levels, least severe first. */
export const ALARM_LEVELS = ['note', 'low', 'medium', 'high'] as const;
export type AlarmLevel = typeof ALARM_LEVELS[number];

export const alarmFilterSchema = z.strictObject({
  /** Alarms of this level and above. */
  min_level: z.enum(ALARM_LEVELS).optional(),
  /** Only alarms of these rule categories (any of them). */
  categories: z.array(z.string().min(1)).min(1).optional(),
  /** Only alarms of these rule ids (any of them). */
  rules: z.array(z.string().min(1)).min(1).optional(),
});

export type AlarmFilterConfig = z.infer<typeof alarmFilterSchema>;

/** What a filter looks at in an alarm: its rule's id, category and level. */
export interface AlarmRule {
  id: string;
  category: string;
  level: string;
}

/** Whether an alarm passes; undefined when the config sets no condition (every alarm passes). */
export type AlarmFilter = (rule: AlarmRule | undefined) => boolean;

export function compileAlarmFilter(cfg: AlarmFilterConfig | undefined): AlarmFilter | undefined {
  if (cfg === undefined || (cfg.min_level === undefined && cfg.categories === undefined && cfg.rules === undefined)) return undefined;
  const least = cfg.min_level === undefined ? 0 : ALARM_LEVELS.indexOf(cfg.min_level);
  const categories = cfg.categories === undefined ? undefined : new Set(cfg.categories);
  const rules = cfg.rules === undefined ? undefined : new Set(cfg.rules);
  // An alarm whose rule cannot be read is let through: a sink that pages must not miss one over a parse problem.
  return (rule) => rule === undefined || (
    ALARM_LEVELS.indexOf(rule.level as AlarmLevel) >= least
    && (categories === undefined || categories.has(rule.category))
    && (rules === undefined || rules.has(rule.id)));
}

/** The rule of an alarm record's payload (docs/rules.md, Alarms); undefined when it cannot be read. */
export function alarmRule(payload: Buffer): AlarmRule | undefined {
  try {
    const rule = (JSON.parse(payload.toString('utf8')) as { rule?: Partial<AlarmRule> }).rule;
    if (typeof rule?.id !== 'string' || typeof rule.category !== 'string' || typeof rule.level !== 'string') return undefined;
    return { id: rule.id, category: rule.category, level: rule.level };
  } catch {
    return undefined;
  }
}
