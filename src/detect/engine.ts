// Runs every enabled rule on every event and folds hits into aggregated alarm records.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { parseAuditLine, type AuditEvent } from '../parse/audit.ts';
import type { AlarmOut, Detector, DetectionNotes } from './hook.ts';
import type { Baseline } from './baseline.ts';
import { baselineIdentity, ruleKey } from './baseline.ts';
import { GenerationalMap, leadingCharsFingerprint } from './generations.ts';
import { allowedBy, BODY_MISSING, EvalContext, execOf, isNever, ABSENT, recordContext, recordNamespace, type BaselineAspect, type CompiledAllow, type CompiledRule, type Predicate, type RateSpec, type RuleSet, type SequenceSpec } from './rules.ts';

/** A rule's hit on an audit event (auditID and stage set) or on a record of another source (`source` set, the others empty). */
export interface RuleHit {
  ruleId: string; ruleName: string; category: string; level: string; auditID: string; stage: string; key: string[]; summary: string; source?: string;
  /** The baseline expects this hit (see #expected): its level is lowered to low. */
  expected?: true;
}

export interface EngineOptions {
  clusterName: string;
  clusterId: string;
  /** Least time between two updates of one alarm; 0 emits every hit. */
  updateIntervalMs?: number;
  now?: () => number;
  /** Aggregation keys and dedup entries kept (least recently used go first). */
  maxKeys?: number;
  /** What each identity normally does, for `baseline:` conditions; learned from every allowed request. */
  baseline?: Baseline;
  /**
   * Days (at least) on which a service account or system identity hit a high or medium rule on a kind of object, for
   * its later hits of it to be expected (lowered to low); unset: never.
   */
  expectedAfterDays?: number;
  /** Learn only: rules judge (their hits are counted in the baseline) but raise no alarm (kaudit scan --baseline-from). */
  learnOnly?: boolean;
}

interface AlarmState {
  firstSeen: string;
  lastSeen: string;
  count: number;
  lastEmit: number;
}

/** The aggregation state that outlives a restart: alarm id → first/last seen and count. */
export interface SavedAlarms {
  version: 1;
  alarms: Array<[id: string, firstSeen: string, lastSeen: string, count: number]>;
}

/**
 * Everything the engine counts, as plain data (it crosses threads): for handing detection over to another engine
 * of this process, where the saved state would lose the rate windows and the stages of requests already hit.
 */
export interface EngineHandover {
  alarms: Array<[id: string, state: AlarmState]>;
  windows: Array<[ruleId: string, groups: Array<[group: string, window: RateWindow]>]>;
  seen: Array<[auditID: string, ruleIds: string[]]>;
  /** Sequence rules' progress per actor. */
  sequences: Array<[ruleId: string, actors: Array<[actor: string, progress: SequenceProgress]>]>;
  version: number;
}

const NO_HITS: Array<{ hit: RuleHit; rule: CompiledRule }> = [];
/** What evaluate() returns for the events that raise nothing (nearly all): shared, never to be changed. */
const NO_ALARMS: AlarmOut[] = [];

/** Verbs whose requests carry a body: an event of these at Metadata level shows the policy hides it. */
const BODY_VERBS = new Set(['create', 'update', 'patch']);

export class DetectionEngine implements Detector {
  /** Rules on audit events. */
  #rules: CompiledRule[] = [];
  /** Rules on records of other sources, by source (a rule on several sources is in each list). */
  #recordRules = new Map<string, CompiledRule[]>();
  #allow: CompiledAllow[] = [];
  /**
   * The entries that can apply to each rule, by rule id, in load order: rules no entry names (rate rules that count
   * most events among them) skip the allowlist without trying every entry per event.
   */
  #allowByRule = new Map<string, CompiledAllow[]>();
  /** Candidate rules by stage, verb, resource and response code, and how many combinations are cached. */
  #byKind = new Map<string, Map<string, Map<string, Map<number | undefined, Candidates>>>>();
  #kinds = 0;
  readonly #cluster: { name: string; id: string };
  readonly #interval: number;
  readonly #now: () => number;
  /**
   * Rules that already hit a request at an earlier stage (RequestReceived, ResponseStarted), by auditID: looked
   * up by the auditID string itself (its hash is kept with it), with no key built per matching rule. Oldest out
   * first, a generation at a time: a request's stages arrive within moments, so insertion order is the order in
   * which entries stop mattering (and a lookup costs a fraction of an LRU's, for most events).
   */
  readonly #seen: GenerationalMap<string, string[]>;
  /** Alarm ids by their inputs (a hash each otherwise; the same few alarms are hit again and again). */
  readonly #alarmIds = new Map<string, string>();
  readonly #alarms: LRUCache<string, AlarmState>;
  /** Rate rules' windows by rule id, then group; each rule's bounded like the other state. Kept across reloads. */
  readonly #windows = new Map<string, LRUCache<string, RateWindow>>();
  /** Sequence rules' progress by rule id, then actor: the next step and when the first matched. Kept across reloads. */
  readonly #sequences = new Map<string, LRUCache<string, SequenceProgress>>();
  readonly #maxKeys: number;
  /** Allowlisted hits since the last takeNotes(), by rule and entry. */
  #allowed = new Map<string, number>();
  /** Last known visibility per rule\0resource: true = blind (reported), false = sees bodies. */
  readonly #visibility = new Map<string, boolean>();
  #blindNew: Array<{ rule: string; resource: string; blind: boolean }> = [];
  /** The evaluation context evaluate() reuses for every event. */
  #ctx: EvalContext | undefined;
  /** The one evaluateRecord() reuses for every record. */
  #recordCtx: EvalContext | undefined;
  /** Bumped by every change of the alarms' state (so a saver knows whether there is something new). */
  #version = 0;
  readonly #baseline: Baseline | undefined;
  #aspects: BaselineAspect[] = [];
  readonly #expectedAfterDays: number | undefined;
  readonly #learnOnly: boolean;

  constructor(rules: RuleSet, opts: EngineOptions) {
    this.#cluster = { name: opts.clusterName, id: opts.clusterId };
    this.#baseline = opts.baseline;
    this.#expectedAfterDays = opts.baseline === undefined ? undefined : opts.expectedAfterDays;
    this.#learnOnly = opts.learnOnly === true;
    this.setRules(rules);
    this.#interval = opts.updateIntervalMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
    const max = opts.maxKeys ?? 10_000;
    this.#seen = new GenerationalMap(max, leadingCharsFingerprint);
    this.#alarms = new LRUCache({ max });
    this.#maxKeys = max;
  }

  /**
   * Swaps the rules (a reload) keeping every piece of state: alarms keep aggregating under their ids,
   * windows keep counting. Rules scoped to other clusters are left out here, once.
   */
  setRules(rules: RuleSet): void {
    const cluster = this.#cluster.name;
    const enabled = rules.rules.filter((r) => r.enabled && (r.clusters === undefined || r.clusters.has(cluster)));
    this.#rules = enabled.filter((r) => !r.record);
    this.#recordRules = new Map();
    for (const r of enabled) {
      if (!r.record || isNever(r.match)) continue;
      for (const source of r.sources) {
        const list = this.#recordRules.get(source);
        if (list === undefined) this.#recordRules.set(source, [r]);
        else list.push(r);
      }
    }
    this.#byKind = new Map();
    this.#kinds = 0;
    this.#aspects = rules.baselineAspects ?? [];
    this.#allow = (rules.allowlist ?? []).filter((a) => a.clusters === undefined || a.clusters.has(cluster));
    this.#allowByRule = new Map();
    for (const r of enabled) {
      // An entry naming no rules applies to every rule on audit events.
      const entries = this.#allow.filter((a) => (a.rules === undefined ? !r.record : a.rules.has(r.id)));
      if (entries.length > 0) this.#allowByRule.set(r.id, entries);
    }
  }

  /** Changes whenever the alarms' aggregation state changes. */
  get stateVersion(): number {
    return this.#version;
  }

  /** Counters gathered since the last call (allowlisted hits, rules found blind); undefined when there are none. */
  takeNotes(): DetectionNotes | undefined {
    if (this.#allowed.size === 0 && this.#blindNew.length === 0) return undefined;
    const notes: DetectionNotes = {
      allowlisted: [...this.#allowed].map(([k, n]) => {
        const [rule, entry] = k.split('\0');
        return { rule, entry, count: n };
      }),
      blind: this.#blindNew,
    };
    this.#allowed = new Map();
    this.#blindNew = [];
    return notes;
  }

  /** The alarms' aggregation state, to be saved, and its version (which changes whenever the state does). */
  saveState(): { state: SavedAlarms; version: number } {
    const alarms: SavedAlarms['alarms'] = [];
    // Oldest first, so that loading them in order keeps the LRU's order.
    for (const [id, s] of [...this.#alarms.entries()].reverse()) alarms.push([id, s.firstSeen, s.lastSeen, s.count]);
    return { state: { version: 1, alarms }, version: this.#version };
  }

  /**
   * Restores saved aggregation state. Each restored alarm is emitted again at its next hit: the record of
   * its last update may not have reached the buffers before the agent stopped, and the events are re-read.
   */
  loadState(saved: SavedAlarms, keepDays = 2): number {
    if (saved?.version !== 1 || !Array.isArray(saved.alarms)) return 0;
    const oldest = new Date(this.#now() - keepDays * 86_400_000).toISOString().slice(0, 10);
    let n = 0;
    for (const a of saved.alarms) {
      if (!Array.isArray(a) || a.length !== 4) continue;
      const [id, firstSeen, lastSeen, count] = a;
      if (typeof id !== 'string' || typeof firstSeen !== 'string' || typeof lastSeen !== 'string' || typeof count !== 'number') continue;
      if (lastSeen.slice(0, 10) < oldest) continue;
      this.#alarms.set(id, { firstSeen, lastSeen, count, lastEmit: -Infinity });
      n += 1;
    }
    return n;
  }

  /** What this engine counted, oldest first in each map; the engine is not to be used afterwards. */
  handOver(): EngineHandover {
    return {
      alarms: [...this.#alarms.entries()].reverse(),
      windows: [...this.#windows].map(([rule, groups]) => [rule, [...groups.entries()].reverse()]),
      seen: this.#seen.entries(),
      sequences: [...this.#sequences].map(([rule, actors]) => [rule, [...actors.entries()].reverse()]),
      version: this.#version,
    };
  }

  /** Continues from what another engine handed over (see handOver), in place of any state of its own. */
  takeOver(h: EngineHandover): void {
    this.#alarms.clear();
    for (const [id, state] of h.alarms) this.#alarms.set(id, state);
    this.#windows.clear();
    for (const [rule, groups] of h.windows) this.#windows.set(rule, lruOf(groups, this.#maxKeys));
    for (const [auditID, ruleIds] of h.seen) this.#seen.set(auditID, ruleIds);
    this.#sequences.clear();
    for (const [rule, actors] of h.sequences) this.#sequences.set(rule, lruOf(actors, this.#maxKeys));
    this.#version = h.version;
  }

  /**
   * Every enabled rule on every event. A rule hits one auditID once, whichever of its stages comes first. `forwarded`
   * as for evaluate().
   */
  hits(event: AuditEvent, forwarded?: () => string | undefined): RuleHit[] {
    const ctx = new EvalContext(event);
    const found = this.#hits(event, ctx, shownContext(ctx, forwarded)).map((h) => h.hit);
    this.#learn(ctx);
    return found;
  }

  /**
   * Rules match `ctx` (the event as the apiserver wrote it); what a hit shows (its summary and aggregation key) is
   * read from `shown()`, the event as it is forwarded, once every rule has matched (redaction may blank the parsed
   * event in place).
   */
  #hits(event: AuditEvent, ctx: EvalContext, shown: () => EvalContext | undefined): Array<{ hit: RuleHit; rule: CompiledRule }> {
    let matched: CompiledRule[] | undefined;
    const head = event.head;
    if (this.#baseline !== undefined) {
      ctx.baseline = this.#baseline;
      ctx.atMs = isoMillis(head.requestReceivedTimestamp ?? head.stageTimestamp ?? '') || this.#now();
    }
    const resource = head.objectRef?.resource;
    const watchBodies = resource !== undefined && BODY_VERBS.has(head.verb) && head.stage === 'ResponseComplete';
    for (const rule of this.#candidates(head.stage, head.verb, resource, head.responseStatus?.code).select(ctx)) {
      if (rule.namespaces !== undefined) {
        const ns = head.objectRef?.namespace;
        if (ns === undefined || !rule.namespaces.has(ns)) continue;
      }
      ctx.bodyProbe = 0;
      const hit = rule.match(ctx);
      if (ctx.bodyProbe !== 0 && watchBodies) this.#noteVisibility(rule, resource!, ctx.bodyProbe === BODY_MISSING);
      if (!hit) continue;
      // One hit per rule and request: a request logged at an earlier stage (RequestReceived, ResponseStarted)
      // is remembered; ResponseComplete is the last stage, so it is only looked up, never stored. A rule that
      // looks at ResponseComplete alone sees each request once anyway.
      if (!rule.lastStageOnly) {
        const earlier = this.#seen.get(head.auditID);
        if (earlier !== undefined && earlier.includes(rule.id)) continue;
        if (head.stage !== 'ResponseComplete') {
          if (earlier !== undefined) earlier.push(rule.id);
          else this.#seen.set(head.auditID, [rule.id]);
        }
      }
      // Allowlisted requests neither alarm nor count toward a rate.
      if (this.#allowByRule.has(rule.id) && this.#allowlisted(rule, ctx)) continue;
      if (rule.rate !== undefined) {
        const at = isoMillis(event.head.requestReceivedTimestamp ?? event.head.stageTimestamp ?? '') || this.#now();
        if (!this.#rateReached(rule, rule.rate, ctx, at, rule.rate.failureCodes.has(event.head.responseStatus?.code ?? 0))) continue;
      }
      if (rule.sequence !== undefined && !this.#sequenceCompleted(rule, rule.sequence, ctx, event)) continue;
      (matched ??= []).push(rule);
    }
    if (matched === undefined) return NO_HITS;
    const view = shown();
    const found = matched.map((rule) => {
      // A redacted event that no longer reads as one (a configured path blanked a whole head field): the rule's name.
      const key = view === undefined ? [] : rule.aggregateKey.map((g) => g(view).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(','));
      const summary = view === undefined ? rule.name : rule.output(view);
      const hit: RuleHit = { ruleId: rule.id, ruleName: rule.name, category: rule.category, level: rule.level, auditID: head.auditID, stage: head.stage, key, summary };
      if (this.#expected(rule, ctx)) {
        hit.level = 'low';
        hit.expected = true;
      }
      return { rule, hit };
    });
    // Counted once judged, as requests are learned.
    if (this.#expectedAfterDays !== undefined) for (const rule of matched) this.#noteHit(rule, ctx);
    return found;
  }

  /**
   * A high or medium hit the baseline expects: its service account or system identity hit this rule on this kind of
   * object on at least expectedAfterDays days (within the decay). Never a high rule's successful request on a
   * credential or exec: a stolen controller token doing what it always does is not the risk, but a hit on it is kept.
   */
  #expected(rule: CompiledRule, ctx: EvalContext): boolean {
    if (this.#expectedAfterDays === undefined || rule.level === 'low') return false;
    const head = ctx.event.head;
    const identity = expectableIdentity(head.user.username);
    if (identity === undefined) return false;
    if (rule.level === 'high' && touchesCredentialOrExec(head) && (head.responseStatus?.code ?? 0) < 400) return false;
    return this.#baseline!.daysSeen(identity, ruleKey(rule.id, head.objectRef?.resource), ctx.atMs) >= this.#expectedAfterDays;
  }

  #noteHit(rule: CompiledRule, ctx: EvalContext): void {
    if (rule.level === 'low') return;
    const head = ctx.event.head;
    const identity = expectableIdentity(head.user.username);
    if (identity !== undefined) this.#baseline!.note(identity, ruleKey(rule.id, head.objectRef?.resource), ctx.atMs);
  }

  /** Whether an allowlist entry suppresses `rule`'s hit on `ctx`; such hits are counted per rule and entry. */
  #allowlisted(rule: CompiledRule, ctx: EvalContext): boolean {
    const entry = allowedBy(this.#allowByRule.get(rule.id)!, rule, ctx, this.#cluster.name);
    if (entry === undefined) return false;
    const k = `${rule.id}\0${entry.id}`;
    this.#allowed.set(k, (this.#allowed.get(k) ?? 0) + 1);
    return true;
  }

  /**
   * The rules that can match an event of this stage, verb, resource and response code, from guards derived from
   * each rule at load time (most rules cannot match most events). Cached per combination; the combinations are few.
   * Rules that can never match (a condition on an empty list) are left out.
   */
  #candidates(stage: string, verb: string, resource: string | undefined, code: number | undefined): Candidates {
    let byVerb = this.#byKind.get(stage);
    if (byVerb === undefined) this.#byKind.set(stage, byVerb = new Map());
    let byResource = byVerb.get(verb);
    if (byResource === undefined) byVerb.set(verb, byResource = new Map());
    const key = resource ?? '\0';
    let byCode = byResource.get(key);
    if (byCode === undefined) byResource.set(key, byCode = new Map());
    let candidates = byCode.get(code);
    if (candidates === undefined) {
      const rules = this.#rules.filter((rule) =>
        !isNever(rule.match) &&
        (rule.stages === undefined || rule.stages.has(stage)) &&
        (rule.onlyVerbs === undefined || rule.onlyVerbs.has(verb)) &&
        (rule.onlyResources === undefined || rule.onlyResources.has(resource ?? ABSENT)) &&
        (rule.onlyCodes === undefined || rule.onlyCodes(code)));
      // Verbs, resources and codes come from requests: bound the cache against made-up ones.
      if (++this.#kinds > 4096) {
        this.#byKind.clear();
        this.#kinds = 0;
      }
      candidates = new Candidates(rules);
      byCode.set(code, candidates);
    }
    return candidates;
  }

  /**
   * A rule that reached for the body of a write (create, update, patch) the audit policy logged at Metadata level
   * cannot see what it looks for. Reported when a rule and resource pair is first found blind, and again when that
   * rule meets such writes with bodies again.
   */
  #noteVisibility(rule: CompiledRule, resource: string, blind: boolean): void {
    const k = `${rule.id}\0${resource}`;
    const known = this.#visibility.get(k);
    if (known === blind || (known === undefined && this.#visibility.size >= 10_000)) return;
    this.#visibility.set(k, blind);
    if (blind || known === true) this.#blindNew.push({ rule: rule.id, resource, blind });
  }

  /**
   * Counts a request (or record) at `at` ms toward its group's window (each auditID once: the caller dedups) and says
   * whether the rate rule fires now. A group fires once per window; the window starts at the group's first request.
   */
  #rateReached(rule: CompiledRule, rate: RateSpec, ctx: EvalContext, at: number, failed: boolean): boolean {
    const group = rate.groupKey(ctx);
    // Per rule, then per group: no key string built per event (rate rules such as brute force count most events).
    let windows = this.#windows.get(rule.id);
    if (windows === undefined) this.#windows.set(rule.id, windows = new LRUCache({ max: this.#maxKeys }));
    let w = windows.get(group);
    if (w === undefined || at - w.start > rate.windowMs) {
      w = { start: at, count: 0, failures: 0, fired: false };
      windows.set(group, w);
    }
    w.count += 1;
    if (failed) w.failures += 1;
    if (w.fired || w.count <= rate.moreThan) return false;
    if (rate.failureRatioAbove !== undefined && w.failures / w.count <= rate.failureRatioAbove) return false;
    w.fired = true;
    return true;
  }

  /**
   * Adds what an allowed request did to its identity's baseline, once rules have judged it (so the request that is
   * new is still new to every rule). At its last stage, and a watch already when its response starts: a controller's
   * watch is open for minutes to hours before it completes. (Not an exec or port-forward: its upgrade is answered
   * 101 at ResponseStarted even when the connection to the kubelet fails afterwards.)
   */
  #learn(ctx: EvalContext): void {
    const b = this.#baseline;
    if (b === undefined || this.#aspects.length === 0) return;
    const head = ctx.event.head;
    const code = head.responseStatus?.code;
    if (head.stage !== 'ResponseComplete' && !(head.stage === 'ResponseStarted' && head.verb === 'watch')) return;
    if (code === undefined || code >= 400) return;
    const identity = baselineIdentity(head.user.username);
    if (identity === undefined) return;
    for (const aspect of this.#aspects) b.learn(identity, aspect.tuple(ctx), ctx.atMs);
  }

  /**
   * Moves the actor of a request matching some step of a sequence rule along its steps, and says whether the request
   * completes the sequence now: it matches the step after the last one the actor matched, no earlier than the first
   * and within the window of it. A request matching the first step (again) starts the sequence over from it.
   */
  #sequenceCompleted(rule: CompiledRule, seq: SequenceSpec, ctx: EvalContext, event: AuditEvent): boolean {
    const actor = seq.actorKey(ctx);
    // No actor, nothing to pair the steps by.
    if (actor.replaceAll('\0', '') === '') return false;
    const at = isoMillis(event.head.requestReceivedTimestamp ?? event.head.stageTimestamp ?? '') || this.#now();
    let progress = this.#sequences.get(rule.id);
    if (progress === undefined) this.#sequences.set(rule.id, progress = new LRUCache({ max: this.#maxKeys }));
    const p = progress.get(actor);
    if (p !== undefined && at >= p.start && at - p.start <= seq.windowMs && seq.steps[p.next](ctx)) {
      p.next += 1;
      if (p.next < seq.steps.length) return false;
      progress.delete(actor);
      return true;
    }
    if (seq.steps[0](ctx)) progress.set(actor, { next: 1, start: at });
    else if (p !== undefined && at - p.start > seq.windowMs) progress.delete(actor);
    return false;
  }

  /** alarmIdOf, remembered (bounded: cleared when it holds too many). */
  #alarmId(ruleId: string, key: string[], day: string): string {
    const k = JSON.stringify([ruleId, key, day]);
    let id = this.#alarmIds.get(k);
    if (id === undefined) {
      if (this.#alarmIds.size >= this.#maxKeys) this.#alarmIds.clear();
      id = alarmIdOf(this.#cluster.name, ruleId, key, day);
      this.#alarmIds.set(k, id);
    }
    return id;
  }

  /**
   * hits() folded into alarms: the first hit of an alarm is emitted at once, later ones raise its count and are
   * emitted as an update (same id) on the first hit at least `updateIntervalMs` after the last emission.
   * `forwarded` gives the forwarded text when redaction changes the event; the alarm carries and shows that one.
   * `hitsOut` receives every hit too.
   */
  evaluate(event: AuditEvent, forwarded?: () => string | undefined, hitsOut?: RuleHit[]): AlarmOut[] {
    // One context, reset per event: it never outlives this call.
    const ctx = (this.#ctx ??= new EvalContext(event)).reset(event);
    const shownCtx = shownContext(ctx, forwarded);
    const found = this.#hits(event, ctx, shownCtx);
    this.#learn(ctx);
    if (found.length === 0 || this.#learnOnly) return NO_ALARMS;
    const redactedLine = forwarded?.();
    const head = event.head;
    const at = head.stageTimestamp ?? head.requestReceivedTimestamp ?? new Date(this.#now()).toISOString();
    let raw: string | undefined;
    // The event goes in as the text that is forwarded (already JSON), not parsed and serialised again.
    return this.#fold(found, at, hitsOut, (hit, rule, payload) => {
      raw ??= eventText(event, redactedLine);
      payload.evidence = evidenceOf(shownCtx()?.event);
      if (hit.expected) (payload.evidence as Record<string, unknown>).baseline = 'expected';
      const fields = JSON.stringify(payload);
      return `${fields.slice(0, -1)},"event":${raw}}`;
    });
  }

  /**
   * Hits folded into aggregated alarms at `at` (an ISO timestamp): an alarm's first hit is emitted at once, later ones
   * raise its count and are emitted as an update on the first hit `updateIntervalMs` after the last emission.
   * `write` completes the alarm's fields (evidence and what it carries) and returns its JSON text.
   */
  #fold(found: Array<{ hit: RuleHit; rule: CompiledRule }>, at: string, hitsOut: RuleHit[] | undefined,
    write: (hit: RuleHit, rule: CompiledRule, payload: Record<string, unknown>) => string): AlarmOut[] {
    const out: AlarmOut[] = [];
    const day = at.slice(0, 10);
    for (const { hit, rule } of found) {
      hitsOut?.push(hit);
      const alarmID = this.#alarmId(rule.id, hit.key, day);
      const now = this.#now();
      let state = this.#alarms.get(alarmID);
      this.#version += 1;
      if (state === undefined) {
        state = { firstSeen: at, lastSeen: at, count: 1, lastEmit: now };
        this.#alarms.set(alarmID, state);
      } else {
        state.count += 1;
        if (at > state.lastSeen) state.lastSeen = at;
        if (at < state.firstSeen) state.firstSeen = at;
        if (now - state.lastEmit < this.#interval) continue;
        state.lastEmit = now;
      }
      const payload: Record<string, unknown> = {
        kind: 'kaudit.Alarm',
        alarmID,
        rule: { id: rule.id, name: rule.name, type: rule.type, category: rule.category, level: hit.level },
        cluster: this.#cluster,
      };
      if (hit.source !== undefined) payload.source = hit.source;
      Object.assign(payload, {
        firstSeen: state.firstSeen,
        lastSeen: state.lastSeen,
        count: state.count,
        summary: hit.summary,
        evidence: undefined,
        risk: rule.risk,
        solution: rule.solution,
      });
      out.push({ id: alarmID, payload: write(hit, rule, payload) });
    }
    return out;
  }

  /**
   * The rules on `source` over one of its records (a plain JSON object), folded into alarms as evaluate() folds hits
   * on audit events. Rules match the record as it was read; `forwarded` gives its forwarded text when redaction
   * changed it: summaries, keys and the alarm's evidence (the record itself) show that one.
   */
  evaluateRecord(source: string, record: Record<string, unknown>, forwarded?: () => string | undefined, hitsOut?: RuleHit[]): AlarmOut[] {
    const rules = this.#recordRules.get(source);
    if (rules === undefined) return NO_ALARMS;
    const ctx = (this.#recordCtx ??= recordContext(record)).resetRecord(record);
    let matched: CompiledRule[] | undefined;
    let ms: number | undefined;
    for (const rule of rules) {
      if (rule.namespaces !== undefined) {
        const ns = recordNamespace(record);
        if (ns === undefined || !rule.namespaces.has(ns)) continue;
      }
      if (!rule.match(ctx)) continue;
      if (this.#allowByRule.has(rule.id) && this.#allowlisted(rule, ctx)) continue;
      if (rule.rate !== undefined && !this.#rateReached(rule, rule.rate, ctx, ms ??= recordMillis(record) ?? this.#now(), false)) continue;
      (matched ??= []).push(rule);
    }
    if (matched === undefined) return NO_ALARMS;
    // What is shown: the forwarded text, read again, when redaction changed the record.
    const text = forwarded?.();
    const shown = text === undefined ? ctx : recordContext(JSON.parse(text) as Record<string, unknown>);
    const found = matched.map((rule) => {
      const key = rule.aggregateKey.map((g) => g(shown).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(','));
      return { rule, hit: { ruleId: rule.id, ruleName: rule.name, category: rule.category, level: rule.level, auditID: '', stage: '', key, summary: rule.output(shown), source } };
    });
    const at = new Date(ms ?? recordMillis(record) ?? this.#now()).toISOString();
    const evidence = text ?? JSON.stringify(record);
    return this.#fold(found, at, hitsOut, (_hit, _rule, payload) => {
      const fields = JSON.stringify(payload);
      return `${fields.slice(0, -1)},"evidence":${evidence}}`;
    });
  }
}

/** A record's own time (`time`, else `timestamp`: RFC 3339 or ms since the epoch) in ms; undefined when it has none readable. */
/** A bounded map holding `entries` in their order (the last the most recently used), as handed over. */
function lruOf<V extends {}>(entries: Iterable<[string, V]>, max: number): LRUCache<string, V> {
  const lru = new LRUCache<string, V>({ max });
  for (const [key, value] of entries) lru.set(key, value);
  return lru;
}

function recordMillis(record: Record<string, unknown>): number | undefined {
  const t = record.time ?? record.timestamp;
  const ms = typeof t === 'string' ? isoMillis(t) : typeof t === 'number' ? t : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The rules of one stage/verb/resource/code combination, narrowed per event by the guards they share, as a decision
 * tree built as events take its branches: a node evaluates the guard that most of its rules would test first (a
 * macro such as system_noise, a head field condition), once, and goes on with the rules that outcome leaves. Only a
 * guard that at least two rules test first is evaluated: one a rule tests later may never be reached by it (an
 * earlier, cheaper condition fails), and evaluating it ahead would cost more than it saves. Rules stay in load order.
 */
class Candidates {
  readonly #rules: CompiledRule[];
  /** The guard this node evaluates (undefined: a leaf), and the nodes for its outcomes, built on first use. */
  readonly #guard: Predicate | undefined;
  #ifTrue: Candidates | undefined;
  #ifFalse: Candidates | undefined;
  readonly #decided: ReadonlySet<Predicate>;

  constructor(rules: CompiledRule[], decided: ReadonlySet<Predicate> = new Set()) {
    this.#rules = rules;
    this.#decided = decided;
    const uses = new Map<Predicate, number>();
    for (const r of rules) {
      const first = r.guards.find((g) => !decided.has(g.test));
      if (first !== undefined) uses.set(first.test, (uses.get(first.test) ?? 0) + 1);
    }
    let best: [Predicate, number] | undefined;
    for (const u of uses) if (u[1] >= 2 && (best === undefined || u[1] > best[1])) best = u;
    this.#guard = best?.[0];
  }

  /** The rules that can match the event in `ctx`, in load order. */
  select(ctx: EvalContext): CompiledRule[] {
    let node: Candidates = this;
    while (node.#guard !== undefined) {
      if (node.#guard(ctx)) node = node.#ifTrue ??= node.#branch(true);
      else node = node.#ifFalse ??= node.#branch(false);
    }
    return node.#rules;
  }

  #branch(outcome: boolean): Candidates {
    const g = this.#guard!;
    const rules = this.#rules.filter((r) => r.guards.every((x) => x.test !== g || x.holds === outcome));
    return new Candidates(rules, new Set([...this.#decided, g]));
  }
}

interface SequenceProgress {
  /** The step the actor must match next. */
  next: number;
  /** When the actor matched the first step (ms). */
  start: number;
}

interface RateWindow {
  start: number;
  count: number;
  failures: number;
  fired: boolean;
}

// The minute of the last timestamp read, as text and in ms: audit timestamps arrive in order, so most share it.
let minuteText = '';
let minuteMs = NaN;

/**
 * Milliseconds of an RFC 3339 UTC timestamp as the apiserver writes it (`2026-11-20T06:12:44.018271Z`), NaN when
 * unreadable. Date.parse costs ~0.5 µs; rate rules read a timestamp for most events, so the minute is parsed once.
 */
export function isoMillis(s: string): number {
  const n = s.length;
  // YYYY-MM-DDTHH:MM:SS then Z, or a fraction and Z.
  if (n < 20 || n === 21 || s.charCodeAt(16) !== 0x3a || s.charCodeAt(n - 1) !== 0x5a || (n > 20 && s.charCodeAt(19) !== 0x2e)) return Date.parse(s);
  if (!s.startsWith(minuteText) || minuteText === '') {
    const ms = Date.parse(`${s.slice(0, 16)}:00Z`);
    if (Number.isNaN(ms)) return Date.parse(s);
    minuteText = s.slice(0, 16);
    minuteMs = ms;
  }
  const d1 = s.charCodeAt(17) - 48;
  const d2 = s.charCodeAt(18) - 48;
  if (d1 < 0 || d1 > 5 || d2 < 0 || d2 > 9) return Date.parse(s);
  let frac = 0;
  let scale = 100;
  for (let i = 20; i < n - 1; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Date.parse(s);
    frac += d * scale;
    scale /= 10;
  }
  return minuteMs + (d1 * 10 + d2) * 1000 + Math.floor(frac);
}

/** Stable over restarts: cluster, rule, aggregation key and UTC day. */
export function alarmIdOf(cluster: string, ruleId: string, key: string[], day: string): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([cluster, ruleId, key, day]));
  return h.digest('hex').slice(0, 32);
}

/**
 * The triggering event as JSON text, as it is forwarded: the redacted text when redaction changed it, else the
 * line itself once a full parse has shown it is valid JSON (its bodies are not checked by the head-only parse).
 */
function eventText(event: AuditEvent, redactedLine: string | undefined): string {
  if (redactedLine !== undefined) return redactedLine;
  try {
    event.full();
    return event.line;
  } catch {
    return JSON.stringify({ auditID: event.head.auditID, stage: event.head.stage, note: 'event body unreadable' });
  }
}

/**
 * What alarms and hits show: the event as it is forwarded, read again from its text when redaction changed it (rare:
 * few events both hit a rule and are redacted), so that no summary, key or evidence carries what redaction blanked;
 * undefined when the redacted text no longer reads as an audit event.
 */
function shownContext(ctx: EvalContext, forwarded: (() => string | undefined) | undefined): () => EvalContext | undefined {
  let shown: { ctx: EvalContext | undefined } | undefined;
  return () => {
    if (shown === undefined) {
      const line = forwarded?.();
      const parsed = line === undefined ? undefined : parseAuditLine(line);
      shown = { ctx: parsed === undefined ? ctx : parsed.ok ? new EvalContext(parsed.event) : undefined };
    }
    return shown.ctx;
  };
}

function evidenceOf(event: AuditEvent | undefined): Record<string, unknown> {
  if (event === undefined) return { withheld: 'redaction blanked a field the evidence is read from' };
  const h = event.head;
  const ann = event.annotations();
  const ips = h.sourceIPs;
  const evidence: Record<string, unknown> = {
    user: h.user.username ?? '',
    groups: h.user.groups ?? [],
    sourceIPs: ips,
    sourceIP: ips.length > 0 ? ips[ips.length - 1] : '',
    userAgent: h.userAgent ?? '',
    verb: h.verb,
    resource: h.objectRef?.resource ?? '',
    subresource: h.objectRef?.subresource ?? '',
    namespace: h.objectRef?.namespace ?? '',
    name: h.objectRef?.name ?? '',
    code: h.responseStatus?.code ?? null,
    decision: ann['authorization.k8s.io/decision'] ?? '',
    reason: ann['authorization.k8s.io/reason'] ?? '',
  };
  const exec = execOf(event);
  if (exec !== undefined) evidence.exec = { container: exec.container ?? '', command: exec.command ?? '' };
  return evidence;
}

/**
 * The identities whose routine hits the baseline may expect: service accounts and system identities (nodes folded into
 * one), not the anonymous caller (anyone at all).
 */
function expectableIdentity(username: string | undefined): string | undefined {
  return username !== undefined && username.startsWith('system:') && username !== 'system:anonymous' ? baselineIdentity(username) : undefined;
}

const CREDENTIAL_OR_EXEC = new Set(['exec', 'attach', 'portforward', 'token']);

/** A request on Secrets, or an exec, attach, port-forward or token request. */
function touchesCredentialOrExec(head: AuditEvent['head']): boolean {
  const ref = head.objectRef;
  return ref !== undefined && (ref.resource === 'secrets' || (ref.subresource !== undefined && CREDENTIAL_OR_EXEC.has(ref.subresource)));
}
