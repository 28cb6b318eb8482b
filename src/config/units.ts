// Durations ("500ms", "5s", "1m") and sizes ("64KiB", "256MiB", "1GB") as operators write them in YAML.
import { z } from 'zod';

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const sizeUnits: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

function parseWithUnits(text: string, units: Record<string, number>): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = m[2].toLowerCase();
  const factor = unit === '' ? 1 : units[unit];
  return factor === undefined ? undefined : Math.round(Number(m[1]) * factor);
}

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
