// The report's aggregation: latest record per alarm, the seven-day trend, the compact rows, JSON safe in a script element.
import { describe, expect, it } from 'vitest';
import { AlarmSet, type AlarmRecord } from './alarm-records.ts';
import { buildReport, trendOf } from './model.ts';
import { scriptJson } from './page.ts';

function alarm(id: string, over: { rule?: string; level?: string; first?: string; last?: string; count?: number; user?: string } = {}): AlarmRecord {
  const first = over.first ?? '2026-11-22T10:00:00Z';
  return {
    kind: 'kaudit.Alarm', alarmID: id, rule: { id: over.rule ?? 'KA-X-001', name: 'x', type: 'system', category: 'c', level: over.level ?? 'high' },
    cluster: { name: 'prod', id: '' }, firstSeen: first, lastSeen: over.last ?? first, count: over.count ?? 1, summary: `s ${id}`,
    evidence: { user: over.user ?? 'u', namespace: 'ns', sourceIP: '10.0.0.1' },
  };
}

describe('AlarmSet', () => {
  it('keeps the record with the highest count of each alarm, and the earliest firstSeen any record gives', () => {
    const set = new AlarmSet();
    set.add(alarm('a', { count: 3, first: '2026-11-22T10:00:00Z', last: '2026-11-22T12:00:00Z' }));
    set.add(alarm('a', { count: 1, first: '2026-11-22T09:00:00Z' }));
    set.add(alarm('a', { count: 2, first: '2026-11-22T10:00:00Z' }));
    set.add(alarm('b'));
    expect(set.size).toBe(2);
    const a = set.values().find((x) => x.alarmID === 'a')!;
    expect([a.count, a.firstSeen, a.lastSeen]).toEqual([3, '2026-11-22T09:00:00Z', '2026-11-22T12:00:00Z']);
  });
});

describe('trendOf', () => {
  it('counts hits per UTC day over the last seven days of the data, by level and by rule', () => {
    const t = trendOf([
      alarm('old', { first: '2026-11-01T10:00:00Z', count: 100 }),
      alarm('a', { first: '2026-11-16T23:59:59Z', count: 2, level: 'low' }),
      alarm('b', { first: '2026-11-22T00:00:00Z', count: 5 }),
      alarm('c', { first: '2026-11-22T08:00:00Z', count: 1, rule: 'KA-Y-001', level: 'note' }),
    ]);
    expect(t.days).toEqual(['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22']);
    expect(t.byLevel).toEqual({ high: [0, 0, 0, 0, 0, 0, 5], medium: [0, 0, 0, 0, 0, 0, 0], low: [2, 0, 0, 0, 0, 0, 0], note: [0, 0, 0, 0, 0, 0, 1] });
    expect(t.byRule).toEqual([{ rule: 'KA-X-001', counts: [2, 0, 0, 0, 0, 0, 5] }, { rule: 'KA-Y-001', counts: [0, 0, 0, 0, 0, 0, 1] }]);
  });

  it('spans only the days the data has, and sums rules past the tenth as one series', () => {
    const alarms = Array.from({ length: 12 }, (_, i) => alarm(`r${i}`, { rule: `KA-R-${String(i).padStart(3, '0')}`, count: 20 - i, first: `2026-11-2${i % 2}T10:00:00Z` }));
    const t = trendOf(alarms);
    expect(t.days).toEqual(['2026-11-20', '2026-11-21']);
    expect(t.byRule).toHaveLength(11);
    expect(t.byRule[10]).toEqual({ rule: '2 other rules', counts: [10, 9] });
  });
});

describe('buildReport', () => {
  it('counts alarms and hits by level, orders rows worst first then latest, and stores each distinct string once', () => {
    const r = buildReport([
      alarm('a', { level: 'low', count: 4, user: 'same' }),
      alarm('b', { level: 'high', count: 2, user: 'same', last: '2026-11-22T11:00:00Z' }),
      alarm('c', { level: 'high', count: 1, user: 'same', last: '2026-11-22T12:00:00Z' }),
    ], { title: 't', inputs: [] });
    expect(r.status).toEqual({ high: { alarms: 2, hits: 3 }, medium: { alarms: 0, hits: 0 }, low: { alarms: 1, hits: 4 }, note: { alarms: 0, hits: 0 } });
    expect(r.ids).toEqual(['c', 'b', 'a']);
    expect(r.strings.filter((s) => s === 'same')).toHaveLength(1);
  });

  it('shows the namespace and client of alarms from records (their evidence is the record) in the same columns', () => {
    const fromRecord = (id: string, evidence: Record<string, unknown>): AlarmRecord => ({ ...alarm(id), source: 'ingress', evidence });
    const r = buildReport([
      fromRecord('i', { message: 'x', kubernetes: { namespace: 'ingress-nginx', pod: 'p' }, ingress: { client_ip: '203.0.113.66' } }),
      fromRecord('e', { reason: 'BackOff', involved_object: { kind: 'Pod', namespace: 'shop' } }),
    ], { title: 't', inputs: [] });
    const cells = (i: number) => [r.strings[r.rows[i][3] as number], r.strings[r.rows[i][5] as number]];
    expect(r.ids).toEqual(['i', 'e']);
    expect([cells(0), cells(1)]).toEqual([['ingress-nginx', '203.0.113.66'], ['shop', '']]);
  });
});

describe('scriptJson', () => {
  it('leaves no character that could end or open markup in a script element, and reads back as the same value', () => {
    const value = { user: '</script><img src=x onerror=alert(1)>&<!--', line: 'a\u2028b\u2029c' };
    const text = scriptJson(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});
