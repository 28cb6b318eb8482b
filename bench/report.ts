// Cost of the HTML alarm report: generation time and file size over the bundled example, a generated audit log
// (200,000 events by default) and a million rule hits; and how long the largest page takes to open and to filter
// in headless Chromium (/usr/bin/chromium).
// Usage: npm run bench:report -- [--events N] [--hits N] [--alarms N] [--rounds R]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { AlarmSet, readAlarmFile, type AlarmRecord } from '../src/report/alarm-records.ts';
import { writeReport } from '../src/report/write.ts';
import { auditLine, writeAuditFile } from './gen-audit.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    hits: { type: 'string', default: '1000000' },
    alarms: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '5' },
  },
});
const rounds = Number(values.rounds);
const here = new URL('.', import.meta.url).pathname;
const out = join(here, 'out');
const data = join(here, 'data');
mkdirSync(out, { recursive: true });
mkdirSync(data, { recursive: true });

/** The alarm records `kaudit scan --output json` prints for `files`, written as NDJSON (what a file sink holds). */
function alarmsOf(name: string, files: string[]): string {
  const r = spawnSync(process.execPath, [join(here, '../bin/kaudit.js'), 'scan', '--output', 'json', ...files], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const file = join(out, `${name}.alarms.ndjson`);
  writeFileSync(file, r.stdout.split('\n').filter((l) => l.startsWith('{"kind":"kaudit.Alarm"')).map((l) => `${l}\n`).join(''));
  return file;
}

/** Median over the rounds of reading the records and writing the report: what `kaudit report` does. */
async function measure(name: string, input: string): Promise<{ name: string; alarms: number; hits: number; ms: number; bytes: number; file: string }> {
  const file = join(out, `${name}.html`);
  const times: number[] = [];
  let alarms: AlarmRecord[] = [];
  let bytes = 0;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    const set = new AlarmSet();
    await readAlarmFile(input, set);
    alarms = set.values();
    bytes = await writeReport(file, alarms, [input]);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { name, alarms: alarms.length, hits: alarms.reduce((s, a) => s + a.count, 0), ms: Math.round(times[times.length >> 1]), bytes, file };
}

/** `alarms` alarm records over seven days holding `hits` hits, each with a generated audit event as its evidence. */
function millionHits(hits: number, alarms: number): string {
  const file = join(out, 'hits.alarms.ndjson');
  const levels = ['high', 'medium', 'low', 'note'];
  const lines: string[] = [];
  for (let i = 0; i < alarms; i++) {
    const event = JSON.parse(auditLine(i)) as { user: { username: string }; sourceIPs: string[]; objectRef?: { namespace?: string; name?: string; resource?: string } };
    const day = new Date(Date.UTC(2026, 10, 16 + (i % 7))).toISOString().slice(0, 10);
    const rule = i % 40;
    lines.push(JSON.stringify({
      kind: 'kaudit.Alarm', alarmID: `alarm-${String(i).padStart(8, '0')}`,
      rule: { id: `KA-BENCH-${String(rule).padStart(3, '0')}`, name: `Bench rule ${rule}`, type: 'system', category: `category-${rule % 9}`, level: levels[rule % 4] },
      cluster: { name: 'bench', id: '' }, firstSeen: `${day}T01:00:00.000000Z`, lastSeen: `${day}T23:00:00.000000Z`,
      count: Math.floor(hits / alarms) + (i < hits % alarms ? 1 : 0),
      summary: `${event.user.username} on ${event.objectRef?.resource ?? 'nothing'} ${event.objectRef?.namespace ?? ''}/${event.objectRef?.name ?? ''}`,
      evidence: { user: event.user.username, sourceIP: event.sourceIPs.at(-1), namespace: event.objectRef?.namespace ?? '', resource: event.objectRef?.resource ?? '', name: event.objectRef?.name ?? '' },
      risk: 'bench', solution: 'bench', event,
    }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Time to open the page until its list is drawn, and to filter the list by text. */
async function inChromium(file: string): Promise<{ openMs: number; filterMs: number; sortMs: number }> {
  const profile = join(out, 'chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    let t = performance.now();
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    const openMs = performance.now() - t;
    t = performance.now();
    await page.fill('#f-text', 'kube-system');
    await page.waitForFunction(() => !(globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('page-info').textContent.endsWith(' of 10000'));
    const filterMs = performance.now() - t;
    t = performance.now();
    await page.click('#events th[data-key="count"]');
    await page.waitForSelector('#events th[data-key="count"][aria-sort="descending"]');
    const sortMs = performance.now() - t;
    return { openMs: Math.round(openMs), filterMs: Math.round(filterMs), sortMs: Math.round(sortMs) };
  } finally {
    await context.close();
  }
}

const generated = join(data, `report-${values.events}.audit`);
if (!existsSync(generated)) writeAuditFile(generated, Number(values.events));
const example = join(here, '../examples/audit');
const results = [
  await measure('example', alarmsOf('example', readdirSync(example).map((f) => join(example, f)))),
  await measure(`generated-${values.events}`, alarmsOf(`generated-${values.events}`, [generated])),
  await measure('hits', millionHits(Number(values.hits), Number(values.alarms))),
];
for (const r of results) {
  console.log(`${r.name}: ${r.alarms} alarms, ${r.hits} hits: report in ${r.ms} ms (median of ${rounds}), ${(r.bytes / 1e6).toFixed(2)} MB (${statSync(r.file).size} bytes)`);
}
const browser = await inChromium(results[2].file);
console.log(`hits page in chromium: open ${browser.openMs} ms, text filter ${browser.filterMs} ms, sort by hits ${browser.sortMs} ms`);
