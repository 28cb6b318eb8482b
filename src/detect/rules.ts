// Loads, validates and compiles detection rule files (lists, macros, rules) into plain predicate functions.
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRuleText, parseYamlText } from './rule-cache.ts';
import { ioReason } from '../config/io-error.ts';
import { parseDuration } from '../config/unit-text.ts';
import type { AuditEvent } from '../parse/audit.ts';
import { decodeQuery } from '../parse/patterns.ts';
import { unsafeRegexReason } from './regex-safety.ts';
import { baselineIdentity, type Baseline } from './baseline.ts';

type Json = Record<string, any>;

/** What a rule reads for one event; bodies and derived fields are computed on first use and cached. */
export class EvalContext {
  event: AuditEvent;
  /** Results of macros for this event (many rules share a macro such as system_noise), by macro slot. */
  readonly memo: boolean[] = [];
  /** Body reads a macro made on its first evaluation (see bodyProbe), replayed when its memo is used. */
  readonly memoProbe: number[] = [];
  /** The event (by `serial`) each memo slot was filled for: a slot of an earlier event counts as empty. */
  readonly memoAt: number[] = [];
  /** Numbers the events this context has seen, so that reset() need not clear the memo. */
  serial = 0;
  /**
   * Set when a condition reached for a request/response body: BODY_MISSING when the audit policy logged the event
   * at Metadata level (no bodies by policy), BODY_PRESENT otherwise (a body may still be absent for other reasons:
   * a refused request, exec). The engine reads and clears it per rule.
   */
  bodyProbe = 0;
  /** What `baseline:` conditions ask (set by the engine; undefined: no baseline, they hold for nothing). */
  baseline: Baseline | undefined;
  /** The request's time in ms (set by the engine when a baseline is kept). */
  atMs = 0;
  #specs: unknown[] | undefined;
  #containers: unknown[] | undefined;
  #images: ImageRef[] | undefined;
  constructor(event: AuditEvent) {
    this.event = event;
  }
  /** The same context for another event, its per-event results cleared (the engine keeps one: no allocation). */
  reset(event: AuditEvent): this {
    this.event = event;
    this.serial += 1;
    this.bodyProbe = 0;
    this.#specs = undefined;
    this.#containers = undefined;
    this.#images = undefined;
    return this;
  }
  podSpecs(): unknown[] {
    if (this.#specs === undefined) this.#specs = podSpecsOf(this.event);
    return this.#specs;
  }
  containers(): unknown[] {
    if (this.#containers === undefined) this.#containers = containersOf(this.event, this.podSpecs());
    return this.#containers;
  }
  images(): ImageRef[] {
    if (this.#images === undefined) {
      this.#images = [];
      for (const c of this.containers()) {
        const ref = typeof (c as Json).image === 'string' ? parseImageRef((c as Json).image) : undefined;
        if (ref !== undefined) this.#images.push(ref);
      }
    }
    return this.#images;
  }
}

export const BODY_MISSING = 1;
export const BODY_PRESENT = 2;

/** Notes on the context that a condition reached for a body, and whether the policy logs bodies for the event. */
function probeBody(ctx: EvalContext): void {
  ctx.bodyProbe |= ctx.event.head.level === 'Metadata' ? BODY_MISSING : BODY_PRESENT;
}

export type Getter = (ctx: EvalContext) => unknown[];
export type Predicate = (ctx: EvalContext) => boolean;

// Getters and predicates that read the request/response bodies (a full parse); the rest read the head only.
const bodyReaders = new WeakSet<Getter | Predicate>();
const bodyIf = <T extends Getter | Predicate>(f: T, body: boolean): T => {
  if (body) bodyReaders.add(f);
  return f;
};

let specialisedCount = 0;

/**
 * A fresh copy of a small function built from `source` (fixed text in this file, plus field names checked to be
 * plain identifiers: never a value from a rule file) and bound to `args`. Each copy has its own code and type
 * feedback, so V8 inlines what it calls and keeps its property loads monomorphic; one closure shared by hundreds
 * of conditions sees too many callees and object shapes to be optimised (rules cost about twice as much).
 */
function specialised<T>(params: string[], source: string, args: unknown[]): T {
  // The counter makes each source text unique, so that no compilation cache hands back shared code.
  const factory = new Function(...params, `/* condition ${specialisedCount++} */\n${source}`) as (...a: unknown[]) => T;
  return factory(...args);
}

/** Whether a compiled getter or predicate (a rule's `match`) reads the request/response bodies. */
export function needsBodies(f: Getter | Predicate): boolean {
  return bodyReaders.has(f);
}

export interface CompiledRule {
  id: string;
  name: string;
  description: string;
  category: string;
  level: 'high' | 'medium' | 'low' | 'note';
  enabled: boolean;
  type: 'system' | 'custom';
  /** Clusters (configured cluster names) the rule runs in; undefined = every cluster. */
  clusters: Set<string> | undefined;
  /** Namespaces the rule is limited to; undefined = everywhere (cluster-scoped events included). */
  namespaces: Set<string> | undefined;
  /** Stages the rule looks at; undefined = every stage. */
  stages: Set<string> | undefined;
  /** The rule looks at ResponseComplete only: it sees each request once (no dedup by auditID needed). */
  lastStageOnly: boolean;
  match: Predicate;
  /**
   * Values the event's verb / objectRef.resource must have for `match` to hold (derived from the rule at
   * load time; undefined: no such constraint). The engine skips a rule on these before evaluating it.
   */
  onlyVerbs: Set<string> | undefined;
  onlyResources: Set<string> | undefined;
  /** What responseStatus.code (undefined when absent) must pass for `match` to hold; undefined: no constraint. */
  onlyCodes: ((code: number | undefined) => boolean) | undefined;
  /**
   * Head-only conditions `match` needs to hold (`holds: true`) or to fail (`holds: false`): the macros and field
   * conditions of its top-level `all` (through macros) and `not`s of them. Rules sharing one share the predicate,
   * so the engine evaluates it once per event and skips every rule it rules out.
   */
  guards: Guard[];
  /** Set for rate rules: `match` selects the requests that count. */
  rate: RateSpec | undefined;
  /** Set for sequence rules: `match` is any of the steps; the rule hits on the request that completes them in order. */
  sequence: SequenceSpec | undefined;
  aggregateBy: string[];
  aggregateKey: Getter[];
  output: (ctx: EvalContext) => string;
  risk: string;
  solution: string;
  /** File the rule came from. */
  file: string;
}

/** A condition a rule's match depends on: the rule cannot match unless `test` gives `holds`. */
export interface Guard { test: Predicate; holds: boolean }

/** An allowlist entry: hits of its rules on events it matches are suppressed. */
export interface CompiledAllow {
  id: string;
  description: string;
  /** Ids of the rules it applies to (categories expanded); undefined = every rule. */
  rules: Set<string> | undefined;
  /** Clusters it applies in; undefined = every cluster. */
  clusters: Set<string> | undefined;
  /** Namespaces (objectRef.namespace) it applies to; undefined = every event, cluster-scoped ones included. */
  namespaces: Set<string> | undefined;
  match: Predicate;
  /** File the entry came from. */
  file: string;
}

export interface RuleSet {
  rules: CompiledRule[];
  lists: Record<string, string[]>;
  allowlist: CompiledAllow[];
  /** What `baseline:` conditions look at: the engine learns these tuples per identity from every allowed request. */
  baselineAspects?: BaselineAspect[];
}

/** One `of:` list of a `baseline:` condition: the tuple of an event it names (`of` joined, then the values). */
export interface BaselineAspect { tuple: (ctx: EvalContext) => string }

/**
 * The first allowlist entry that suppresses `rule`'s hit on this event in `cluster`, or undefined. Entries are
 * tried in load order; the rule, cluster and namespace checks come before the entry's condition.
 */
export function allowedBy(allow: CompiledAllow[], rule: CompiledRule, ctx: EvalContext, cluster: string): CompiledAllow | undefined {
  for (const a of allow) {
    if (a.rules !== undefined && !a.rules.has(rule.id)) continue;
    if (a.clusters !== undefined && !a.clusters.has(cluster)) continue;
    if (a.namespaces !== undefined) {
      const ns = ctx.event.head.objectRef?.namespace;
      if (ns === undefined || !a.namespaces.has(ns)) continue;
    }
    if (a.match(ctx)) return a;
  }
  return undefined;
}

/** A rule file is wrong; the message names the file, the rule and the field path. */
export class RuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuleError';
  }
}

/** The shipped rules directory. */
export const SYSTEM_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

/** Reads, validates and compiles rule files in order: later files extend lists, replace macros and add rules. */
export function loadRuleFiles(paths: string[]): RuleSet {
  const texts = readRuleFiles(paths);
  const early = compiledAhead;
  compiledAhead = undefined;
  if (early !== undefined && early.texts.length === texts.length && early.texts.every((t, i) => t.name === texts[i].name && t.text === texts[i].text)) {
    return early.rules;
  }
  return compileTexts(texts, parseRuleText);
}

/** The rule set compileAhead built, with the texts it was built from; taken (once) by the next loadRuleFiles. */
let compiledAhead: { texts: RuleText[]; rules: RuleSet } | undefined;

/**
 * Compiles rule files before they are asked for: a parse worker does this for the shipped rules while it waits for
 * its config, so that loading them then costs only reading the files again (they must be unchanged). Errors are
 * left for loadRuleFiles to report (undefined here).
 */
export function compileAhead(paths: string[]): RuleSet | undefined {
  try {
    const texts = readRuleFiles(paths);
    compiledAhead = { texts, rules: compileTexts(texts, parseRuleText) };
  } catch {
    compiledAhead = undefined;
  }
  return compiledAhead?.rules;
}

/** Drops a rule set compiled ahead that no load took (detection off): it would only hold memory. */
export function discardCompiledAhead(): void {
  compiledAhead = undefined;
}

type RuleText = { name: string; text: string; defaultType: 'system' | 'custom' };

function readRuleFiles(paths: string[]): RuleText[] {
  return paths.map((path) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new RuleError(`${path}: cannot read rule file: ${ioReason(err)}`);
    }
    const system = posix.normalize(path).startsWith(SYSTEM_RULES_DIR);
    return { name: path, text, defaultType: system ? 'system' as const : 'custom' as const };
  });
}

export function compileRuleTexts(texts: Array<{ name: string; text: string }>): RuleSet {
  return compileTexts(texts.map((t) => ({ ...t, defaultType: 'custom' as const })));
}

const LEVELS = new Set(['high', 'medium', 'low', 'note']);
const FILE_KEYS = new Set(['type', 'lists', 'macros', 'rules', 'allowlist']);
const ALLOW_KEYS = new Set(['id', 'description', 'rules', 'scope', 'match']);
const RULE_KEYS = new Set(['id', 'name', 'description', 'category', 'level', 'enabled', 'scope', 'stages', 'match', 'sequence', 'within', 'by', 'rate', 'aggregate_by', 'output', 'risk', 'solution']);
const RATE_KEYS = new Set(['group_by', 'window', 'more_than', 'failure_ratio_above', 'failure_codes']);

/**
 * A rate rule hits when, within `windowMs` of a group's first counted request, more than `moreThan` requests
 * matched (each auditID once) and, when set, the share of failed ones (response code in `failureCodes`,
 * by default 401 and 403: refused credentials and refused permissions) is above `failureRatioAbove`.
 */
export interface RateSpec {
  /** The group of an event: the values of the group_by paths, joined. */
  groupKey: (ctx: EvalContext) => string;
  windowMs: number;
  moreThan: number;
  failureRatioAbove: number | undefined;
  failureCodes: Set<number>;
}
/**
 * A sequence rule hits on the request that matches its last step when the same actor (the values of `by`) matched
 * the steps before it, in order, within `windowMs` of the first.
 */
export interface SequenceSpec {
  steps: Predicate[];
  windowMs: number;
  /** The actor of an event: the values of the `by` paths, joined ('' when it has none). */
  actorKey: (ctx: EvalContext) => string;
}
const SEQUENCE_KEYS = new Set(['rule', 'match']);
const STAGES = new Set(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']);

interface RawRule { file: string; where: string; raw: Json; type: 'system' | 'custom' }
interface RawAllow { file: string; where: string; raw: Json }

function compileTexts(texts: RuleText[], parse: (text: string) => unknown = parseYamlText): RuleSet {
  const lists: Record<string, string[]> = {};
  const macros = new Map<string, { file: string; where: string; raw: unknown }>();
  const rawRules: RawRule[] = [];
  const rawAllow: RawAllow[] = [];
  for (const { name: file, text, defaultType } of texts) {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new RuleError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc == null) continue;
    if (!isObject(doc)) throw new RuleError(`${file}: expected a mapping with lists, macros and rules`);
    for (const k of Object.keys(doc)) if (!FILE_KEYS.has(k)) throw new RuleError(`${file}: ${k}: unknown key (expected type, lists, macros, rules, allowlist)`);
    if (doc.type !== undefined && doc.type !== 'system' && doc.type !== 'custom') throw new RuleError(`${file}: type: expected system or custom`);
    const type = (doc.type ?? defaultType) as 'system' | 'custom';
    if (doc.lists !== undefined) {
      if (!isObject(doc.lists)) throw new RuleError(`${file}: lists: expected a mapping of name to list of strings`);
      for (const [name, items] of Object.entries(doc.lists)) {
        if (!Array.isArray(items) || items.some((x) => typeof x !== 'string' && typeof x !== 'number')) {
          throw new RuleError(`${file}: lists.${name}: expected a list of strings`);
        }
        const existing = lists[name] ?? [];
        lists[name] = [...existing, ...items.map(String).filter((x) => !existing.includes(x))];
      }
    }
    if (doc.macros !== undefined) {
      if (!isObject(doc.macros)) throw new RuleError(`${file}: macros: expected a mapping of name to condition`);
      for (const [name, cond] of Object.entries(doc.macros)) macros.set(name, { file: `${file}: macros`, where: name, raw: cond });
    }
    if (doc.rules !== undefined) {
      if (!Array.isArray(doc.rules)) throw new RuleError(`${file}: rules: expected a list of rules`);
      doc.rules.forEach((raw: unknown, i: number) => {
        const id = isObject(raw) && typeof raw.id === 'string' ? ` (${raw.id})` : '';
        if (!isObject(raw)) throw new RuleError(`${file}: rules[${i}]: expected a mapping`);
        rawRules.push({ file, where: `rules[${i}]${id}`, raw, type });
      });
    }
    if (doc.allowlist !== undefined) {
      if (!Array.isArray(doc.allowlist)) throw new RuleError(`${file}: allowlist: expected a list of entries`);
      doc.allowlist.forEach((raw: unknown, i: number) => {
        const id = isObject(raw) && typeof raw.id === 'string' ? ` (${raw.id})` : '';
        if (!isObject(raw)) throw new RuleError(`${file}: allowlist[${i}]: expected a mapping`);
        rawAllow.push({ file, where: `allowlist[${i}]${id}`, raw });
      });
    }
  }

  const compiler = new Compiler(lists, macros);
  const seen = new Map<string, string>();
  const rules: CompiledRule[] = [];
  // Sequence steps may name a rule of any file by id: its match is the step's condition.
  const rawMatches = new Map<string, { raw: Json; sequence: boolean }>();
  for (const r of rawRules) if (typeof r.raw.id === 'string') rawMatches.set(r.raw.id, { raw: r.raw.match, sequence: r.raw.sequence !== undefined });
  for (const r of rawRules) {
    const rule = compileRule(r, compiler, rawMatches);
    const before = seen.get(rule.id);
    if (before !== undefined) throw new RuleError(`${r.file}: ${r.where}.id: duplicate rule id (first defined in ${before})`);
    seen.set(rule.id, r.file);
    rules.push(rule);
  }
  // Checked once every file is read: an entry may name rules of any file.
  const allowSeen = new Map<string, string>();
  const allowlist: CompiledAllow[] = [];
  for (const a of rawAllow) {
    const entry = compileAllow(a, compiler, rules);
    const before = allowSeen.get(entry.id);
    if (before !== undefined) throw new RuleError(`${a.file}: ${a.where}.id: duplicate allowlist id (first defined in ${before})`);
    allowSeen.set(entry.id, a.file);
    allowlist.push(entry);
  }
  // Macros no rule uses are still checked.
  for (const name of macros.keys()) compiler.macro(name, 'macros', name);
  return { rules, lists, allowlist, baselineAspects: compiler.baselineAspects() };
}

/** `scope: { clusters, namespaces }`, either key optional but not both. */
function compileScope(raw: unknown, fail: (field: string, msg: string) => never): { clusters: Set<string> | undefined; namespaces: Set<string> | undefined } {
  if (raw === undefined) return { clusters: undefined, namespaces: undefined };
  if (!isObject(raw) || Object.keys(raw).length === 0 || Object.keys(raw).some((k) => k !== 'namespaces' && k !== 'clusters')) {
    fail('scope', 'expected { clusters: [...], namespaces: [...] } (either or both)');
  }
  const set = (key: 'clusters' | 'namespaces'): Set<string> | undefined => {
    const v = (raw as Json)[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.some((x: unknown) => typeof x !== 'string' || x === '')) {
      fail(`scope.${key}`, `expected a non-empty list of ${key === 'clusters' ? 'cluster names' : 'namespaces'}`);
    }
    return new Set(v as string[]);
  };
  return { clusters: set('clusters'), namespaces: set('namespaces') };
}

function compileAllow(a: RawAllow, compiler: Compiler, rules: CompiledRule[]): CompiledAllow {
  const { raw, file, where } = a;
  const fail = (field: string, msg: string): never => {
    throw new RuleError(`${file}: ${where}.${field}: ${msg}`);
  };
  for (const k of Object.keys(raw)) if (!ALLOW_KEYS.has(k)) fail(k, 'unknown key (expected id, description, rules, scope, match)');
  if (typeof raw.id !== 'string' || raw.id === '') fail('id', 'expected a non-empty string');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(raw.id)) fail('id', 'use letters, digits, - _ .');
  if (raw.description !== undefined && typeof raw.description !== 'string') fail('description', 'expected a string');
  let ids: Set<string> | undefined;
  if (raw.rules !== undefined) {
    if (!Array.isArray(raw.rules) || raw.rules.length === 0) fail('rules', 'expected a non-empty list of rule ids or categories (leave it out for every rule)');
    ids = new Set();
    (raw.rules as unknown[]).forEach((name, i) => {
      if (typeof name !== 'string') fail(`rules[${i}]`, 'expected a rule id or category');
      const matched = rules.filter((r) => r.id === name || r.category === name);
      if (matched.length === 0) fail(`rules[${i}]`, `unknown rule or category ${JSON.stringify(name)}`);
      for (const r of matched) ids!.add(r.id);
    });
  }
  const { clusters, namespaces } = compileScope(raw.scope, fail);
  if (raw.match === undefined) fail('match', 'required');
  const match = compiler.condition(raw.match, `${file}: ${where}`, 'match');
  return { id: raw.id as string, description: (raw.description as string | undefined) ?? '', rules: ids, clusters, namespaces, match, file };
}

function compileRule(r: RawRule, compiler: Compiler, rawMatches: Map<string, { raw: Json; sequence: boolean }>): CompiledRule {
  const { raw, file, where } = r;
  const fail = (field: string, msg: string): never => {
    throw new RuleError(`${file}: ${where}.${field}: ${msg}`);
  };
  for (const k of Object.keys(raw)) if (!RULE_KEYS.has(k)) fail(k, 'unknown key');
  const str = (key: string, required: boolean): string => {
    const v = raw[key];
    if (v === undefined && !required) return '';
    if (typeof v !== 'string' || v === '') return fail(key, 'expected a non-empty string');
    return v;
  };
  const id = str('id', true);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) fail('id', 'use letters, digits, - _ .');
  const category = str('category', true);
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(category)) fail('category', 'expected a kebab-case id such as command-execution');
  const level = str('level', true);
  if (!LEVELS.has(level)) fail('level', 'expected high, medium, low or note');
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') fail('enabled', 'expected true or false');
  const { clusters, namespaces } = compileScope(raw.scope, fail);
  let stages: Set<string> | undefined = new Set(['ResponseComplete']);
  if (raw.stages !== undefined) {
    const s = raw.stages;
    if (s === 'any' || (Array.isArray(s) && s.includes('any'))) stages = undefined;
    else {
      if (!Array.isArray(s) || s.length === 0) fail('stages', 'expected a list of stages or any');
      for (const [i, x] of (s as unknown[]).entries()) {
        if (typeof x !== 'string' || !STAGES.has(x)) fail(`stages[${i}]`, `unknown stage ${JSON.stringify(x)} (expected ${[...STAGES].join(', ')} or any)`);
      }
      stages = new Set(s as string[]);
    }
  }
  let sequence: SequenceSpec | undefined;
  let matchRaw: unknown = raw.match;
  if (raw.sequence !== undefined) {
    if (raw.match !== undefined) fail('match', 'not with sequence: each step has its own match');
    if (raw.rate !== undefined) fail('rate', 'not with sequence');
    if (!Array.isArray(raw.sequence) || raw.sequence.length < 2) fail('sequence', 'expected a list of at least two steps ({ rule: ID } or { match: CONDITION })');
    const stepRaws = (raw.sequence as unknown[]).map((step, i) => {
      if (!isObject(step) || Object.keys(step).length !== 1 || !SEQUENCE_KEYS.has(Object.keys(step)[0])) fail(`sequence[${i}]`, 'expected { rule: ID } or { match: CONDITION }');
      const s = step as Json;
      if (s.match !== undefined) return s.match;
      const ref = typeof s.rule === 'string' ? rawMatches.get(s.rule) : undefined;
      if (ref === undefined) return fail(`sequence[${i}].rule`, `unknown rule ${JSON.stringify(s.rule)}`);
      if (ref.sequence) return fail(`sequence[${i}].rule`, `${s.rule} is a sequence rule itself`);
      return ref.raw;
    });
    const steps = stepRaws.map((c, i) => compiler.condition(c, `${file}: ${where}`, `sequence[${i}]${'match' in (raw.sequence as Json[])[i] ? '.match' : ''}`));
    const windowMs = parseDuration(raw.within ?? '10m');
    if (windowMs === undefined || windowMs <= 0) fail('within', 'expected a duration such as 10m');
    const by = raw.by;
    if (!Array.isArray(by) || by.length === 0 || by.some((x: unknown) => typeof x !== 'string')) fail('by', 'expected a non-empty list of field paths (the actor, such as user.username)');
    sequence = { steps, windowMs: windowMs!, actorKey: compileKey(by as string[], `${file}: ${where}.by`) };
    matchRaw = { any: stepRaws };
  } else if (raw.within !== undefined || raw.by !== undefined) {
    fail(raw.within !== undefined ? 'within' : 'by', 'only with sequence');
  }
  if (matchRaw === undefined) fail('match', 'required');
  const match = compiler.condition(matchRaw, `${file}: ${where}`, 'match');
  let rate: RateSpec | undefined;
  if (raw.rate !== undefined) {
    const rr = raw.rate;
    if (!isObject(rr)) fail('rate', 'expected { group_by, window, more_than, failure_ratio_above }');
    for (const k of Object.keys(rr)) if (!RATE_KEYS.has(k)) fail(`rate.${k}`, 'unknown key');
    const gb = rr.group_by;
    if (!Array.isArray(gb) || gb.length === 0 || gb.some((x: unknown) => typeof x !== 'string')) fail('rate.group_by', 'expected a non-empty list of field paths');
    const windowMs = parseDuration(rr.window ?? '5m');
    if (windowMs === undefined || windowMs <= 0) fail('rate.window', 'expected a duration such as 5m');
    if (!Number.isInteger(rr.more_than) || (rr.more_than as number) < 0) fail('rate.more_than', 'expected a whole number');
    const ratio = rr.failure_ratio_above;
    if (ratio !== undefined && (typeof ratio !== 'number' || ratio < 0 || ratio >= 1)) fail('rate.failure_ratio_above', 'expected a number from 0 up to (not including) 1');
    const codes = rr.failure_codes ?? [401, 403];
    if (!Array.isArray(codes) || codes.length === 0 || codes.some((c: unknown) => !Number.isInteger(c))) fail('rate.failure_codes', 'expected a list of HTTP status codes');
    rate = {
      groupKey: compileKey(gb as string[], `${file}: ${where}.rate.group_by`),
      windowMs: windowMs!, moreThan: rr.more_than as number, failureRatioAbove: ratio as number | undefined,
      failureCodes: new Set(codes as number[]),
    };
  }
  const onlyVerbs = compiler.necessaryValues(matchRaw, 'verb');
  const onlyResources = compiler.necessaryValues(matchRaw, 'objectRef.resource');
  const onlyCodes = compiler.codeGuard(matchRaw);
  const guards = compiler.guards(matchRaw, `${file}: ${where}`);
  const aggregateBy: string[] = [];
  const aggregateKey: Getter[] = [];
  if (raw.aggregate_by !== undefined) {
    if (!Array.isArray(raw.aggregate_by)) fail('aggregate_by', 'expected a list of field paths');
    (raw.aggregate_by as unknown[]).forEach((p, i) => {
      if (typeof p !== 'string') fail(`aggregate_by[${i}]`, 'expected a field path');
      aggregateBy.push(p as string);
      aggregateKey.push(compileGetter(p as string, `${file}: ${where}.aggregate_by[${i}]`));
    });
  }
  const output = compileTemplate(raw.output === undefined ? str('name', true) : str('output', true), `${file}: ${where}.output`);
  return {
    id, name: str('name', true), description: str('description', false), category,
    level: level as CompiledRule['level'], enabled: raw.enabled ?? true, type: r.type,
    clusters, namespaces, stages, lastStageOnly: stages !== undefined && stages.size === 1 && stages.has('ResponseComplete'), match, onlyVerbs, onlyResources, onlyCodes, guards, rate, sequence, aggregateBy, aggregateKey, output,
    risk: str('risk', false), solution: str('solution', false), file,
  };
}

// ---------- conditions ----------

const OPS = new Set(['equals', 'in', 'in_list', 'not_in', 'not_in_list', 'equals_field', 'exists', 'prefix', 'prefix_list', 'suffix', 'suffix_list', 'contains', 'contains_list', 'regex', 'cidr', 'cidr_list', 'gt', 'gte', 'lt', 'lte', 'path_prefix', 'path_prefix_list']);
const STRING_OPS = new Set(['equals', 'in', 'in_list', 'not_in', 'not_in_list', 'equals_field', 'prefix', 'prefix_list', 'suffix', 'suffix_list', 'contains', 'contains_list', 'regex']);

// Conditions decided when the files are loaded.
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

/** Stands for "the path yields nothing" in a rule's guards (`exists: false`). */
export const ABSENT = '\0';

/** The condition was decided false at load time (it tests an empty list): its rule can never match. */
export function isNever(p: Predicate): boolean {
  return p === NEVER;
}

class Compiler {
  readonly #lists: Record<string, string[]>;
  readonly #macros: Map<string, { file: string; where: string; raw: unknown }>;
  readonly #compiled = new Map<string, Predicate>();
  readonly #compiling = new Set<string>();
  /** The `of:` lists of baseline conditions, by their paths joined. */
  readonly #aspects = new Map<string, BaselineAspect>();
  /** Guard predicates of field conditions, by the condition's JSON text. */
  readonly #guardConditions = new Map<string, Predicate>();

  constructor(lists: Record<string, string[]>, macros: Map<string, { file: string; where: string; raw: unknown }>) {
    this.#lists = lists;
    this.#macros = macros;
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
    const field = resolvePath(raw.field as string, `${at}.${path}.field`);
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
      const other = compileGetter(value as string, `${at}.${where}`);
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
    const one = singleHeadValue(raw.field as string);
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
        return (v) => typeof v === 'string' && re.test(v);
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

// ---------- field paths ----------

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

const HEAD_ROOTS = new Set([
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

/** Fast path for the common case: a path into the head without `[*]` has at most one value; no arrays allocated. */
function singleHeadValue(path: string): ((ctx: EvalContext) => unknown) | undefined {
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
interface ResolvedPath {
  /** The root's value (undefined: none); with `list`, an array whose items are the values. */
  root: (ctx: EvalContext) => unknown;
  list: boolean;
  steps: Segment[];
  body: boolean;
}

function resolvePath(path: string, at: string): ResolvedPath {
  let segs: Segment[];
  try {
    segs = parseFieldPath(path);
  } catch (err) {
    throw new RuleError(`${at}: bad field path ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const root = (segs[0] as { key: string }).key;
  let rest = segs.slice(1);
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
  if (root === 'annotations') return { root: (ctx) => ctx.event.annotations(), list: false, steps: rest, body: false };
  if (HEAD_ROOTS.has(root)) return { root: (ctx) => (ctx.event.head as unknown as Json)[root], list: false, steps: rest, body: false };
  return { root: (ctx) => { probeBody(ctx); return ctx.event.full()[root]; }, list: false, steps: rest, body: true };
}

/**
 * The values of field paths as one string (a path's values joined by `,`, paths by NUL). Rate rules compute it
 * for every event they count, so single head fields (sourceIP, user.username) are read without building arrays.
 */
export function compileKey(paths: string[], at: string): (ctx: EvalContext) => string {
  const text = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const parts = paths.map((path, i): ((ctx: EvalContext) => string) => {
    const get = compileGetter(path, `${at}[${i}]`); // validates the path
    const one = singleHeadValue(path);
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
export function compileGetter(path: string, at: string): Getter {
  return getterOf(resolvePath(path, at));
}

function getterOf({ root, list, steps, body }: ResolvedPath): Getter {
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

const ANY_VALUE = (): boolean => true;

/**
 * The field path as "does any value pass `test`": the same values compileGetter yields, walked in place and
 * stopping at the first that passes — no arrays built per event.
 */
function compileSome({ root, list, steps }: ResolvedPath): (ctx: EvalContext, test: (v: unknown) => boolean) => boolean {
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

const MAX_SUMMARY = 1000;
/** What a placeholder shows for a field the event does not have (a cluster-scoped object's namespace, an anonymous user's name). */
const NO_VALUE = '(none)';

/** `{path}` placeholders filled with the path's values (joined by `,`; `(none)` when the event has none); one line, capped. */
export function compileTemplate(text: string, at: string): (ctx: EvalContext) => string {
  const parts: Array<string | Getter> = [];
  const re = /\{([^{}]+)\}/g;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    parts.push(text.slice(last, m.index));
    parts.push(compileGetter(m[1].trim(), `${at} {${m[1]}}`));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return (ctx) => {
    const text = parts.map((p) => {
      if (typeof p === 'string') return p;
      const vals = p(ctx);
      return vals.length === 0 ? NO_VALUE : vals.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
    }).join('').replace(/[\r\n\t]+/g, ' ');
    return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text;
  };
}

// ---------- virtual fields ----------

/**
 * `user.node`: the node name of a node identity as the Node authorizer and NodeRestriction see one:
 * username `system:node:<name>` in group `system:nodes`.
 */
export function nodeNameOf(user: { username?: string; groups?: string[] } | undefined): string | undefined {
  const name = user?.username;
  if (typeof name !== 'string' || !name.startsWith('system:node:') || name.length === 'system:node:'.length) return undefined;
  return Array.isArray(user!.groups) && user!.groups.includes('system:nodes') ? name.slice('system:node:'.length) : undefined;
}

/**
 * `user.serviceaccount.namespace` / `.name`: the service account of a service-account identity as RBAC sees one:
 * username `system:serviceaccount:<namespace>:<name>` in group `system:serviceaccounts`.
 */
export function serviceAccountOf(user: { username?: string; groups?: string[] } | undefined): { namespace: string; name: string } | undefined {
  const name = user?.username;
  if (typeof name !== 'string' || !name.startsWith('system:serviceaccount:')) return undefined;
  const rest = name.slice('system:serviceaccount:'.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return undefined;
  if (!Array.isArray(user!.groups) || !user!.groups.includes('system:serviceaccounts')) return undefined;
  return { namespace: rest.slice(0, colon), name: rest.slice(colon + 1) };
}

const serviceAccountPart = (key: string | undefined): 'namespace' | 'name' | undefined =>
  key === 'namespace' || key === 'name' ? key : undefined;

/** A container image reference, normalised as container runtimes resolve it. */
export interface ImageRef {
  /** The image as written. */
  image: string;
  /** Registry host (and port), lower-case: `docker.io` when the image names none. */
  registry: string;
  /** Path in the registry: `library/nginx` for `nginx`. */
  repository: string;
  /** `registry/repository`, without tag or digest. */
  name: string;
  tag?: string;
  digest?: string;
}

/**
 * `nginx` → docker.io/library/nginx, `foo/bar:1` → docker.io/foo/bar tag 1, `registry.corp:5000/a/b@sha256:…`
 * → registry registry.corp:5000. The first segment is a registry when it contains `.` or `:`, is `localhost`,
 * or has upper-case letters (as in the reference grammar); `index.docker.io` is docker.io.
 */
export function parseImageRef(image: string): ImageRef | undefined {
  let rest = image.trim();
  if (rest === '') return undefined;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1) || undefined;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1) || undefined;
    rest = rest.slice(0, colon);
  }
  if (rest === '') return undefined;
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let registry = 'docker.io';
  let repository = rest;
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first.toLowerCase();
    repository = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '') return undefined;
  const ref: ImageRef = { image, registry, repository, name: `${registry}/${repository}` };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** exec/attach: every `command=` of the query string, decoded and joined by spaces, and the `container=` value. */
export function execOf(event: AuditEvent): { command?: string; container?: string } | undefined {
  const sub = event.head.objectRef?.subresource;
  if (sub !== 'exec' && sub !== 'attach') return undefined;
  const uri = event.head.requestURI;
  const q = uri.indexOf('?');
  if (q === -1) return {};
  const commands: string[] = [];
  let container: string | undefined;
  for (const pair of uri.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : decodeQuery(pair.slice(eq + 1));
    if (key === 'command') commands.push(value);
    else if (key === 'container') container = value;
  }
  return { command: commands.length > 0 ? commands.join(' ') : undefined, container };
}

const TEMPLATE_KINDS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'], DaemonSet: ['spec', 'template', 'spec'], StatefulSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'], ReplicationController: ['spec', 'template', 'spec'], Job: ['spec', 'template', 'spec'],
  PodTemplate: ['template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};
const RESOURCE_KINDS: Record<string, string> = {
  pods: 'Pod', deployments: 'Deployment', daemonsets: 'DaemonSet', statefulsets: 'StatefulSet', replicasets: 'ReplicaSet',
  replicationcontrollers: 'ReplicationController', jobs: 'Job', cronjobs: 'CronJob', podtemplates: 'PodTemplate',
};

function specOf(obj: unknown, resource: string | undefined): unknown[] {
  if (!isObject(obj)) return [];
  const kind = typeof obj.kind === 'string' && TEMPLATE_KINDS[obj.kind] ? obj.kind : resource ? RESOURCE_KINDS[resource] : undefined;
  if (!kind) return [];
  let cur: unknown = obj;
  for (const k of TEMPLATE_KINDS[kind]) {
    if (!isObject(cur)) return [];
    cur = cur[k];
  }
  return isObject(cur) ? [cur] : [];
}

// The response holds the whole object after a patch (the request only the delta), so it wins when it has a spec.
// A write to the status subresource cannot change the spec (the apiserver drops spec changes there): its request
// body says nothing about the spec, and is not parsed for one — kubelets' pod status patches are among the most
// frequent writes of a cluster. Its response, when logged, still shows the object as it is.
function podSpecsOf(event: AuditEvent): unknown[] {
  const status = event.head.objectRef?.subresource === 'status';
  // The cheap test first: finding out whether a response body is there parses the request body, and a pod create
  // with a request body is parsed whole right below anyway.
  if ((status || !event.hasRequestObject) && !event.hasResponseObject) return [];
  const full = event.full();
  const resource = event.head.objectRef?.resource;
  const fromResponse = specOf(full.responseObject, resource);
  return fromResponse.length > 0 || status ? fromResponse : specOf(full.requestObject, resource);
}

function containersOf(event: AuditEvent, specs: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const spec of specs) {
    for (const key of ['containers', 'initContainers', 'ephemeralContainers']) {
      const list = (spec as Json)[key];
      if (Array.isArray(list)) for (const c of list) if (isObject(c)) out.push(c);
    }
  }
  // A JSON patch to pods/ephemeralcontainers: the added containers are the operations' values.
  if (event.head.objectRef?.subresource === 'ephemeralcontainers' && specs.length === 0 && event.hasRequestObject) {
    const body = event.full().requestObject;
    if (Array.isArray(body)) {
      for (const op of body) {
        if (!isObject(op) || typeof op.path !== 'string' || !op.path.includes('ontainers')) continue;
        if (isObject(op.value)) out.push(op.value);
        else if (Array.isArray(op.value)) for (const c of op.value) if (isObject(c)) out.push(c);
      }
    }
  }
  return out;
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
