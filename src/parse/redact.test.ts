// Redaction: no credential from a real-shaped event survives into the forwarded line; everything else is untouched.
import { describe, expect, it, vi } from 'vitest';
import { parseAuditLine, type AuditEvent } from './audit.ts';
import {
  LAST_APPLIED,
  LAST_APPLIED_MARKER,
  PATCH_VALUE_MARKER,
  REDACTED_PREFIX,
  SECRET_MARKER,
  TOKEN_MARKER,
  compileRedaction,
  pathMarker,
  type RedactionSettings,
} from './redact.ts';
import { generateAuditLines } from '../../bench/gen-audit.ts';
import { DEFAULT_SKIP } from './patterns.ts';
import { falcoEvent, realApiserverLines } from './test-corpus.ts';

const ORDER = [
  'kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs',
  'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp',
  'stageTimestamp', 'annotations',
];
const DEFAULTS: RedactionSettings = { secrets: true, token_requests: true, paths: [] };
/** Pattern redaction off: the tests of one mechanism see that mechanism alone. */
const NO_PATTERNS = { patterns: { enabled: false, keys: {}, values: {}, skip: [] } };

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function event(line: string): AuditEvent {
  const r = parseAuditLine(line);
  if (!r.ok) throw new Error(r.error);
  return r.event;
}

/** A Metadata-level event as RequestResponse would have logged it: the bodies added, in the apiserver's key order. */
function withBodies(line: string, bodies: { requestObject?: unknown; responseObject?: unknown }, level = 'RequestResponse'): string {
  const o = { ...JSON.parse(line), level, ...bodies };
  const out: Record<string, unknown> = {};
  for (const k of ORDER) if (o[k] !== undefined) out[k] = o[k];
  return JSON.stringify(out);
}

function redact(line: string, cfg: Partial<RedactionSettings> = {}): string | undefined {
  return compileRedaction({ ...DEFAULTS, ...cfg }).redact(event(line));
}

/**
 * Redacts `line` and checks the result: valid JSON, none of `secrets` (nor their base64-decoded or JSON-escaped
 * forms) anywhere in it unless the same text is in the event outside the bodies, head and annotations unchanged,
 * key order kept, and a second pass finds nothing left to do.
 */
function redactsClean(line: string, secrets: string[], cfg: Partial<RedactionSettings> = {}): Record<string, any> {
  const out = redact(line, cfg);
  expect(out).toBeTypeOf('string');
  const outObj = JSON.parse(out!);
  const inObj = JSON.parse(line);
  const neutral = JSON.stringify({ ...inObj, requestObject: undefined, responseObject: undefined });
  const forms = new Set<string>();
  for (const s of secrets) {
    expect(line, `test data: ${s}`).toContain(JSON.stringify(s).slice(1, -1));
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    const decoded = unb64(s);
    if (b64(decoded) === s && decoded.length >= 6) forms.add(decoded);
  }
  for (const s of forms) {
    if (s.length < 6 || neutral.includes(s)) continue;
    expect(out, `leaked: ${s}`).not.toContain(s);
  }
  const before = event(line);
  const after = event(out!);
  expect(after.head).toStrictEqual(before.head);
  expect(after.annotations()).toStrictEqual(before.annotations());
  expect(Object.keys(outObj)).toEqual(Object.keys(inObj));
  expect(compileRedaction({ ...DEFAULTS, ...cfg }).redact(after)).toBeUndefined();
  return outObj;
}

const realLines = realApiserverLines();
const real = (pred: (o: any) => boolean): string => {
  const line = realLines.find((l) => pred(JSON.parse(l)));
  if (line === undefined) throw new Error('no such event in the corpus');
  return line;
};
const ref = (o: any) => o.objectRef ?? {};

function secret(name: string, namespace: string, extra: Record<string, unknown>): Record<string, unknown> {
  const metadata = {
    name,
    namespace,
    uid: 'f4c2e8a0-5b1d-4d3e-9a77-0c5e1b2d3f40',
    resourceVersion: '4711',
    creationTimestamp: '2026-11-22T12:05:00Z',
  };
  return { kind: 'Secret', apiVersion: 'v1', metadata, ...extra };
}

describe('falco secret events', () => {
  const files = ['create_secret.json', 'create_kube_system_secret.json', 'delete_secret.json', 'create_service_account_token_secret.json'];

  it.each(files)('%s carries no data (Metadata level): undefined, without a full parse', (name) => {
    const ev = event(falcoEvent(name));
    expect(ev.hasRequestObject || ev.hasResponseObject).toBe(false);
    const full = vi.spyOn(ev, 'full');
    expect(compileRedaction(DEFAULTS).redact(ev)).toBeUndefined();
    expect(full).not.toHaveBeenCalled();
  });

  it('create_secret at RequestResponse: data and stringData values go, keys stay', () => {
    const base = falcoEvent('create_secret.json');
    const data = { username: b64('falco-admin-user'), password: b64('S3cr3t-falco-pw!') };
    const stringData = { 'api-key': 'sk_live_4eC39HqLyjWDarjtT1zdp7dc' };
    const line = withBodies(base, {
      requestObject: secret('example-secret', 'default', { data, stringData, type: 'Opaque' }),
      responseObject: secret('example-secret', 'default', { data: { ...data, 'api-key': b64(stringData['api-key']) }, type: 'Opaque' }),
    });
    const out = redactsClean(line, [...Object.values(data), stringData['api-key'], b64(stringData['api-key'])]);
    expect(out.requestObject.data).toEqual({ username: SECRET_MARKER, password: SECRET_MARKER });
    expect(out.requestObject.stringData).toEqual({ 'api-key': SECRET_MARKER });
    expect(Object.keys(out.responseObject.data)).toEqual(['username', 'password', 'api-key']);
    expect(out.responseObject.type).toBe('Opaque');
    expect(out.responseObject.metadata.name).toBe('example-secret');
    expect(redact(line, { secrets: false, ...NO_PATTERNS })).toBeUndefined();
  });

  it('create_kube_system_secret at RequestResponse: the bootstrap token', () => {
    const data = {
      'token-id': b64('ne7bxu'),
      'token-secret': b64('q4pd9yk1m2xt8zbc'),
      'usage-bootstrap-authentication': b64('true'),
      'auth-extra-groups': b64('system:bootstrappers:kubeadm:default-node-token'),
    };
    const line = withBodies(falcoEvent('create_kube_system_secret.json'), {
      requestObject: secret('bootstrap-token-ne7bxu', 'kube-system', { data, type: 'bootstrap.kubernetes.io/token' }),
      responseObject: secret('bootstrap-token-ne7bxu', 'kube-system', { data, type: 'bootstrap.kubernetes.io/token' }),
    });
    const out = redactsClean(line, [data['token-secret'], data['auth-extra-groups']]);
    expect(Object.values(out.responseObject.data)).toEqual(Array(4).fill(SECRET_MARKER));
  });

  it('create_service_account_token_secret at RequestResponse: token, ca.crt, namespace', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IkRHX2xxV1MifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2lnbmF0dXJlLXNlY3JldC1ieXRlcw';
    const ca = '-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBATANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwptaW5p\n-----END CERTIFICATE-----\n';
    const data = { 'ca.crt': b64(ca), namespace: b64('test2'), token: b64(jwt) };
    const line = withBodies(falcoEvent('create_service_account_token_secret.json'), {
      requestObject: secret('default-token-7v4pb', 'test2', {
        type: 'kubernetes.io/service-account-token',
        metadata: { name: 'default-token-7v4pb', namespace: 'test2', annotations: { 'kubernetes.io/service-account.name': 'default' } },
        data,
      }),
      responseObject: secret('default-token-7v4pb', 'test2', { type: 'kubernetes.io/service-account-token', data }),
    });
    const out = redactsClean(line, [data['ca.crt'], data.token]);
    expect(JSON.stringify(out)).not.toContain('MIIC5zCCAc');
    expect(out.requestObject.metadata.annotations).toEqual({ 'kubernetes.io/service-account.name': 'default' });
    expect(out.responseObject.data).toEqual({ 'ca.crt': SECRET_MARKER, namespace: SECRET_MARKER, token: SECRET_MARKER });
  });

  it('delete_secret: a Status response has nothing to redact; a returned Secret does', () => {
    const base = falcoEvent('delete_secret.json');
    const status = withBodies(base, {
      requestObject: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/__internal', propagationPolicy: 'Background' },
      responseObject: {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
        details: { name: 'example-secret', kind: 'secrets', uid: 'd2b3' },
      },
    });
    expect(redact(status)).toBeUndefined();
    const deleted = secret('example-secret', 'default', { data: { password: b64('deleted-but-still-secret') } });
    const returned = withBodies(base, { responseObject: deleted });
    expect(redactsClean(returned, [b64('deleted-but-still-secret')]).responseObject.data.password).toBe(SECRET_MARKER);
  });
});

describe('secrets built on real events of the real-apiserver capture', () => {
  const created = real((o) => ref(o).resource === 'secrets' && o.verb === 'create' && ref(o).name === 'stripe-api-key');
  const patched = real((o) => ref(o).resource === 'secrets' && o.verb === 'patch');
  const listed = real((o) => ref(o).resource === 'secrets' && o.verb === 'list' && o.user.username === 'breakglass');

  it('kubectl apply of a Secret: the last-applied annotation (which holds the data) goes too', () => {
    const stringData = { STRIPE_API_KEY: 'sk_live_51HqLyjWDarjtT1zdp7dcXyZ' };
    const applied = {
      apiVersion: 'v1', kind: 'Secret', metadata: { annotations: {}, name: 'stripe-api-key', namespace: 'payments' },
      stringData, type: 'Opaque',
    };
    const lastApplied = JSON.stringify(applied) + '\n';
    const meta = { name: 'stripe-api-key', namespace: 'payments', annotations: { [LAST_APPLIED]: lastApplied, team: 'payments' } };
    const line = withBodies(created, {
      requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: meta, stringData, type: 'Opaque' },
      responseObject: {
        kind: 'Secret', apiVersion: 'v1', metadata: { ...meta, uid: 'a1', resourceVersion: '1234' },
        data: { STRIPE_API_KEY: b64(stringData.STRIPE_API_KEY) }, type: 'Opaque',
      },
    });
    const out = redactsClean(line, [stringData.STRIPE_API_KEY, b64(stringData.STRIPE_API_KEY), lastApplied]);
    expect(out.requestObject.metadata.annotations).toEqual({ [LAST_APPLIED]: LAST_APPLIED_MARKER, team: 'payments' });
    expect(out.responseObject.metadata.annotations[LAST_APPLIED]).toBe(LAST_APPLIED_MARKER);
    expect(out.responseObject.metadata.resourceVersion).toBe('1234');
  });

  it('merge patch of a Secret: the delta has no kind, but objectRef says secrets', () => {
    const docker = JSON.stringify({ auths: { 'registry.corp.example': { auth: b64('gitlab-ci:glpat-xXyY12zZ') } } });
    const line = withBodies(patched, {
      requestObject: {
        data: { '.dockerconfigjson': b64(docker) },
        metadata: { annotations: { [LAST_APPLIED]: JSON.stringify({ data: { '.dockerconfigjson': b64(docker) } }) } },
      },
      responseObject: secret('registry-pull', 'ci', { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(docker) } }),
    });
    const out = redactsClean(line, [b64(docker)]);
    expect(JSON.stringify(out)).not.toContain('glpat-xXyY12zZ');
    expect(JSON.stringify(out)).not.toContain(b64('gitlab-ci:glpat-xXyY12zZ'));
    expect(out.requestObject.data).toEqual({ '.dockerconfigjson': SECRET_MARKER });
    expect(out.requestObject.metadata.annotations[LAST_APPLIED]).toBe(LAST_APPLIED_MARKER);
  });

  it('JSON patch of a Secret: the value of every operation', () => {
    const ops = [
      { op: 'replace', path: '/data/password', value: b64('new-db-password-42') },
      { op: 'add', path: '/stringData', value: { token: 'plain-text-token-xyz', user: 'svc-ledger' } },
      { op: 'test', path: '/data/user', value: b64('svc-ledger-old') },
      { op: 'remove', path: '/data/old' },
      { op: 'copy', from: '/data/password', path: '/data/backup' },
    ];
    const line = withBodies(patched, { requestObject: ops });
    const out = redactsClean(line, [b64('new-db-password-42'), 'plain-text-token-xyz', b64('svc-ledger-old')]);
    expect(out.requestObject).toEqual([
      { op: 'replace', path: '/data/password', value: PATCH_VALUE_MARKER },
      { op: 'add', path: '/stringData', value: { token: PATCH_VALUE_MARKER, user: PATCH_VALUE_MARKER } },
      { op: 'test', path: '/data/user', value: PATCH_VALUE_MARKER },
      { op: 'remove', path: '/data/old' },
      { op: 'copy', from: '/data/password', path: '/data/backup' },
    ]);
  });

  it('a body logged as text (a YAML patch) on secrets is replaced whole', () => {
    const yaml = 'stringData:\n  password: yaml-patch-password-77\n';
    const out = redactsClean(withBodies(patched, { requestObject: yaml }), ['yaml-patch-password-77']);
    expect(out.requestObject).toBe(SECRET_MARKER);
  });

  it('SecretList response: every item (list items carry no kind)', () => {
    const items = ['ledger-db-credentials', 'stripe-api-key', 'etcd-backup-s3'].map((name, i) => ({
      metadata: { name, namespace: 'payments', uid: `u${i}`, annotations: { [LAST_APPLIED]: `{"data":{"k":"${b64(`item-secret-${i}-value`)}"}}` } },
      data: { k: b64(`item-secret-${i}-value`) },
      type: 'Opaque',
    }));
    const line = withBodies(listed, { responseObject: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '999' }, items } });
    const out = redactsClean(line, items.map((it) => it.data.k));
    expect(out.responseObject.items.map((it: any) => it.metadata.name)).toEqual(['ledger-db-credentials', 'stripe-api-key', 'etcd-backup-s3']);
    expect(out.responseObject.items.every((it: any) => it.data.k === SECRET_MARKER)).toBe(true);
  });

  it('Secrets nested anywhere: a v1 List inside a custom resource, a Table with objects', () => {
    const crd = real((o) => o.objectRef?.resource === 'deployments' && o.verb === 'create' && o.requestObject);
    const nested = withBodies(crd, {
      requestObject: {
        kind: 'Bundle',
        apiVersion: 'example.io/v1',
        spec: {
          manifests: {
            kind: 'List',
            apiVersion: 'v1',
            items: [
              secret('inner', 'x', { stringData: { pw: 'nested-list-password' } }),
              { kind: 'ConfigMap', data: { pw: 'not-a-secret-value' } },
            ],
          },
        },
      },
      responseObject: {
        kind: 'Table',
        apiVersion: 'meta.k8s.io/v1',
        rows: [{ cells: ['inner'], object: secret('inner', 'x', { data: { pw: b64('table-row-password') } }) }],
      },
    });
    const out = redactsClean(nested, ['nested-list-password', b64('table-row-password')]);
    expect(out.requestObject.spec.manifests.items[1].data.pw).toBe('not-a-secret-value');
  });

  it('a Secret data key named __proto__ is redacted like any other', () => {
    const body = JSON.parse(`{"data":{"__proto__":"${b64('proto-key-secret')}","a":"${b64('other-secret-a')}"}}`);
    const line = withBodies(patched, { requestObject: body });
    expect(line).toContain('"__proto__"');
    const out = redactsClean(line, [b64('proto-key-secret'), b64('other-secret-a')]);
    expect(Object.hasOwn(out.requestObject.data, '__proto__')).toBe(true);
  });

  it('a kind spelled with escapes in a raw patch body still counts', () => {
    const crd = real((o) => o.objectRef?.resource === 'deployments' && o.verb === 'patch' && o.requestObject);
    const line = withBodies(crd, { requestObject: { spec: { template: { kind: 'Secret', data: { pw: b64('escaped-kind-secret') } } } } })
      .replace('"kind":"Secret"', '"kind":"Secr\\u0065t"');
    expect(line).toContain('Secr\\u0065t');
    expect(line).not.toContain('"Secret"');
    redactsClean(line, [b64('escaped-kind-secret')]);
  });
});

describe('TokenRequest and TokenReview', () => {
  const tokenEvents = realLines.filter((l) => {
    const o = JSON.parse(l);
    return ref(o).resource === 'serviceaccounts' && ref(o).subresource === 'token' && o.responseStatus?.code === 201;
  });

  function tokenRequest(line: string, i: number, withKind = true) {
    const o = JSON.parse(line);
    const token =
      `eyJhbGciOiJSUzI1NiIsImtpZCI6Ik${i}In0.` +
      'eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjIl0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudCJ9.' +
      `sig${i}nature-bytes-${o.auditID}`;
    const spec = {
      audiences: ['https://kubernetes.default.svc'],
      expirationSeconds: 3607,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'report-gen-7d9f', uid: '0b7e1c2a' },
    };
    const metadata = { name: ref(o).name, namespace: ref(o).namespace, creationTimestamp: '2026-11-22T12:06:00Z' };
    const typeMeta = withKind ? { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1' } : {};
    return {
      token,
      line: withBodies(line, {
        requestObject: { ...typeMeta, metadata: { creationTimestamp: null }, spec, status: { token: '', expirationTimestamp: null } },
        responseObject: { ...typeMeta, metadata, spec, status: { token, expirationTimestamp: '2026-11-22T13:06:07Z' } },
      }),
    };
  }

  it(`every real TokenRequest (${tokenEvents.length}), as RequestResponse would log it: status.token goes`, () => {
    expect(tokenEvents.length).toBeGreaterThan(90);
    tokenEvents.forEach((line, i) => {
      const { line: rr, token } = tokenRequest(line, i);
      const out = redactsClean(rr, [token, token.split('.')[1], token.split('.')[2]]);
      expect(out.responseObject.status).toEqual({ token: TOKEN_MARKER, expirationTimestamp: '2026-11-22T13:06:07Z' });
      expect(out.requestObject.status.token).toBe(''); // nothing was there
      expect(out.responseObject.spec.boundObjectRef.name).toBe('report-gen-7d9f');
    });
  });

  it('without a kind in the body, objectRef serviceaccounts/token is enough', () => {
    const { line, token } = tokenRequest(tokenEvents[0], 0, false);
    expect(line).not.toContain('TokenRequest');
    redactsClean(line, [token]);
  });

  it('toggles: token_requests off leaves the token; secrets off does not matter', () => {
    const { line } = tokenRequest(tokenEvents[1], 1);
    expect(redact(line, { token_requests: false, ...NO_PATTERNS })).toBeUndefined();
    expect(redact(line, { secrets: false })).toBeTypeOf('string');
  });

  it('TokenReview: the reviewed bearer token in spec.token goes too', () => {
    const o = JSON.parse(tokenEvents[2]);
    o.requestURI = '/apis/authentication.k8s.io/v1/tokenreviews';
    o.objectRef = { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' };
    const bearer = 'eyJhbGciOiJSUzI1NiJ9.reviewed-bearer-token-payload.reviewed-signature';
    const review = { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1' };
    const sa = 'system:serviceaccount:payments:report-gen';
    const line = withBodies(JSON.stringify(o), {
      requestObject: { ...review, spec: { token: bearer, audiences: ['api'] }, status: { user: {} } },
      responseObject: { ...review, spec: { token: bearer }, status: { authenticated: true, user: { username: sa } } },
    });
    const out = redactsClean(line, [bearer]);
    expect(out.requestObject.spec.token).toBe(TOKEN_MARKER);
    expect(out.responseObject.status.user.username).toBe('system:serviceaccount:payments:report-gen');
  });
});

describe('configured paths', () => {
  const podCreate = real((o) => ref(o).resource === 'pods' && o.verb === 'create' && o.requestObject && o.responseObject && !ref(o).subresource);

  function podWithEnv(): string {
    const o = JSON.parse(podCreate);
    for (const body of [o.requestObject, o.responseObject]) {
      body.spec.containers = body.spec.containers.map((c: any, i: number) => ({
        ...c,
        env: [{ name: 'DB_PASSWORD', value: `env-password-${i}` }, { name: 'MODE', value: 'prod' }],
      }));
      body.spec.password = 'spec-level-password';
    }
    return JSON.stringify(o);
  }

  it('dot paths with [*] over arrays; the marker names the path', () => {
    const line = podWithEnv();
    const paths = ['requestObject.spec.containers[*].env[*].value', 'responseObject.spec.containers[*].env[*].value', 'responseObject.spec.password'];
    const out = redactsClean(line, ['env-password-0'], { paths, secrets: false, ...NO_PATTERNS });
    expect(out.requestObject.spec.containers[0].env).toEqual([
      { name: 'DB_PASSWORD', value: pathMarker(paths[0]) },
      { name: 'MODE', value: pathMarker(paths[0]) },
    ]);
    expect(out.responseObject.spec.password).toBe('[redacted: responseObject.spec.password]');
    expect(out.requestObject.spec.password).toBe('spec-level-password'); // not configured for the request
    expect(out.responseObject.spec.containers[0].env[0].value).toBe(pathMarker(paths[1]));
  });

  it('[*] as the last step blanks every element; a path that is not there changes nothing', () => {
    const line = podWithEnv();
    const out = redactsClean(line, [], { paths: ['responseObject.spec.containers[*].env[*]'], ...NO_PATTERNS });
    expect(out.responseObject.spec.containers[0].env).toEqual(Array(2).fill('[redacted: responseObject.spec.containers[*].env[*]]'));
    expect(redact(line, { paths: ['responseObject.items[*].spec.token'], ...NO_PATTERNS })).toBeUndefined();
    expect(redact(line, { paths: ['requestObject.spec.containers.env'], ...NO_PATTERNS })).toBeUndefined(); // containers is a list
  });

  it('paths over list responses: responseObject.items[*].spec.token', () => {
    const line = withBodies(podCreate, {
      responseObject: {
        kind: 'WidgetList',
        items: [{ spec: { token: 'widget-token-aaaa' } }, { spec: {} }, { spec: { token: 'widget-token-bbbb' } }],
      },
    });
    const out = redactsClean(line, ['widget-token-aaaa', 'widget-token-bbbb'], { paths: ['responseObject.items[*].spec.token'] });
    expect(out.responseObject.items[1]).toEqual({ spec: {} });
  });

  it('a path outside the bodies, on an event without bodies', () => {
    const line = real((o) => o.level === 'Metadata' && typeof o.user.uid === 'string');
    const uid = JSON.parse(line).user.uid;
    expect(uid).toBeTypeOf('string');
    const ev = event(line);
    const out = compileRedaction({ ...DEFAULTS, paths: ['user.uid', 'sourceIPs[*]'] }).redact(ev);
    const outObj = JSON.parse(out!);
    expect(outObj.user).toEqual({ ...JSON.parse(line).user, uid: pathMarker('user.uid') });
    expect(outObj.sourceIPs.every((ip: string) => ip === pathMarker('sourceIPs[*]'))).toBe(true);
    expect(out).not.toContain(uid);
    // Detection still reads the real values.
    expect(ev.head.user.uid).toBe(uid);
    expect(ev.full().user.uid).toBe(uid);
    expect(ev.head.sourceIPs).toEqual(JSON.parse(line).sourceIPs);
  });

  it('a malformed path is refused at start-up', () => {
    expect(() => compileRedaction({ ...DEFAULTS, paths: ['requestObject..spec'] })).toThrow(/bad segment/);
  });
});

describe('credentials by pattern, on real events', () => {
  const podCreate = real((o) => ref(o).resource === 'pods' && o.verb === 'create' && o.requestObject && o.responseObject && !ref(o).subresource);
  const configMapPatch = real((o) => ref(o).resource === 'configmaps' && o.verb === 'patch') ?? podCreate;

  it('env values, probe headers, args, last-applied and the query of the requestURI; the head keeps its values', () => {
    const o = JSON.parse(podCreate);
    o.requestURI += '?fieldManager=kubectl&access_token=uri-token-1111';
    for (const body of [o.requestObject, o.responseObject]) {
      const c = body.spec.containers[0];
      c.env = [{ name: 'DB_PASSWORD', value: 'env-password-1111' }, { name: 'MODE', value: 'prod' }];
      c.args = ['--api-key', 'arg-key-1111', '--log=debug'];
      c.livenessProbe = { httpGet: { path: '/healthz', port: 8080, httpHeaders: [{ name: 'Authorization', value: 'Bearer header-token-1111' }] } };
      body.metadata.annotations = { ...body.metadata.annotations, [LAST_APPLIED]: JSON.stringify({ kind: 'Pod', spec: { containers: [{ name: c.name, env: [{ name: 'DB_PASSWORD', value: 'env-password-1111' }] }] } }) };
    }
    const line = JSON.stringify(o);
    const ev = event(line);
    const out = compileRedaction(DEFAULTS).redact(ev)!;
    for (const v of ['env-password-1111', 'arg-key-1111', 'header-token-1111', 'uri-token-1111']) expect(out).not.toContain(v);
    const got = JSON.parse(out);
    expect(got.requestURI).toBe(`${JSON.parse(podCreate).requestURI}?fieldManager=kubectl&access_token=[redacted: token]`);
    const c = got.responseObject.spec.containers[0];
    expect(c.env).toEqual([{ name: 'DB_PASSWORD', value: '[redacted: password]' }, { name: 'MODE', value: 'prod' }]);
    expect(c.args).toEqual(['--api-key', '[redacted: api_key]', '--log=debug']);
    expect(c.livenessProbe.httpGet.httpHeaders).toEqual([{ name: 'Authorization', value: '[redacted: authorization]' }]);
    expect(JSON.parse(got.requestObject.metadata.annotations[LAST_APPLIED]).spec.containers[0].env[0].value).toBe('[redacted: password]');
    expect(Object.keys(got)).toEqual(Object.keys(o));
    // The head is blanked on a copy: what the apiserver wrote stays readable where the head is read.
    expect(ev.head.requestURI).toContain('uri-token-1111');
    expect(compileRedaction(DEFAULTS).redact(event(out))).toBeUndefined();
  });

  it('a ConfigMap patch: the keys stay, values under credential-like names and in config files go', () => {
    const line = withBodies(configMapPatch.replace(/"resource":"[a-z]+"/, '"resource":"configmaps"'), {
      requestObject: { data: { 'app.properties': 'db.user=app\ndb.password=cm-password-2222\n', API_TOKEN: 'cm-token-2222', LOG_LEVEL: 'debug' } },
    }, 'Request');
    const out = redactsClean(line, ['cm-password-2222', 'cm-token-2222']);
    expect(out.requestObject.data).toEqual({ 'app.properties': 'db.user=app\ndb.password=[redacted: password]\n', API_TOKEN: '[redacted: token]', LOG_LEVEL: 'debug' });
  });

  it('a kubelet status patch is not scanned, the whole pod of a logged response is', () => {
    const o = JSON.parse(podCreate);
    const pod = o.responseObject;
    pod.spec.containers[0].env = [{ name: 'DB_PASSWORD', value: 'env-password-3333' }];
    o.objectRef.subresource = 'status';
    o.verb = 'patch';
    const patch = { status: { containerStatuses: [{ name: 'c', state: { terminated: { message: 'password=message-3333' } } }] } };
    const requestOnly = withBodies(JSON.stringify({ ...o, requestObject: undefined, responseObject: undefined }), { requestObject: patch }, 'Request');
    const spy = vi.spyOn(event(requestOnly), 'full');
    expect(redact(requestOnly)).toBeUndefined();
    expect(spy).not.toHaveBeenCalled();
    const both = withBodies(JSON.stringify({ ...o, requestObject: undefined, responseObject: undefined }), { requestObject: patch, responseObject: pod });
    const out = JSON.parse(redact(both)!);
    expect(out.responseObject.spec.containers[0].env[0].value).toBe('[redacted: password]');
    expect(out.requestObject).toEqual(patch);
  });

  it('leases are not scanned; `skip: []` scans them too', () => {
    // The capture logs leases at Metadata level; the benchmark's generator writes them as a log-everything policy does.
    const lease = [...generateAuditLines(200)].find((l) => l.includes('"resource":"leases"') && l.includes('"requestObject"'))!;
    const o = JSON.parse(lease);
    o.requestObject.metadata.annotations = { 'example.com/token': 'lease-token-4444' };
    const line = JSON.stringify(o);
    expect(redact(line)).toBeUndefined();
    expect(redact(line, { patterns: { enabled: true, keys: {}, values: {}, skip: [] } })).not.toContain('lease-token-4444');
  });
});

describe('the common case is cheap', () => {
  it('no event of the real capture is changed or fully parsed (secrets and tokens there are Metadata-only)', () => {
    const redactor = compileRedaction({ ...DEFAULTS, ...NO_PATTERNS });
    let fullParses = 0;
    let bodied = 0;
    for (const line of realLines) {
      const ev = event(line);
      if (ev.hasRequestObject || ev.hasResponseObject) bodied++;
      const spy = vi.spyOn(ev, 'full');
      expect(redactor.redact(ev)).toBeUndefined();
      fullParses += spy.mock.calls.length;
    }
    expect(bodied).toBeGreaterThan(1500);
    expect(fullParses).toBe(0);
  });

  it('patterns change no event of the real capture, and parse almost none (never a skipped resource\'s, never one without bodies)', () => {
    const redactor = compileRedaction(DEFAULTS);
    let parsed = 0;
    let bodied = 0;
    for (const line of realLines) {
      const ev = event(line);
      if (ev.hasRequestObject || ev.hasResponseObject) bodied++;
      const before = ev.parsed; // a short line is parsed whole by parseAuditLine
      const spy = vi.spyOn(ev, 'full');
      expect(redactor.redact(ev), line).toBeUndefined();
      if (spy.mock.calls.length === 0 || before) continue;
      parsed++;
      expect(ev.hasRequestObject || ev.hasResponseObject).toBe(true);
      expect(DEFAULT_SKIP).not.toContain(ev.head.objectRef?.resource);
    }
    // The text of the others shows no name, value or shape a pattern looks for.
    expect(parsed).toBeLessThan(bodied / 50);
  });

  it('pods with imagePullSecrets and serviceAccountToken volumes are not mistaken for Secrets or TokenRequests', () => {
    const projected = (o: any) => JSON.stringify(o.responseObject ?? {}).includes('serviceAccountToken');
    const pod = JSON.parse(real((o) => ref(o).resource === 'pods' && o.verb === 'create' && projected(o)));
    pod.requestObject.spec.imagePullSecrets = [{ name: 'registry-pull' }];
    const ev = event(JSON.stringify(pod));
    const spy = vi.spyOn(ev, 'full');
    expect(compileRedaction({ ...DEFAULTS, ...NO_PATTERNS }).redact(ev)).toBeUndefined();
    expect(spy).not.toHaveBeenCalled();
    expect(compileRedaction(DEFAULTS).redact(ev)).toBeUndefined(); // scanned by pattern, nothing found
  });

  it('after redaction, full() is the redacted event: what is forwarded is what later stages see', () => {
    const patched = real((o) => ref(o).resource === 'secrets' && o.verb === 'patch');
    const ev = event(withBodies(patched, { requestObject: { data: { k: b64('seen-by-rules-later') } } }));
    const out = compileRedaction(DEFAULTS).redact(ev);
    expect(ev.full()).toEqual(JSON.parse(out!));
  });

  it('everything off: a no-op', () => {
    const patched = real((o) => ref(o).resource === 'secrets' && o.verb === 'patch');
    const line = withBodies(patched, { requestObject: { data: { k: b64('left-alone') } } });
    expect(redact(line, { secrets: false, token_requests: false })).toBeUndefined();
  });

  it('markers share one prefix', () => {
    for (const m of [SECRET_MARKER, LAST_APPLIED_MARKER, PATCH_VALUE_MARKER, TOKEN_MARKER, pathMarker('a.b')]) {
      expect(m.startsWith(REDACTED_PREFIX)).toBe(true);
    }
  });
});
