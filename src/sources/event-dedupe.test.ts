// What the k8s_events source has forwarded: identities, the resourceVersion mark, and their state file.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuarantinedState } from '../delivery/quarantine.ts';
import type { ApiEvent } from '../parse/k8s-event.ts';
import { atOrBelow, EventDedupe } from './event-dedupe.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kaudit-dedupe-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const event = (uid: string, rv: string, count = 1): ApiEvent => ({ metadata: { uid, resourceVersion: rv }, count });

describe('event dedupe', () => {
  it('takes an event once per uid and count: pending until durable, then seen; a new count is new', () => {
    const d = new EventDedupe(100);
    expect(d.take(event('a', '10'))).toBe('new');
    expect(d.take(event('a', '10'))).toBe('pending');
    d.durable(['a/1'], undefined);
    expect(d.take(event('a', '10'))).toBe('seen');
    expect(d.take(event('a', '12', 2))).toBe('new');
    d.dropped(['a/2']);
    expect(d.take(event('a', '12', 2))).toBe('new');
  });

  it('treats every event at or below the mark as seen, and keeps the later of two marks', () => {
    const d = new EventDedupe(100);
    d.durable([], '500');
    expect(d.take(event('b', '499'))).toBe('seen');
    expect(d.take(event('c', '501'))).toBe('new');
    d.adopt('400');
    expect(d.mark).toBe('500');
    d.adopt('1000000000000000000001');
    expect(d.mark).toBe('1000000000000000000001');
    expect(atOrBelow('9', '10')).toBe(true);
    expect(atOrBelow('11', '10')).toBe(false);
    // Opaque (non-integer) resourceVersions are never compared.
    expect(atOrBelow('a9', '10')).toBe(false);
  });

  it('saves and loads its state; a damaged state file is set aside and reported', async () => {
    const file = path.join(dir, 'k8s-events', 'events.json');
    const d = new EventDedupe(100);
    d.durable(['x/1', 'y/3'], '777');
    await d.save(file);
    const again = new EventDedupe(100);
    await again.load(file, () => {});
    expect(again.mark).toBe('777');
    expect(again.take(event('y', '999', 3))).toBe('seen');
    await writeFile(file, '{"resourceVersion":"7');
    const reported: QuarantinedState[] = [];
    const fresh = new EventDedupe(100);
    await fresh.load(file, (q) => reported.push(q));
    expect(fresh.mark).toBeUndefined();
    expect(reported).toMatchObject([{ kind: 'checkpoint', path: file, reason: 'not valid JSON (empty or cut short?)' }]);
    expect((await readdir(path.dirname(file))).some((f) => f.startsWith('events.json.damaged-'))).toBe(true);
    expect(await readFile(reported[0]!.movedTo!, 'utf8')).toBe('{"resourceVersion":"7'); // kept for a post-mortem
  });
});
