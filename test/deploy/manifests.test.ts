// What an operator applies from deploy/: valid against the Kubernetes API's schema, rendered by kustomize (the base and
// the example overlay), and consistent with the agent it runs (its config accepted, its ports, paths and grace period).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { AuditSourceConfig } from '../../src/config/schema.ts';
import { runCli } from '../utils/agent.ts';
import { readDockerfile, REPO, stageEnv } from './dockerfile.ts';
import { documents, kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';

const manifest = documents(readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8'));
const base = kustomize(join(REPO, 'deploy'));
const overlay = kustomize(join(REPO, 'examples/overlay'));

const find = (objects: readonly K8sObject[], kind: string) => {
  const o = objects.find((x) => x.kind === kind);
  if (o === undefined) throw new Error(`no ${kind} among ${objects.map((x) => x.kind).join(', ')}`);
  return o as any;
};

/** The agent config embedded in a rendered ConfigMap. */
const embeddedConfig = (objects: readonly K8sObject[]) => find(objects, 'ConfigMap').data['kaudit.yaml'] as string;

/** The environment the DaemonSet's container gets: its values, and a stand-in for each one taken from a Secret. */
function containerEnv(objects: readonly K8sObject[]): Record<string, string> {
  const [container] = find(objects, 'DaemonSet').spec.template.spec.containers;
  const env = (container.env ?? []) as Array<{ name: string; value?: string; valueFrom?: unknown }>;
  const out: Record<string, string> = Object.fromEntries(env.map((e) => [e.name, e.value ?? `stand-in for ${e.name}`]));
  // envFrom a Secret that the same manifests create: one variable per key of its data.
  for (const from of (container.envFrom ?? []) as Array<{ secretRef?: { name: string } }>) {
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata?.name === from.secretRef?.name);
    const keys = { ...(secret?.data as object | undefined), ...(secret?.stringData as object | undefined) };
    for (const key of Object.keys(keys)) out[key] = `stand-in for ${key}`;
  }
  return out;
}

/** check-config as the agent's container would run it: the preflight resolves secrets from its environment. */
async function checkConfig(objects: readonly K8sObject[]) {
  const dir = mkdtempSync(join(tmpdir(), 'kaudit-deploy-'));
  writeFileSync(join(dir, 'kaudit.yaml'), embeddedConfig(objects));
  return runCli(['check-config', join(dir, 'kaudit.yaml')], containerEnv(objects));
}

describe('deploy/daemonset.yaml', () => {
  it('holds the namespace, service account, RBAC, config and DaemonSet', () => {
    expect(manifest.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
  });

  it.each([
    ['deploy/daemonset.yaml', manifest],
    ['kubectl kustomize deploy', base],
    ['kubectl kustomize examples/overlay', overlay],
  ])('%s: every object is valid against the Kubernetes API schema', async (_what, objects) => {
    const errors = (await Promise.all(objects.map(schemaErrors))).flat();
    expect(errors).toEqual([]);
  });

  it.each([
    ['deploy/daemonset.yaml', manifest],
    ['kubectl kustomize examples/overlay', overlay],
  ])('%s: no field the Kubernetes API does not know', (_what, objects) => {
    expect(unknownFieldErrors(objects)).toEqual([]);
  });

  it('embeds a config that kaudit check-config accepts, as does the example overlay\'s', async () => {
    for (const objects of [manifest, overlay]) {
      const r = await checkConfig(objects);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('gives the agent the mounts, port and grace period its config needs', () => {
    const config = parseConfig(parse(embeddedConfig(manifest)));
    const ds = find(manifest, 'DaemonSet');
    const pod = ds.spec.template.spec;
    const [container] = pod.containers;
    const mountOf = (path: string) =>
      (container.volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>)
        .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    const volume = (name: string) => pod.volumes.find((v: { name: string }) => v.name === name);

    // The config file the agent is started with is the ConfigMap's key.
    const configArg = container.args[container.args.indexOf('--config') + 1] as string;
    expect(volume(mountOf(configArg).name).configMap.name).toBe(find(manifest, 'ConfigMap').metadata.name);
    expect(configArg.endsWith('/kaudit.yaml')).toBe(true);
    // The audit log is read from the node, read-only; the state directory is the node's, writable.
    const source = config.sources.audit as AuditSourceConfig;
    expect(mountOf(source.path).readOnly).toBe(true);
    expect(volume(mountOf(source.path).name).hostPath).toBeDefined();
    expect(mountOf(config.state_dir).readOnly).not.toBe(true);
    expect(volume(mountOf(config.state_dir).name).hostPath.path).toBe(config.state_dir);
    // The image's HOME (Node's compile cache, parsed rules) is writable on a read-only root filesystem.
    expect(mountOf(stageEnv(readDockerfile().stages.at(-1)!).HOME).readOnly).not.toBe(true);
    // Probes on the port the agent listens on.
    const port = Number(config.http!.listen.split(':').at(-1));
    const named = container.ports.find((p: { name: string }) => p.name === container.livenessProbe.httpGet.port);
    expect(named.containerPort).toBe(port);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: container.livenessProbe.httpGet.port });
    // SIGTERM leaves shutdown_grace to drain the sinks, then time to save checkpoints and exit.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdown_grace + 5000);
  });

  it('runs locked down: read-only root, every capability dropped, no privilege escalation, RuntimeDefault seccomp', () => {
    const pod = find(manifest, 'DaemonSet').spec.template.spec;
    const sc = pod.containers[0].securityContext;
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.privileged).toBeUndefined();
    expect(sc.capabilities).toEqual({ drop: ['ALL'] });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
    // The token is there for enrichment, which reads and never writes (test/deploy/rbac.test.ts: exactly what it calls).
    expect(pod.automountServiceAccountToken).toBe(true);
    const verbs = find(manifest, 'ClusterRole').rules.flatMap((r: { verbs: string[] }) => r.verbs);
    expect(verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v))).toEqual([]);
  });

  it('runs on control-plane nodes, where the audit log is, one node at a time on updates', () => {
    const ds = find(manifest, 'DaemonSet');
    const pod = ds.spec.template.spec;
    expect(pod.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' });
    expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(ds.spec.updateStrategy.type).toBe('RollingUpdate');
    expect(pod.containers[0].env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });
});

describe('kustomize', () => {
  it('renders the base as deploy/daemonset.yaml', () => {
    expect(base).toEqual(manifest);
  });

  it('sets namespace, image, config and sink credentials from the example overlay', () => {
    const ds = find(overlay, 'DaemonSet');
    const pod = ds.spec.template.spec;
    expect(find(overlay, 'Namespace').metadata.name).toBe('security');
    for (const o of overlay.filter((x) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(x.kind))) {
      expect(o.metadata?.namespace, o.kind).toBe('security');
    }
    expect(find(overlay, 'ClusterRoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'kaudit', namespace: 'security' }]);
    expect(pod.containers[0].image).toBe('registry.example.com/security/kaudit:0.1.0');
    expect(embeddedConfig(overlay)).toBe(readFileSync(join(REPO, 'examples/overlay/kaudit.yaml'), 'utf8'));
    const secret = find(overlay, 'Secret').metadata.name as string;
    expect(pod.containers[0].envFrom).toContainEqual({ secretRef: { name: secret, optional: true } });
    expect(pod.volumes).toContainEqual({ name: 'sink-credentials', secret: { secretName: secret, optional: true } });
  });
});
