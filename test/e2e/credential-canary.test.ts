// Credential canaries: RequestResponse events carrying known values in every place a credential sits (Secrets
// written, patched, applied, listed; issued and reviewed tokens; ConfigMaps, env, args, probe headers, URLs, exec
// command lines, kubectl's last-applied copy, custom resources; damaged and over-long lines) go through `kaudit scan`
// and `kaudit run` into every sink kind and both dead-letter files; no output byte holds a canary, plain, in base64
// or inside a JWT, unless the operator opted out, and then only where the opt-out reaches.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, runCli, writeAgentConfig } from '../utils/agent.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const RUN = randomBytes(4).toString('hex');
/** Which opt-out (if any) lets a canary through, so the opted-out run knows where it may appear. */
type Exposure = 'none' | 'password_key' | 'dead_letter_raw';
const canaries = new Map<string, { place: string; exposure: Exposure }>();
function canary(place: string, exposure: Exposure = 'none'): string {
  const value = `cnry${RUN}${canaries.size.toString(36).padStart(2, '0')}${randomBytes(6).toString('hex')}`;
  canaries.set(value, { place, exposure });
  return value;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');
/** A service-account-like token whose payload holds the canary. */
const jwt = (c: string) => `${b64url('{"alg":"RS256","kid":"k1"}')}.${b64url(JSON.stringify({ iss: 'https://kubernetes.default.svc', sub: c }))}.${b64url('signature')}`;

/**
 * Every form a canary can take in an output: plain, and base64 / base64url at each of the three byte alignments it
 * can sit at inside a longer encoded value (a Secret's data, a JWT's payload), cut to the characters it alone fixes.
 */
function forms(c: string): string[] {
  const out = new Set([c]);
  for (let shift = 0; shift < 3; shift++) {
    const bytes = Buffer.concat([Buffer.alloc(shift), Buffer.from(c)]);
    const start = Math.ceil((shift * 8) / 6) + 1;
    for (const enc of [bytes.toString('base64'), bytes.toString('base64url')]) out.add(enc.slice(start, enc.length - 4));
  }
  return [...out];
}

let seq = 0;
const T = '2026-11-22T12:04:13.095117Z';

/** One ResponseComplete event in the apiserver's key order; a note pads it past the size the cheap parse takes. */
function event(o: {
  verb: string; uri: string; resource: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string;
  code?: number; requestObject?: unknown; responseObject?: unknown; pad?: boolean; auditID?: string;
}): string {
  const auditID = o.auditID ?? `00000000-0000-4000-8000-${RUN}${String(++seq).padStart(4, '0')}`;
  const e: Record<string, unknown> = {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID, stage: 'ResponseComplete',
    requestURI: o.uri, verb: o.verb,
    user: { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] },
    sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/3a7d2f1',
    objectRef: { resource: o.resource, ...(o.subresource ? { subresource: o.subresource } : {}), namespace: o.namespace ?? 'payments', name: o.name ?? 'app', ...(o.apiGroup ? { apiGroup: o.apiGroup } : {}), apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: o.code ?? 200 },
  };
  if (o.requestObject !== undefined) e.requestObject = o.requestObject;
  if (o.responseObject !== undefined) e.responseObject = o.responseObject;
  e.requestReceivedTimestamp = T;
  e.stageTimestamp = T;
  e.annotations = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed', ...(o.pad ? { 'example.com/note': 'n'.repeat(1600) } : {}) };
  return JSON.stringify(e);
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'payments', uid: `uid-${name}`, resourceVersion: '4711', creationTimestamp: T, ...extra });
const lastApplied = (o: unknown) => ({ annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(o)}\n` } });

function secret(name: string, data: Record<string, string>, stringData?: Record<string, string>, applied = false) {
  const body: Record<string, unknown> = { kind: 'Secret', apiVersion: 'v1', metadata: meta(name, applied ? lastApplied({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])) }) : {}), type: 'Opaque', data };
  if (stringData) body.stringData = stringData;
  return body;
}

function container(name: string, over: Record<string, unknown> = {}) {
  return { name, image: 'registry.example.com/payments/api:1.4.2', resources: {}, terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'IfNotPresent', ...over };
}

/** The audit log: good events with canaries everywhere, then damaged and over-long lines with canaries of their own. */
function auditLog(): { good: string[]; bad: Buffer[] } {
  const good: string[] = [];
  const ns = '/api/v1/namespaces/payments';

  // Secrets: create (data and stringData), get, list, merge patch, JSON patch, apply with kubectl's last-applied copy.
  const s1 = canary('secret create data');
  const s2 = canary('secret create stringData');
  good.push(event({ verb: 'create', uri: `${ns}/secrets`, resource: 'secrets', name: 'db', code: 201, pad: true,
    requestObject: secret('db', { password: b64(s1) }, { token: s2 }), responseObject: secret('db', { password: b64(s1), token: b64(s2) }) }));
  const s3 = canary('secret get');
  good.push(event({ verb: 'get', uri: `${ns}/secrets/tls`, resource: 'secrets', name: 'tls', responseObject: secret('tls', { 'tls.key': b64(s3), 'tls.crt': b64('certificate') }) }));
  const s4 = canary('secret list');
  good.push(event({ verb: 'list', uri: `${ns}/secrets`, resource: 'secrets', name: '', responseObject: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '4711' }, items: [{ metadata: meta('a'), data: { 'api-key': b64(s4) }, type: 'Opaque' }] } }));
  const s5 = canary('secret merge patch');
  good.push(event({ verb: 'patch', uri: `${ns}/secrets/db`, resource: 'secrets', name: 'db', requestObject: { data: { password: b64(s5) } }, responseObject: secret('db', { password: b64(s5) }) }));
  const s6 = canary('secret json patch');
  good.push(event({ verb: 'patch', uri: `${ns}/secrets/db`, resource: 'secrets', name: 'db', requestObject: [{ op: 'replace', path: '/data/password', value: b64(s6) }], responseObject: secret('db', { password: b64(s6) }) }));
  const s7 = canary('secret apply');
  good.push(event({ verb: 'patch', uri: `${ns}/secrets/db?fieldManager=kubectl-client-side-apply`, resource: 'secrets', name: 'db', pad: true,
    requestObject: { data: { password: b64(s7) }, metadata: lastApplied({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: s7 } }) },
    responseObject: secret('db', { password: b64(s7) }, undefined, true) }));

  // Issued and reviewed tokens.
  const t1 = canary('TokenRequest token');
  good.push(event({ verb: 'create', uri: `${ns}/serviceaccounts/api/token`, resource: 'serviceaccounts', subresource: 'token', name: 'api', code: 201,
    requestObject: { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
    responseObject: { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['https://kubernetes.default.svc'] }, status: { token: jwt(t1), expirationTimestamp: T } } }));
  const t2 = canary('TokenReview token');
  good.push(event({ verb: 'create', uri: '/apis/authentication.k8s.io/v1/tokenreviews', resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', name: '', code: 201,
    requestObject: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: jwt(t2) } },
    responseObject: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: jwt(t2) }, status: { authenticated: true, user: { username: 'system:serviceaccount:payments:api' } } } }));

  // A ConfigMap with credentials: under credential-like keys, in config files, an AWS credentials file, a private key.
  const c1 = canary('configmap DB_PASSWORD', 'password_key');
  const c2 = canary('configmap properties password', 'password_key');
  const c3 = canary('configmap aws secret key');
  const c4 = canary('configmap private key');
  const c5 = canary('configmap API_TOKEN');
  const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: meta('app'), data: {
    DB_PASSWORD: c1, API_TOKEN: c5, LOG_LEVEL: 'info',
    'app.properties': `db.url=jdbc:postgresql://db:5432/ledger\ndb.password=${c2}\n`,
    'aws-config': `[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = ${c3}\n`,
    'id_rsa': `-----BEGIN RSA PRIVATE KEY-----\n${b64(c4)}\n-----END RSA PRIVATE KEY-----\n`,
  } };
  good.push(event({ verb: 'create', uri: `${ns}/configmaps`, resource: 'configmaps', name: 'app', code: 201, requestObject: cm, responseObject: cm }));
  // The same applied with kubectl: the last-applied annotation copies the data.
  const c6 = canary('configmap last-applied DB_PASSWORD', 'password_key');
  const applied = { kind: 'ConfigMap', apiVersion: 'v1', metadata: meta('app2', lastApplied({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app2' }, data: { DB_PASSWORD: c6 } })), data: { DB_PASSWORD: c6 } };
  good.push(event({ verb: 'patch', uri: `${ns}/configmaps/app2?fieldManager=kubectl-client-side-apply`, resource: 'configmaps', name: 'app2', requestObject: { data: { DB_PASSWORD: c6 }, metadata: applied.metadata }, responseObject: applied }));

  // A Deployment: env values, args, a probe's Authorization header, a mysql client command, last-applied of it all.
  const d1 = canary('env DB_PASSWORD', 'password_key');
  const d2 = canary('env GITHUB_TOKEN');
  const d3 = canary('args --api-key');
  const d4 = canary('args --password=', 'password_key');
  const d5 = canary('probe Authorization header');
  const d6 = canary('command mysql -p');
  const d7 = canary('env DATABASE_URL password');
  const podSpec = { containers: [
    container('api', {
      env: [{ name: 'DB_PASSWORD', value: d1 }, { name: 'MODE', value: 'production' }, { name: 'GITHUB_TOKEN', value: d2 }, { name: 'DATABASE_URL', value: `postgres://ledger:${d7}@db:5432/ledger` }],
      args: ['--api-key', d3, `--password=${d4}`, '--port=8080'],
      livenessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'Authorization', value: `Bearer ${d5}` }] } },
    }),
    container('migrate', { command: ['mysql', '-h', 'db', '-uroot', `-p${d6}`, 'ledger'] }),
  ], restartPolicy: 'Always', dnsPolicy: 'ClusterFirst' };
  const deployment = { kind: 'Deployment', apiVersion: 'apps/v1', metadata: meta('api', lastApplied({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { template: { spec: podSpec } } })),
    spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: podSpec } } };
  good.push(event({ verb: 'create', uri: '/apis/apps/v1/namespaces/payments/deployments', resource: 'deployments', apiGroup: 'apps', name: 'api', code: 201, requestObject: deployment, responseObject: deployment }));
  // The controller's status update sends the whole object again.
  good.push(event({ verb: 'update', uri: '/apis/apps/v1/namespaces/payments/deployments/api/status', resource: 'deployments', subresource: 'status', apiGroup: 'apps', name: 'api', requestObject: deployment, responseObject: deployment }));
  // Its pod, and the kubelet's status patch answered with the whole pod.
  const pod = { kind: 'Pod', apiVersion: 'v1', metadata: meta('api-7d9f'), spec: podSpec, status: { phase: 'Pending' } };
  good.push(event({ verb: 'create', uri: `${ns}/pods`, resource: 'pods', name: 'api-7d9f', code: 201, requestObject: pod, responseObject: pod }));
  good.push(event({ verb: 'patch', uri: `${ns}/pods/api-7d9f/status`, resource: 'pods', subresource: 'status', name: 'api-7d9f',
    requestObject: { status: { phase: 'Running' } }, responseObject: { ...pod, status: { phase: 'Running' } } }));

  // URLs: a token in the query, an exec running a MySQL client with its password on the command line.
  const u1 = canary('requestURI access_token');
  good.push(event({ verb: 'get', uri: `${ns}/pods/api-7d9f/log?container=api&access_token=${u1}`, resource: 'pods', subresource: 'log', name: 'api-7d9f' }));
  const u2 = canary('exec mysql -p');
  good.push(event({ verb: 'create', uri: `${ns}/pods/api-7d9f/exec?command=mysql&command=-uroot&command=-p${u2}&command=ledger&container=api&stdin=true&tty=true`, resource: 'pods', subresource: 'exec', name: 'api-7d9f', code: 101 }));
  const u3 = canary('exec sh -c with a password flag', 'password_key');
  good.push(event({ verb: 'create', uri: `${ns}/pods/api-7d9f/exec?command=sh&command=-c&command=${encodeURIComponent(`pg_dump --password=${u3} ledger`)}&container=api`, resource: 'pods', subresource: 'exec', name: 'api-7d9f', code: 101 }));

  // Custom resources: credentials in their spec, a connection URL, and a Secret embedded in one.
  const r1 = canary('custom resource password', 'password_key');
  const r2 = canary('custom resource apiKey');
  const r3 = canary('custom resource connection URL');
  const r4 = canary('custom resource embedded Secret');
  const db = { apiVersion: 'db.example.com/v1', kind: 'Database', metadata: meta('ledger'), spec: {
    engine: 'postgres', credentials: { username: 'ledger', password: r1 }, monitoring: { apiKey: r2 }, replicaOf: `postgres://replica:${r3}@db-0:5432/ledger`,
    bootstrapSecret: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'boot' }, data: { seed: b64(r4) } },
  } };
  good.push(event({ verb: 'create', uri: '/apis/db.example.com/v1/namespaces/payments/databases', resource: 'databases', apiGroup: 'db.example.com', name: 'ledger', code: 201, pad: true, requestObject: db, responseObject: db }));

  // Lines that are not audit events, each with canaries of its own: what the dead-letter file gets.
  const bad: Buffer[] = [];
  const x1 = canary('invalid UTF-8 Secret', 'dead_letter_raw');
  const utf8 = event({ verb: 'create', uri: `${ns}/secrets`, resource: 'secrets', name: 'u', code: 201, pad: true, requestObject: secret('u', { password: b64(x1) }, { token: x1 }) });
  const cut = utf8.indexOf('"type"');
  bad.push(Buffer.concat([Buffer.from(utf8.slice(0, cut)), Buffer.from([0xff, 0xfe]), Buffer.from(utf8.slice(cut))]));
  const x2 = canary('damaged body Secret', 'dead_letter_raw');
  // Head and tail intact (the cheap parse accepts it), the body broken: found when the body is parsed.
  const damaged = { ...secret('d', { password: b64(x2) }, { password: x2 }), immutable: false, description: 'd'.repeat(600) };
  bad.push(Buffer.from(event({ verb: 'create', uri: `${ns}/secrets`, resource: 'secrets', name: 'd', code: 201, pad: true, requestObject: damaged }).replace('"type":"Opaque"', '"type":Opaque"')));
  const x3 = canary('damaged body key ConfigMap', 'dead_letter_raw');
  bad.push(Buffer.from(event({ verb: 'create', uri: `${ns}/configmaps`, resource: 'configmaps', name: 'k', code: 201, requestObject: { kind: 'ConfigMap', metadata: meta('k'), data: { DB_PASSWORD: x3, 'app.env': `API_TOKEN=${x3}\n` } } }).replace(',"requestObject":', ',"requestObj\u0000ect":{')));
  const x4 = canary('damaged Secret whose body key is gone', 'dead_letter_raw');
  bad.push(Buffer.from(event({ verb: 'patch', uri: `${ns}/secrets/g`, resource: 'secrets', name: 'g', requestObject: { data: { 'ca.key': b64(x4) }, metadata: lastApplied({ kind: 'Secret', data: { 'ca.key': b64(x4) } }) } }).replace(',"requestObject":', ',"requestObjekt"').replace(/,"requestReceivedTimestamp".*$/, '')));
  const x5 = canary('over-long Secret apply', 'dead_letter_raw');
  bad.push(Buffer.from(event({ verb: 'patch', uri: `${ns}/secrets/big`, resource: 'secrets', name: 'big', requestObject: { data: { password: b64(x5), bundle: b64('z'.repeat(80 * 1024)) } } })));
  const x6 = canary('over-long line, token in its URI', 'dead_letter_raw');
  bad.push(Buffer.from(event({ verb: 'update', uri: `/apis/db.example.com/v1/namespaces/payments/databases/x?access_token=${x6}`, resource: 'databases', requestObject: { spec: { blob: 'b'.repeat(80 * 1024) } } })));
  return { good, bad };
}

/** Every file under `dir`, by path relative to it. */
async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(relative(dir, join(e.parentPath, e.name)), await readFile(join(e.parentPath, e.name)));
  }
  return out;
}

interface Run { outputs: Map<string, string>; dir: string; good: string[]; bad: Buffer[]; rx: Receiver }

/** `kaudit run --once` into an http sink, one that rejects everything (its dead-letter file), a file and stdout. */
async function runAgent(opts: { redaction?: Record<string, unknown>; deadLetterRaw?: boolean } = {}): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-canary-'));
  await mkdir(join(dir, 'logs'));
  canaries.clear();
  const { good, bad } = auditLog();
  const log = join(dir, 'logs', 'kubernetes.audit');
  const lines: Buffer[] = [];
  good.forEach((l, i) => {
    lines.push(Buffer.from(`${l}\n`));
    if (bad[i]) lines.push(bad[i], Buffer.from('\n'));
  });
  await writeFile(log, Buffer.concat(lines));
  const rx = await Receiver.start();
  const refuse = await Receiver.start({ respond: () => 400 });
  cleanup.push(() => rx.close(), () => refuse.close());
  const config = await writeAgentConfig(dir, {
    log_level: 'debug', state_dir: join(dir, 'state'), http: null,
    sources: { audit: { kind: 'audit', path: log, max_line_bytes: '64KiB', dead_letter: join(dir, 'state', 'dead-letter', 'audit-lines.ndjson'), ...(opts.deadLetterRaw ? { dead_letter_raw: true } : {}) } },
    ...(opts.redaction ? { redaction: opts.redaction } : {}),
    sinks: {
      siem: { kind: 'http', url: rx.url(), compression: 'gzip' },
      refused: { kind: 'http', url: refuse.url(), format: 'json_array' },
      archive: { kind: 'file', path: join(dir, 'out', 'audit.ndjson') },
      console: { kind: 'stdout' },
    },
  });
  const agent = AgentProcess.run(config, ['--once']);
  cleanup.push(async () => {
    if (agent.child.exitCode === null) await agent.kill9();
  });
  expect((await agent.exited).code).toBe(0);
  const outputs = new Map<string, string>([
    ['http siem', rx.requests.map((q) => q.body.toString('utf8')).join('\n')],
    ['http refused', refuse.requests.map((q) => q.body.toString('utf8')).join('\n')],
    ['stdout', agent.output()],
    ['agent log', agent.logs()],
  ]);
  // Every file the agent wrote: the file sink, both dead-letter files, disk buffers, checkpoints, detection state.
  for (const [path, bytes] of await filesUnder(dir)) if (!path.startsWith('logs') && !path.endsWith('.yaml')) outputs.set(path, bytes.toString('latin1'));
  return { outputs, dir, good, bad, rx };
}

function leaks(outputs: Map<string, string>): Array<{ place: string; exposure: Exposure; where: string }> {
  const found: Array<{ place: string; exposure: Exposure; where: string }> = [];
  for (const [value, { place, exposure }] of canaries) {
    for (const f of forms(value)) {
      for (const [where, text] of outputs) if (text.includes(f)) found.push({ place, exposure, where });
    }
  }
  return found;
}

describe('credential canaries', () => {
  it('no canary reaches kaudit scan, any sink, the agent log or any file the agent writes', async () => {
    const run = await runAgent();
    const { outputs, good } = run;
    // The test can fail: the canaries are in the input, and every output is there and non-trivial.
    const input = await readFile(join(run.dir, 'logs', 'kubernetes.audit'), 'latin1');
    expect(leaks(new Map([['input', input]])).length).toBeGreaterThanOrEqual(canaries.size);
    for (const f of ['out/audit.ndjson', 'state/dead-letter/audit-lines.ndjson', 'state/dead-letter/refused.ndjson']) expect(outputs.get(f)?.length, f).toBeGreaterThan(1000);
    for (const k of ['http siem', 'http refused', 'stdout', 'agent log']) expect(outputs.get(k)!.length, k).toBeGreaterThan(1000);
    // Every good event arrived, with markers; alarms were raised on them; the bad lines went to the dead-letter file.
    const ids = good.map((l) => JSON.parse(l).auditID);
    expect(run.rx.acceptedAuditIds()).toEqual(ids);
    const alarms = run.rx.documents().filter((d) => (d as { kind?: string }).kind === 'kaudit.Alarm') as Array<{ rule: { id: string }; summary: string }>;
    expect(alarms.length).toBeGreaterThan(3);
    // The credentials-in-ConfigMap alarm names the keys; the values it found are blanked (the search below).
    expect(alarms.find((a) => a.rule.id === 'KA-CRED-009')?.summary).toMatch(/\(keys: .*DB_PASSWORD.*app\.properties/);
    for (const marker of ['[redacted: secret value]', '[redacted: token]', '[redacted: password]', '[redacted: api_key]', '[redacted: authorization]', '[redacted: mysql_password]', '[redacted: url_password]', '[redacted: pem_private_key]', '[redacted: secret last-applied-configuration]']) {
      expect(outputs.get('out/audit.ndjson'), marker).toContain(marker);
    }
    const dead = outputs.get('state/dead-letter/audit-lines.ndjson')!.trim().split('\n').map((l) => JSON.parse(l));
    expect(dead).toHaveLength(6);
    expect(dead.map((d) => d.error)).toContainEqual(expect.stringMatching(/^processing failed: .*body is not valid JSON/));

    const scanJson = await runCli(['scan', '--hits', '--output', 'json', join(run.dir, 'logs', 'kubernetes.audit')]);
    const scanText = await runCli(['scan', '--hits', join(run.dir, 'logs', 'kubernetes.audit')]);
    expect(scanJson.code).toBe(3); // alarms raised
    expect(scanJson.stdout).toContain('"kind":"kaudit.Alarm"');
    outputs.set('scan json', scanJson.stdout + scanJson.stderr);
    outputs.set('scan text', scanText.stdout + scanText.stderr);

    expect(leaks(outputs)).toEqual([]);
  }, 120_000);

  it('an operator who opts out sees those values where the opt-out reaches, and only there', async () => {
    const { outputs, bad, dir } = await runAgent({ redaction: { patterns: { keys: { password: false } } }, deadLetterRaw: true });
    const found = leaks(outputs);
    expect(found.filter((f) => f.exposure === 'none')).toEqual([]);
    // Raw dead-letter entries: the damaged lines' canaries, in that file and nowhere else.
    const raw = found.filter((f) => f.exposure === 'dead_letter_raw');
    expect(new Set(raw.map((f) => f.where))).toEqual(new Set(['state/dead-letter/audit-lines.ndjson']));
    expect(new Set(raw.map((f) => f.place)).size).toBe([...canaries.values()].filter((c) => c.exposure === 'dead_letter_raw').length);
    // A line that is not UTF-8 is kept byte for byte (its text has U+FFFD in place of the bytes).
    const dead = (await readFile(join(dir, 'state', 'dead-letter', 'audit-lines.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const notUtf8 = dead.filter((d) => d.line_base64 !== undefined);
    expect(notUtf8).toHaveLength(1);
    expect(Buffer.from(notUtf8[0].line_base64, 'base64').equals(bad[0])).toBe(true);
    expect(notUtf8[0].line).toContain('\uFFFD');
    // Values under password-like names are forwarded as they are; every other credential stays blanked.
    const passwords = found.filter((f) => f.exposure === 'password_key');
    expect(new Set(passwords.map((f) => f.place)).size).toBe([...canaries.values()].filter((c) => c.exposure === 'password_key').length);
    expect(passwords.map((f) => f.where)).toContain('out/audit.ndjson');
  }, 120_000);
});
