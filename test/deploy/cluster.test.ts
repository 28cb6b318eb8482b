// deploy/cluster: the cluster-wide Deployment (k8s_events leader-elected over a Lease, and the audit webhook behind a
// Service): valid objects, a config the agent takes, the RBAC its requests need and no more, and a webhook kubeconfig
// naming what the Service and the agent serve.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { REPO } from './dockerfile.ts';
import { kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';

const kubeconfig = parse(readFileSync(join(REPO, 'deploy/cluster/webhook-kubeconfig.yaml'), 'utf8'));

describe('deploy/cluster', () => {
  let objects: any[];
  const find = (kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

  beforeAll(() => {
    objects = kustomize(join(REPO, 'deploy/cluster'));
  });

  it('gives valid objects', async () => {
    for (const o of objects) expect([o.kind, await schemaErrors(o as K8sObject)]).toEqual([o.kind, []]);
    expect(unknownFieldErrors(objects as K8sObject[])).toEqual([]);
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
  });

  it('runs one agent with both sources, the Lease in its own namespace, the mounts the config names', () => {
    const deployment = find('Deployment');
    const pod = deployment.spec.template.spec;
    const [c] = pod.containers;
    const config = parseConfig(parse(find('ConfigMap').data['kaudit.yaml']), '/etc/kaudit/kaudit.yaml');
    const events = config.sources.events!;
    const webhook = config.sources.webhook!;
    if (events.kind !== 'k8s_events' || webhook.kind !== 'audit_webhook') throw new Error('expected sources events (k8s_events) and webhook (audit_webhook)');
    expect(events.leader_election.enabled).toBe(true);
    expect(events.leader_election.namespace).toBeUndefined(); // from POD_NAMESPACE:
    expect(c.env.find((e: any) => e.name === 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(c.env.find((e: any) => e.name === 'POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    // One webhook receiver, never two at once: rate rules see every apiserver's requests.
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    // The service account token is mounted (the API client reads it); the files the config reads are mounted.
    expect(pod.automountServiceAccountToken).toBe(true);
    const mounted = (file: string) => c.volumeMounts.find((m: any) => file === m.mountPath || file.startsWith(`${m.mountPath}/`));
    const volume = (file: string) => pod.volumes.find((v: any) => v.name === mounted(file)?.name);
    expect(volume(webhook.tls.cert_file).secret.secretName).toBe('kaudit-webhook-tls');
    expect(volume(webhook.tls.key_file).secret.secretName).toBe('kaudit-webhook-tls');
    expect(volume((webhook.bearer_token as { file: string }).file).secret.secretName).toBe('kaudit-webhook-token');
    expect(mounted(config.state_dir).readOnly).not.toBe(true);
    expect(c.args).toEqual(['run', '--config', '/etc/kaudit/kaudit.yaml']);
    expect(volume('/etc/kaudit/kaudit.yaml').configMap.name).toBe(find('ConfigMap').metadata.name);
    // A stop makes what was read durable and releases the Lease within the grace period.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdown_grace);
  });

  it('grants events read-only cluster-wide, and get/update on the one Lease with create in its namespace only', () => {
    const sa = find('ServiceAccount');
    const config = parseConfig(parse(find('ConfigMap').data['kaudit.yaml']), '/etc/kaudit/kaudit.yaml');
    const events = config.sources.events!;
    if (events.kind !== 'k8s_events') throw new Error('expected a k8s_events source named events');
    const bound = (binding: any) => binding.subjects.some((s: any) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name && s.namespace === sa.metadata.namespace);
    const crb = find('ClusterRoleBinding');
    expect(bound(crb)).toBe(true);
    expect(find('ClusterRole', crb.roleRef.name).rules).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch'] },
    ]);
    const rb = find('RoleBinding');
    expect(bound(rb)).toBe(true);
    const role = find('Role', rb.roleRef.name);
    // The Role lives where the agent's pod runs: POD_NAMESPACE, the Lease's namespace.
    expect(role.metadata.namespace).toBe(find('Deployment').metadata.namespace);
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [events.leader_election.lease_name], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
  });

  it("points the apiservers' webhook kubeconfig at the Service, which reaches the agent's webhook port", () => {
    const svc = find('Service');
    const deployment = find('Deployment');
    const [c] = deployment.spec.template.spec.containers;
    const config = parseConfig(parse(find('ConfigMap').data['kaudit.yaml']), '/etc/kaudit/kaudit.yaml');
    const webhook = config.sources.webhook!;
    if (webhook.kind !== 'audit_webhook') throw new Error('expected an audit_webhook source named webhook');
    expect(svc.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    const port = svc.spec.ports[0];
    expect(c.ports.find((p: any) => p.name === port.targetPort).containerPort).toBe(Number(webhook.listen.split(':').at(-1)));
    const cluster = kubeconfig.clusters[0].cluster;
    const server = new URL(cluster.server);
    expect(server.protocol).toBe('https:');
    expect(Number(server.port)).toBe(port.port);
    expect(server.pathname).toBe(webhook.path);
    expect(cluster['tls-server-name']).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    expect(kubeconfig.users[0].user.tokenFile).toBeDefined();
  });
});
