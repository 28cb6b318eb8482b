// detection.baseline in the config: durations in whole days as the config's other durations are written, bounds,
// and every mistake named by its field with the reason.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.ts';
import { DAY } from './units.ts';

const base = { sources: { audit: { kind: 'audit', path: '/var/log/a.audit' } } };
const withBaseline = (baseline: Record<string, unknown>) => parseConfig({ ...base, detection: { baseline } });
function problems(baseline: Record<string, unknown>): string[] {
  try {
    withBaseline(baseline);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('detection.baseline', () => {
  it('defaults to a 7-day learning period, a 30-day decay and expected hits on', () => {
    expect(parseConfig(base).detection.baseline).toEqual({ learning_period: 7 * DAY, decay: 30 * DAY, max_identities: 10_000, max_tuples: 65_536, expected: true });
  });

  it('takes days or hours, and the bounds', () => {
    expect(withBaseline({ learning_period: '14d', decay: '720h', max_identities: 500, max_tuples: 100_000, expected: false }).detection.baseline)
      .toEqual({ learning_period: 14 * DAY, decay: 30 * DAY, max_identities: 500, max_tuples: 100_000, expected: false });
  });

  it('names each wrong field with the reason', () => {
    expect(problems({ learning_period: '36h', decay: 'forever', max_identities: 10, max_tuples: 1.5, expected: 'yes' }).sort()).toEqual([
      'detection.baseline.decay: expected a duration such as 500ms, 5s or 1m, found "forever"',
      'detection.baseline.expected: expected boolean, found string "yes"',
      'detection.baseline.learning_period: expected whole days from 1d to 365d such as 7d, found 36h',
      'detection.baseline.max_identities: expected a whole number from 64 to 1000000, found 10',
      'detection.baseline.max_tuples: expected a whole number from 64 to 10000000, found 1.5',
    ]);
    expect(problems({ learning_period: '14d', decay: '7d' })).toEqual(['detection.baseline.decay: expected at least learning_period (14d), found 7d']);
    expect(problems({ learning_period: '400d', decay: '3650d' })).toEqual(['detection.baseline.learning_period: expected whole days from 1d to 365d such as 7d, found 400d']);
    expect(problems({ learning: '7d' })[0]).toMatch(/^detection\.baseline.*learning/);
  });
});
