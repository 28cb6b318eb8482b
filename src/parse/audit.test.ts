// Audit line parsing: the cheap head must say what a full JSON.parse says, on real corpora and on hostile lines.
import { describe, expect, it } from 'vitest';
import { annotationsFromFull, headFromFull, parseAuditLine, type AuditEvent, type ParseResult } from './audit.ts';
import { audit2rbacLines, falcoFiles, realApiserverFiles, realApiserverLines } from './test-corpus.ts';

const ORDER = [
  'kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs',
  'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp',
  'stageTimestamp', 'annotations',
];

/** Serialises an event the way the apiserver orders it (unknown keys last). */
function canonical(o: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const k of ORDER) if (o[k] !== undefined) out[k] = o[k];
  for (const k of Object.keys(o)) if (!(k in out)) out[k] = o[k];
  return JSON.stringify(out);
}

function ok(r: ParseResult): AuditEvent {
  if (!r.ok) throw new Error(`expected an event, got: ${r.error}`);
  return r.event;
}

/**
 * The property every test rests on: whatever the line, the parser either rejects it or returns the head,
 * annotations and body flags a full JSON.parse gives. A line JSON.parse rejects may only be accepted when the damage
 * is inside the bodies, and then `full()` must throw.
 */
function agree(line: string): ParseResult {
  const r = parseAuditLine(line);
  let full: any;
  try {
    full = JSON.parse(line);
  } catch {
    if (r.ok) expect(() => r.event.full()).toThrow(/not valid JSON/);
    return r;
  }
  const want = headFromFull(full);
  if (typeof want === 'string') {
    expect(r).toEqual({ ok: false, error: want });
    return r;
  }
  const wantAnnotations = annotationsFromFull(full);
  if (typeof wantAnnotations === 'string') {
    expect(r).toEqual({ ok: false, error: wantAnnotations });
    return r;
  }
  const event = ok(r);
  expect(event.head).toStrictEqual(want);
  expect(event.annotations()).toStrictEqual(wantAnnotations);
  expect(event.hasRequestObject).toBe(full.requestObject != null);
  expect(event.hasResponseObject).toBe(full.responseObject != null);
  expect(event.full()).toStrictEqual(full);
  return r;
}

const realLines = realApiserverLines();
const withBothBodies = realLines.filter((l) => {
  const o = JSON.parse(l);
  return o.requestObject != null && o.responseObject != null && l.length > 4000;
});
// A real RequestResponse event with both bodies: the base of the hostile variants below.
const base: Record<string, any> = JSON.parse(withBothBodies[0]);
const baseLine = canonical(base);

function variant(change: (o: Record<string, any>) => void): string {
  const o = structuredClone(base);
  change(o);
  return canonical(o);
}

describe('parseAuditLine on real corpora', () => {
  it.each(realApiserverFiles().map((f) => [f.name, f.lines] as const))(
    'real-apiserver %s: every line parses and the head equals a full parse',
    (_name, lines) => {
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(agree(line).ok).toBe(true);
    },
  );

  it('real-apiserver: 6,103 events, and the bodies are skipped for most events that have them', () => {
    expect(realLines).toHaveLength(6103);
    let bodied = 0;
    let cheap = 0;
    for (const line of realLines) {
      const event = ok(parseAuditLine(line));
      if (event.hasRequestObject || event.hasResponseObject) bodied++;
      if (event.cheap) cheap++;
    }
    expect(bodied).toBe(1732);
    expect(cheap).toBeGreaterThan(1400);
  });

  it('real-apiserver: events without annotations (failed authentication) give {}', () => {
    const noAnnotations = realLines.filter((l) => !l.includes(',"annotations":{'));
    expect(noAnnotations.length).toBe(38);
    for (const line of noAnnotations) expect(ok(parseAuditLine(line)).annotations()).toEqual({});
  });

  it('audit2rbac demo.log: 37 events with impersonatedUser', () => {
    const lines = audit2rbacLines();
    expect(lines).toHaveLength(37);
    for (const line of lines) {
      const event = ok(agree(line));
      expect(event.head.user.username).toBe('system:admin');
      expect(event.head.impersonatedUser?.username).toMatch(/^(bob|alice|system:serviceaccount:ns1:sa1)$/);
    }
  });

  it('falco traces: every event parses (hand-made key orders, v1beta1, no apiVersion); fal_01_003 is rejected', () => {
    const files = falcoFiles();
    let events = 0;
    for (const file of files) {
      if (file.name === 'fal_01_003.json') {
        expect(parseAuditLine(file.text)).toEqual({ ok: false, error: 'not an audit event: kind 0' });
        continue;
      }
      for (const text of file.objects) {
        expect(agree(JSON.stringify(JSON.parse(text))).ok).toBe(true);
        if (!text.includes('\n')) expect(agree(text).ok).toBe(true);
        events++;
      }
    }
    expect(files.find((f) => f.name === 'create_configmap_sensitive_values.json')?.objects).toHaveLength(6);
    expect(events).toBe(51);
  });

  it('full() is parsed once and cached; the head keeps the parsed types', () => {
    const event = ok(parseAuditLine(baseLine));
    expect(event.cheap).toBe(true);
    const full = event.full();
    expect(event.full()).toBe(full);
    expect(full.auditID).toBe(event.head.auditID);
    expect(typeof event.head.responseStatus?.code).toBe('number');
  });
});

describe('parseAuditLine rejects what is not an audit event', () => {
  it.each([
    ['[1,2,3]', 'not an audit event: JSON array'],
    ['42', 'not an audit event: JSON number'],
    ['"a string"', 'not an audit event: JSON string'],
    ['null', 'not an audit event: JSON null'],
    ['true', 'not an audit event: JSON boolean'],
    ['{}', 'not an audit event: kind missing'],
    ['{"kind":"Pod","apiVersion":"v1"}', 'not an audit event: kind "Pod"'],
    ['{"kind":"Event","apiVersion":"v1","auditID":"a","stage":"ResponseComplete"}', 'not an audit event: apiVersion "v1"'],
    ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete"}', 'missing auditID'],
    ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":7,"stage":"ResponseComplete"}', 'missing auditID'],
    ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":""}', 'missing stage'],
    ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"x","verb":1}', 'bad verb'],
    ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"x","user":{"groups":"g"}}', 'bad user.groups'],
    [
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"x","annotations":{"a":1}}',
      'bad annotations: expected an object of strings',
    ],
  ])('%s → %s', (line, error) => {
    expect(parseAuditLine(line)).toEqual({ ok: false, error });
  });

  it('not JSON: the reason names the problem but quotes none of the line', () => {
    const r = parseAuditLine('{"kind":"Event","data":hunter2-password}');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/^not JSON: /);
      expect(r.error).not.toContain('hunter2');
    }
    expect(parseAuditLine('')).toMatchObject({ ok: false, error: expect.stringMatching(/^not JSON: /) });
    expect(parseAuditLine(undefined as unknown as string)).toMatchObject({ ok: false });
  });

  it('v1beta1 is accepted; CRLF and trailing blanks are tolerated', () => {
    const beta = baseLine.replace('"apiVersion":"audit.k8s.io/v1"', '"apiVersion":"audit.k8s.io/v1beta1"');
    expect(ok(agree(beta)).head.apiVersion).toBe('audit.k8s.io/v1beta1');
    expect(ok(agree(beta)).cheap).toBe(true);
    expect(ok(agree(baseLine + '\r')).head).toEqual(ok(parseAuditLine(baseLine)).head);
    expect(agree(baseLine + '  \t').ok).toBe(true);
  });
});

describe('parseAuditLine on hostile lines: the head is what a full parse says, or the line is rejected', () => {
  it('the base line takes the cheap path', () => {
    expect(ok(agree(baseLine)).cheap).toBe(true);
  });

  it.each(['requestObject', 'responseObject', 'requestReceivedTimestamp', 'annotations', 'stageTimestamp'])(
    'user.extra key named %s (first, middle and last key of the map)',
    (key) => {
      for (const extra of [
        { [key]: ['x'] },
        { a: ['1'], [key]: ['{"verb":"delete"}'], z: ['2'] },
        { a: ['1'], [key]: [] },
      ]) {
        const line = variant((o) => {
          o.user = { ...o.user, extra };
        });
        const event = ok(agree(line));
        expect(event.head.user.extra).toEqual(extra);
        expect(event.head.verb).toBe(base.verb);
      }
    },
  );

  it('values holding `","requestObject":{` and other key look-alikes as escaped text', () => {
    const fake = '","requestObject":{"x":1}},"requestReceivedTimestamp":"2020-01-01T00:00:00Z","verb":"get","annotations":{"a":"';
    const lines = [
      variant((o) => (o.userAgent = fake)),
      variant((o) => (o.requestURI = `/api/v1/pods?x=${fake}`)),
      variant((o) => (o.user.username = fake)),
      variant((o) => (o.objectRef.name = fake)),
      variant((o) => (o.annotations = { ...o.annotations, [fake]: fake })),
      variant((o) => (o.responseObject.metadata.labels = { fake })),
      variant((o) => (o.userAgent = 'ends with a backslash \\')),
      variant((o) => (o.userAgent = '\\",\\"requestObject\\":{')),
    ];
    for (const line of lines) expect(agree(line).ok).toBe(true);
    expect(ok(parseAuditLine(lines[0])).head.userAgent).toBe(fake);
    expect(ok(parseAuditLine(lines[0])).cheap).toBe(true);
    expect(ok(parseAuditLine(lines[4])).annotations()[fake]).toBe(fake);
  });

  it('unicode escapes (\\u0022) in userAgent and keys spelled with escapes', () => {
    const esc = baseLine.replace(
      /"userAgent":"[^"]*"/,
      '"userAgent":"x\\u0022,\\u0022requestObject\\u0022:{\\u0022verb\\u0022:\\u0022delete\\u0022}"',
    );
    expect(esc).not.toBe(baseLine);
    const event = ok(agree(esc));
    expect(event.head.userAgent).toBe('x","requestObject":{"verb":"delete"}');
    // A head key spelled with escapes and moved among the bodies: the cheap path must not skip it.
    const moveEscaped = (key: string, escaped: string, value: unknown) => {
      const o = structuredClone(base);
      delete o[key];
      const line = canonical(o);
      const at = line.indexOf(',"responseObject":');
      return `${line.slice(0, at)},"${escaped}":${JSON.stringify(value)}${line.slice(at)}`;
    };
    expect(ok(agree(moveEscaped('verb', '\\u0076erb', 'deletecollection'))).head.verb).toBe('deletecollection');
    const hiddenRef = moveEscaped('objectRef', '\\u006fbjectRef', { resource: 'secrets' });
    expect(ok(agree(hiddenRef)).head.objectRef?.resource).toBe('secrets');
    const plainImp = moveEscaped('impersonatedUser', 'impersonatedUser', { username: 'x' });
    expect(ok(agree(plainImp)).head.impersonatedUser).toEqual({ username: 'x' });
    // Pinned gap: the one optional head key, moved among the bodies AND spelled with escapes, is not looked for.
    // Only a writer other than the apiserver could produce it (Go never escapes letters, never reorders).
    const escapedImp = ok(parseAuditLine(moveEscaped('impersonatedUser', 'impersonated\\u0055ser', { username: 'x' })));
    expect(escapedImp.head.impersonatedUser).toBeUndefined();
    expect(escapedImp.full().impersonatedUser).toEqual({ username: 'x' });
    // The body key itself spelled with escapes: no cut is found there.
    expect(agree(baseLine.replace(',"requestObject":', ',"\\u0072equestObject":')).ok).toBe(true);
  });

  it('key order changed', () => {
    const move = (key: string, after: string) => {
      const o = structuredClone(base);
      const v = o[key];
      delete o[key];
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(o)) {
        out[k] = val;
        if (k === after) out[key] = v;
      }
      return JSON.stringify(out);
    };
    const reordered = [
      move('objectRef', 'requestObject'),
      move('verb', 'responseObject'),
      move('user', 'requestObject'),
      move('impersonatedUser' in base ? 'impersonatedUser' : 'sourceIPs', 'responseObject'),
      move('verb', 'stageTimestamp'),
      move('annotations', 'responseStatus'),
      move('annotations', 'requestObject'),
      move('requestReceivedTimestamp', 'objectRef'),
      move('responseStatus', 'annotations'),
      JSON.stringify(Object.fromEntries(Object.entries(base).sort(([a], [b]) => a.localeCompare(b)))),
      JSON.stringify(Object.fromEntries(Object.entries(base).reverse())),
      JSON.stringify(base, null, 2),
    ];
    for (const line of reordered) {
      const event = ok(agree(line));
      expect(event.head.verb).toBe(base.verb);
      expect(event.head.objectRef).toEqual(base.objectRef);
      expect(event.annotations()).toEqual(base.annotations);
    }
  });

  it('a duplicate top-level key in the head or the tail is read as a full parse reads it (the last one)', () => {
    for (const where of [',"user":', ',"requestReceivedTimestamp":', ',"annotations":']) {
      // Top-level keys: the last occurrence (a body may hold nested ones of the same name).
      const at = baseLine.lastIndexOf(where);
      const line = `${baseLine.slice(0, at)},"verb":"deletecollection"${baseLine.slice(at)}`;
      expect(ok(agree(line)).head.verb).toBe('deletecollection');
    }
  });

  it('a duplicate top-level key among the bodies is not looked for (no apiserver writes one): pinned here', () => {
    const at = baseLine.indexOf(',"responseObject":');
    const line = `${baseLine.slice(0, at)},"verb":"deletecollection"${baseLine.slice(at)}`;
    const event = ok(parseAuditLine(line));
    expect(event.cheap).toBe(true);
    expect(event.head.verb).toBe(base.verb);
    expect(event.full().verb).toBe('deletecollection');
  });

  it('nested annotations in responseObject.metadata when the top-level annotations are absent', () => {
    const line = variant((o) => {
      delete o.annotations;
      o.responseObject.metadata.annotations = { 'authorization.k8s.io/decision': 'allow', x: 'y' };
    });
    expect(line.endsWith('"}')).toBe(true);
    expect(ok(agree(line)).annotations()).toEqual({});
    // The same map as the last key of the last body, right before the timestamps.
    const last = variant((o) => {
      delete o.annotations;
      o.responseObject = { kind: 'ConfigMap', metadata: { name: 'x' }, data: { big: 'x'.repeat(2000) }, annotations: { a: 'b' } };
    });
    expect(ok(agree(last)).annotations()).toEqual({});
  });

  it('responseObject look-alikes inside the requestObject', () => {
    const data = { responseObject: 'x', z: 'y'.repeat(1000) };
    const withResponse = variant((o) => (o.requestObject = { kind: 'ConfigMap', data, nested: { a: 1, responseObject: {} } }));
    const withoutResponse = variant((o) => {
      o.requestObject = { kind: 'ConfigMap', data, nested: { a: 1, responseObject: {} } };
      delete o.responseObject;
    });
    const many = variant((o) => {
      o.requestObject = { a: 0, ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, { a: 1, responseObject: i }])) };
      delete o.responseObject;
    });
    expect(ok(agree(withResponse)).hasResponseObject).toBe(true);
    expect(ok(agree(withoutResponse)).hasResponseObject).toBe(false);
    expect(ok(agree(many)).hasResponseObject).toBe(false);
    expect(ok(parseAuditLine(withoutResponse)).cheap).toBe(true);
  });

  it('null bodies', () => {
    const nullResponse = ',"responseObject":null,"requestReceivedTimestamp":';
    expect(agree(baseLine.replace(/,"responseObject":.*,"requestReceivedTimestamp":/, nullResponse)).ok).toBe(true);
    expect(agree(baseLine.replace(/,"requestObject":.*?,"responseObject":/, ',"requestObject":null,"responseObject":')).ok).toBe(true);
  });

  it('every truncation of real lines is rejected', () => {
    const samples = [baseLine, withBothBodies[7], realLines.find((l) => l.includes('"level":"Metadata"'))!];
    for (const line of samples) {
      for (let n = 0; n < line.length; n++) {
        const r = parseAuditLine(line.slice(0, n));
        if (r.ok) throw new Error(`accepted a line cut at ${n} of ${line.length}`);
      }
    }
  });

  it('a torn line with the next line glued on is rejected, wherever the tear is', () => {
    const next = realLines[100];
    for (let n = 1; n < baseLine.length; n++) {
      const r = parseAuditLine(baseLine.slice(0, n) + next);
      if (r.ok) throw new Error(`accepted a tear at ${n}`);
    }
  });

  it('a NUL byte anywhere is rejected (inserted or overwriting)', () => {
    const line = withBothBodies[3];
    for (let i = 0; i < line.length; i++) {
      if (parseAuditLine(line.slice(0, i) + '\0' + line.slice(i)).ok) throw new Error(`accepted NUL inserted at ${i}`);
      if (parseAuditLine(line.slice(0, i) + '\0' + line.slice(i + 1)).ok) throw new Error(`accepted NUL at ${i}`);
    }
    expect(parseAuditLine('\0'.repeat(4096) + baseLine).ok).toBe(false);
  });

  it('random byte damage never yields a head that differs from a full parse', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'a', '0', '\u2028', 'é'];
    const samples = [baseLine, ...withBothBodies.slice(1, 6), ...realLines.slice(0, 20)];
    let accepted = 0;
    for (let k = 0; k < 3000; k++) {
      const line = samples[rand(samples.length)];
      const i = rand(line.length);
      const c = alphabet[rand(alphabet.length)];
      const op = rand(3);
      const damaged = line.slice(0, i) + (op === 0 ? '' : c) + line.slice(op === 1 ? i : i + 1);
      if (agree(damaged).ok) accepted++;
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('a 1 MiB line', () => {
    const big = variant((o) => {
      o.responseObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'big' }, data: { blob: 'x'.repeat(1 << 20) } };
    });
    expect(big.length).toBeGreaterThan(1 << 20);
    const event = ok(agree(big));
    expect(event.cheap).toBe(true);
    expect(event.head.auditID).toBe(base.auditID);

    const manyKeys = variant((o) => {
      o.user = { ...o.user, extra: Object.fromEntries(Array.from({ length: 40000 }, (_, i) => [`requestObject${i}`, ['v']])) };
    });
    expect(manyKeys.length).toBeGreaterThan(1 << 20);
    expect(agree(manyKeys).ok).toBe(true);

    expect(parseAuditLine('{'.repeat(1 << 20)).ok).toBe(false);
    expect(parseAuditLine(baseLine.slice(0, -1) + ' '.repeat(1 << 20) + '}').ok).toBe(true);
  });
});

describe('parseAuditLine on events a log pipeline trimmed', () => {
  // As some exporters and hand-written rule tests give them: no auditID, stage, level, objectRef or timestamps.
  const trimmed = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create","user":{"username":"attacker@example.com"},"sourceIPs":["203.0.113.42"],'
    + '"requestURI":"/api/v1/namespaces/production/serviceaccounts/persistence-sa/token","responseStatus":{"code":201}}';

  it('takes a missing stage for the completed request and reads the object from the request URI', () => {
    const r = parseAuditLine(trimmed);
    if (!r.ok) throw new Error(r.error);
    expect(r.event.head.stage).toBe('ResponseComplete');
    expect(r.event.head.objectRef).toEqual({ resource: 'serviceaccounts', namespace: 'production', name: 'persistence-sa', apiVersion: 'v1', subresource: 'token' });
  });

  it('gives an event without an auditID a stable one from its content, different for different content', () => {
    const a = parseAuditLine(trimmed);
    const again = parseAuditLine(trimmed);
    const other = parseAuditLine(trimmed.replace('persistence-sa', 'backdoor-sa'));
    if (!a.ok || !again.ok || !other.ok) throw new Error('not parsed');
    expect(a.event.head.auditID).toMatch(/^content-[0-9a-f]{32}$/);
    expect(again.event.head.auditID).toBe(a.event.head.auditID);
    expect(other.event.head.auditID).not.toBe(a.event.head.auditID);
  });

  it('keeps the objectRef the event has, and names none for a non-resource URL', () => {
    const own = parseAuditLine(trimmed.replace('"responseStatus"', '"objectRef":{"resource":"serviceaccounts","namespace":"production","name":"x"},"responseStatus"'));
    const health = parseAuditLine(trimmed.replace('/api/v1/namespaces/production/serviceaccounts/persistence-sa/token', '/livez'));
    if (!own.ok || !health.ok) throw new Error('not parsed');
    expect(own.event.head.objectRef).toEqual({ resource: 'serviceaccounts', namespace: 'production', name: 'x' });
    expect(health.event.head.objectRef).toBeUndefined();
  });
});
