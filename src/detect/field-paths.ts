// Field paths of rules: parsed (`a.b[*].c`, `data[keys]`, `annotations["x/y"]`) and compiled into getters over audit
// events (head, bodies, virtual fields) or over records of other sources (plain paths into the record).
import { bodyIf, probeBody, specialised, type EvalContext, type Getter } from './eval-context.ts';
import type { Json } from './json.ts';
import { RuleError } from './rule-error.ts';
import { execOf, nodeNameOf, serviceAccountOf, serviceAccountPart } from './virtual-fields.ts';

type Segment = { key: string } | { star: true } | { keys: true };

/** Splits `a.b[*].c`, `data[keys]`, `annotations["x.y/z"]`, `annotations.x\.y/z` into segments. */
export function parseFieldPath(path: string): Segment[] {
  const segs: Segment[] = [];
  let i = 0;
  let cur = '';
  let pending = false;
  const push = () => {
    if (pending) segs.push({ key: cur });
    cur = '';
    pending = false;
  };
  while (i < path.length) {
    const c = path[i];
    if (c === '\\') {
      if (i + 1 >= path.length) throw new Error('dangling backslash');
      cur += path[i + 1];
      pending = true;
      i += 2;
    } else if (c === '.') {
      if (!pending && (segs.length === 0 || path[i - 1] === '.')) throw new Error('empty segment');
      push();
      i++;
    } else if (c === '[') {
      push();
      if (path.startsWith('[*]', i)) {
        segs.push({ star: true });
        i += 3;
      } else if (path.startsWith('[keys]', i)) {
        segs.push({ keys: true });
        i += 6;
      } else {
        const q = path[i + 1];
        if (q !== '"' && q !== "'") throw new Error('expected [*], [keys] or ["key"]');
        const end = path.indexOf(`${q}]`, i + 2);
        if (end === -1) throw new Error('unclosed ["key"]');
        segs.push({ key: path.slice(i + 2, end) });
        i = end + 2;
      }
      if (i < path.length && path[i] !== '.' && path[i] !== '[') throw new Error('expected . or [ after ]');
    } else {
      cur += c;
      pending = true;
      i++;
    }
  }
  push();
  if (segs.length === 0 || !('key' in segs[0])) throw new Error('empty path');
  if (path.endsWith('.')) throw new Error('empty segment');
  return segs;
}

export const HEAD_ROOTS = new Set([
  'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs',
  'userAgent', 'objectRef', 'responseStatus', 'requestReceivedTimestamp', 'stageTimestamp',
]);

const INHERITED = new Set<string>();
for (const proto of [Object.prototype, Array.prototype, String.prototype, Number.prototype, Boolean.prototype, Function.prototype]) {
  for (const k of Object.getOwnPropertyNames(proto)) INHERITED.add(k);
}
INHERITED.add('__proto__');

/** A key that can be written as `.key` in generated code and reads the same by name as by own-key lookup. */
function isPlainKey(k: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !INHERITED.has(k);
}

/** Fast path for the common case: a path into the head (or a record) without `[*]` has at most one value; no arrays allocated. */
export function singleValue(path: string, record: boolean): ((ctx: EvalContext) => unknown) | undefined {
  const segs = parseFieldPath(path);
  if (segs.some((s) => !('key' in s))) return undefined;
  const keys = segs.map((s) => (s as { key: string }).key);
  const [root, ...rest] = keys;
  const walk = (v: unknown): unknown => {
    for (const k of rest) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
      v = (v as Json)[k];
    }
    return v;
  };
  if (record) return (ctx) => (Object.hasOwn(ctx.record, root) ? walk(ctx.record[root]) : undefined);
  if (root === 'sourceIP' && rest.length === 0) {
    return (ctx) => {
      const ips = ctx.event.head.sourceIPs;
      return ips.length > 0 ? ips[ips.length - 1] : undefined;
    };
  }
  if (root === 'user' && rest[0] === 'node') return rest.length === 1 ? (ctx) => nodeNameOf(ctx.event.head.user) : undefined;
  if (root === 'user' && rest[0] === 'serviceaccount') {
    const part = serviceAccountPart(rest[1]);
    return rest.length === 2 && part !== undefined ? (ctx) => serviceAccountOf(ctx.event.head.user)?.[part] : undefined;
  }
  if (root === 'annotations') return (ctx) => walk(ctx.event.annotations());
  if (!HEAD_ROOTS.has(root)) return undefined;
  if (rest.every(isPlainKey)) {
    // Named loads (`head.user.username`) instead of keyed ones: what makes a head condition cheap. Only for keys
    // that no object, array or string has as a property of its own or inherited (`length`, `constructor`), so
    // reading them by name gives what the own-key walk gives.
    let expr = `ctx.event.head.${root}`;
    for (const k of rest) expr = `(v = ${expr}) !== null && typeof v === 'object' && !Array.isArray(v) ? v.${k} : undefined`;
    return specialised([], `return (ctx) => { let v; return ${expr}; };`, []);
  }
  return (ctx) => walk((ctx.event.head as unknown as Json)[root]);
}

/** Where a field path starts (one value, or a list walked as if by `[*]`) and the steps after that. */
export interface ResolvedPath {
  /** The root's value (undefined: none); with `list`, an array whose items are the values. */
  root: (ctx: EvalContext) => unknown;
  list: boolean;
  steps: Segment[];
  body: boolean;
}

export function resolvePath(path: string, at: string, record = false): ResolvedPath {
  let segs: Segment[];
  try {
    segs = parseFieldPath(path);
  } catch (err) {
    throw new RuleError(`${at}: bad field path ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const root = (segs[0] as { key: string }).key;
  let rest = segs.slice(1);
  // A record's paths are plain paths into it: no virtual fields, no bodies.
  if (record) return { root: (ctx) => (Object.hasOwn(ctx.record, root) ? ctx.record[root] : undefined), list: false, steps: rest, body: false };
  const second = rest[0] && 'key' in rest[0] ? rest[0].key : undefined;
  if (root === 'sourceIP') {
    return { root: (ctx) => ctx.event.head.sourceIPs.at(-1), list: false, steps: rest, body: false };
  }
  if (root === 'exec' && (second === 'command' || second === 'container')) {
    return {
      root: second === 'command' ? (ctx) => execOf(ctx.event)?.command : (ctx) => execOf(ctx.event)?.container,
      list: false, steps: rest.slice(1), body: false,
    };
  }
  if (root === 'user' && second === 'node') {
    return { root: (ctx) => nodeNameOf(ctx.event.head.user), list: false, steps: rest.slice(1), body: false };
  }
  if (root === 'user' && second === 'serviceaccount') {
    const third = rest[1] && 'key' in rest[1] ? rest[1].key : undefined;
    const part = serviceAccountPart(third);
    if (part === undefined) throw new RuleError(`${at}: bad field path ${JSON.stringify(path)}: use user.serviceaccount.namespace or user.serviceaccount.name`);
    return { root: (ctx) => serviceAccountOf(ctx.event.head.user)?.[part], list: false, steps: rest.slice(2), body: false };
  }
  if (root === 'pod_specs' || root === 'containers' || root === 'images') {
    if (rest[0] && 'star' in rest[0]) rest = rest.slice(1);
    else if (rest[0] && 'keys' in rest[0]) throw new RuleError(`${at}: bad field path ${JSON.stringify(path)}: ${root} is a list, walk it with [*]`);
    const list: (ctx: EvalContext) => unknown = root === 'pod_specs' ? (ctx) => ctx.podSpecs() : root === 'containers' ? (ctx) => ctx.containers() : (ctx) => ctx.images();
    return { root: (ctx) => { probeBody(ctx); return list(ctx); }, list: true, steps: rest, body: true };
  }
  if (root === 'patch_body') return { root: (ctx) => { probeBody(ctx); return ctx.patchBody(); }, list: false, steps: rest, body: true };
  if (root === 'annotations') return { root: (ctx) => ctx.event.annotations(), list: false, steps: rest, body: false };
  if (HEAD_ROOTS.has(root)) return { root: (ctx) => (ctx.event.head as unknown as Json)[root], list: false, steps: rest, body: false };
  return { root: (ctx) => { probeBody(ctx); return ctx.event.full()[root]; }, list: false, steps: rest, body: true };
}

/**
 * The values of field paths as one string (a path's values joined by `,`, paths by NUL). Rate rules compute it
 * for every event they count, so single head fields (sourceIP, user.username) are read without building arrays.
 */
export function compileKey(paths: string[], at: string, record = false): (ctx: EvalContext) => string {
  const text = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const parts = paths.map((path, i): ((ctx: EvalContext) => string) => {
    const get = compileGetter(path, `${at}[${i}]`, record); // validates the path
    const one = singleValue(path, record);
    if (one !== undefined) {
      return (ctx) => {
        const v = one(ctx);
        return v == null ? '' : text(v);
      };
    }
    return (ctx) => get(ctx).map(text).join(',');
  });
  if (parts.length === 1) return parts[0];
  return (ctx) => parts.map((f) => f(ctx)).join('\0');
}

/** Compiles a field path into a function yielding its 0..n values (null and undefined are never yielded). */
export function compileGetter(path: string, at: string, record = false): Getter {
  return getterOf(resolvePath(path, at, record));
}

export function getterOf({ root, list, steps, body }: ResolvedPath): Getter {
  const roots = list ? (ctx: EvalContext) => (root(ctx) as unknown[]) : (ctx: EvalContext) => {
    const v = root(ctx);
    return v == null ? [] : [v];
  };
  if (steps.length === 0) return bodyIf((ctx) => roots(ctx).filter((v) => v != null), body);
  return bodyIf((ctx) => {
    let vals = roots(ctx);
    for (const s of steps) {
      const next: unknown[] = [];
      if ('star' in s) {
        // Over a list: its items; over a map (ConfigMap data, labels): its values.
        for (const v of vals) {
          if (Array.isArray(v)) { for (const x of v) if (x != null) next.push(x); }
          else if (v !== null && typeof v === 'object') { for (const x of Object.values(v)) if (x != null) next.push(x); }
        }
      } else if ('keys' in s) {
        // The keys of a map (ConfigMap data, labels); a list has none.
        for (const v of vals) if (v !== null && typeof v === 'object' && !Array.isArray(v)) next.push(...Object.keys(v));
      } else {
        for (const v of vals) {
          if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, s.key)) {
            const x = (v as Json)[s.key];
            if (x != null) next.push(x);
          }
        }
      }
      if (next.length === 0) return next;
      vals = next;
    }
    return vals;
  }, body);
}

export const ANY_VALUE = (): boolean => true;

/**
 * The field path as "does any value pass `test`": the same values compileGetter yields, walked in place and
 * stopping at the first that passes — no arrays built per event.
 */
export function compileSome({ root, list, steps }: ResolvedPath): (ctx: EvalContext, test: (v: unknown) => boolean) => boolean {
  const walk = (v: unknown, i: number, test: (v: unknown) => boolean): boolean => {
    if (v == null) return false;
    if (i === steps.length) return test(v);
    const s = steps[i];
    if (typeof v !== 'object') return false;
    if ('star' in s) {
      if (Array.isArray(v)) {
        for (const x of v) if (walk(x, i + 1, test)) return true;
      } else {
        for (const k in v) if (Object.hasOwn(v, k) && walk((v as Json)[k], i + 1, test)) return true;
      }
      return false;
    }
    if (Array.isArray(v)) return false;
    if ('keys' in s) {
      for (const k in v) if (Object.hasOwn(v, k) && walk(k, i + 1, test)) return true;
      return false;
    }
    return Object.hasOwn(v, s.key) && walk((v as Json)[s.key], i + 1, test);
  };
  if (list) {
    return (ctx, test) => {
      for (const x of root(ctx) as unknown[]) if (walk(x, 0, test)) return true;
      return false;
    };
  }
  return (ctx, test) => walk(root(ctx), 0, test);
}
