// The agent's report view: bounded to the most recently updated alarms, kept across restarts, counts summed over workers.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmView } from './agent-view.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function payload(id: string, count: number, event: unknown = { auditID: id }): string {
  return JSON.stringify({
    kind: 'kaudit.Alarm', alarmID: id, rule: { id: 'KA-X-001', name: 'x', type: 'system', category: 'c', level: 'high' }, cluster: { name: 'prod', id: '' },
    firstSeen: '2026-11-22T10:00:00Z', lastSeen: '2026-11-22T10:00:00Z', count, summary: id, evidence: { user: 'u' }, event,
  });
}

/** The report data embedded in a rendered page. */
function dataOf(html: string): { ids: string[]; rows: number[][] } {
  return JSON.parse(/<script id="kaudit-data" type="application\/json">(.*?)<\/script>/s.exec(html)![1]) as { ids: string[]; rows: number[][] };
}

describe('AlarmView', () => {
  it('keeps the most recently updated alarms, across a save and a load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-view-'));
    dirs.push(dir);
    const view = new AlarmView(dir, 2);
    view.record([{ id: 'a', payload: payload('a', 1) }, { id: 'b', payload: payload('b', 1) }]);
    view.record([{ id: 'a', payload: payload('a', 2) }, { id: 'c', payload: payload('c', 1) }]);
    await view.save();
    const again = new AlarmView(dir, 2);
    expect(await again.load()).toBe(2);
    const data = dataOf(await again.render());
    expect(data.ids.sort()).toEqual(['a', 'c']);
    expect(data.rows[data.ids.indexOf('a')][10]).toBe(2);
  });

  it('takes the hits from the workers\' persisted aggregation state, summed, when they counted further', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-view-'));
    dirs.push(dir);
    await mkdir(join(dir, 'detection'));
    await writeFile(join(dir, 'detection', 'alarms-0.json'), JSON.stringify({ version: 1, alarms: [['a', '2026-11-22T09:00:00Z', '2026-11-22T11:00:00Z', 5]] }));
    await writeFile(join(dir, 'detection', 'alarms-1.json'), JSON.stringify({ version: 1, alarms: [['a', '2026-11-22T10:00:00Z', '2026-11-22T12:00:00Z', 3]] }));
    const view = new AlarmView(dir);
    view.record([{ id: 'a', payload: payload('a', 2) }]);
    const data = dataOf(await view.render());
    expect(data.rows[0].slice(8)).toEqual([Date.parse('2026-11-22T09:00:00Z'), Date.parse('2026-11-22T12:00:00Z'), 8]);
  });
});
