import { describe, expect, it } from 'vitest';
import { Health } from './health.ts';

describe('Health', () => {
  it('is not ready while starting, ready once started with no problems, and names each problem with its component', () => {
    const h = new Health();
    let sourceProblems: string[] = [];
    h.register('sources.audit', () => sourceProblems);
    h.register('sinks.siem', () => []);
    expect(h.ready()).toBe(false);
    expect(h.problems()).toEqual(['agent: starting']);
    h.markStarted();
    expect(h.ready()).toBe(true);
    sourceProblems = ['cannot read /var/log/kubernetes/kubernetes.audit: EACCES'];
    expect(h.ready()).toBe(false);
    expect(h.problems()).toEqual(['sources.audit: cannot read /var/log/kubernetes/kubernetes.audit: EACCES']);
    sourceProblems = [];
    expect(h.ready()).toBe(true);
    h.markStopping();
    expect(h.problems()).toEqual(['agent: stopping']);
  });
});
