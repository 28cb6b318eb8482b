// deploy/audit-webhook: the apiserver posting its audit events to kaudit's sidecar. Applied with the static-pod and
// sidecar patches, as docs/audit-webhook.md says, to a manifest as kubeadm writes it: a valid Pod whose apiserver
// reads a kubeconfig naming exactly the endpoint, certificate and token the sidecar's config serves and expects.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { REPO } from './dockerfile.ts';
import { kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';
import { documentedKustomization, FIXTURE, flags, hostPathOf } from './static-pod.ts';

const guide = readFileSync(join(REPO, 'docs/audit-webhook.md'), 'utf8');
const kubeconfig = parse(readFileSync(join(REPO, 'deploy/audit-webhook/webhook-kubeconfig.yaml'), 'utf8'));
const config = parseConfig(parse(readFileSync(join(REPO, 'deploy/audit-webhook/kaudit.yaml'), 'utf8')), join(REPO, 'deploy/audit-webhook/kaudit.yaml'));

describe('deploy/audit-webhook on a kubeadm kube-apiserver manifest', () => {
  let pod: any;
  const container = (name: string) => pod.spec.containers.find((c: any) => c.name === name);
  /** The node path behind a path as a container sees it. */
  const onNode = (name: string, path: string) => hostPathOf(path, container(name).volumeMounts, pod.spec.volumes)?.host;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-webhook-deploy-'));
    copyFileSync(FIXTURE, join(dir, 'kube-apiserver.yaml'));
    for (const f of ['static-pod-patch.yaml', 'sidecar/sidecar-patch.yaml', 'audit-webhook/webhook-patch.yaml']) {
      copyFileSync(join(REPO, 'deploy', f), join(dir, f.split('/').at(-1)!));
    }
    writeFileSync(join(dir, 'kustomization.yaml'), documentedKustomization('Set-up: kaudit as a sidecar of each apiserver', 'docs/audit-webhook.md'));
    const out = kustomize(dir);
    expect(out).toHaveLength(1);
    pod = out[0];
  });

  it('gives a valid Pod with the webhook flags on the apiserver', async () => {
    expect(await schemaErrors(pod as K8sObject)).toEqual([]);
    expect(unknownFieldErrors([pod as K8sObject])).toEqual([]);
    const f = flags(container('kube-apiserver').command);
    expect(f.get('audit-webhook-mode')).toBe('batch');
    expect(onNode('kube-apiserver', f.get('audit-webhook-config-file')!)).toBe('/etc/kaudit/webhook/kubeconfig');
    expect(guide).toContain('deploy/audit-webhook/webhook-kubeconfig.yaml kubeconfig');
  });

  it('points the apiserver at the endpoint the sidecar serves, with its certificate and the token it expects', () => {
    const source = config.sources.webhook;
    if (source.kind !== 'audit_webhook') throw new Error('expected an audit_webhook source named webhook');
    const server = new URL(kubeconfig.clusters[0].cluster.server);
    expect(`${server.hostname}:${server.port}`).toBe(source.listen);
    expect(server.protocol).toBe('https:');
    expect(server.pathname).toBe(source.path);
    // Same node files: the certificate the apiserver trusts is the one kaudit serves, the token the one it checks.
    expect(onNode('kube-apiserver', kubeconfig.clusters[0].cluster['certificate-authority'])).toBe(onNode('kaudit', source.tls.cert_file));
    const token = source.bearer_token;
    expect(token !== undefined && 'file' in token).toBe(true);
    expect(onNode('kube-apiserver', kubeconfig.users[0].user.tokenFile)).toBe(onNode('kaudit', (token as { file: string }).file));
    // The apiserver only reads them; the pod shares the node's network, so loopback reaches the sidecar.
    expect(pod.spec.hostNetwork).toBe(true);
    expect(container('kube-apiserver').volumeMounts.find((m: any) => m.mountPath === '/etc/kaudit/webhook').readOnly).toBe(true);
  });
});
