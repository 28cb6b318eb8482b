// Durations ("500ms", "5s", "1m") and sizes ("64KiB", "256MiB", "1GB") in the config schema.
import { z } from 'zod';
import { durationUnits, parseWithUnits, sizeUnits } from './unit-text.ts';

/** Milliseconds: a number (ms) or a string with a unit: ms, s, m, h. */
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
