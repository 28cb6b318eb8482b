// The FAKE Kubernetes API answers as the recorded kube-apiserver did: the same 404 bodies byte for byte, the same
// headers and framing (Content-Length for small bodies, chunked above 2 KiB, one watch event per chunk), the same
// ERROR 410 event and list 410, the same bookmark object, list items without kind.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusObject, FakeK8sApi, K8S_CORPUS, seedCorpus } from './fake-k8s-api.ts';
import { makeTestCerts, type TestCerts } from './tls.ts';

let certs: TestCerts;
let api: FakeK8sApi;

beforeAll(async () => {
  certs = await makeTestCerts();
  api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: 'tok' });
  seedCorpus(api);
});

afterAll(async () => {
  await api.close();
  await certs.cleanup();
});

const recorded = (file: string) => readFileSync(path.join(K8S_CORPUS, file), 'utf8');

/** One HTTP/1.1 request over TLS, the raw response bytes as they came (head and body, chunked framing kept). */
function raw(target: string, ms = 1500): Promise<{ head: string; body: string }> {
  const { port } = new URL(api.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port: Number(port), ca: certs.ca, servername: 'localhost' }, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    });
    const done = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      resolve({ head: text.slice(0, at), body: text.slice(at + 4) });
    };
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', done);
    socket.on('error', reject);
    setTimeout(() => socket.end(), ms).unref();
  });
}

/** The chunks of a chunked body: each one's payload. */
function chunksOf(body: string): string[] {
  const out: string[] = [];
  let rest = body;
  while (rest.length > 0) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) break;
    out.push(rest.slice(eol + 2, eol + 2 + size));
    rest = rest.slice(eol + 2 + size + 2);
  }
  return out;
}

describe('the fake Kubernetes API', () => {
  it('answers a GET of a deleted pod and of a deleted Job with the recorded 404 bodies, byte for byte, with Content-Length', async () => {
    api.put('pods', { ...corpusObject('owners/get-pod-of-statefulset.json'), metadata: { name: 'watch-demo-a', namespace: 'demo' } });
    api.delete('pods', 'demo', 'watch-demo-a');
    const pod = await raw('/api/v1/namespaces/demo/pods/watch-demo-a');
    expect(pod.head).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(pod.body).toBe(recorded('get-pod-deleted-404.json'));
    expect(pod.head).toContain(`Content-Length: ${Buffer.byteLength(recorded('get-pod-deleted-404.json'))}`);
    for (const h of ['Audit-Id: ', 'Cache-Control: no-cache, private', 'Content-Type: application/json', 'X-Kubernetes-Pf-Flowschema-Uid: ', 'X-Kubernetes-Pf-Prioritylevel-Uid: ']) {
      expect(pod.head).toContain(h);
    }

    api.put('jobs', corpusObject('owners/get-job-running.json'));
    api.delete('jobs', 'demo', 'report-export-29943768');
    expect((await raw('/apis/batch/v1/namespaces/demo/jobs/report-export-29943768')).body).toBe(recorded('owners/get-job-deleted-404.json'));
  });

  it('sends a found object chunked, as the recorded GETs above 2 KiB were, with the recorded content', async () => {
    const r = await raw('/apis/apps/v1/namespaces/payments/replicasets/ledger-api-8665cc4c74');
    expect(r.head).toContain('Transfer-Encoding: chunked');
    const got = JSON.parse(chunksOf(r.body).join('')) as { metadata: Record<string, unknown> };
    const want = JSON.parse(recorded('get-replicaset.json')) as { metadata: Record<string, unknown> };
    // The same object; only its resourceVersion is the fake's own.
    expect({ ...got, metadata: { ...got.metadata, resourceVersion: 'x' } }).toEqual({ ...want, metadata: { ...want.metadata, resourceVersion: 'x' } });
  });

  it('lists like the recorded PodList: items without kind or apiVersion, the list\'s resourceVersion, the node\'s pods only', async () => {
    const list = JSON.parse(chunksOf((await raw('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1')).body).join('')) as { kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: Array<Record<string, unknown> & { spec: { nodeName: string } }> };
    const want = JSON.parse(recorded('owners/list-pods-node-1.json')) as { items: Array<Record<string, unknown>> };
    expect([list.kind, list.apiVersion]).toEqual(['PodList', 'v1']);
    expect(list.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(list.items.every((p) => !('kind' in p) && !('apiVersion' in p) && p.spec.nodeName === 'node-1')).toBe(true);
    expect(want.items.every((p) => !('kind' in p))).toBe(true);
  });

  it('answers a watch from a compacted resourceVersion with HTTP 200 and one ERROR 410 event, and a list at it with HTTP 410, as recorded', async () => {
    api.compact();
    const w = await raw('/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=10');
    expect(w.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const events = chunksOf(w.body).map((c) => JSON.parse(c) as { type: string; object: Record<string, unknown> });
    const want = JSON.parse(recorded('watch-410-rv1.jsonl')) as { type: string; object: Record<string, unknown> };
    expect(events).toHaveLength(1);
    expect({ ...events[0]!.object, message: '' }).toEqual({ ...want.object, message: '' });
    expect(events[0]!.object.message).toMatch(/^too old resource version: 1 \(\d+\)$/);

    const l = await raw('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=1&resourceVersionMatch=Exact');
    expect(l.head).toMatch(/^HTTP\/1\.1 410 Gone\r\n/);
    expect(l.body).toBe(recorded('list-410-exact-rv.json'));
  });

  it('streams each watch event as one chunk: ADDED when a pod is bound to the node, MODIFIED, DELETED with the last state, and the recorded BOOKMARK object', async () => {
    const fast = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: 'tok', bookmarkSeconds: 0.3 });
    try {
      const pod = corpusObject('owners/get-pod-of-job-running.json');
      const unbound = structuredClone(pod);
      delete unbound.spec!.nodeName;
      const from = fast.put('pods', unbound).metadata.resourceVersion;
      const { port } = new URL(fast.url);
      const watching = new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const s = connect({ host: '127.0.0.1', port: Number(port), ca: certs.ca, servername: 'localhost' }, () => {
          s.write(`GET /api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=${from}&allowWatchBookmarks=true&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nConnection: close\r\n\r\n`);
        });
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        s.on('error', reject);
      });
      await new Promise((r) => setTimeout(r, 100));
      fast.put('pods', pod);
      fast.put('pods', corpusObject('owners/get-pod-of-job-succeeded.json'));
      fast.delete('pods', 'demo', 'report-export-29943768-677x8');
      const text = await watching;
      const events = chunksOf(text.slice(text.indexOf('\r\n\r\n') + 4)).map((c) => {
        expect(c.endsWith('\n') && c.indexOf('\n') === c.length - 1).toBe(true);
        return JSON.parse(c) as { type: string; object: { metadata: { name?: string; resourceVersion: string } } };
      });
      expect(events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
        'ADDED report-export-29943768-677x8', 'MODIFIED report-export-29943768-677x8', 'DELETED report-export-29943768-677x8',
      ]);
      const bookmark = events.find((e) => e.type === 'BOOKMARK')!;
      const recordedBookmark = recorded('watch-pods-node-1.jsonl').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as typeof bookmark).find((e) => e.type === 'BOOKMARK')!;
      expect({ ...bookmark.object, metadata: { ...bookmark.object.metadata, resourceVersion: 'x' } }).toEqual({ ...recordedBookmark.object, metadata: { ...recordedBookmark.object.metadata, resourceVersion: 'x' } });
    } finally {
      await fast.close();
    }
  });
});
