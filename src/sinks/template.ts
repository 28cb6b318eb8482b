// Record templates: the JSON a record becomes on the wire, for backends that want an envelope or a text of their own.
import type { OutRecord } from '../delivery/record.ts';
import { now, recordTime } from './record-time.ts';

/**
 * A template is any JSON value; its strings are filled from each record:
 * - `{{record}}` alone: the record itself (its JSON, not a string);
 * - `{{time}}` alone: the record's time in seconds since the epoch, milliseconds as decimals (a number);
 * - `{{id}}`, `{{kind}}`, `{{source}}`: the record's stable id, `log` or `alarm`, its source name;
 * - `{{a.b.c}}` alone: the record's field at that dot path, with its JSON type (null when absent);
 * - any other text: each `{{…}}` replaced by the value as text (nothing when absent), the whole a string.
 */
export type Template = unknown;

type Part = (r: OutRecord, doc: () => unknown) => string;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_@$.-]+)\s*\}\}/g;
const ALONE = /^\{\{\s*([A-Za-z0-9_@$.-]+)\s*\}\}$/;

/** The placeholders a template has that are not fields of the record. */
// A map without a prototype: `{{constructor}}` or `{{__proto__}}` names no metadata, only a field of the record.
const META: Record<string, ((r: OutRecord) => string) | undefined> = Object.assign(Object.create(null), {
  id: (r: OutRecord) => r.id,
  kind: (r: OutRecord) => r.kind,
  source: (r: OutRecord) => r.source,
});

/** Compiles a template into a function from a record to its JSON text. */
export function compileTemplate(template: Template): (r: OutRecord) => Buffer {
  let needsDoc = false;
  const compile = (t: unknown): Part => {
    if (typeof t === 'string') {
      const alone = ALONE.exec(t)?.[1];
      if (alone === 'record') return (r) => r.payload.toString('utf8');
      if (alone === 'time') return (r) => ((recordTime(r, 'lastSeen') ?? now()).ms / 1000).toFixed(3);
      const meta = alone === undefined ? undefined : META[alone];
      if (meta !== undefined) return (r) => JSON.stringify(meta(r));
      if (alone !== undefined) {
        needsDoc = true;
        return (_r, doc) => JSON.stringify(valueAt(doc(), alone) ?? null);
      }
      if (t.search(PLACEHOLDER) < 0) return () => JSON.stringify(t);
      needsDoc ||= [...t.matchAll(PLACEHOLDER)].some((m) => META[m[1]] === undefined);
      return (r, doc) => JSON.stringify(t.replace(PLACEHOLDER, (_m, path: string) => textOf(META[path]?.(r) ?? valueAt(doc(), path))));
    }
    if (Array.isArray(t)) {
      const items = t.map(compile);
      return (r, doc) => `[${items.map((p) => p(r, doc)).join(',')}]`;
    }
    if (typeof t === 'object' && t !== null) {
      const fields = Object.entries(t).map(([k, v]) => [JSON.stringify(k), compile(v)] as const);
      return (r, doc) => `{${fields.map(([k, p]) => `${k}:${p(r, doc)}`).join(',')}}`;
    }
    const fixed = JSON.stringify(t ?? null);
    return () => fixed;
  };
  const root = compile(template);
  return (r) => {
    let parsed: unknown;
    let done = !needsDoc;
    const doc = () => {
      if (!done) {
        done = true;
        try {
          parsed = JSON.parse(r.payload.toString('utf8'));
        } catch {
          parsed = undefined; // a record that is not JSON fills its fields with nothing
        }
      }
      return parsed;
    };
    return Buffer.from(root(r, doc));
  };
}

function valueAt(doc: unknown, path: string): unknown {
  let v = doc;
  for (const key of path.split('.')) {
    // Own fields only: what a record inherits (`constructor`, `__proto__`, `toString`) is not in it.
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function textOf(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
