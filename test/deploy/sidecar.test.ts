// deploy/sidecar: kaudit as a second container of the kube-apiserver static pod. Applied with the static-pod patch,
// as docs/operating.md says, to a manifest as kubeadm writes it, it must give a valid Pod whose kaudit container
// reads the log where the apiserver writes it, runs the config file the docs install, and leaves the apiserver alone.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { AuditSourceConfig } from '../../src/config/schema.ts';
import { runCli } from '../utils/agent.ts';
import { REPO } from './dockerfile.ts';
import { kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';
import { documentedKustomization, FIXTURE, flags, hostPathOf, operating } from './static-pod.ts';

const SIDECAR_CONFIG = join(REPO, 'deploy/sidecar/kaudit.yaml');

/** kustomize over a copy of the kubeadm manifest with these files of deploy/ and this kustomization. */
function render(files: readonly string[], kustomization: string): any {
  const dir = mkdtempSync(join(tmpdir(), 'kaudit-sidecar-'));
  copyFileSync(FIXTURE, join(dir, 'kube-apiserver.yaml'));
  for (const f of files) copyFileSync(join(REPO, 'deploy', f), join(dir, f.split('/').at(-1)!));
  writeFileSync(join(dir, 'kustomization.yaml'), kustomization);
  const out = kustomize(dir);
  expect(out).toHaveLength(1);
  return out[0];
}

describe('deploy/sidecar on a kubeadm kube-apiserver manifest', () => {
  let withSidecar: any;
  let withoutSidecar: any;
  const container = (name: string) => withSidecar.spec.containers.find((c: any) => c.name === name);

  beforeAll(() => {
    withSidecar = render(['static-pod-patch.yaml', 'sidecar/sidecar-patch.yaml'], documentedKustomization("Sidecar in the apiserver's static pod"));
    withoutSidecar = render(['static-pod-patch.yaml'], documentedKustomization('Patch the apiserver'));
  });

  it('gives a valid Pod with the apiserver exactly as the static-pod patch alone leaves it', async () => {
    expect(withSidecar.kind).toBe('Pod');
    expect(await schemaErrors(withSidecar as K8sObject)).toEqual([]);
    expect(unknownFieldErrors([withSidecar as K8sObject])).toEqual([]);
    expect(withSidecar.spec.containers.map((c: any) => c.name)).toEqual(['kube-apiserver', 'kaudit']);
    expect(container('kube-apiserver')).toEqual(withoutSidecar.spec.containers[0]);
    expect(withSidecar.spec.volumes.slice(0, withoutSidecar.spec.volumes.length)).toEqual(withoutSidecar.spec.volumes);
  });

  it('reads, read-only, the log file the apiserver writes, through the same node directory', () => {
    const config = parseConfig(parse(readFileSync(SIDECAR_CONFIG, 'utf8')));
    const kaudit = container('kaudit');
    const apiserver = container('kube-apiserver');
    const read = hostPathOf((config.sources.audit as AuditSourceConfig).path, kaudit.volumeMounts, withSidecar.spec.volumes);
    const written = hostPathOf(flags(apiserver.command).get('audit-log-path')!, apiserver.volumeMounts, withSidecar.spec.volumes);
    expect(read?.host).toBeDefined();
    expect(read?.host).toBe(written?.host);
    expect(read?.mount.readOnly).toBe(true);
  });

  it('runs the config the docs install, keeps its state on the node, and probes where the agent listens', () => {
    const kaudit = container('kaudit');
    const configArg = kaudit.args[kaudit.args.indexOf('--config') + 1];
    const configFile = hostPathOf(configArg, kaudit.volumeMounts, withSidecar.spec.volumes);
    expect(configFile?.host).toBe('/etc/kaudit/kaudit.yaml');
    expect(operating).toContain('deploy/sidecar/kaudit.yaml /etc/kaudit/kaudit.yaml');
    const config = parseConfig(parse(readFileSync(SIDECAR_CONFIG, 'utf8')));
    const state = hostPathOf(config.state_dir, kaudit.volumeMounts, withSidecar.spec.volumes);
    expect(state?.host).toBe('/var/lib/kaudit');
    expect(state?.mount.readOnly).not.toBe(true);
    // The pod shares the node's network: the endpoint on loopback, and the probes on it.
    expect(withSidecar.spec.hostNetwork).toBe(true);
    const [host, port] = config.http!.listen.split(':');
    for (const probe of [kaudit.livenessProbe, kaudit.readinessProbe]) {
      expect(probe.httpGet.host).toBe(host);
      expect(String(probe.httpGet.port)).toBe(port);
    }
    expect(kaudit.readinessProbe.httpGet.path).toBe('/readyz');
    expect(kaudit.livenessProbe.httpGet.path).toBe('/healthz');
    // Anything the agent writes outside the state directory would fail on the read-only root filesystem.
    expect(kaudit.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(kaudit.securityContext.capabilities.drop).toEqual(['ALL']);
  });

  it('ships a config the agent accepts', async () => {
    const { code, stdout, stderr } = await runCli(['check-config', SIDECAR_CONFIG]);
    expect(stderr).toBe('');
    expect(code, stdout).toBe(0);
  });
});
