// Renders report data as one self-contained HTML page: styles, Chart.js, the page script and the data inline.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReportData } from './model.ts';

/** Chart.js's UMD build (no module loader, no network), read from the installed package. */
const CHART_JS = join(dirname(fileURLToPath(import.meta.resolve('chart.js'))), 'chart.umd.min.js');

let assets: { chart: string; client: string; css: string } | undefined;

function loadAssets(): { chart: string; client: string; css: string } {
  if (assets !== undefined) return assets;
  const here = dirname(fileURLToPath(import.meta.url));
  const chart = readFileSync(CHART_JS, 'utf8');
  const client = readFileSync(join(here, 'browser', 'client.js'), 'utf8');
  const css = readFileSync(join(here, 'browser', 'report.css'), 'utf8');
  // An inline script ends at the first `</script`: a library that held one would break the page.
  for (const [name, text] of [['chart.js', chart], ['client.js', client]]) {
    if (/<\/script|<!--/i.test(text)) throw new Error(`report: ${name} cannot be inlined (it contains </script or <!--)`);
  }
  return (assets = { chart, client, css });
}

/**
 * JSON that is safe inside a <script type="application/json">: `<`, `>` and `&` as \u escapes, so that no value
 * (a user name holding `</script><img onerror=…>`) can end the element; U+2028/2029 escaped too.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page. Its Content-Security-Policy allows only its own two scripts (by hash) and no network at all: even a
 * value that slipped past the escaping could neither run nor send anything anywhere.
 */
export function renderReport(data: ReportData): string {
  const { chart, client, css } = loadAssets();
  // The details are most of the data and are read one alarm at a time: gzipped (a fifth of the size, so the page
  // loads faster) and base64 (no character of it can end the element).
  const { details, ...list } = data;
  const csp = `default-src 'none'; script-src ${sha256(chart)} ${sha256(client)}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  const level = (l: string) => `<div class="card" data-level="${l}"><span class="label">${l}</span><span class="alarms">0</span><span class="hits"></span></div>`;
  const th = (key: string, label: string) => `<th data-key="${key}" aria-sort="${key === 'level' ? 'ascending' : 'none'}">${label}</th>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${css}</style>
</head>
<body>
<header><h1>${escapeHtml(data.title)}</h1><p>generated <span id="generated"></span> from <span id="inputs"></span></p></header>
<main>
<section id="status"><h2>Security status</h2><div class="cards">
<div class="card"><span class="label">alarms</span><span class="alarms" id="total-alarms">0</span><span class="hits">all levels</span></div>
${['high', 'medium', 'low', 'note'].map(level).join('\n')}
</div></section>
<section id="trend"><h2>Trend <span class="note" id="trend-span"></span></h2>
<p class="note">Rule hits per day: an alarm aggregates one UTC day's hits of a rule and key.</p>
<div class="charts"><div><h3 class="note">by level</h3><div class="chart"><canvas id="trend-level"></canvas></div></div>
<div><h3 class="note">by rule</h3><div class="chart"><canvas id="trend-rule"></canvas></div></div></div></section>
<section id="events"><h2>Alarms (<span id="match-count">0</span>)</h2>
<form id="filters" autocomplete="off">
<label>level<select id="f-level"><option value="">all</option><option>high</option><option>medium</option><option>low</option><option>note</option></select></label>
<label>category<select id="f-category"><option value="">all</option></select></label>
<label>rule<select id="f-rule"><option value="">all</option></select></label>
<label>cluster<select id="f-cluster"><option value="">all</option></select></label>
<label>namespace<select id="f-namespace"><option value="">all</option></select></label>
<label>user contains<input id="f-user" type="search"></label>
<label>source IP starts with<input id="f-ip" type="search"></label>
<label>from (UTC)<input id="f-from" type="datetime-local" step="1"></label>
<label>to (UTC)<input id="f-to" type="datetime-local" step="1"></label>
<label>text<input id="f-text" type="search" placeholder="summary, rule, user…"></label>
<button type="button" id="clear-filters">reset</button>
</form>
<div class="table-wrap"><table><thead><tr>${th('level', 'level')}${th('rule', 'rule')}${th('category', 'category')}${th('cluster', 'cluster')}${th('namespace', 'namespace')}${th('user', 'user')}${th('ip', 'source IP')}${th('first', 'first seen')}${th('last', 'last seen')}${th('count', 'hits')}<th>summary</th><th></th></tr></thead>
<tbody id="rows"></tbody></table></div>
<div class="pager"><button type="button" id="prev">previous</button><span id="page-info"></span><button type="button" id="next">next</button></div>
</section>
<section id="details" hidden><h2><span class="level" id="d-level"></span> <span id="d-title"></span> <button type="button" id="close-details">close</button></h2>
<p id="d-summary"></p>
<div class="columns"><div><dl id="d-facts"></dl><h3>Risk</h3><p id="d-risk"></p><h3>Recommended solution</h3><p id="d-solution"></p>
<h3>Allowlist entry <button type="button" id="copy-allowlist">copy as allowlist entry</button> <span class="note" id="copy-state"></span></h3>
<p class="note">Paste it into a rules file listed in detection.rules: the same requests no longer raise this alarm.</p><pre id="d-allowlist"></pre></div>
<div><h3>Request</h3><dl id="d-request"></dl><h3>Evidence</h3><pre id="d-evidence"></pre></div></div>
<h3>Event (JSON, as forwarded: redacted)</h3><pre id="d-event"></pre>
</section>
</main>
<script id="kaudit-data" type="application/json">${scriptJson(list)}</script>
<script id="kaudit-details" type="application/gzip+base64">${gzipSync(JSON.stringify(details)).toString('base64')}</script>
<script>${chart}</script>
<script>${client}</script>
</body>
</html>
`;
}
