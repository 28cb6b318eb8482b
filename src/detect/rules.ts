// Loads, validates and compiles detection rule files (lists, macros, rules) into plain predicate functions.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRuleText, parseYamlText } from './rule-cache.ts';
import { ioReason } from '../config/io-error.ts';
import { parseDuration } from '../config/unit-text.ts';
import { Compiler, type BaselineAspect, type Guard } from './conditions.ts';
import { recordNamespace, type EvalContext, type Getter, type Predicate } from './eval-context.ts';
import { compileGetter, compileKey } from './field-paths.ts';
import { isObject, type Json } from './json.ts';
import { RuleError } from './rule-error.ts';
import { compileTemplate } from './templates.ts';

// What the rule language's modules offer, from where the rest of the agent has always imported it.
export { ABSENT, isNever, normalizeHostPath, type BaselineAspect, type Guard } from './conditions.ts';
export { BODY_MISSING, BODY_PRESENT, EvalContext, needsBodies, recordContext, recordNamespace, type Getter, type Predicate } from './eval-context.ts';
export { compileGetter, compileKey, parseFieldPath } from './field-paths.ts';
export { parseImageRef, type ImageRef } from './image-ref.ts';
export { RuleError } from './rule-error.ts';
export { compileTemplate } from './templates.ts';
export { execOf, nodeNameOf, serviceAccountOf } from './virtual-fields.ts';

export interface CompiledRule {
  id: string;
  name: string;
  description: string;
  category: string;
  level: 'high' | 'medium' | 'low' | 'note';
  enabled: boolean;
  type: 'system' | 'custom';
  /** The sources whose records the rule reads (`source:`; `audit` by default). */
  sources: Set<string>;
  /** The rule reads records of other sources than audit: its field paths are paths into the record. */
  record: boolean;
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

/** An allowlist entry: hits of its rules on events it matches are suppressed. */
export interface CompiledAllow {
  id: string;
  description: string;
  /** Ids of the rules it applies to (categories expanded); undefined = every rule on audit events. */
  rules: Set<string> | undefined;
  /** Its match reads records of other sources (the rules it applies to do), not audit events. */
  record: boolean;
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

/**
 * The first allowlist entry that suppresses `rule`'s hit on this event in `cluster`, or undefined. Entries are
 * tried in load order; the rule, cluster and namespace checks come before the entry's condition.
 */
export function allowedBy(allow: CompiledAllow[], rule: CompiledRule, ctx: EvalContext, cluster: string): CompiledAllow | undefined {
  for (const a of allow) {
    if (a.rules !== undefined && !a.rules.has(rule.id)) continue;
    if (a.clusters !== undefined && !a.clusters.has(cluster)) continue;
    if (a.namespaces !== undefined) {
      const ns = rule.record ? recordNamespace(ctx.record) : ctx.event.head.objectRef?.namespace;
      if (ns === undefined || !a.namespaces.has(ns)) continue;
    }
    if (a.match(ctx)) return a;
  }
  return undefined;
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
const ALLOW_KEYS = new Set(['id', 'description', 'rules', 'source', 'scope', 'match']);
const RULE_KEYS = new Set(['id', 'name', 'description', 'category', 'level', 'enabled', 'source', 'scope', 'stages', 'match', 'sequence', 'within', 'by', 'rate', 'aggregate_by', 'output', 'risk', 'solution']);
/** What a rule's `source:` may name: audit events, and the records of the other source kinds. */
export const RULE_SOURCES = new Set(['audit', 'containers', 'ingress', 'k8s_events', 'syslog', 'files']);
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

  const compiler = { audit: new Compiler(lists, macros, false), record: new Compiler(lists, macros, true) };
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
  for (const name of macros.keys()) compiler.audit.macro(name, 'macros', name);
  return { rules, lists, allowlist, baselineAspects: compiler.audit.baselineAspects() };
}

/**
 * `source:` (one name or a list, `audit` when absent) as a set, and whether the paths read records of other sources.
 * One rule reads audit events or records, not both: the same path means different things in each.
 */
function compileSources(raw: unknown, fail: (field: string, msg: string) => never): { sources: Set<string>; record: boolean } {
  if (raw === undefined) return { sources: new Set(['audit']), record: false };
  const names = Array.isArray(raw) ? raw : [raw];
  if (names.length === 0) fail('source', 'expected a source name or a non-empty list of them');
  names.forEach((n, i) => {
    if (typeof n !== 'string' || !RULE_SOURCES.has(n)) {
      fail(Array.isArray(raw) ? `source[${i}]` : 'source', `unknown source ${JSON.stringify(n)} (expected ${[...RULE_SOURCES].join(', ')})`);
    }
  });
  const sources = new Set(names as string[]);
  if (sources.has('audit') && sources.size > 1) fail('source', 'a rule reads audit events or records of other sources, not both: write one rule for each');
  return { sources, record: !sources.has('audit') };
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

function compileAllow(a: RawAllow, compilers: { audit: Compiler; record: Compiler }, rules: CompiledRule[]): CompiledAllow {
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
  // The entry reads what its rules read: audit events, or records (`source:` picks the rules when none are named).
  let record = false;
  if (raw.source !== undefined) {
    const s = compileSources(raw.source, fail);
    record = s.record;
    const named = ids;
    const bySource = rules.filter((r) => [...r.sources].some((x) => s.sources.has(x)) && (named === undefined || named.has(r.id)));
    if (named !== undefined && bySource.length !== named.size) fail('source', 'some of the rules it names read other sources');
    ids = new Set(bySource.map((r) => r.id));
  } else if (ids !== undefined) {
    const kinds = new Set(rules.filter((r) => ids!.has(r.id)).map((r) => r.record));
    if (kinds.size > 1) fail('rules', 'names rules on audit events and rules on other sources: write one entry for each');
    record = kinds.has(true);
  }
  const { clusters, namespaces } = compileScope(raw.scope, fail);
  if (raw.match === undefined) fail('match', 'required');
  const compiler = record ? compilers.record : compilers.audit;
  const match = compiler.condition(raw.match, `${file}: ${where}`, 'match');
  return { id: raw.id as string, description: (raw.description as string | undefined) ?? '', rules: ids, record, clusters, namespaces, match, file };
}

function compileRule(r: RawRule, compilers: { audit: Compiler; record: Compiler }, rawMatches: Map<string, { raw: Json; sequence: boolean }>): CompiledRule {
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
  const { sources, record } = compileSources(raw.source, fail);
  const compiler = record ? compilers.record : compilers.audit;
  const { clusters, namespaces } = compileScope(raw.scope, fail);
  // Records have no stages: each is read once.
  let stages: Set<string> | undefined = record ? undefined : new Set(['ResponseComplete']);
  if (raw.stages !== undefined) {
    if (record) fail('stages', 'only rules on audit events have stages');
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
    if (record) fail('sequence', 'only rules on audit events have sequences');
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
    if (record && (ratio !== undefined || rr.failure_codes !== undefined)) fail(ratio !== undefined ? 'rate.failure_ratio_above' : 'rate.failure_codes', 'only rules on audit events have response codes: select failed records in match');
    if (ratio !== undefined && (typeof ratio !== 'number' || ratio < 0 || ratio >= 1)) fail('rate.failure_ratio_above', 'expected a number from 0 up to (not including) 1');
    const codes = rr.failure_codes ?? [401, 403];
    if (!Array.isArray(codes) || codes.length === 0 || codes.some((c: unknown) => !Number.isInteger(c))) fail('rate.failure_codes', 'expected a list of HTTP status codes');
    rate = {
      groupKey: compileKey(gb as string[], `${file}: ${where}.rate.group_by`, record),
      windowMs: windowMs!, moreThan: rr.more_than as number, failureRatioAbove: ratio as number | undefined,
      failureCodes: new Set(codes as number[]),
    };
  }
  // Guards on the audit event's verb, resource and code: a record's fields of those names are no such thing.
  const onlyVerbs = record ? undefined : compiler.necessaryValues(matchRaw, 'verb');
  const onlyResources = record ? undefined : compiler.necessaryValues(matchRaw, 'objectRef.resource');
  const onlyCodes = record ? undefined : compiler.codeGuard(matchRaw);
  const guards = record ? [] : compiler.guards(matchRaw, `${file}: ${where}`);
  const aggregateBy: string[] = [];
  const aggregateKey: Getter[] = [];
  if (raw.aggregate_by !== undefined) {
    if (!Array.isArray(raw.aggregate_by)) fail('aggregate_by', 'expected a list of field paths');
    (raw.aggregate_by as unknown[]).forEach((p, i) => {
      if (typeof p !== 'string') fail(`aggregate_by[${i}]`, 'expected a field path');
      aggregateBy.push(p as string);
      aggregateKey.push(compileGetter(p as string, `${file}: ${where}.aggregate_by[${i}]`, record));
    });
  }
  const output = compileTemplate(raw.output === undefined ? str('name', true) : str('output', true), `${file}: ${where}.output`, record);
  return {
    id, name: str('name', true), description: str('description', false), category,
    level: level as CompiledRule['level'], enabled: raw.enabled ?? true, type: r.type, sources, record,
    clusters, namespaces, stages, lastStageOnly: record || (stages !== undefined && stages.size === 1 && stages.has('ResponseComplete')), match, onlyVerbs, onlyResources, onlyCodes, guards, rate, sequence, aggregateBy, aggregateKey, output,
    risk: str('risk', false), solution: str('solution', false), file,
  };
}
