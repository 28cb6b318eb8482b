// Durations ("500ms", "5s", "1m") and sizes ("64KiB", "256MiB", "1GB") as operators write them in YAML, read without
// the schema library (the parse workers read rule windows with it and need not load that).

export const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const sizeUnits: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

export function parseWithUnits(text: string, units: Record<string, number>): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = m[2].toLowerCase();
  const factor = unit === '' ? 1 : units[unit];
  return factor === undefined ? undefined : Math.round(Number(m[1]) * factor);
}

/** Milliseconds of a duration (a number of ms, or text with a unit: ms, s, m, h); undefined when unreadable. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  return typeof v === 'string' ? parseWithUnits(v, durationUnits) : undefined;
}
