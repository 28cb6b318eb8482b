// Durations ("500ms", "5s", "1m"), sizes ("64KiB", "256MiB", "1GB") and counts in the config schema, with their ranges.
import { z } from 'zod';
import { durationUnits, parseWithUnits, sizeUnits } from './unit-text.ts';

/** Milliseconds: a number (ms) or a string with a unit: ms, s, m, h, d. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseWithUnits(v, durationUnits);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 5s or 1m, found "${v}"` });
    return z.NEVER;
  }
  return ms;
});

/** Bytes: a number or a string with a unit: B, KB, MB, GB, KiB, MiB, GiB. */
export const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const n = parseWithUnits(v, sizeUnits);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 64KiB or 256MiB, found "${v}"` });
    return z.NEVER;
  }
  return n;
});

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A duration from `min` to `max` ms; the message gives the range in the units operators write. */
export function durationIn(min: number, max: number) {
  return duration.refine((ms) => ms >= min && ms <= max, {
    error: (iss) => `expected a duration from ${formatDuration(min)} to ${formatDuration(max)}, found ${formatDuration(iss.input as number)}`,
  });
}

/** Whole days, from `min` to `max` days (written as any duration: 7d, 168h). */
export function wholeDays(min: number, max: number) {
  return duration.refine((ms) => ms % DAY === 0 && ms >= min * DAY && ms <= max * DAY, {
    error: (iss) => `expected whole days from ${min}d to ${max}d such as 7d, found ${formatDays(iss.input as number)}`,
  });
}

/** `7d` for whole days, else as formatDuration. */
export function formatDays(ms: number): string {
  return ms > 0 && ms % DAY === 0 ? `${ms / DAY}d` : formatDuration(ms);
}

/** A size from `min` to `max` bytes (no upper bound without `max`). */
export function sizeIn(min: number, max = Infinity) {
  const range = max === Infinity ? `of at least ${formatSize(min)}` : `from ${formatSize(min)} to ${formatSize(max)}`;
  return size.refine((n) => n >= min && n <= max, {
    error: (iss) => `expected a size ${range}, found ${formatSize(iss.input as number)}`,
  });
}

/** A whole number from `min` to `max`. */
export function countIn(min: number, max: number) {
  return z.number().refine((n) => Number.isInteger(n) && n >= min && n <= max, {
    error: (iss) => `expected a whole number from ${min} to ${max}, found ${String(iss.input)}`,
  });
}

/** The largest unit that divides exactly (`90000` → `90s`), else milliseconds. */
export function formatDuration(ms: number): string {
  for (const [unit, factor] of [['h', HOUR], ['m', MINUTE], ['s', SECOND]] as const) {
    if (ms >= factor && ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

/** The largest binary unit that divides exactly (`64KiB`), else bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes} bytes`;
}
