// The API client's configuration: refused settings name the field and the reason, and the server's certificate is
// verified against the kubeconfig's CA (checked against the FAKE Kubernetes API over TLS).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeK8sApi, kubeconfigFor, seedCorpus } from '../../test/utils/fake-k8s-api.ts';
import { makeTestCerts, type TestCerts } from '../../test/utils/tls.ts';
import { ApiGets } from './api-gets.ts';
import { connect, KubeConfigError } from './kube-client.ts';

let certs: TestCerts;
let dir: string;
let api: FakeK8sApi;

beforeAll(async () => {
  certs = await makeTestCerts();
  dir = await mkdtemp(path.join(tmpdir(), 'kaudit-kubeclient-'));
  api = await FakeK8sApi.start({ cert: certs.server.cert, key: certs.server.key, token: 'right-token' });
  seedCorpus(api);
});

afterAll(async () => {
  await api.close();
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfig(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

function getPod(kubeconfigFile: string) {
  const client = connect(kubeconfigFile);
  const gets = new ApiGets({ perSecond: 100, concurrency: 1, timeoutMs: 5000 });
  return gets.get('pod', (options) => client.core.readNamespacedPod({ namespace: 'demo', name: 'ledger-db-0' }, options));
}

describe('the Kubernetes API client', () => {
  it('reads a pod through a kubeconfig whose CA signed the server\'s certificate, with its bearer token', async () => {
    const r = await getPod(await kubeconfig('good', kubeconfigFor(api, certs.caFile, 'right-token')));
    expect(r.kind === 'found' && r.obj.metadata?.name).toBe('ledger-db-0');
  });

  it('refuses a server whose certificate the CA did not sign, and says why in a word', async () => {
    const selfSignedCa = path.join(dir, 'other-ca.crt');
    await writeFile(selfSignedCa, certs.selfSigned.cert);
    const r = await getPod(await kubeconfig('wrong-ca', kubeconfigFor(api, selfSignedCa, 'right-token')));
    expect(r).toMatchObject({ kind: 'error', reason: 'connection' });
    expect(r.kind === 'error' && r.detail).not.toMatch(/\n|at /);
  });

  it('reports a refused token as unauthorized', async () => {
    expect(await getPod(await kubeconfig('bad-token', kubeconfigFor(api, certs.caFile, 'wrong-token')))).toMatchObject({ kind: 'error', reason: 'unauthorized', detail: 'HTTP 401' });
  });

  it('refuses insecure-skip-tls-verify, a plain http server, a missing file and a missing in-cluster environment, naming the field', async () => {
    const insecure = kubeconfigFor(api, certs.caFile, 't').replace(`certificate-authority: ${certs.caFile}`, 'insecure-skip-tls-verify: true');
    expect(() => connect(path.join(dir, 'absent'))).toThrow(new KubeConfigError(`kubernetes.kubeconfig: cannot load ${path.join(dir, 'absent')}: no such file or directory`));
    expect(() => connect(undefined)).toThrow(/^kubernetes\.kubeconfig: not set, and KUBERNETES_SERVICE_HOST\/KUBERNETES_SERVICE_PORT are not in the environment/);
    const file = await kubeconfig('insecure', insecure);
    expect(() => connect(file)).toThrow('kubernetes.kubeconfig: cluster "fake" sets insecure-skip-tls-verify; kaudit verifies the API server\'s certificate');
    const plain = await kubeconfig('plain', kubeconfigFor(api, certs.caFile, 't').replace(api.url, api.url.replace('https:', 'http:')));
    expect(() => connect(plain)).toThrow(/expected an https:\/\/ URL$/);
  });
});
