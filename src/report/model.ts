// Aggregates alarm records into the report's data: counts by level, the daily trend, compact list rows, details.
import type { AlarmRecord } from './alarm-records.ts';

export const LEVELS = ['high', 'medium', 'low', 'note'] as const;
/** The trend covers at most this many days, ending at the data's last day. */
export const TREND_DAYS = 7;
/** Rules drawn on their own in the per-rule trend; the others are summed as one series. */
const TREND_RULES = 10;

/**
 * The list's columns, one array per alarm (a million hits are at most as many alarms; arrays of numbers and indexes
 * into `strings` keep the embedded data compact): level index, rule, category, namespace, user, source IP, summary,
 * cluster (string indexes), first and last seen (ms), count.
 */
export type Row = [level: number, rule: number, category: number, namespace: number, user: number, sourceIP: number, summary: number, cluster: number, first: number, last: number, count: number];

export interface RuleInfo { id: string; name: string; type: string; category: string; level: string }

export interface ReportData {
  title: string;
  generatedAt: string;
  /** What the alarms were read from: files, or the agent's own state. */
  inputs: string[];
  strings: string[];
  rules: Record<string, RuleInfo>;
  rows: Row[];
  /** Per row, in the same order: the alarm's id, and what the details view shows. */
  ids: string[];
  details: Array<{ risk: string; solution: string; evidence: Record<string, unknown>; clusterId: string; event: unknown; source?: string }>;
  status: Record<string, { alarms: number; hits: number }>;
  trend: { days: string[]; byLevel: Record<string, number[]>; byRule: Array<{ rule: string; counts: number[] }> };
}

/** Interns strings: each distinct value is embedded once. */
class StringTable {
  readonly strings: string[] = [];
  readonly #index = new Map<string, number>();

  of(s: unknown): number {
    const text = typeof s === 'string' ? s : s === undefined || s === null ? '' : String(s);
    let i = this.#index.get(text);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(text);
      this.#index.set(text, i);
    }
    return i;
  }
}

export function buildReport(alarms: AlarmRecord[], meta: { title: string; inputs: string[]; now?: Date }): ReportData {
  // Worst first, then the most recent: the order the list opens in.
  const sorted = [...alarms].sort((a, b) => levelIndex(a.rule.level) - levelIndex(b.rule.level) || (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  const table = new StringTable();
  const rules: Record<string, RuleInfo> = {};
  const status = Object.fromEntries(LEVELS.map((l) => [l, { alarms: 0, hits: 0 }]));
  const rows: Row[] = [];
  const ids: string[] = [];
  const details: ReportData['details'] = [];
  for (const a of sorted) {
    const level = levelIndex(a.rule.level);
    rules[a.rule.id] ??= { id: a.rule.id, name: a.rule.name, type: a.rule.type, category: a.rule.category, level: a.rule.level };
    const s = status[LEVELS[level]];
    s.alarms += 1;
    s.hits += a.count;
    const ev = a.evidence ?? {};
    // An alarm from a record of another source carries the record as its evidence: its namespace and client are there.
    const record = ev as { kubernetes?: { namespace?: unknown }; involved_object?: { namespace?: unknown }; ingress?: { client_ip?: unknown } };
    const namespace = ev.namespace ?? record.kubernetes?.namespace ?? record.involved_object?.namespace;
    rows.push([level, table.of(a.rule.id), table.of(a.rule.category), table.of(namespace), table.of(ev.user), table.of(ev.sourceIP ?? record.ingress?.client_ip),
      table.of(a.summary), table.of(a.cluster?.name), Date.parse(a.firstSeen), Date.parse(a.lastSeen), a.count]);
    ids.push(a.alarmID);
    details.push({ risk: a.risk ?? '', solution: a.solution ?? '', evidence: ev, clusterId: a.cluster?.id ?? '', event: a.event ?? null, ...(a.source === undefined ? {} : { source: a.source }) });
  }
  return {
    title: meta.title,
    generatedAt: (meta.now ?? new Date()).toISOString(),
    inputs: meta.inputs,
    strings: table.strings,
    rules,
    rows,
    ids,
    details,
    status,
    trend: trendOf(sorted),
  };
}

/**
 * Hits per UTC day over the data's last TREND_DAYS days, by level and by rule. An alarm aggregates the hits of one
 * day (its id includes the UTC day), so its count belongs to the day it was first seen.
 */
export function trendOf(alarms: AlarmRecord[]): ReportData['trend'] {
  if (alarms.length === 0) return { days: [], byLevel: Object.fromEntries(LEVELS.map((l) => [l, []])), byRule: [] };
  let lastDay = '';
  for (const a of alarms) if (a.firstSeen.slice(0, 10) > lastDay) lastDay = a.firstSeen.slice(0, 10);
  let firstDay = lastDay;
  for (const a of alarms) if (a.firstSeen.slice(0, 10) < firstDay) firstDay = a.firstSeen.slice(0, 10);
  const end = Date.parse(`${lastDay}T00:00:00Z`);
  const span = Math.min(TREND_DAYS, Math.round((end - Date.parse(`${firstDay}T00:00:00Z`)) / 86_400_000) + 1);
  const days = Array.from({ length: span }, (_, i) => new Date(end - (span - 1 - i) * 86_400_000).toISOString().slice(0, 10));
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const byLevel = Object.fromEntries(LEVELS.map((l) => [l, days.map(() => 0)]));
  const perRule = new Map<string, number[]>();
  for (const a of alarms) {
    const i = dayIndex.get(a.firstSeen.slice(0, 10));
    if (i === undefined) continue;
    byLevel[LEVELS[levelIndex(a.rule.level)]][i] += a.count;
    let counts = perRule.get(a.rule.id);
    if (counts === undefined) perRule.set(a.rule.id, counts = days.map(() => 0));
    counts[i] += a.count;
  }
  const ranked = [...perRule].sort((a, b) => sum(b[1]) - sum(a[1]) || (a[0] < b[0] ? -1 : 1));
  const byRule = ranked.slice(0, TREND_RULES).map(([rule, counts]) => ({ rule, counts }));
  if (ranked.length > TREND_RULES) {
    const other = days.map(() => 0);
    for (const [, counts] of ranked.slice(TREND_RULES)) counts.forEach((n, i) => (other[i] += n));
    byRule.push({ rule: `${ranked.length - TREND_RULES} other rules`, counts: other });
  }
  return { days, byLevel, byRule };
}

/** An unknown level sorts and counts as `note`. */
function levelIndex(level: string): number {
  const i = (LEVELS as readonly string[]).indexOf(level);
  return i < 0 ? LEVELS.length - 1 : i;
}

function sum(ns: number[]): number {
  return ns.reduce((s, n) => s + n, 0);
}
