// Config fields marked in the schema (paths, files read at start, secret references, listen addresses), and a walk
// over a validated config that finds them through the schema, so no field is listed by name anywhere else.
import { z } from 'zod';

export type FieldMark =
  /** A file or directory; `readAtStart`: a file the agent reads when it starts, so it must be there. */
  | { kind: 'path'; readAtStart: boolean }
  | { kind: 'secret' }
  | { kind: 'listen' };

export const fieldMarks = z.registry<FieldMark>();

/** A path field: relative paths are resolved against the config file's directory when the config is loaded. */
export function path(opts: { readAtStart?: boolean } = {}) {
  return z.string().min(1).register(fieldMarks, { kind: 'path', readAtStart: opts.readAtStart === true });
}

/** Where a field is, as errors name it: `sinks.siem.tls.ca_file`, `detection.rules[0]`. */
export function fieldName(at: readonly PropertyKey[]): string {
  if (at.length === 0) return '(top level)';
  return at.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/**
 * Calls `visit` on every marked field of `value` (an output of `schema`), innermost first, and returns `value` with
 * each replaced by what `visit` returned (a new object only where something changed).
 */
export function mapMarked(
  schema: z.core.$ZodType,
  value: unknown,
  visit: (mark: FieldMark, value: unknown, at: readonly PropertyKey[]) => unknown,
  at: readonly PropertyKey[] = [],
): unknown {
  const inner = mapChildren(schema, value, visit, at);
  const mark = fieldMarks.get(schema);
  return mark === undefined ? inner : visit(mark, inner, at);
}

/** Calls `visit` on every marked field, for its side effects. */
export function forEachMarked(schema: z.core.$ZodType, value: unknown, visit: (mark: FieldMark, value: unknown, at: readonly PropertyKey[]) => void): void {
  mapMarked(schema, value, (mark, v, at) => {
    visit(mark, v, at);
    return v;
  });
}

type Visit = Parameters<typeof mapMarked>[2];

function mapChildren(schema: z.core.$ZodType, value: unknown, visit: Visit, at: readonly PropertyKey[]): unknown {
  const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  switch (def.type) {
    case 'object': {
      if (!isRecord(value)) return value;
      const shape = def.shape as Record<string, z.core.$ZodType>;
      return mapEntries(value, (k) => shape[k], visit, at);
    }
    case 'record':
      return isRecord(value) ? mapEntries(value, () => def.valueType as z.core.$ZodType, visit, at) : value;
    case 'array': {
      if (!Array.isArray(value)) return value;
      const mapped = value.map((v, i) => mapMarked(def.element as z.core.$ZodType, v, visit, [...at, i]));
      return mapped.every((v, i) => v === value[i]) ? value : mapped;
    }
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'nonoptional': case 'catch':
      return value === undefined || value === null ? value : mapMarked(def.innerType as z.core.$ZodType, value, visit, at);
    case 'pipe':
      return mapMarked(def.in as z.core.$ZodType, value, visit, at);
    case 'union': {
      const option = optionFor(def.options as z.core.$ZodType[], def.discriminator as string | undefined, value);
      return option === undefined ? value : mapMarked(option, value, visit, at);
    }
    default:
      return value;
  }
}

function mapEntries(value: Record<string, unknown>, schemaOf: (key: string) => z.core.$ZodType | undefined, visit: Visit, at: readonly PropertyKey[]): Record<string, unknown> {
  let out = value;
  for (const [k, v] of Object.entries(value)) {
    const s = schemaOf(k);
    if (s === undefined) continue;
    const mapped = mapMarked(s, v, visit, [...at, k]);
    if (mapped !== v) {
      if (out === value) out = { ...value };
      out[k] = mapped;
    }
  }
  return out;
}

/** The member of a union that `value` belongs to: by its discriminator, or the first that accepts it. */
function optionFor(options: z.core.$ZodType[], discriminator: string | undefined, value: unknown): z.core.$ZodType | undefined {
  if (discriminator !== undefined && isRecord(value)) {
    return options.find((o) => o._zod.propValues?.[discriminator]?.has(value[discriminator] as z.core.util.Primitive));
  }
  return options.find((o) => z.safeParse(o, value).success);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
