// The audit log's precedence over container logs and host files: followers take turns while a leader is behind.
import { describe, expect, it } from 'vitest';
import { SourcePrecedence } from './precedence.ts';

const settled = async (p: Promise<void> | undefined): Promise<boolean> => {
  if (p === undefined) return true;
  let done = false;
  void p.then(() => { done = true; });
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('source precedence', () => {
  it('lets followers read at once while no leader is behind', () => {
    const p = new SourcePrecedence();
    const leader = {};
    expect(p.follow(60_000)).toBeUndefined();
    p.lead(leader, false);
    expect(p.follow(60_000)).toBeUndefined();
  });

  it('makes followers take turns while a leader is behind, and releases every waiting one when it catches up', async () => {
    const p = new SourcePrecedence();
    const leader = {};
    p.lead(leader, true);
    expect(p.leaderBehind).toBe(true);
    // The first follower's turn is now; the next ones wait theirs (an hour apart here: only the catch-up frees them).
    const first = p.follow(3_600_000);
    const second = p.follow(3_600_000);
    const third = p.follow(3_600_000);
    expect(await settled(first)).toBe(true);
    expect(await settled(second)).toBe(false);
    expect(await settled(third)).toBe(false);
    p.lead(leader, true); // still behind: nobody freed
    expect(await settled(second)).toBe(false);
    p.lead(leader, false);
    expect(await settled(second)).toBe(true);
    expect(await settled(third)).toBe(true);
    // Caught up: no turns left over from the busy time.
    expect(p.follow(3_600_000)).toBeUndefined();
  });

  it('waits for every leader: one caught up while another is behind frees nobody', async () => {
    const p = new SourcePrecedence();
    const a = {};
    const b = {};
    p.lead(a, true);
    p.lead(b, true);
    void p.follow(3_600_000);
    const waiting = p.follow(3_600_000);
    p.lead(a, false);
    expect(await settled(waiting)).toBe(false);
    p.lead(b, false);
    expect(await settled(waiting)).toBe(true);
  });

  it('gives a follower its turn after the interval even when the leader never catches up', async () => {
    const p = new SourcePrecedence();
    p.lead({}, true);
    void p.follow(20);
    const next = p.follow(20);
    expect(await settled(next)).toBe(false);
    await next;
    expect(p.leaderBehind).toBe(true);
  });
});
