// The HTML alarm report (`kaudit scan --html`, `kaudit report`) rendered in the real headless Chromium: status, trend
// and list match the alarm records; filters, sorting and the details view work; the allowlist entry it offers
// suppresses the alarm in a following scan; hostile field values stay text; the page logs no console errors.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeAgentConfig } from '../utils/agent.ts';
import { type Alarm, HOSTILE, latestAlarms, REPORT_EVENTS as EVENTS } from '../utils/alarm-events.ts';
import { launchChromium } from '../utils/browser.ts';
import { FakeNode } from '../utils/kubelet.ts';

/** Screenshots of the main views, for people to look at (git-ignored). */
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));


let dir: string;
let audit: string;
let browser: Awaited<ReturnType<typeof launchChromium>>;
/** Console errors and uncaught exceptions of every page opened, checked at the end. */
const pageErrors: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-report-'));
  audit = join(dir, 'kubernetes.audit');
  await writeFile(audit, `${EVENTS.join('\n')}\n`);
  await mkdir(SHOTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `kaudit scan --output json [--html]`: the alarm records it printed. */
async function scan(args: string[]): Promise<{ code: number | null; alarms: Alarm[]; stderr: string }> {
  const r = await runCli(['scan', '--output', 'json', ...args]);
  const alarms = r.stdout.split('\n').filter((l) => l.startsWith('{"kind":"kaudit.Alarm"')).map((l) => JSON.parse(l) as Alarm);
  return { code: r.code, alarms, stderr: r.stderr };
}

async function open(file: string): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`${file}: ${m.text()}`);
  });
  page.on('pageerror', (e) => pageErrors.push(`${file}: ${e.message}`));
  page.on('dialog', (d) => {
    pageErrors.push(`${file}: dialog ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Every row of the list as shown (all pages), as [rule, user, count]. */
async function listedRows(page: Page): Promise<string[][]> {
  const out: string[][] = [];
  for (;;) {
    out.push(...await page.$$eval('#rows tr', (trs) => trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '');
      return [tr.querySelector('.rule-id')?.textContent ?? '', td[5], td[9]];
    })));
    if (await page.isDisabled('#next')) return out;
    await page.click('#next');
  }
}

const LEVELS = ['high', 'medium', 'low', 'note'];

/** What the trend must show, derived from the records: hits per UTC day of the last seven days of the data. */
function expectedTrend(alarms: Alarm[]): { days: string[]; byLevel: Record<string, number[]> } {
  const last = alarms.map((a) => a.firstSeen.slice(0, 10)).sort().at(-1)!;
  const first = alarms.map((a) => a.firstSeen.slice(0, 10)).sort()[0];
  const days: string[] = [];
  for (let t = Date.parse(`${last}T00:00:00Z`); days.length < 7; t -= 86_400_000) {
    const d = new Date(t).toISOString().slice(0, 10);
    if (d < first) break;
    days.unshift(d);
  }
  const byLevel = Object.fromEntries(LEVELS.map((l) => [l, days.map((d) => alarms.filter((a) => a.rule.level === l && a.firstSeen.startsWith(d)).reduce((s, a) => s + a.count, 0))]));
  return { days, byLevel };
}

describe('kaudit scan --html', () => {
  it('shows status, trend and list that match the alarm records; filters, sorting and the details view work', async () => {
    const report = join(dir, 'scan.html');
    const { code, alarms } = await scan(['--html', report, audit]);
    expect(code).toBe(3);
    // Five from the exec, port-forward and secret rules; four first-seen (KA-BASE-002): the events span eleven days,
    // past the baseline's seven-day learning period.
    expect(alarms.length).toBe(9);
    const page = await open(report);

    // Status: alarms and hits by level.
    for (const level of LEVELS) {
      const mine = alarms.filter((a) => a.rule.level === level);
      expect(await page.textContent(`#status [data-level="${level}"] .alarms`)).toBe(String(mine.length));
      expect(await page.textContent(`#status [data-level="${level}"] .hits`)).toBe(`${mine.reduce((s, a) => s + a.count, 0)} hits`);
    }
    expect(await page.textContent('#total-alarms')).toBe(String(alarms.length));

    // Trend: the chart's own data, by level and by rule.
    const want = expectedTrend(alarms);
    expect(want.days).toEqual(['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22']);
    const byLevel = await page.evaluate(() => {
      const c = (globalThis as unknown as { Chart: { getChart(id: string): { data: { labels: string[]; datasets: Array<{ label: string; data: number[] }> } } } }).Chart.getChart('trend-level');
      return { labels: c.data.labels, series: Object.fromEntries(c.data.datasets.map((d) => [d.label, d.data])) };
    });
    expect(byLevel.labels).toEqual(want.days);
    expect(byLevel.series).toEqual(want.byLevel);
    const byRule = await page.evaluate(() => {
      const c = (globalThis as unknown as { Chart: { getChart(id: string): { data: { datasets: Array<{ label: string; data: number[] }> } } } }).Chart.getChart('trend-rule');
      return Object.fromEntries(c.data.datasets.map((d) => [d.label, d.data]));
    });
    for (const [rule, counts] of Object.entries(byRule)) {
      expect(counts).toEqual(want.days.map((d) => alarms.filter((a) => a.rule.id === rule && a.firstSeen.startsWith(d)).reduce((s, a) => s + a.count, 0)));
    }
    expect(Object.keys(byRule).sort()).toEqual([...new Set(alarms.filter((a) => a.firstSeen >= '2026-11-16').map((a) => a.rule.id))].sort());

    // The list: one row per alarm, with its rule, user and count.
    expect(await page.textContent('#match-count')).toBe(String(alarms.length));
    const rows = await listedRows(page);
    expect(rows.map((r) => r.join('|')).sort()).toEqual(alarms.map((a) => [a.rule.id, a.evidence.user, String(a.count)].join('|')).sort());
    await page.screenshot({ path: join(SHOTS, 'report-main.png'), fullPage: true });

    // Filters, each against what the records say.
    const shownCount = async () => Number(await page.textContent('#match-count'));
    await page.selectOption('#f-level', 'high');
    expect(await shownCount()).toBe(alarms.filter((a) => a.rule.level === 'high').length);
    expect(await page.$$eval('#rows .level', (els) => els.map((e) => e.textContent))).toEqual(alarms.filter((a) => a.rule.level === 'high').map(() => 'high'));
    await page.selectOption('#f-namespace', 'payments');
    expect(await shownCount()).toBe(alarms.filter((a) => a.rule.level === 'high' && a.evidence.namespace === 'payments').length);
    await page.click('#clear-filters');
    expect(await shownCount()).toBe(alarms.length);
    await page.selectOption('#f-rule', 'KA-EXEC-002');
    expect(await shownCount()).toBe(1);
    await page.click('#clear-filters');
    await page.selectOption('#f-category', 'credential-access');
    expect(await shownCount()).toBe(alarms.filter((a) => a.rule.category === 'credential-access').length);
    await page.click('#clear-filters');
    await page.fill('#f-user', 'DANA');
    expect(await shownCount()).toBe(alarms.filter((a) => String(a.evidence.user).toLowerCase().includes('dana')).length);
    await page.click('#clear-filters');
    await page.fill('#f-ip', '203.0.113.');
    expect(await shownCount()).toBe(alarms.filter((a) => String(a.evidence.sourceIP).startsWith('203.0.113.')).length);
    await page.click('#clear-filters');
    await page.fill('#f-from', '2026-11-21T00:00:00');
    await page.fill('#f-to', '2026-11-21T23:59:59');
    expect(await shownCount()).toBe(alarms.filter((a) => a.lastSeen >= '2026-11-21' && a.firstSeen < '2026-11-22').length);
    await page.click('#clear-filters');
    await page.fill('#f-text', 'registry-pull');
    expect(await shownCount()).toBe(alarms.filter((a) => a.summary.includes('registry-pull')).length);
    await page.click('#clear-filters');

    // Sorting by hits, most first.
    await page.click('#events th[data-key="count"]');
    const counts = await page.$$eval('#rows tr', (trs) => trs.map((tr) => Number(tr.querySelectorAll('td')[9].textContent)));
    expect(counts).toEqual(alarms.map((a) => a.count).sort((a, b) => b - a));

    // Details of the alarm with the most hits: every part from its record.
    const top = alarms.reduce((a, b) => (b.count > a.count ? b : a));
    await page.click(`#rows a[href="#alarm=${top.alarmID}"]`);
    await page.waitForSelector(`#details[data-alarm="${top.alarmID}"]:not([hidden])`);
    expect(await page.textContent('#d-title')).toBe(`${top.rule.id} ${top.rule.name}`);
    expect(await page.textContent('#d-summary')).toBe(top.summary);
    expect(await page.textContent('#d-risk')).toBe(top.risk);
    expect(await page.textContent('#d-solution')).toBe(top.solution);
    expect(JSON.parse(await page.textContent('#d-event') ?? '')).toEqual(top.event);
    expect(JSON.parse(await page.textContent('#d-evidence') ?? '')).toEqual(top.evidence);
    const request = await page.$$eval('#d-request dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent])));
    expect(request).toMatchObject({ verb: top.event.verb, requestURI: top.event.requestURI, user: top.evidence.user, 'response code': String(top.evidence.code) });
    const facts = await page.$$eval('#d-facts dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent])));
    expect(facts).toMatchObject({ alarm: top.alarmID, hits: String(top.count), category: top.rule.category });
    await page.screenshot({ path: join(SHOTS, 'report-details.png'), fullPage: true });
    await page.close();
  });

  it('offers an allowlist entry that, pasted into a rules file, suppresses the alarm in the next scan (hostile values included)', async () => {
    const report = join(dir, 'allow.html');
    const before = await scan(['--html', report, audit]);
    const page = await open(report);
    const hostile = before.alarms.find((a) => a.evidence.user === HOSTILE)!;
    const portForward = before.alarms.find((a) => a.rule.id === 'KA-EXEC-002')!;
    const files: string[] = [];
    for (const alarm of [hostile, portForward]) {
      await page.click(`#rows a[href="#alarm=${alarm.alarmID}"]`);
      await page.waitForSelector(`#details[data-alarm="${alarm.alarmID}"]:not([hidden])`);
      await page.click('#copy-allowlist');
      // Copied to the clipboard, or (where the page may not reach it) selected for Ctrl-C: either way, said.
      await page.waitForSelector('#copy-state:not(:empty)');
      const file = join(dir, `allow-${alarm.rule.id}-${files.length}.yaml`);
      await writeFile(file, await page.textContent('#d-allowlist') ?? '');
      files.push(file);
    }
    await page.close();
    const config = await writeAgentConfig(dir, { detection: { rules: files } }, 'allow.yaml');
    const after = await scan(['--config', config, audit]);
    const ids = after.alarms.map((a) => a.alarmID);
    expect(ids).not.toContain(hostile.alarmID);
    expect(ids).not.toContain(portForward.alarmID);
    expect(ids.sort()).toEqual(before.alarms.map((a) => a.alarmID).filter((id) => id !== hostile.alarmID && id !== portForward.alarmID).sort());
  });

  it('shows hostile field values as text: nothing in them runs', async () => {
    const report = join(dir, 'hostile.html');
    const { alarms } = await scan(['--html', report, audit]);
    const hostile = alarms.find((a) => a.evidence.user === HOSTILE)!;
    const page = await open(report);
    await page.fill('#f-ip', '203.0.113.9');
    const fromThere = alarms.filter((a) => a.evidence.sourceIP === '203.0.113.9');
    expect(fromThere.length).toBeGreaterThan(0);
    expect(await page.$$eval('#rows tr td:nth-child(6)', (tds) => tds.map((td) => td.textContent))).toEqual(fromThere.map(() => HOSTILE));
    await page.click(`#rows a[href="#alarm=${hostile.alarmID}"]`);
    await page.waitForSelector(`#details[data-alarm="${hostile.alarmID}"]:not([hidden])`);
    expect(await page.textContent('#d-summary')).toBe(hostile.summary);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // No element came from the values: the page's only images and scripts are its own.
    expect(await page.$$eval('img', (imgs) => imgs.length)).toBe(0);
    expect(await page.$$eval('script', (s) => s.length)).toBe(4);
    await page.close();
  });
});

describe('kaudit report', () => {
  it('reads the alarm records of a file sink among the raw events and shows the same alarms', async () => {
    const out = join(dir, 'sink', 'audit.ndjson');
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: null,
      sources: { audit: { kind: 'audit', path: audit } },
      sinks: { archive: { kind: 'file', path: out, inputs: ['audit', 'alarms'] } },
    }, 'agent.yaml');
    expect((await runCli(['run', '--config', config, '--once'])).code).toBe(0);
    const text = await readFile(out, 'utf8');
    const alarms = latestAlarms(text);
    expect(alarms.length).toBe(9); // as scan finds them (see above)
    expect(text.trim().split('\n').length).toBeGreaterThan(alarms.length); // raw events too

    // The sink's file as it is, and the same rotated and gzipped: its records are the same alarms, counted once.
    await writeFile(`${out}.1.gz`, gzipSync(text));
    const report = join(dir, 'sink.html');
    const r = await runCli(['report', '--output', report, out, `${out}.1.gz`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`report: ${report}: ${alarms.length} alarms`);
    const page = await open(report);
    for (const level of LEVELS) {
      expect(await page.textContent(`#status [data-level="${level}"] .alarms`)).toBe(String(alarms.filter((a) => a.rule.level === level).length));
    }
    const rows = await listedRows(page);
    expect(rows.map((x) => x.join('|')).sort()).toEqual(alarms.map((a) => [a.rule.id, a.evidence.user, String(a.count)].join('|')).sort());
    await page.close();
  });

  it('names an input it cannot read and exits 1', async () => {
    const r = await runCli(['report', '--output', join(dir, 'none.html'), join(dir, 'missing.ndjson')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${join(dir, 'missing.ndjson')}: 0 lines, 0 alarm records, 0 unreadable alarm records, ERROR: no such file or directory`);
  });
});

describe('allowlist entries for alarms on records', () => {
  it('offers entries in the record\'s own fields (container line, ingress access line) that suppress those alarms in the next run', async () => {
    const base = join(dir, 'records');
    const node = await new FakeNode(base).init();
    await writeFile(join(base, 'site.yaml'), `rules:
  - id: SITE-LEDGER-AUTH
    name: Ledger refused a signature
    category: credential-access
    level: medium
    source: containers
    match: { field: message, regex: 'signature verification failed' }
    aggregate_by: [kubernetes.pod]
    output: "{kubernetes.namespace}/{kubernetes.pod}: {message}"
`);
    const [ledger] = await node.pod('payments', 'ledger-0', ['ledger']);
    const [web] = await node.pod('shop', 'web-7d4b9-x2x9k', ['app']);
    const [controller] = await node.pod('ingress-nginx', 'ingress-nginx-controller-5c8d66c76d-4gq7s', ['controller']);
    await ledger.print(['signature verification failed for key 0a1b2c3d']);
    await web.print(['connecting to postgres://app:hunter2secret@db.shop.svc:5432/shop']); // a credential: shown redacted
    await controller.print([
      '203.0.113.66 - - [07/Dec/2026:10:41:17 +0000] "GET /.git/config HTTP/1.1" 404 150 "-" "Mozilla/5.0 (compatible; Nuclei)" 300 0.002 [shop-web-80] [] 10.244.1.17:8080 150 0.002 404 4f3e2d1c',
    ]);
    const run = async (name: string, rules: string[]): Promise<Alarm[]> => {
      const out = join(base, `${name}.ndjson`);
      const config = await writeAgentConfig(base, {
        state_dir: join(base, `state-${name}`),
        http: null,
        detection: { rules, update_interval: 0 },
        sources: { pods: { kind: 'containers', path: node.links, pods_path: node.pods, ingress: { namespaces: ['ingress-nginx'], containers: ['controller'] } } },
        sinks: { archive: { kind: 'file', path: out, inputs: ['alarms'] } },
      }, `${name}.yaml`);
      expect((await runCli(['run', '--config', config, '--once'])).code).toBe(0);
      return latestAlarms(await readFile(out, 'utf8'));
    };
    const before = await run('before', ['site.yaml']);
    const allowed = ['SITE-LEDGER-AUTH', 'KA-CLOG-001', 'KA-INGRESS-001'];
    expect(before.map((a) => a.rule.id)).toEqual(expect.arrayContaining(allowed));
    const report = join(base, 'records.html');
    expect((await runCli(['report', '--output', report, join(base, 'before.ndjson')])).code).toBe(0);
    const page = await open(report);
    const files: string[] = [];
    for (const id of allowed) {
      const alarm = before.find((a) => a.rule.id === id)!;
      await page.click(`#rows a[href="#alarm=${alarm.alarmID}"]`);
      await page.waitForSelector(`#details[data-alarm="${alarm.alarmID}"]:not([hidden])`);
      const entry = await page.textContent('#d-allowlist') ?? '';
      expect(entry).toContain('- { field: kubernetes.container, equals: ');
      expect(entry).not.toMatch(/user\.username|objectRef|sourceIP|userAgent/);
      files.push(join(base, `allow-${id}.yaml`));
      await writeFile(files.at(-1)!, entry);
    }
    await page.close();
    const after = await run('after', ['site.yaml', ...files]);
    expect(after.map((a) => a.rule.id).sort()).toEqual(before.map((a) => a.rule.id).filter((id) => !allowed.includes(id)).sort());
  });
});

describe('report pages', () => {
  it('logged no console errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
