// Parse, redact and detect over one block of whole lines; pure, so it runs in a worker or inline.
import { isUtf8 } from 'node:buffer';
import type { RuleHit } from '../detect/engine.ts';
import type { DetectionNotes, Detector } from '../detect/hook.ts';
import { auditRecordId } from '../delivery/record.ts';
import { auditPodRef } from '../enrich/merge.ts';
import { parseAuditLine, type AuditEvent } from './audit.ts';
import type { CredentialPatterns } from './patterns.ts';
import type { Redactor } from './redact.ts';

const NL = 0x0a;
const CR = 0x0d;

export interface ChunkContext {
  redactor: Redactor;
  detector: Detector;
  /** Put every rule hit in the result's `hits`. */
  collectHits?: boolean;
  /** Credential patterns for text that is not an audit event (container log messages); undefined: off. */
  patterns?: CredentialPatterns;
  /** Report the namespace and pod of each event in the result's `refs` (Kubernetes context is on). */
  kubernetesRefs?: boolean;
}

/** What came out of a block, in compact form (one string, one typed array: cheap to pass between threads). */
export interface ChunkResult {
  /** Good events in the block. */
  count: number;
  /** Record id of each good event, in line order, joined by newlines (ids contain none). */
  ids: string;
  /** [start, end) of each good event's line in the block, two numbers per event. */
  spans: Uint32Array;
  /** Events whose forwarded text differs from the line (redacted): [index into ids, new text]. */
  replaced: Array<[number, string]>;
  /** `event`: with `kubernetesRefs`, the index (into ids) of the event that raised it, when that event has a ref. */
  alarms: Array<{ id: string; payload: string; event?: number }>;
  /** Every rule hit, only when the context asks for them. */
  hits?: RuleHit[];
  /** Lines that are not audit events: [start, end) and why. */
  bad: Array<{ start: number; end: number; error: string }>;
  /** Detection counters and findings gathered up to the end of this block. */
  notes?: DetectionNotes;
  /**
   * With `kubernetesRefs`: each namespaced event's namespace, and its pod for an event on a pod, by index into ids; the
   * main thread looks them up and adds their context to the forwarded text.
   */
  refs?: Array<{ index: number; namespace: string; pod?: string }>;
}

/**
 * Why a parsed line could not be redacted or run through detection. A body nested deeper than the stack (tens of
 * thousands of levels; the apiserver decodes no more than 10,000) is said in words, not as V8's RangeError.
 */
export function processingFailed(err: unknown): string {
  const deep = err instanceof RangeError && /call stack/i.test(err.message);
  return `processing failed: ${deep ? 'nested too deeply to process' : (err as Error).message}`;
}

/** A block's result while a parser builds it: good records go in `ids` and `spans` (two numbers each), in line order. */
export interface ChunkDraft {
  result: ChunkResult;
  ids: string[];
  spans: number[];
  /** Where the detector puts its rule hits, when the context asks for them. */
  hits: RuleHit[] | undefined;
}

/** An empty result for a block parsed with `ctx` (each block parser starts with one). */
export function startChunk(ctx: ChunkContext): ChunkDraft {
  const result: ChunkResult = { count: 0, ids: '', spans: new Uint32Array(0), replaced: [], alarms: [], bad: [] };
  const hits: RuleHit[] | undefined = ctx.collectHits ? [] : undefined;
  if (hits) result.hits = hits;
  return { result, ids: [], spans: [], hits };
}

/** The result in its compact form, with the detection notes gathered up to the end of the block. */
export function finishChunk(draft: ChunkDraft, ctx: ChunkContext): ChunkResult {
  const { result, ids, spans } = draft;
  const notes = ctx.detector.takeNotes?.();
  if (notes !== undefined) result.notes = notes;
  result.count = ids.length;
  result.ids = ids.join('\n');
  result.spans = Uint32Array.from(spans);
  return result;
}

export function processChunk(data: Uint8Array, ctx: ChunkContext): ChunkResult {
  const draft = startChunk(ctx);
  const { result, ids, spans, hits } = draft;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const forwarded = new ForwardedText(ctx.redactor);
  // Real apiservers write valid UTF-8 (Go escapes the rest); check per line only when the block fails.
  const blockIsUtf8 = isUtf8(buf);
  let pos = 0;
  while (pos < buf.length) {
    let end = buf.indexOf(NL, pos);
    if (end < 0) end = buf.length;
    let lineEnd = end;
    if (lineEnd > pos && buf[lineEnd - 1] === CR) lineEnd -= 1;
    const start = pos;
    pos = end + 1;
    if (lineEnd === start || isBlank(buf, start, lineEnd)) continue;
    if (!blockIsUtf8 && !isUtf8(buf.subarray(start, lineEnd))) {
      result.bad.push({ start, end: lineEnd, error: 'invalid UTF-8' });
      continue;
    }
    // Decoded in place (no view per line); the bytes are known to be valid UTF-8 here. A byte order mark (a file
    // an editor saved) is not part of the event, nor of what is forwarded.
    const from = buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf ? start + 3 : start;
    const text = buf.toString('utf8', from, lineEnd);
    const parsed = parseAuditLine(text);
    if (!parsed.ok) {
      result.bad.push({ start, end: lineEnd, error: parsed.error });
      continue;
    }
    const event = parsed.event;
    let redacted: string | undefined;
    const firstAlarm = result.alarms.length;
    try {
      // The rules match the event as written; redaction follows (walking bodies the rules parsed, if any), and alarms
      // carry and show the redacted line.
      forwarded.reset(event);
      for (const alarm of ctx.detector.evaluate(event, forwarded.text, hits)) result.alarms.push(alarm);
      redacted = forwarded.text();
    } catch (err) {
      // Never forward an event whose redaction failed: it could carry a credential.
      result.bad.push({ start, end: lineEnd, error: processingFailed(err) });
      continue;
    }
    const index = ids.length;
    const { auditID, stage } = event.head;
    const id = auditRecordId(auditID, stage);
    // Ids travel joined by newlines: one inside an id (never in a real auditID) becomes a space. The parts are
    // searched, not the id: it is a concatenation, which a search would first copy into a flat string.
    ids.push(auditID.includes('\n') || stage.includes('\n') ? id.replaceAll('\n', ' ') : id);
    spans.push(from, lineEnd);
    if (redacted !== undefined) result.replaced.push([index, redacted]);
    if (ctx.kubernetesRefs) {
      const ref = kubernetesRef(event);
      if (ref !== undefined) {
        (result.refs ??= []).push({ index, ...ref });
        for (let a = firstAlarm; a < result.alarms.length; a++) result.alarms[a].event = index;
      }
    }
  }
  return finishChunk(draft, ctx);
}

/** The text an event is forwarded as, redacted on first use (one per block, reset per event: no closure per event). */
class ForwardedText {
  readonly #redactor: Redactor;
  #event: AuditEvent | undefined;
  #done = false;
  #text: string | undefined;

  constructor(redactor: Redactor) {
    this.#redactor = redactor;
  }

  reset(event: AuditEvent): void {
    this.#event = event;
    this.#done = false;
    this.#text = undefined;
  }

  /** The redacted line, or undefined when nothing needed blanking. */
  text = (): string | undefined => {
    if (!this.#done) {
      this.#text = this.#redactor.redact(this.#event!);
      this.#done = true;
    }
    return this.#text;
  };
}

/** The namespace an event acts in, and the pod it acts on (exec, attach, portforward, log, create, delete). */
function kubernetesRef(event: AuditEvent): { namespace: string; pod?: string } | undefined {
  const { objectRef, verb } = event.head;
  const namespace = objectRef?.namespace;
  if (namespace === undefined || namespace === '') return undefined;
  // A pod created with generateName is named only in the response body, parsed for these events only.
  let responseObject: { kind?: string; metadata?: { name?: string } } | undefined;
  if (objectRef!.resource === 'pods' && objectRef!.name === undefined && verb === 'create' && event.hasResponseObject) {
    try {
      responseObject = event.full().responseObject as typeof responseObject;
    } catch {
      // A damaged body: the event goes on with its namespace's context only.
    }
  }
  const pod = auditPodRef({ verb, objectRef, responseObject });
  return pod === undefined ? { namespace } : { namespace, pod: pod.pod };
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}
