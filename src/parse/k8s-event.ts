// Kubernetes Events (core v1 or events.k8s.io/v1, one JSON object per line as the API served it) into kaudit's event
// record: one documented shape whichever API and recorder wrote the event (docs/events.md), the message's credentials
// blanked as in container lines, and the rules on `k8s_events` records run over it.
import { finishChunk, startChunk, type ChunkContext, type ChunkResult } from './chunk.ts';

/** A block of the k8s_events source (plain data: it crosses threads). */
export interface K8sEventOrigin {
  parser: 'k8s_events';
}

/** An event object as either API serves it (the fields kaudit reads). */
export interface ApiEvent {
  apiVersion?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; creationTimestamp?: string };
  type?: string;
  reason?: string;
  action?: string;
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string } | null;
  // core v1
  message?: string;
  involvedObject?: ObjectRef;
  source?: { component?: string; host?: string };
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  reportingComponent?: string;
  reportingInstance?: string;
  // events.k8s.io/v1
  note?: string;
  regarding?: ObjectRef;
  deprecatedSource?: { component?: string; host?: string };
  deprecatedCount?: number;
  deprecatedFirstTimestamp?: string | null;
  deprecatedLastTimestamp?: string | null;
  reportingController?: string;
}

interface ObjectRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  fieldPath?: string;
}

/** How often the event was seen: the series count (events.k8s.io recorder), or the count of the core recorder. */
export function eventCount(e: ApiEvent): number {
  return e.series?.count ?? e.count ?? e.deprecatedCount ?? 1;
}

/** An event seen once per (uid, count): the same under both APIs, and new each time its recorder counts it again. */
export function eventIdentity(e: ApiEvent): string {
  return `${e.metadata?.uid ?? `${e.metadata?.namespace}/${e.metadata?.name}`}/${eventCount(e)}`;
}

/** Record id of an event: stable across relists, restarts and leaders, so an id-keyed sink stores a repeat once. */
export function eventRecordId(e: ApiEvent): string {
  return `event:${eventIdentity(e)}`;
}

export interface EventRecord {
  time: string | null;
  type: string | null;
  reason: string | null;
  message: string;
  action: string | null;
  count: number;
  first_time: string | null;
  last_time: string | null;
  involved_object: { kind: string | null; namespace: string | null; name: string | null; uid: string | null; api_version: string | null; field_path: string | null };
  reporting: { component: string | null; instance: string | null };
  event: { namespace: string | null; name: string | null; uid: string | null; resource_version: string | null };
  api: string;
}

/** The record of an event, whichever API served it (`apiVersion` tells: list items lack it, the source sets it). */
export function eventRecord(e: ApiEvent): EventRecord {
  const grouped = e.apiVersion?.startsWith('events.k8s.io/') ?? e.regarding !== undefined;
  const ref = (grouped ? e.regarding : e.involvedObject) ?? {};
  const source = (grouped ? e.deprecatedSource : e.source) ?? {};
  const first = (grouped ? e.deprecatedFirstTimestamp : e.firstTimestamp) || e.eventTime || null;
  const last = e.series?.lastObservedTime || (grouped ? e.deprecatedLastTimestamp : e.lastTimestamp) || e.eventTime || null;
  return {
    time: last ?? first ?? e.metadata?.creationTimestamp ?? null,
    type: e.type || null,
    reason: e.reason || null,
    message: (grouped ? e.note : e.message) ?? '',
    action: e.action || null,
    count: eventCount(e),
    first_time: first,
    last_time: last,
    involved_object: {
      kind: ref.kind || null, namespace: ref.namespace || null, name: ref.name || null, uid: ref.uid || null,
      api_version: ref.apiVersion || null, field_path: ref.fieldPath || null,
    },
    reporting: {
      component: (grouped ? e.reportingController : e.reportingComponent) || source.component || null,
      instance: e.reportingInstance || source.host || null,
    },
    event: {
      namespace: e.metadata?.namespace || null, name: e.metadata?.name || null, uid: e.metadata?.uid || null,
      resource_version: e.metadata?.resourceVersion || null,
    },
    api: e.apiVersion ?? (grouped ? 'events.k8s.io/v1' : 'v1'),
  };
}

/** Parses a block of event lines into records (each line's forwarded text is its record) and runs the rules on them. */
export function parseK8sEventBlock(data: Uint8Array, ctx: ChunkContext, _origin: K8sEventOrigin): ChunkResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const draft = startChunk(ctx);
  const { result, ids, spans, hits } = draft;
  const patterns = ctx.patterns;
  let pos = 0;
  while (pos < buf.length) {
    let end = buf.indexOf(0x0a, pos);
    if (end < 0) end = buf.length;
    const start = pos;
    pos = end + 1;
    if (end === start) continue;
    let event: ApiEvent;
    try {
      event = JSON.parse(buf.toString('utf8', start, end)) as ApiEvent;
    } catch {
      result.bad.push({ start, end, error: 'not JSON (a Kubernetes event)' });
      continue;
    }
    if (event === null || typeof event !== 'object' || typeof event.metadata !== 'object') {
      result.bad.push({ start, end, error: 'not a Kubernetes event (no metadata)' });
      continue;
    }
    const record = eventRecord(event);
    const shown = patterns !== undefined && patterns.mayHold(record.message) ? patterns.redactText(record.message) : record.message;
    const text = JSON.stringify(shown === record.message ? record : { ...record, message: shown });
    result.replaced.push([ids.length, text]);
    ids.push(eventRecordId(event));
    spans.push(start, end);
    // The rules match the event as it was written; alarms show it as forwarded.
    const forwarded = shown === record.message ? undefined : () => text;
    for (const alarm of ctx.detector.evaluateRecord('k8s_events', record as unknown as Record<string, unknown>, forwarded, hits)) result.alarms.push(alarm);
  }
  return finishChunk(draft, ctx);
}
