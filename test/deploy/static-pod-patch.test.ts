// The kube-apiserver side: deploy/static-pod-patch.yaml applied, as docs/operating.md says, to a manifest as kubeadm
// writes it must give a valid Pod that writes the audit log where the DaemonSet's agent reads it; and
// deploy/audit-policy.yaml must be the policy kaudit is built for.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { AuditSourceConfig } from '../../src/config/schema.ts';
import { REPO } from './dockerfile.ts';
import { documents, kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';
import { documentedKustomization, FIXTURE, flags, hostPathOf, operating } from './static-pod.ts';

describe('deploy/static-pod-patch.yaml on a kubeadm kube-apiserver manifest', () => {
  let original: any;
  let patched: any;

  beforeAll(() => {
    // The operator's working directory: the manifest, the patch, the documented kustomization.
    const dir = mkdtempSync(join(tmpdir(), 'kaudit-apiserver-'));
    copyFileSync(FIXTURE, join(dir, 'kube-apiserver.yaml'));
    copyFileSync(join(REPO, 'deploy/static-pod-patch.yaml'), join(dir, 'static-pod-patch.yaml'));
    writeFileSync(join(dir, 'kustomization.yaml'), documentedKustomization('Patch the apiserver'));
    original = documents(readFileSync(FIXTURE, 'utf8'))[0];
    const out = kustomize(dir);
    expect(out).toHaveLength(1);
    patched = out[0];
  });

  it('gives a valid Pod', async () => {
    expect(patched.kind).toBe('Pod');
    expect(await schemaErrors(patched as K8sObject)).toEqual([]);
    expect(unknownFieldErrors([patched as K8sObject])).toEqual([]);
  });

  it('adds the audit flags after the apiserver\'s own, keeping every one of those', () => {
    const [before] = original.spec.containers;
    const [after] = patched.spec.containers;
    expect(after.command.slice(0, before.command.length)).toEqual(before.command);
    const f = flags(after.command);
    expect(f.get('audit-policy-file')).toBe('/etc/kubernetes/audit-policy.yaml');
    expect(f.get('audit-log-path')).toBe('/var/log/kubernetes/kubernetes.audit');
    expect(f.get('audit-log-format')).toBe('json');
    for (const n of ['audit-log-maxsize', 'audit-log-maxbackup', 'audit-log-maxage']) expect(f.get(n), n).toMatch(/^[1-9]\d*$/);
    // Nothing else changed: the rest of the container and the pod are kubeadm's.
    const strip = (pod: any) => ({ ...pod, spec: { ...pod.spec, volumes: undefined, containers: pod.spec.containers.map((c: any) => ({ ...c, command: undefined, volumeMounts: undefined })) } });
    expect(strip(patched)).toEqual(strip(original));
    expect(after.volumeMounts.slice(0, before.volumeMounts.length)).toEqual(before.volumeMounts);
    expect(patched.spec.volumes.slice(0, original.spec.volumes.length)).toEqual(original.spec.volumes);
  });

  it('mounts the policy read-only and the log directory writable from the same paths on the node', () => {
    const [c] = patched.spec.containers;
    const f = flags(c.command);
    const policy = hostPathOf(f.get('audit-policy-file')!, c.volumeMounts, patched.spec.volumes);
    expect(policy?.host).toBe('/etc/kubernetes/audit-policy.yaml');
    expect(policy?.mount.readOnly).toBe(true);
    const log = hostPathOf(dirname(f.get('audit-log-path')!), c.volumeMounts, patched.spec.volumes);
    expect(log?.host).toBe('/var/log/kubernetes');
    expect(log?.mount.readOnly).not.toBe(true);
  });

  it('writes the log where the DaemonSet\'s agent reads it, and reads the policy where the docs put it', () => {
    const ds = documents(readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8')).find((o) => o.kind === 'DaemonSet') as any;
    const cm = documents(readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8')).find((o) => o.kind === 'ConfigMap') as any;
    const agent = parseConfig(parse(cm.data['kaudit.yaml']));
    const pod = ds.spec.template.spec;
    const read = hostPathOf((agent.sources.audit as AuditSourceConfig).path, pod.containers[0].volumeMounts, pod.volumes);
    const [c] = patched.spec.containers;
    const written = hostPathOf(flags(c.command).get('audit-log-path')!, c.volumeMounts, patched.spec.volumes);
    expect(read?.host).toBeDefined();
    expect(read?.host).toBe(written?.host);
    expect(operating).toContain('install -m 0600 deploy/audit-policy.yaml /etc/kubernetes/audit-policy.yaml');
  });
});

describe('deploy/audit-policy.yaml', () => {
  const policy = parse(readFileSync(join(REPO, 'deploy/audit-policy.yaml'), 'utf8')) as { apiVersion: string; kind: string; omitStages: string[]; rules: unknown[] };

  it('is an audit.k8s.io/v1 Policy (the version current apiservers read)', () => {
    expect(policy.apiVersion).toBe('audit.k8s.io/v1');
    expect(policy.kind).toBe('Policy');
  });

  it('has the rules of the policy the project is built for (../shared/seeds), unchanged', () => {
    const seeds = join(REPO, '../shared/seeds');
    // The article's YAML is laid out with no-break spaces.
    const seed = readdirSync(seeds).filter((f) => f.startsWith('002_')).map((f) => readFileSync(join(seeds, f), 'utf8').replaceAll('\u00a0', ' '))[0];
    expect(seed, '../shared/seeds/002_*.txt').toBeDefined();
    const start = seed.indexOf('apiVersion: audit.k8s.io/');
    const end = seed.indexOf('\n  - level: Metadata\n', seed.indexOf('# Default level for all other requests.'));
    const original = parse(seed.slice(start, end + '\n  - level: Metadata\n'.length)) as typeof policy;
    expect(policy.omitStages).toEqual(original.omitStages);
    expect(policy.rules).toEqual(original.rules);
  });
});
