// The condition compiler: field conditions, all / any / not, macros and lists into predicates, and the guards on
// verb, resource and response code the engine picks candidate rules by.
import { BlockList, isIP } from 'node:net';
import { posix } from 'node:path';
import { baselineIdentity } from './baseline.ts';
import { bodyIf, bodyReaders, specialised, type EvalContext, type Predicate } from './eval-context.ts';
import { ANY_VALUE, compileGetter, compileKey, compileSome, getterOf, HEAD_ROOTS, parseFieldPath, resolvePath, singleValue } from './field-paths.ts';
import { isObject, type Json } from './json.ts';
import { unsafeRegexReason } from './regex-safety.ts';
import { RuleError } from './rule-error.ts';

const OPS = new Set(['equals', 'in', 'in_list', 'not_in', 'not_in_list', 'equals_field', 'exists', 'prefix', 'prefix_list', 'suffix', 'suffix_list', 'contains', 'contains_list', 'regex', 'cidr', 'cidr_list', 'gt', 'gte', 'lt', 'lte', 'path_prefix', 'path_prefix_list']);
const STRING_OPS = new Set(['equals', 'in', 'in_list', 'not_in', 'not_in_list', 'equals_field', 'prefix', 'prefix_list', 'suffix', 'suffix_list', 'contains', 'contains_list', 'regex']);

// Conditions decided when the files are loaded.
/**
 * A value longer than this is matched window by window (windows this long, each starting half a window after the one
 * before): an unanchored `.*` or `[^;]*` tried from every position is quadratic in the length of what it scans, and a
 * command line of hundreds of kilobytes written by whoever may create pods must not stall detection for seconds.
 * Every match up to half a window long is still found; `^` and `$` also hold at the windows' edges.
 */
export const REGEX_WINDOW = 4096;

/** `re` tested on overlapping windows of `v` (see REGEX_WINDOW): linear in the value's length. */
export function testInWindows(re: RegExp, v: string): boolean {
  const step = REGEX_WINDOW / 2;
  for (let at = 0; ; at += step) {
    if (re.test(v.slice(at, at + REGEX_WINDOW))) return true;
    if (at + REGEX_WINDOW >= v.length) return false;
  }
}

const ALWAYS: Predicate = () => true;
const NEVER: Predicate = () => false;

/** The first segment of a field path, undefined when the path does not parse. */
function fieldRoot(path: string): string | undefined {
  try {
    const first = parseFieldPath(path)[0];
    return 'key' in first ? first.key : undefined;
  } catch {
    return undefined;
  }
}

/** Fields the engine's candidate index already decides on (guards leave them out). */
const INDEXED_FIELDS = new Set(['verb', 'objectRef.resource', 'responseStatus.code', 'stage']);

/** A condition a rule's match depends on: the rule cannot match unless `test` gives `holds`. */
export interface Guard { test: Predicate; holds: boolean }

/** One `of:` list of a `baseline:` condition: the tuple of an event it names (`of` joined, then the values). */
export interface BaselineAspect { tuple: (ctx: EvalContext) => string }

/** Stands for "the path yields nothing" in a rule's guards (`exists: false`). */
export const ABSENT = '\0';

/** The condition was decided false at load time (it tests an empty list): its rule can never match. */
export function isNever(p: Predicate): boolean {
  return p === NEVER;
}

export class Compiler {
  readonly #lists: Record<string, string[]>;
  readonly #macros: Map<string, { file: string; where: string; raw: unknown }>;
  readonly #compiled = new Map<string, Predicate>();
  readonly #compiling = new Set<string>();
  /** The `of:` lists of baseline conditions, by their paths joined. */
  readonly #aspects = new Map<string, BaselineAspect>();
  /** Guard predicates of field conditions, by the condition's JSON text. */
  readonly #guardConditions = new Map<string, Predicate>();
  /** Field paths are paths into records of other sources, not into audit events. */
  readonly #record: boolean;

  constructor(lists: Record<string, string[]>, macros: Map<string, { file: string; where: string; raw: unknown }>, record: boolean) {
    this.#lists = lists;
    this.#macros = macros;
    this.#record = record;
  }

  macro(name: string, at: string, path: string): Predicate {
    const done = this.#compiled.get(name);
    if (done) return done;
    const m = this.#macros.get(name);
    if (!m) throw new RuleError(`${at}.${path}: unknown macro ${JSON.stringify(name)}`);
    if (this.#compiling.has(name)) throw new RuleError(`${at}.${path}: macro ${JSON.stringify(name)} refers to itself`);
    this.#compiling.add(name);
    const inner = this.condition(m.raw, m.file, m.where);
    this.#compiling.delete(name);
    // A macro is evaluated once per event however many rules use it (conditions have no side effects).
    let p = inner;
    if (inner !== ALWAYS && inner !== NEVER) {
      const slot = this.#compiled.size;
      p = bodyIf(specialised<Predicate>(['inner', 'slot'], `return (ctx) => {
        if (ctx.memoAt[slot] === ctx.serial) {
          ctx.bodyProbe |= ctx.memoProbe[slot];
          return ctx.memo[slot];
        }
        const outer = ctx.bodyProbe;
        ctx.bodyProbe = 0;
        const v = inner(ctx);
        ctx.memo[slot] = v;
        ctx.memoAt[slot] = ctx.serial;
        ctx.memoProbe[slot] = ctx.bodyProbe;
        ctx.bodyProbe |= outer;
        return v;
      };`, [inner, slot]), bodyReaders.has(inner));
    }
    this.#compiled.set(name, p);
    return p;
  }

  /**
   * The values `field` must take for a (validated) condition to hold, or undefined when the condition does
   * not pin it: `all` intersects, `any` unites (undefined if any branch is free), `not` and other fields
   * pin nothing. Only exact, case-sensitive `equals` / `in` / `in_list` of strings count, and `exists: false`, which
   * pins the path to ABSENT (requests without a resource: health checks, discovery).
   */
  necessaryValues(raw: unknown, field: string, depth = 0): Set<string> | undefined {
    if (raw === null || typeof raw !== 'object' || depth > 32) return undefined;
    const c = raw as Record<string, unknown>;
    if (Array.isArray(c.all)) {
      let acc: Set<string> | undefined;
      for (const part of c.all) {
        const v = this.necessaryValues(part, field, depth + 1);
        if (v !== undefined) acc = acc === undefined ? v : new Set([...acc].filter((x) => v.has(x)));
      }
      return acc;
    }
    if (Array.isArray(c.any)) {
      const acc = new Set<string>();
      for (const part of c.any) {
        const v = this.necessaryValues(part, field, depth + 1);
        if (v === undefined) return undefined;
        for (const x of v) acc.add(x);
      }
      return acc;
    }
    if (typeof c.macro === 'string') return this.necessaryValues(this.#macros.get(c.macro)?.raw, field, depth + 1);
    if (c.field !== field || c.ignore_case === true) return undefined;
    if (c.exists === false) return new Set([ABSENT]);
    const strings = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? new Set(v as string[]) : undefined);
    if (typeof c.equals === 'string') return new Set([c.equals]);
    if (c.in !== undefined) return strings(c.in);
    if (typeof c.in_list === 'string') return strings(this.#lists[c.in_list]);
    return undefined;
  }

  /**
   * A test responseStatus.code must pass for a (validated) condition to hold, or undefined when the condition does
   * not constrain it: `all` joins its parts' tests, `any` takes either (undefined if any branch is free), `not` and
   * other fields constrain nothing. Only numeric equals / in / lt / lte / gt / gte and `exists: true` count; an
   * absent code fails all of them, as it does when the condition is evaluated.
   */
  codeGuard(raw: unknown, depth = 0): ((code: number | undefined) => boolean) | undefined {
    if (raw === null || typeof raw !== 'object' || depth > 32) return undefined;
    const c = raw as Record<string, unknown>;
    if (Array.isArray(c.all)) {
      const parts = c.all.map((part) => this.codeGuard(part, depth + 1)).filter((g) => g !== undefined);
      if (parts.length === 0) return undefined;
      return (code) => parts.every((g) => g(code));
    }
    if (Array.isArray(c.any)) {
      const parts = c.any.map((part) => this.codeGuard(part, depth + 1));
      if (parts.some((g) => g === undefined)) return undefined;
      return (code) => parts.some((g) => g!(code));
    }
    if (typeof c.macro === 'string') return this.codeGuard(this.#macros.get(c.macro)?.raw, depth + 1);
    if (c.field !== 'responseStatus.code') return undefined;
    if (c.exists === true) return (code) => code != null;
    const n = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    if (n(c.equals)) return (code) => code === c.equals;
    if (Array.isArray(c.in) && c.in.every(n)) {
      const set = new Set(c.in as number[]);
      return (code) => code !== undefined && set.has(code);
    }
    if (n(c.lt)) return (code) => typeof code === 'number' && code < (c.lt as number);
    if (n(c.lte)) return (code) => typeof code === 'number' && code <= (c.lte as number);
    if (n(c.gt)) return (code) => typeof code === 'number' && code > (c.gt as number);
    if (n(c.gte)) return (code) => typeof code === 'number' && code >= (c.gte as number);
    return undefined;
  }

  /**
   * The head-only conditions a (validated) condition needs, for the engine's guards: the parts of a top-level `all`,
   * followed into macros, each a macro or a field condition, or the `not` of one (then it must fail). Verb, resource
   * and code are left to the candidate index. A condition that reads bodies is no guard: it costs a parse.
   */
  guards(raw: unknown, at: string, holds = true, depth = 0, out: Guard[] = []): Guard[] {
    if (!isObject(raw) || depth > 32) return out;
    const add = (test: Predicate) => {
      if (test === ALWAYS || test === NEVER || bodyReaders.has(test)) return;
      if (!out.some((g) => g.test === test && g.holds === holds)) out.push({ test, holds });
    };
    if (holds && Array.isArray(raw.all)) {
      for (const part of raw.all) this.guards(part, at, true, depth + 1, out);
    } else if ('not' in raw && Object.keys(raw).length === 1) {
      if (isObject(raw.not) && (typeof raw.not.macro === 'string' || typeof raw.not.field === 'string')) this.guards(raw.not, at, !holds, depth + 1, out);
    } else if (typeof raw.macro === 'string') {
      add(this.macro(raw.macro, at, 'match'));
      if (holds) this.guards(this.#macros.get(raw.macro)?.raw, at, true, depth + 1, out);
    } else if (typeof raw.field === 'string' && !INDEXED_FIELDS.has(raw.field)) {
      add(this.#guardCondition(raw, at));
    } else if (holds && Array.isArray(raw.any)) {
      // Every branch a condition on one head field (impersonatedUser.username, impersonatedUser.groups[*]): none
      // holds without that field, whatever its operators (only `exists: false` holds on a missing value).
      const roots = new Set(raw.any.map((b: unknown) => (isObject(b) && typeof b.field === 'string' && b.exists !== false ? fieldRoot(b.field) : undefined)));
      const [root] = roots;
      if (roots.size === 1 && root !== undefined && HEAD_ROOTS.has(root) && !INDEXED_FIELDS.has(root)) add(this.#guardCondition({ field: root, exists: true }, at));
    }
    return out;
  }

  /** One predicate per distinct condition text, so that rules with the same condition share it. */
  #guardCondition(raw: Json, at: string): Predicate {
    const key = JSON.stringify(raw);
    let test = this.#guardConditions.get(key);
    if (test === undefined) this.#guardConditions.set(key, test = this.condition(raw, at, 'match'));
    return test;
  }

  baselineAspects(): BaselineAspect[] {
    return [...this.#aspects.values()];
  }

  /** `{ baseline: first_seen, of: [paths] }`: the request's identity never did what the `of` values say before. */
  #baselineCondition(raw: Json, at: string, path: string): Predicate {
    const fail = (sub: string, msg: string): never => {
      throw new RuleError(`${at}.${sub}: ${msg}`);
    };
    if (this.#record) fail(path, 'baseline conditions are for rules on audit events');
    if (Object.keys(raw).some((k) => k !== 'baseline' && k !== 'of')) fail(path, 'baseline takes of and no other keys');
    if (raw.baseline !== 'first_seen') fail(`${path}.baseline`, 'expected first_seen');
    const of = raw.of;
    if (!Array.isArray(of) || of.length === 0 || of.some((x: unknown) => typeof x !== 'string')) fail(`${path}.of`, 'expected a non-empty list of field paths');
    const name = (of as string[]).join(',');
    let aspect = this.#aspects.get(name);
    if (aspect === undefined) {
      const key = compileKey(of as string[], `${at}.${path}.of`);
      aspect = { tuple: (ctx) => `${name}\0${key(ctx)}` };
      this.#aspects.set(name, aspect);
    }
    const tuple = aspect.tuple;
    return (ctx) => {
      const identity = ctx.baseline === undefined ? undefined : baselineIdentity(ctx.event.head.user.username);
      return identity !== undefined && ctx.baseline!.firstSeen(identity, tuple(ctx), ctx.atMs);
    };
  }

  list(name: unknown, at: string, path: string): string[] {
    if (typeof name !== 'string') throw new RuleError(`${at}.${path}: expected the name of a list`);
    const l = this.#lists[name];
    if (!l) throw new RuleError(`${at}.${path}: unknown list ${JSON.stringify(name)}`);
    return l;
  }

  condition(raw: unknown, at: string, path: string): Predicate {
    const fail = (sub: string, msg: string): never => {
      throw new RuleError(`${at}.${sub}: ${msg}`);
    };
    if (!isObject(raw)) return fail(path, 'expected a condition ({ field, <op> }, all, any, not, macro or list_not_empty)');
    const keys = Object.keys(raw);
    if ('list_not_empty' in raw) {
      // Decided at load time: lists are complete once every file is read.
      if (keys.length !== 1) fail(path, 'list_not_empty takes no other keys');
      const items = this.list(raw.list_not_empty, at, `${path}.list_not_empty`);
      return items.length > 0 ? ALWAYS : NEVER;
    }
    if ('all' in raw || 'any' in raw) {
      const key = 'all' in raw ? 'all' : 'any';
      if (keys.length !== 1) fail(path, `${key} takes no other keys`);
      const items = raw[key];
      if (!Array.isArray(items) || items.length === 0) fail(`${path}.${key}`, 'expected a non-empty list of conditions');
      let compiled = (items as unknown[]).map((c, i) => this.condition(c, at, `${path}.${key}[${i}]`));
      // Parts decided at load time (list_not_empty) decide the whole or drop out.
      const decisive = key === 'all' ? NEVER : ALWAYS;
      if (compiled.includes(decisive)) return decisive;
      compiled = compiled.filter((p) => p !== ALWAYS && p !== NEVER);
      if (compiled.length === 0) return key === 'all' ? ALWAYS : NEVER;
      if (compiled.length === 1) return compiled[0];
      // Conditions have no side effects: the head-only ones go first, so a body is parsed only when they pass.
      const parts = [...compiled.filter((p) => !bodyReaders.has(p)), ...compiled.filter((p) => bodyReaders.has(p))];
      const body = parts.some((p) => bodyReaders.has(p));
      const names = parts.map((_, i) => `p${i}`);
      const expr = names.map((n) => `${n}(ctx)`).join(key === 'all' ? ' && ' : ' || ');
      return bodyIf(specialised<Predicate>(names, `return (ctx) => ${expr};`, parts), body);
    }
    if ('not' in raw) {
      if (keys.length !== 1) fail(path, 'not takes no other keys');
      const inner = this.condition(raw.not, at, `${path}.not`);
      if (inner === ALWAYS || inner === NEVER) return inner === ALWAYS ? NEVER : ALWAYS;
      return bodyIf(specialised<Predicate>(['inner'], 'return (ctx) => !inner(ctx);', [inner]), bodyReaders.has(inner));
    }
    if ('macro' in raw) {
      if (keys.length !== 1) fail(path, 'macro takes no other keys');
      if (typeof raw.macro !== 'string') fail(`${path}.macro`, 'expected a macro name');
      // Compiled lazily so macros may refer to macros defined later.
      const name = raw.macro as string;
      if (!this.#macros.has(name)) fail(`${path}.macro`, `unknown macro ${JSON.stringify(name)}`);
      let p: Predicate | undefined;
      p = this.macro(name, at, `${path}.macro`);
      return p;
    }
    if ('baseline' in raw) return this.#baselineCondition(raw, at, path);
    if (!('field' in raw)) return fail(path, 'expected field, all, any, not, macro, list_not_empty or baseline');
    if (typeof raw.field !== 'string') fail(`${path}.field`, 'expected a field path');
    const ops = keys.filter((k) => k !== 'field' && k !== 'ignore_case');
    for (const k of ops) if (!OPS.has(k)) fail(`${path}.${k}`, `unknown operator (expected one of ${[...OPS].join(', ')})`);
    if (ops.length !== 1) fail(path, `expected exactly one operator beside field, found ${ops.length === 0 ? 'none' : ops.join(', ')}`);
    const op = ops[0];
    const ignoreCase = raw.ignore_case === true;
    if (raw.ignore_case !== undefined && typeof raw.ignore_case !== 'boolean') fail(`${path}.ignore_case`, 'expected true or false');
    if (ignoreCase && !STRING_OPS.has(op)) fail(`${path}.ignore_case`, `not supported with ${op}`);
    const field = resolvePath(raw.field as string, `${at}.${path}.field`, this.#record);
    const where = `${path}.${op}`;
    const value = raw[op];
    const some = compileSome(field);
    const body = field.body;
    if (op === 'exists') {
      if (typeof value !== 'boolean') fail(where, 'expected true or false');
      return bodyIf(value ? (ctx) => some(ctx, ANY_VALUE) : (ctx) => !some(ctx, ANY_VALUE), body);
    }
    if (op === 'equals_field') {
      if (typeof value !== 'string' || value === '') fail(where, 'expected a field path');
      const get = getterOf(field);
      const other = compileGetter(value as string, `${at}.${where}`, this.#record);
      const same = (a: unknown, b: unknown): boolean => {
        if (typeof a === 'string') return typeof b === 'string' && (ignoreCase ? a.toLowerCase() === b.toLowerCase() : a === b);
        return (typeof a === 'number' || typeof a === 'boolean') && a === b;
      };
      return bodyIf((ctx) => {
        const mine = get(ctx);
        if (mine.length === 0) return false;
        const theirs = other(ctx);
        for (const a of mine) for (const b of theirs) if (same(a, b)) return true;
        return false;
      }, body || bodyReaders.has(other));
    }
    const test = this.valueTest(op, value, ignoreCase, at, where);
    const one = singleValue(raw.field as string, this.#record);
    if (one !== undefined) {
      return specialised<Predicate>(['one', 'test'], `return (ctx) => {
        const v = one(ctx);
        return v != null && test(v);
      };`, [one, test]);
    }
    return bodyIf((ctx) => some(ctx, test), body);
  }

  valueTest(op: string, value: unknown, ic: boolean, at: string, where: string): (v: unknown) => boolean {
    const fail = (msg: string): never => {
      throw new RuleError(`${at}.${where}: ${msg}`);
    };
    const fold = (s: string) => (ic ? s.toLowerCase() : s);
    const strings = (v: unknown): string[] => {
      const arr = Array.isArray(v) ? v : [v];
      if (arr.length === 0 || arr.some((x) => typeof x !== 'string')) fail('expected a string or a list of strings');
      return (arr as string[]).map(fold);
    };
    switch (op) {
      case 'equals': {
        if (value === null || typeof value === 'object') fail('expected a string, number or boolean');
        if (typeof value === 'string') {
          const want = fold(value);
          return ic ? (v) => typeof v === 'string' && fold(v) === want : (v) => v === want;
        }
        return (v) => v === value;
      }
      case 'in':
      case 'in_list':
      case 'not_in':
      case 'not_in_list': {
        let items: unknown[];
        if (op === 'in_list' || op === 'not_in_list') items = this.list(value, at, where);
        else {
          if (!Array.isArray(value)) fail('expected a list');
          items = value as unknown[];
        }
        const set = new Set(items.map((x) => (typeof x === 'string' ? fold(x) : x)));
        if (op === 'in' || op === 'in_list') return ic ? (v) => set.has(typeof v === 'string' ? fold(v) : v) : (v) => set.has(v);
        // A value outside the list; objects and lists are not values that could be in it.
        return (v) => v === null || typeof v !== 'object' ? !set.has(typeof v === 'string' ? fold(v) : v) : false;
      }
      case 'prefix':
      case 'suffix':
      case 'contains':
      case 'prefix_list':
      case 'suffix_list':
      case 'contains_list': {
        // A named list an operator extends in a file of their own (attack tool user agents, probe user agents).
        const named = op.endsWith('_list');
        if (named) op = op.slice(0, -'_list'.length);
        const want = named ? this.list(value, at, where).map(fold) : strings(value);
        // An empty named list holds for nothing.
        if (want.length === 0) return () => false;
        const has = op === 'prefix' ? (s: string, w: string) => s.startsWith(w) : op === 'suffix' ? (s: string, w: string) => s.endsWith(w) : (s: string, w: string) => s.includes(w);
        // The common case, one string and no case folding, without a loop or a closure per value.
        if (want.length === 1 && !ic) {
          const w = want[0];
          if (op === 'prefix') return (v) => typeof v === 'string' && v.startsWith(w);
          if (op === 'suffix') return (v) => typeof v === 'string' && v.endsWith(w);
          return (v) => typeof v === 'string' && v.includes(w);
        }
        // Several strings, or folded case: one pattern of escaped literals scans the value once, without
        // lower-casing it (a list of tool names is tried on every event's user agent).
        if (want.length > 3 || ic) {
          const alternatives = want.map((w) => w.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|');
          const re = new RegExp(op === 'prefix' ? `^(?:${alternatives})` : op === 'suffix' ? `(?:${alternatives})$` : alternatives, ic ? 'i' : '');
          return (v) => typeof v === 'string' && re.test(v);
        }
        return (v) => {
          if (typeof v !== 'string') return false;
          for (const w of want) if (has(v, w)) return true;
          return false;
        };
      }
      case 'regex': {
        if (typeof value !== 'string' || value === '') fail('expected a regular expression');
        const reason = unsafeRegexReason(value as string);
        if (reason) fail(`pattern can backtrack catastrophically: ${value} (${reason})`);
        let re: RegExp;
        try {
          re = new RegExp(value as string, ic ? 'i' : '');
        } catch (err) {
          return fail(`invalid regular expression: ${(err as Error).message}`);
        }
        return (v) => typeof v === 'string' && (v.length <= REGEX_WINDOW ? re.test(v) : testInWindows(re, v));
      }
      case 'cidr':
      case 'cidr_list': {
        const blocks = new BlockList();
        for (const c of op === 'cidr_list' ? this.list(value, at, where) : strings(value)) {
          const m = /^([^/]+)\/(\d{1,3})$/.exec(c);
          const family = m ? isIP(m[1]) : 0;
          const bits = m ? Number(m[2]) : -1;
          if (!m || family === 0 || bits > (family === 4 ? 32 : 128)) fail(`invalid CIDR ${JSON.stringify(c)}`);
          blocks.addSubnet(m![1], bits, family === 4 ? 'ipv4' : 'ipv6');
        }
        // A cluster's requests come from few addresses (nodes, pods, a VPN): remember their answers, bounded.
        const seen = new Map<string, boolean>();
        return (v) => {
          if (typeof v !== 'string') return false;
          let inside = seen.get(v);
          if (inside === undefined) {
            const family = isIP(v);
            inside = family !== 0 && blocks.check(v, family === 4 ? 'ipv4' : 'ipv6');
            if (seen.size >= 4096) seen.clear();
            seen.set(v, inside);
          }
          return inside;
        };
      }
      case 'gt': case 'gte': case 'lt': case 'lte': {
        if (typeof value !== 'number' || !Number.isFinite(value)) fail('expected a number');
        const n = value as number;
        const cmp = op === 'gt' ? (x: number) => x > n : op === 'gte' ? (x: number) => x >= n : op === 'lt' ? (x: number) => x < n : (x: number) => x <= n;
        return (v) => typeof v === 'number' && cmp(v);
      }
      case 'path_prefix':
      case 'path_prefix_list': {
        const raw = op === 'path_prefix_list' ? this.list(value, at, where) : strings(value);
        const prefixes = raw.map((p) => {
          if (!p.startsWith('/')) fail(`expected absolute paths, found ${JSON.stringify(p)}`);
          return normalizeHostPath(p);
        });
        return (v) => {
          if (typeof v !== 'string' || v === '') return false;
          const p = normalizeHostPath(v);
          return prefixes.some((pre) => (pre === '/' ? p === '/' : p === pre || p.startsWith(`${pre}/`)));
        };
      }
    }
    return fail('unknown operator');
  }
}

/** Resolves `.` and `..`, collapses `//`, drops a trailing `/` (keeps `/` itself). */
export function normalizeHostPath(p: string): string {
  let n = posix.normalize(p.startsWith('/') ? p : `/${p}`);
  n = n.replace(/^\/+/, '/');
  if (n.length > 1 && n.endsWith('/')) n = n.slice(0, -1);
  return n;
}
