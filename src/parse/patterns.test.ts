// Credentials by shape: the names and values each pattern recognises, in parsed bodies and in text, and the settings.
import { describe, expect, it } from 'vitest';
import { configSchema, type PatternsConfig } from '../config/schema.ts';
import { compilePatterns, DEFAULT_SKIP, KEY_PATTERNS, type CredentialPatterns } from './patterns.ts';

const DEFAULTS: PatternsConfig = { enabled: true, keys: {}, values: {}, skip: DEFAULT_SKIP };
const patterns = (over: Partial<PatternsConfig> = {}): CredentialPatterns => compilePatterns({ ...DEFAULTS, ...over })!;
const p = patterns();

/** The text redacted, and checked: a second pass changes nothing. */
function text(t: string, q: CredentialPatterns = p): string {
  const out = q.redactText(t);
  expect(q.redactText(out)).toBe(out);
  return out;
}

describe('key-name patterns', () => {
  it('match credential-like names at their end, in any case and spelling; leave references and look-alikes', () => {
    const hits: Record<string, string[]> = {
      password: ['password', 'DB_PASSWORD', 'mysqlRootPassword', 'db.passwd', 'PGPWD', 'ssh-passphrase'],
      secret: ['secret', 'clientSecret', 'CLIENT_SECRET', 'SECRET_KEY', 'webhook-secret'],
      token: ['token', 'GITHUB_TOKEN', 'access_token', 'bearerToken', 'refresh-tokens'],
      api_key: ['apiKey', 'API_KEY', 'x-api-key', 'apikey'],
      access_key: ['accessKey', 'aws_secret_access_key', 'ACCESS-KEY'],
      private_key: ['privateKey', 'ssh_private_key', 'tls.private-key', 'client-key-data', 'clientKeyData'],
      credentials: ['credentials', 'gcpCredential'],
      authorization: ['Authorization', 'proxy-authorization'],
    };
    expect(Object.keys(hits).sort()).toEqual(Object.keys(KEY_PATTERNS).sort());
    for (const [pattern, names] of Object.entries(hits)) for (const n of names) expect(p.keyPattern(n), n).toBe(pattern);
    for (const n of ['secretName', 'imagePullSecrets', 'tokenFile', 'passwordFile', 'serviceAccountName', 'name', 'key', 'value',
      'resourceVersion', 'keyRef', 'secretKeyRef', 'tokenExpirationSeconds', 'author', 'kind', '']) {
      expect(p.keyPattern(n), n).toBeUndefined();
    }
  });

  it('blank map entries, `value` beside a credential-like `name` or `key`, and string lists, in a parsed body', () => {
    const body = {
      kind: 'Deployment',
      metadata: { name: 'api', annotations: { 'example.com/api-token': 'tok-0001' } },
      spec: { template: { spec: { containers: [{
        name: 'api', image: 'api:1.2',
        env: [{ name: 'DB_PASSWORD', value: 'pw-0001' }, { name: 'MODE', value: 'prod' }, { value: 'tok-0002', name: 'API_TOKEN' },
          { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
        args: ['--db-password', 'pw-0002', '--token=tok-0003', '--verbose'],
        livenessProbe: { httpGet: { path: '/health', httpHeaders: [{ name: 'Authorization', value: 'Bearer tok-0004-abcdefgh' }] } },
      }] } } },
      extra: { tokens: ['tok-0005', 'tok-0006'], settings: { clientSecret: 'sec-0001', retries: 3 } },
    };
    const out = structuredClone(body);
    expect(p.redactBody(out)).toBe(true);
    const c = out.spec.template.spec.containers[0];
    expect(out.metadata.annotations['example.com/api-token']).toBe('[redacted: token]');
    expect(c.env).toEqual([{ name: 'DB_PASSWORD', value: '[redacted: password]' }, { name: 'MODE', value: 'prod' },
      { value: '[redacted: token]', name: 'API_TOKEN' }, body.spec.template.spec.containers[0].env[3]]);
    expect(c.args).toEqual(['--db-password', '[redacted: password]', '--token=[redacted: token]', '--verbose']);
    expect(c.livenessProbe.httpGet.httpHeaders[0]).toEqual({ name: 'Authorization', value: '[redacted: authorization]' });
    expect(out.extra).toEqual({ tokens: ['[redacted: token]', '[redacted: token]'], settings: { clientSecret: '[redacted: secret]', retries: 3 } });
    expect(c.image).toBe('api:1.2');
    expect(p.redactBody(out)).toBe(false); // nothing left
  });

  it('leave a body with nothing to blank as it is', () => {
    const body = { kind: 'Pod', spec: { serviceAccountName: 'api', automountServiceAccountToken: true, volumes: [{ name: 'kube-api-access',
      projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { secret: { secretName: 'db' } }] } }],
    imagePullSecrets: [{ name: 'registry' }], containers: [{ name: 'c', image: 'nginx:1.25', command: ['nginx', '-g', 'daemon off;'] }] } };
    const copy = structuredClone(body);
    expect(p.redactBody(copy)).toBe(false);
    expect(copy).toEqual(body);
  });
});

describe('text', () => {
  it('finds `name: value`, `name=value`, JSON entries (escaped too), flags, env pairs in both orders, query parameters', () => {
    expect(text('DB_PASSWORD=pw-1\nLOG=info')).toBe('DB_PASSWORD=[redacted: password]\nLOG=info');
    expect(text('spring.datasource.password=two words\nx=1')).toBe('spring.datasource.password=[redacted: password]\nx=1');
    expect(text('export DB_PASSWORD=pw-1; run')).toBe('export DB_PASSWORD=[redacted: password]; run');
    expect(text('db:\n  password: two words\n  user: bob')).toBe('db:\n  password: [redacted: password]\n  user: bob');
    expect(text('[default]\naws_secret_access_key = wJalr-1\naws_access_key_id = AKIA1')).toBe('[default]\naws_secret_access_key = [redacted: access_key]\naws_access_key_id = AKIA1');
    expect(text('{"data":{"DB_PASSWORD":"pw-1","x":"y"},"pin":"1"}')).toBe('{"data":{"DB_PASSWORD":"[redacted: password]","x":"y"},"pin":"1"}');
    expect(text('{\\"data\\":{\\"DB_PASSWORD\\":\\"pw-1\\"}}')).toBe('{\\"data\\":{\\"DB_PASSWORD\\":\\"[redacted: password]\\"}}');
    expect(text('{"env":[{"name":"DB_PASSWORD","value":"pw-1"},{"name":"MODE","value":"prod"}]}')).toBe('{"env":[{"name":"DB_PASSWORD","value":"[redacted: password]"},{"name":"MODE","value":"prod"}]}');
    expect(text('{"value":"tok-1","name":"API_TOKEN"}')).toBe('{"value":"[redacted: token]","name":"API_TOKEN"}');
    // The value of another item is never taken for the pair's: not before a name, not after it.
    expect(text('[{"name":"MODE","value":"prod"},{"name":"API_TOKEN","value":"tok-1"},{"value":"keep","name":"LOG"}]'))
      .toBe('[{"name":"MODE","value":"prod"},{"name":"API_TOKEN","value":"[redacted: token]"},{"value":"keep","name":"LOG"}]');
    expect(text('- name: MODE\n  value: prod\n- value: tok-1\n  name: API_TOKEN\n- value: keep\n  name: LOG'))
      .toBe('- name: MODE\n  value: prod\n- value: [redacted: token]\n  name: API_TOKEN\n- value: keep\n  name: LOG');
    // Argument lists written as JSON (kubectl's last-applied copy of a container).
    expect(text('{"args":["--api-key","key-1","--port","8080"],"command":["mysql","-uroot","-ppw-1"]}'))
      .toBe('{"args":["--api-key","[redacted: api_key]","--port","8080"],"command":["mysql","-uroot","-p[redacted: mysql_password]"]}');
    expect(text('env:\n- name: DB_PASSWORD\n  value: pw-1\n- name: MODE\n  value: prod')).toBe('env:\n- name: DB_PASSWORD\n  value: [redacted: password]\n- name: MODE\n  value: prod');
    expect(text('run --password pw-1 --user bob --password=pw-2')).toBe('run --password [redacted: password] --user bob --password=[redacted: password]');
    expect(text('/api/v1/pods?access_token=tok-1&limit=5')).toBe('/api/v1/pods?access_token=[redacted: token]&limit=5');
    expect(text('mount -o username=u,password=pw-1,domain=x')).toBe('mount -o username=u,password=[redacted: password],domain=x');
    expect(text('{"pin":1234,"apiKey":98765}')).toBe('{"pin":1234,"apiKey":"[redacted: api_key]"}');
    expect(text('{"automountServiceAccountToken":true,"token":null}')).toBe('{"automountServiceAccountToken":true,"token":null}');
    // A kubeconfig kept in a ConfigMap: the client key, the token and the password go; the certificate and server stay.
    const kubeconfig = 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: prod\nusers:\n- name: admin\n  user:\n'
      + '    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==\n'
      + '- name: ci\n  user:\n    token: tok-0001\n- name: old\n  user:\n    username: bob\n    password: pw-1\n';
    expect(text(kubeconfig)).toBe(kubeconfig
      .replace('LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==', '[redacted: private_key]')
      .replace('tok-0001', '[redacted: token]').replace('pw-1', '[redacted: password]'));
    expect(text(JSON.stringify({ users: [{ user: { 'client-key-data': 'LS0tLS1CRUdJTi' } }] }))).toBe('{"users":[{"user":{"client-key-data":"[redacted: private_key]"}}]}');
  });

  it('finds values by shape: bearer and basic credentials, JWTs, private keys, URL passwords, mysql -p', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl';
    expect(text(`curl -H "X-Auth: Bearer abcdefghijkl" http://x`)).toBe('curl -H "X-Auth: Bearer [redacted: bearer]" http://x');
    expect(text('basic Zm9vOmJhcmJhemJheg==')).toBe('basic [redacted: bearer]');
    expect(text(`note ${jwt} end`)).toBe('note [redacted: jwt] end');
    expect(text('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n')).toBe('-----BEGIN EC PRIVATE KEY-----[redacted: pem_private_key]-----END EC PRIVATE KEY-----\n');
    expect(text('-----BEGIN PRIVATE KEY-----\nMIIEvQ cut here')).toBe('-----BEGIN PRIVATE KEY-----[redacted: pem_private_key]');
    expect(text('DATABASE_URL: postgres://app:pw-1@db:5432/x')).toBe('DATABASE_URL: postgres://app:[redacted: url_password]@db:5432/x');
    expect(text('mysql -uroot -ppw-1 ledger')).toBe('mysql -uroot -p[redacted: mysql_password] ledger');
    expect(text('psql -p 5432 -h db')).toBe('psql -p 5432 -h db'); // a port, not a password: not a MySQL client
  });

  it('a string with no closing quote (a cut line) is blanked to its end', () => {
    expect(text('{"kind":"ConfigMap","data":{"DB_PASSWORD":"pw-1-cut')).toBe('{"kind":"ConfigMap","data":{"DB_PASSWORD":"[redacted: password]');
  });
});

describe('argument lists and request URIs', () => {
  it('blank -p<password> when the list runs a MySQL client, and a flag\'s separate value', () => {
    const a = ['/usr/bin/mysql', '-uroot', '-ppw-1', 'ledger'];
    expect(p.redactList(a, true)).toBe(true);
    expect(a).toEqual(['/usr/bin/mysql', '-uroot', '-p[redacted: mysql_password]', 'ledger']);
    const b = ['postgres', '-p', '5432', '--port', '5432'];
    expect(p.redactList(b, true)).toBe(false);
  });

  it('exec command lines and query parameters; the usual queries are decided without a scan', () => {
    expect(p.redactUri('/api/v1/namespaces/a/pods/b/exec?command=mysql&command=-uroot&command=-ppw-1&container=c&stdout=true'))
      .toBe('/api/v1/namespaces/a/pods/b/exec?command=mysql&command=-uroot&command=-p%5Bredacted%3A%20mysql_password%5D&container=c&stdout=true');
    expect(p.redactUri('/api/v1/namespaces/a/pods/b/exec?command=sh&command=-c&command=mysql+-uroot+-ppw-1&container=c'))
      .toBe('/api/v1/namespaces/a/pods/b/exec?command=sh&command=-c&command=mysql%20-uroot%20-p%5Bredacted%3A%20mysql_password%5D&container=c');
    expect(p.redactUri('/apis/x.io/v1/things?token=tok-1&watch=true')).toBe('/apis/x.io/v1/things?token=[redacted: token]&watch=true');
    for (const uri of ['/api/v1/pods', '/api/v1/namespaces/a/pods?labelSelector=app%3Dx&limit=500&resourceVersion=0',
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x?timeout=10s', '/api/v1/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=300']) {
      expect(p.uriMayHold(uri), uri).toBe(false);
    }
    expect(p.uriMayHold('/x?limit=1&access_token=tok-1')).toBe(true);
  });
});

describe('settings', () => {
  it('each built-in pattern can be turned off; every one off, or enabled: false, is no patterns at all', () => {
    const noPassword = patterns({ keys: { password: false }, values: { url_password: false } });
    expect(noPassword.keyPattern('DB_PASSWORD')).toBeUndefined();
    expect(noPassword.keyPattern('API_TOKEN')).toBe('token');
    expect(text('DB_PASSWORD=pw-1 url=postgres://a:pw-2@db', noPassword)).toBe('DB_PASSWORD=pw-1 url=postgres://a:pw-2@db');
    const noMysql = patterns({ values: { mysql_password: false } });
    const args = ['mysql', '-ppw-1'];
    expect(noMysql.redactList(args, true)).toBe(false);
    expect(text('mysql -ppw-1', noMysql)).toBe('mysql -ppw-1');
    const allOff = Object.fromEntries(Object.keys(KEY_PATTERNS).map((k) => [k, false]));
    const valuesOff = { bearer: false, jwt: false, pem_private_key: false, url_password: false, mysql_password: false };
    expect(compilePatterns({ ...DEFAULTS, keys: allOff, values: valuesOff })).toBeUndefined();
    expect(compilePatterns({ ...DEFAULTS, enabled: false })).toBeUndefined();
  });

  it('an operator\'s own key and value patterns, by regular expression', () => {
    const q = patterns({ keys: { pin: '(^|_)pin$' }, values: { ticket: 'TKT-[0-9A-F]{8}', session: 'sess=([a-z0-9]+)' } });
    expect(q.keyPattern('CARD_PIN')).toBe('pin');
    expect(q.keyPattern('spinner')).toBeUndefined();
    expect(text('CARD_PIN=1234\nsee TKT-0123ABCD and sess=abc123 here', q)).toBe('CARD_PIN=[redacted: pin]\nsee [redacted: ticket] and sess=[redacted: session] here');
    expect(q.uriMayHold('/x?limit=1')).toBe(true); // own patterns have no cheap test: every query is scanned
  });

  it('skips both bodies of a listed resource, and the request body of a listed subresource', () => {
    expect(p.skips('leases', undefined)).toBe('both');
    expect(p.skips('serviceaccounts', 'token')).toBe('both'); // TokenRequests: token_requests blanks their token
    expect(p.skips('deployments', 'status')).toBeUndefined(); // a controller sends the whole object, env included
    expect(p.skips('pods', 'status')).toBe('request'); // the kubelet's status patch; a logged response is the whole pod
    expect(p.skips('pods', undefined)).toBeUndefined();
    expect(p.skips('pods', 'exec')).toBeUndefined();
    const q = patterns({ skip: ['configmaps', 'deployments/scale'] });
    expect(q.skips('configmaps', undefined)).toBe('both');
    expect(q.skips('deployments', 'scale')).toBe('request');
    expect(q.skips('leases', undefined)).toBeUndefined();
  });

  it('the config refuses an unknown built-in name, an invalid or unsafe regular expression and a bad skip entry, naming the field', () => {
    const errors = (patternsCfg: unknown) => {
      const r = configSchema.safeParse({ redaction: { patterns: patternsCfg } });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(errors({ keys: { pin: true } })[0]).toMatch(/^redaction\.patterns\.keys\.pin: not a built-in pattern \(password, /);
    expect(errors({ values: { x: '(' } })[0]).toMatch(/^redaction\.patterns\.values\.x: not a valid regular expression/);
    expect(errors({ values: { x: '(a+)+$' } })[0]).toMatch(/^redaction\.patterns\.values\.x: /);
    expect(errors({ skip: ['Leases!'] })[0]).toMatch(/^redaction\.patterns\.skip\.0: expected a resource/);
    expect(errors({ keys: { password: false, pin: 'pin$' } })).toEqual([]);
    expect(configSchema.parse({}).redaction.patterns).toEqual(DEFAULTS);
  });
});
