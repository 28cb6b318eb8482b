// The report page's script: reads the embedded data and draws status, trend, the paged list and the details view.
// Everything taken from alarms reaches the page through textContent, Option or Chart.js labels, never as markup.
(function () {
  'use strict';
  var PAGE = 50;
  var LEVELS = ['high', 'medium', 'low', 'note'];
  var COLORS = { high: '#c62828', medium: '#ef6c00', low: '#f9a825', note: '#78909c' };
  var RULE_COLORS = ['#1565c0', '#2e7d32', '#6a1b9a', '#00838f', '#ad1457', '#4e342e', '#558b2f', '#283593', '#ff8f00', '#37474f', '#9e9e9e'];
  // Indexes into a row (see src/report/model.ts).
  var LEVEL = 0, RULE = 1, CATEGORY = 2, NAMESPACE = 3, USER = 4, IP = 5, SUMMARY = 6, CLUSTER = 7, FIRST = 8, LAST = 9, COUNT = 10;

  var data = JSON.parse(document.getElementById('kaudit-data').textContent);
  var S = data.strings;
  var rows = data.rows;
  var order = rows.map(function (_, i) { return i; });
  var shown = order;
  var page = 0;
  var sort = { key: 'level', desc: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function iso(ms) { return isFinite(ms) ? new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z') : ''; }
  function ruleName(i) { var r = data.rules[S[rows[i][RULE]]]; return r ? r.name : ''; }

  // Header and status counts.
  $('generated').textContent = data.generatedAt;
  $('inputs').textContent = data.inputs.join(', ');
  LEVELS.forEach(function (level) {
    var card = document.querySelector('#status [data-level="' + level + '"]');
    card.querySelector('.alarms').textContent = String(data.status[level].alarms);
    card.querySelector('.hits').textContent = data.status[level].hits + ' hits';
  });
  $('total-alarms').textContent = String(rows.length);

  // Trend: hits per day by level (stacked), and by rule.
  function barChart(canvas, series) {
    return new Chart(canvas, {
      type: 'bar',
      data: { labels: data.trend.days, datasets: series },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'right' } },
      },
    });
  }
  if (data.trend.days.length > 0) {
    $('trend-span').textContent = data.trend.days[0] + ' to ' + data.trend.days[data.trend.days.length - 1] + ' (UTC days)';
    barChart($('trend-level'), LEVELS.map(function (level) {
      return { label: level, data: data.trend.byLevel[level], backgroundColor: COLORS[level] };
    }));
    barChart($('trend-rule'), data.trend.byRule.map(function (r, i) {
      return { label: r.rule, data: r.counts, backgroundColor: RULE_COLORS[i % RULE_COLORS.length] };
    }));
  } else {
    $('trend-span').textContent = 'no alarms';
  }

  // Filters: the selects offer the values present in the data.
  function fillSelect(id, column) {
    var seen = {};
    rows.forEach(function (r) { seen[r[column]] = true; });
    var values = Object.keys(seen).map(function (k) { return S[k]; }).filter(function (v) { return v !== ''; }).sort();
    var select = $(id);
    values.forEach(function (v) { select.add(new Option(v, v)); });
  }
  fillSelect('f-category', CATEGORY);
  fillSelect('f-rule', RULE);
  fillSelect('f-namespace', NAMESPACE);
  fillSelect('f-cluster', CLUSTER);

  var haystacks = null;
  function haystack(i) {
    if (haystacks === null) haystacks = new Array(rows.length);
    var h = haystacks[i];
    if (h === undefined) {
      var r = rows[i];
      h = haystacks[i] = [S[r[RULE]], ruleName(i), S[r[CATEGORY]], S[r[NAMESPACE]], S[r[USER]], S[r[IP]], S[r[SUMMARY]], S[r[CLUSTER]]].join('\n').toLowerCase();
    }
    return h;
  }
  function utcInput(id) {
    var v = $(id).value;
    return v ? Date.parse(v + (v.length === 16 ? ':00Z' : 'Z')) : NaN;
  }

  function applyFilters() {
    var level = $('f-level').value, category = $('f-category').value, rule = $('f-rule').value;
    var namespace = $('f-namespace').value, cluster = $('f-cluster').value;
    var user = $('f-user').value.trim().toLowerCase(), ip = $('f-ip').value.trim();
    var text = $('f-text').value.trim().toLowerCase();
    var from = utcInput('f-from'), to = utcInput('f-to');
    shown = order.filter(function (i) {
      var r = rows[i];
      if (level && LEVELS[r[LEVEL]] !== level) return false;
      if (category && S[r[CATEGORY]] !== category) return false;
      if (rule && S[r[RULE]] !== rule) return false;
      if (namespace && S[r[NAMESPACE]] !== namespace) return false;
      if (cluster && S[r[CLUSTER]] !== cluster) return false;
      if (user && S[r[USER]].toLowerCase().indexOf(user) < 0) return false;
      if (ip && S[r[IP]].indexOf(ip) !== 0) return false;
      if (!isNaN(from) && r[LAST] < from) return false;
      if (!isNaN(to) && r[FIRST] > to) return false;
      if (text && haystack(i).indexOf(text) < 0) return false;
      return true;
    });
    page = 0;
    renderList();
  }

  var SORT_KEYS = {
    level: function (r) { return r[LEVEL]; }, rule: function (r) { return S[r[RULE]]; }, category: function (r) { return S[r[CATEGORY]]; },
    cluster: function (r) { return S[r[CLUSTER]]; }, namespace: function (r) { return S[r[NAMESPACE]]; }, user: function (r) { return S[r[USER]]; },
    ip: function (r) { return S[r[IP]]; }, first: function (r) { return r[FIRST]; }, last: function (r) { return r[LAST]; }, count: function (r) { return r[COUNT]; },
  };
  function sortBy(key) {
    sort = { key: key, desc: sort.key === key ? !sort.desc : key === 'count' || key === 'last' || key === 'first' };
    var f = SORT_KEYS[key];
    var dir = sort.desc ? -1 : 1;
    order.sort(function (a, b) {
      var x = f(rows[a]), y = f(rows[b]);
      return (x < y ? -dir : x > y ? dir : 0) || a - b;
    });
    document.querySelectorAll('#events th[data-key]').forEach(function (th) {
      th.setAttribute('aria-sort', th.dataset.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none');
    });
    applyFilters();
  }

  function renderList() {
    var body = $('rows');
    body.textContent = '';
    var start = page * PAGE;
    shown.slice(start, start + PAGE).forEach(function (i) {
      var r = rows[i];
      var tr = document.createElement('tr');
      tr.dataset.index = String(i);
      var level = el('td');
      level.appendChild(el('span', LEVELS[r[LEVEL]], 'level ' + LEVELS[r[LEVEL]]));
      tr.appendChild(level);
      var rule = el('td');
      rule.appendChild(el('span', S[r[RULE]], 'rule-id'));
      rule.appendChild(el('div', ruleName(i), 'rule-name'));
      tr.appendChild(rule);
      [S[r[CATEGORY]], S[r[CLUSTER]], S[r[NAMESPACE]], S[r[USER]], S[r[IP]], iso(r[FIRST]), iso(r[LAST]), r[COUNT], S[r[SUMMARY]]].forEach(function (v, k) {
        tr.appendChild(el('td', v, k === 8 ? 'summary' : k === 5 || k === 6 ? 'time' : k === 3 ? 'user' : undefined));
      });
      var open = el('td', null, 'open');
      var a = el('a', 'details');
      a.href = '#alarm=' + encodeURIComponent(data.ids[i]);
      open.appendChild(a);
      tr.appendChild(open);
      body.appendChild(tr);
    });
    var last = Math.min(shown.length, start + PAGE);
    $('match-count').textContent = String(shown.length);
    $('page-info').textContent = shown.length === 0 ? 'no alarms match' : (start + 1) + '-' + last + ' of ' + shown.length;
    $('prev').disabled = page === 0;
    $('next').disabled = last >= shown.length;
  }

  // Details of one alarm, opened by its link (#alarm=<id>), so that a view can be linked to.
  var indexById = {};
  data.ids.forEach(function (id, i) { indexById[id] = i; });

  // The details (evidence, event: most of the data) are embedded gzipped and unpacked at the first view of one.
  var details = null;
  function loadDetails() {
    if (details === null) {
      var text = atob($('kaudit-details').textContent);
      var bytes = new Uint8Array(text.length);
      for (var k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
      details = new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).json();
    }
    return details;
  }

  function field(list, name, value) {
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) return;
    list.appendChild(el('dt', name));
    list.appendChild(el('dd', typeof value === 'object' ? JSON.stringify(value) : value));
  }

  function requestFields(event) {
    var e = event && typeof event === 'object' ? event : {};
    var ref = e.objectRef || {};
    var ann = e.annotations || {};
    return [
      ['auditID', e.auditID], ['stage', e.stage], ['time', e.requestReceivedTimestamp], ['verb', e.verb], ['requestURI', e.requestURI],
      ['resource', [ref.apiGroup, ref.resource, ref.subresource].filter(Boolean).join('/')], ['object', [ref.namespace, ref.name].filter(Boolean).join('/')],
      ['user', e.user && e.user.username], ['groups', e.user && e.user.groups], ['impersonated user', e.impersonatedUser && e.impersonatedUser.username],
      ['source IPs', e.sourceIPs], ['user agent', e.userAgent], ['response code', e.responseStatus && e.responseStatus.code],
      ['decision', ann['authorization.k8s.io/decision']], ['reason', ann['authorization.k8s.io/reason']],
    ];
  }

  // docs/rules.md, "From an alarm to an entry": the evidence fields and the field paths they map to.
  var ALLOW_FIELDS = [['user', 'user.username'], ['resource', 'objectRef.resource'], ['name', 'objectRef.name'], ['sourceIP', 'sourceIP'], ['userAgent', 'userAgent']];
  // An alarm on a record of another source carries the record as its evidence: the entry matches the record's own
  // fields (the rule reads them by the same paths), per source.
  var RECORD_ALLOW_FIELDS = {
    containers: ['kubernetes.container', 'kubernetes.owner.kind', 'kubernetes.owner.name', 'message'],
    ingress: ['kubernetes.container', 'ingress.client_ip', 'ingress.upstream_name', 'ingress.path'],
    syslog: ['hostname', 'app_name', 'falco.rule', 'message'],
    k8s_events: ['reason', 'involved_object.kind', 'involved_object.name', 'reporting.component'],
    files: ['path', 'kubernetes.pod', 'message'],
  };
  function at(doc, path) {
    return path.split('.').reduce(function (v, k) { return v !== null && typeof v === 'object' ? v[k] : undefined; }, doc);
  }
  function q(s) { return JSON.stringify(String(s)); }
  function allowlistEntry(i, d) {
    var r = rows[i], ev = d.evidence || {};
    var conds, namespace;
    if (d.source !== undefined) {
      // The rules on container lines read the message as written; a redacted one is shown blanked: not matchable.
      conds = (RECORD_ALLOW_FIELDS[d.source] || []).filter(function (path) { return !(path === 'message' && ev.redacted === true); })
        .map(function (path) { return [path, at(ev, path)]; });
      namespace = at(ev, 'kubernetes.namespace') || at(ev, 'involved_object.namespace');
    } else {
      conds = ALLOW_FIELDS.map(function (f) { return [f[1], ev[f[0]]]; });
      namespace = ev.namespace;
    }
    conds = conds.filter(function (c) { return typeof c[1] === 'string' && c[1] !== ''; });
    if (ev.withheld || conds.length === 0) return null;
    var scope = ['clusters: [' + q(S[r[CLUSTER]]) + ']'];
    if (typeof namespace === 'string' && namespace !== '') scope.push('namespaces: [' + q(namespace) + ']');
    return [
      'allowlist:',
      '  - id: alarm-' + data.ids[i].slice(0, 16),
      '    description: ' + q('From alarm ' + data.ids[i] + ': ' + S[r[SUMMARY]]),
      '    rules: [' + q(S[r[RULE]]) + ']',
      '    scope: { ' + scope.join(', ') + ' }',
      '    match:   # the fields of the alarm\'s last event: widen them (prefix, cidr) or drop some to cover its other hits',
      '      all:',
    ].concat(conds.map(function (c) { return '        - { field: ' + c[0] + ', equals: ' + q(c[1]) + ' }'; })).join('\n') + '\n';
  }

  function showDetails() {
    var m = /^#alarm=(.+)$/.exec(location.hash);
    var i = m ? indexById[decodeURIComponent(m[1])] : undefined;
    var view = $('details');
    if (i === undefined) {
      view.hidden = true;
      return;
    }
    loadDetails().then(function (all) { renderDetails(i, all[i]); });
  }

  function renderDetails(i, d) {
    var view = $('details');
    var r = rows[i], rule = data.rules[S[r[RULE]]] || {};
    $('d-title').textContent = S[r[RULE]] + ' ' + (rule.name || '');
    var level = $('d-level');
    level.textContent = LEVELS[r[LEVEL]];
    level.className = 'level ' + LEVELS[r[LEVEL]];
    $('d-summary').textContent = S[r[SUMMARY]];
    var facts = $('d-facts');
    facts.textContent = '';
    [['alarm', data.ids[i]], ['rule type', rule.type], ['category', S[r[CATEGORY]]], ['cluster', S[r[CLUSTER]] + (d.clusterId ? ' (' + d.clusterId + ')' : '')],
      ['first seen', iso(r[FIRST])], ['last seen', iso(r[LAST])], ['hits', r[COUNT]]].forEach(function (f) { field(facts, f[0], f[1]); });
    $('d-risk').textContent = d.risk || '(none given by the rule)';
    $('d-solution').textContent = d.solution || '(none given by the rule)';
    var req = $('d-request');
    req.textContent = '';
    requestFields(d.event).forEach(function (f) { field(req, f[0], f[1]); });
    $('d-evidence').textContent = JSON.stringify(d.evidence, null, 2);
    $('d-event').textContent = JSON.stringify(d.event, null, 2);
    var entry = allowlistEntry(i, d);
    $('d-allowlist').textContent = entry === null ? 'No allowlist entry: the alarm carries no evidence fields (redaction withheld them).' : entry;
    $('copy-allowlist').disabled = entry === null;
    $('copy-state').textContent = '';
    view.dataset.alarm = data.ids[i];
    view.hidden = false;
    view.scrollIntoView();
  }

  $('copy-allowlist').addEventListener('click', function () {
    var text = $('d-allowlist').textContent;
    var done = function () { $('copy-state').textContent = 'copied'; };
    // A file:// page may not reach the clipboard: the text is then selected for Ctrl-C.
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents($('d-allowlist'));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $('copy-state').textContent = 'selected: press Ctrl-C';
    };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, select);
    else select();
  });
  $('close-details').addEventListener('click', function () { location.hash = ''; });

  document.querySelectorAll('#filters select, #filters input').forEach(function (input) {
    input.addEventListener('input', applyFilters);
  });
  $('clear-filters').addEventListener('click', function () {
    HTMLFormElement.prototype.reset.call($('filters'));
    applyFilters();
  });
  document.querySelectorAll('#events th[data-key]').forEach(function (th) {
    th.addEventListener('click', function () { sortBy(th.dataset.key); });
  });
  $('prev').addEventListener('click', function () { page -= 1; renderList(); });
  $('next').addEventListener('click', function () { page += 1; renderList(); });
  window.addEventListener('hashchange', showDetails);

  renderList();
  showDetails();
  document.body.dataset.ready = 'true';
})();
