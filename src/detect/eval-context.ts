// What a compiled rule reads for one audit event or record, and the helpers compiled conditions and paths are built with.
import type { AuditEvent } from '../parse/audit.ts';
import type { Baseline } from './baseline.ts';
import { parseImageRef, type ImageRef } from './image-ref.ts';
import { isObject, type Json } from './json.ts';
import { containersOf, patchBodyOf, podSpecsOf } from './virtual-fields.ts';

/** What a rule reads for one event; bodies and derived fields are computed on first use and cached. */
export class EvalContext {
  event: AuditEvent;
  /** The record a rule on another source (containers, ingress, k8s_events, ...) reads; `{}` for audit events. */
  record: Json = NO_RECORD;
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
  #patchBody: { value: unknown } | undefined;
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
    this.#patchBody = undefined;
    return this;
  }
  patchBody(): unknown {
    if (this.#patchBody === undefined) this.#patchBody = { value: patchBodyOf(this.event) };
    return this.#patchBody.value;
  }
  podSpecs(): unknown[] {
    if (this.#specs === undefined) this.#specs = podSpecsOf(this.event);
    return this.#specs;
  }
  containers(): unknown[] {
    if (this.#containers === undefined) this.#containers = containersOf(this.event, this.podSpecs());
    return this.#containers;
  }
  /** The same context for a record of another source (rules on records read `record` alone, never `event`). */
  resetRecord(record: Json): this {
    this.record = record;
    this.serial += 1;
    return this;
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

const NO_RECORD: Json = Object.freeze({});

/** A context for records of other sources: audit fields are never compiled into their rules, so `event` is not read. */
export function recordContext(record: Json): EvalContext {
  return new EvalContext(undefined as unknown as AuditEvent).resetRecord(record);
}

/** The namespace a record is in, for `namespaces:` scoping: its pod's (containers, ingress) or its object's (k8s_events). */
export function recordNamespace(record: Json): string | undefined {
  const k = record.kubernetes;
  if (isObject(k) && typeof k.namespace === 'string') return k.namespace;
  const o = record.involved_object;
  if (isObject(o) && typeof o.namespace === 'string') return o.namespace;
  return undefined;
}

export const BODY_MISSING = 1;
export const BODY_PRESENT = 2;

/** Notes on the context that a condition reached for a body, and whether the policy logs bodies for the event. */
export function probeBody(ctx: EvalContext): void {
  ctx.bodyProbe |= ctx.event.head.level === 'Metadata' ? BODY_MISSING : BODY_PRESENT;
}

export type Getter = (ctx: EvalContext) => unknown[];
export type Predicate = (ctx: EvalContext) => boolean;

// Getters and predicates that read the request/response bodies (a full parse); the rest read the head only.
export const bodyReaders = new WeakSet<Getter | Predicate>();
export const bodyIf = <T extends Getter | Predicate>(f: T, body: boolean): T => {
  if (body) bodyReaders.add(f);
  return f;
};

let specialisedCount = 0;

/**
 * A fresh copy of a small function built from `source` (fixed text in the compiler's files, plus field names checked
 * to be plain identifiers: never a value from a rule file) and bound to `args`. Each copy has its own code and type
 * feedback, so V8 inlines what it calls and keeps its property loads monomorphic; one closure shared by hundreds
 * of conditions sees too many callees and object shapes to be optimised (rules cost about twice as much).
 */
export function specialised<T>(params: string[], source: string, args: unknown[]): T {
  // The counter makes each source text unique, so that no compilation cache hands back shared code.
  const factory = new Function(...params, `/* condition ${specialisedCount++} */\n${source}`) as (...a: unknown[]) => T;
  return factory(...args);
}

/** Whether a compiled getter or predicate (a rule's `match`) reads the request/response bodies. */
export function needsBodies(f: Getter | Predicate): boolean {
  return bodyReaders.has(f);
}
