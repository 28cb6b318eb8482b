// Tests of reading a record's time from its payload: the audit event's own stageTimestamp, an alarm's fields, RFC 3339 forms.
import { describe, expect, it } from 'vitest';
import { alarmRecord, auditRecord } from '../../test/utils/records.ts';
import { parseTime, recordTime } from './record-time.ts';

describe('record time', () => {
  it('reads RFC 3339 times to the nanosecond, with Z or an offset, and refuses other text', () => {
    expect(parseTime('2026-11-22T12:04:13.095123Z')).toEqual({ ms: Date.UTC(2026, 10, 22, 12, 4, 13, 95), ns: '1795349053095123000', text: '2026-11-22T12:04:13.095123Z' });
    expect(parseTime('2026-11-22T13:04:13+01:00')?.ns).toBe('1795349053000000000');
    expect(parseTime('2026-11-22T12:04:13.5Z')?.ns).toBe('1795349053500000000');
    expect(parseTime('2026-11-22 12:04:13Z')).toBeUndefined();
    expect(parseTime('yesterday')).toBeUndefined();
  });

  it('takes an audit event\'s own stageTimestamp, not a field of the same name inside its bodies', () => {
    const r = auditRecord(1, '2026-11-22T12:04:13.000001Z', { requestObject: { status: { stageTimestamp: '2020-01-01T00:00:00Z' } } });
    expect(recordTime(r, 'lastSeen')?.text).toBe('2026-11-22T12:04:13.000001Z');
  });

  it('takes an alarm\'s firstSeen or lastSeen, not the time of the event it quotes', () => {
    const r = alarmRecord('x', { firstSeen: '2026-11-21T10:00:00Z', lastSeen: '2026-11-22T10:00:00Z' });
    expect(recordTime(r, 'firstSeen')?.text).toBe('2026-11-21T10:00:00Z');
    expect(recordTime(r, 'lastSeen')?.text).toBe('2026-11-22T10:00:00Z');
  });

  it('falls back to the time fields other logs use, and has none for a record without one', () => {
    const log = (doc: object) => ({ id: 'f@0', kind: 'log' as const, source: 'c', payload: Buffer.from(JSON.stringify(doc)) });
    expect(recordTime(log({ time: '2026-11-22T12:00:00.123456789Z', log: 'x' }), 'lastSeen')?.ns).toBe('1795348800123456789');
    expect(recordTime(log({ msg: 'x' }), 'lastSeen')).toBeUndefined();
  });
});
