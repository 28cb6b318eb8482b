// The shipped rules on Kubernetes Events (rules/events.yaml) through the k8s_events parser as the worker runs it: the
// warnings a real kube-apiserver v1.26 recorded (../shared/corpus/k8s-api/events), kubelet's and node-problem-
// detector's warnings in the recorded event shape, and the recorded Normal events that must stay quiet.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { K8S_CORPUS } from '../../test/utils/fake-k8s-api.ts';
import type { ChunkContext } from '../parse/chunk.ts';
import type { ApiEvent } from '../parse/k8s-event.ts';
import { processBlock } from '../parse/parsers.ts';
import { compilePatterns } from '../parse/patterns.ts';
import { compileRedaction } from '../parse/redact.ts';
import { DetectorHost, systemRuleFiles } from './setup.ts';

function detecting(): ChunkContext {
  const host = new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 'prod', clusterId: 'c-1', updateIntervalMs: 0 });
  return { redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }), detector: host.detector, patterns: compilePatterns(undefined), collectHits: true };
}

function listed(file: string): ApiEvent[] {
  const list = JSON.parse(readFileSync(path.join(K8S_CORPUS, 'events', file), 'utf8')) as { apiVersion: string; items: ApiEvent[] };
  return list.items.map((e) => ({ ...e, apiVersion: list.apiVersion }));
}

function run(events: readonly ApiEvent[], ctx = detecting()) {
  const r = processBlock(Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join('')), ctx, { parser: 'k8s_events' });
  expect(r.bad).toEqual([]);
  return { hits: (r.hits ?? []).map((h) => h.ruleId), alarms: r.alarms.map((a) => JSON.parse(a.payload) as Record<string, any>) };
}

// A recorded core v1 controller-manager event, the template for the warnings of other components below.
const [TEMPLATE] = listed('list-core-events.json');
let n = 0;

/** A core v1 Warning as `component` writes it (client-go's core recorder), on `object`. */
function warning(reason: string, message: string, object: { kind: string; namespace?: string; name: string; fieldPath?: string }, component: string, host?: string): ApiEvent {
  n++;
  return {
    ...TEMPLATE!,
    metadata: { ...TEMPLATE!.metadata, name: `${object.name}.18eee6${String(n).padStart(10, '0')}`, namespace: object.namespace ?? 'default', uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
    type: 'Warning', reason, message,
    involvedObject: { apiVersion: 'v1', uid: '11111111-2222-4333-8444-555555555555', ...object },
    source: { component, ...(host === undefined ? {} : { host }) },
  };
}

const pod = (name: string, container?: string) => ({ kind: 'Pod', namespace: 'shop', name, ...(container === undefined ? {} : { fieldPath: `spec.containers{${container}}` }) });
const node = { kind: 'Node', name: 'node-1' };

describe('rules on Kubernetes events', () => {
  it('stay quiet on the recorded Normal events', () => {
    const normal = listed('list-events-v1.json');
    expect(normal.every((e) => e.type === 'Normal')).toBe(true);
    expect(run(normal).hits).toEqual([]);
  });

  it('fire on the recorded warnings: FailedScheduling, FailedCreate (aggregated per ReplicaSet), BackoffLimitExceeded', () => {
    const { hits, alarms } = run(listed('list-events-v1-warnings.json'));
    expect(hits).toEqual(['KA-EVT-011', 'KA-EVT-006', 'KA-EVT-006', ...Array(10).fill('KA-EVT-007')]);
    const failedCreate = alarms.filter((a) => a.rule.id === 'KA-EVT-007');
    expect(new Set(failedCreate.map((a) => a.alarmID)).size).toBe(1); // one alarm for the ReplicaSet, updated
    expect(failedCreate.at(-1)).toMatchObject({
      source: 'k8s_events', count: 10, rule: { level: 'low' },
      evidence: { reason: 'FailedCreate', count: 6, involved_object: { kind: 'ReplicaSet', namespace: 'quota-demo', name: 'api-64d545dc8f' } },
    });
    expect(failedCreate.at(-1)!.summary).toMatch(/^ReplicaSet quota-demo\/api-64d545dc8f cannot create pods: \(combined from similar events\): Error creating: pods "api-64d545dc8f-.*" is forbidden: exceeded quota: no-pods.* \(6 times\)$/);
  });

  it("fire on kubelet's and node-problem-detector's warnings, each with its rule and level", () => {
    const cases: Array<[ApiEvent, string, string]> = [
      [warning('BackOff', 'Back-off restarting failed container app in pod web-0_shop(…)', pod('web-0', 'app'), 'kubelet', 'node-1'), 'KA-EVT-001', 'low'],
      [warning('BackOff', 'Back-off pulling image "registry.example/shop/web:1.4.2"', pod('web-1', 'app'), 'kubelet', 'node-1'), 'KA-EVT-001', 'low'],
      [warning('Failed', 'Failed to pull image "registry.example/shop/web:1.4.3": not found', pod('web-2', 'app'), 'kubelet', 'node-1'), 'KA-EVT-002', 'low'],
      [warning('Evicted', 'The node was low on resource: memory. Container app was using 1843Mi, which exceeds its request of 256Mi.', pod('web-3'), 'kubelet', 'node-1'), 'KA-EVT-003', 'medium'],
      [warning('OOMKilling', 'Out of memory: Killed process 4121 (java) total-vm:5120000kB, anon-rss:2048000kB', node, 'kernel-monitor', 'node-1'), 'KA-EVT-004', 'medium'],
      [warning('SystemOOM', 'System OOM encountered, victim process: java, pid: 4121', node, 'kubelet', 'node-1'), 'KA-EVT-004', 'medium'],
      [warning('FailedMount', 'MountVolume.SetUp failed for volume "tls" : secret "web-tls" not found', pod('web-4'), 'kubelet', 'node-1'), 'KA-EVT-005', 'low'],
      [warning('FailedCreate', 'Error creating: pods "debug-x" is forbidden: violates PodSecurity "baseline:latest": privileged (container "shell" must not set securityContext.privileged=true)', { kind: 'ReplicaSet', namespace: 'shop', name: 'debug-6c7d8' }, 'replicaset-controller'), 'KA-EVT-008', 'medium'],
      [{ ...warning('NodeNotReady', 'Node node-1 status is now: NodeNotReady', node, 'node-controller'), type: 'Normal' }, 'KA-EVT-009', 'medium'],
      [warning('KernelOops', 'kernel: BUG: unable to handle kernel NULL pointer dereference at 0000000000000008', node, 'kernel-monitor', 'node-1'), 'KA-EVT-010', 'medium'],
      [warning('TaskHung', 'kernel: INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.', node, 'kernel-monitor', 'node-1'), 'KA-EVT-010', 'medium'],
      [warning('ReadonlyFilesystem', 'Node condition ReadonlyFilesystem is now: True, reason: FilesystemIsReadOnly', node, 'readonly-monitor', 'node-1'), 'KA-EVT-010', 'medium'],
      [warning('DockerHung', 'kernel: INFO: task docker:20744 blocked for more than 120 seconds.', node, 'docker-monitor', 'node-1'), 'KA-EVT-010', 'medium'],
    ];
    for (const [event, rule, level] of cases) {
      const { hits, alarms } = run([event]);
      expect([event.reason, hits]).toEqual([event.reason, [rule]]);
      expect(alarms[0]).toMatchObject({ source: 'k8s_events', rule: { id: rule, level } });
    }
    // The same reasons as Normal events (a component's informational use of them) raise nothing but NodeNotReady.
    expect(run(cases.filter(([, rule]) => rule !== 'KA-EVT-009').map(([e]) => ({ ...e, type: 'Normal' }))).hits).toEqual([]);
  });

  it('KA-EVT-012 fires once on more than 100 warnings in one namespace within 5 minutes', () => {
    const ctx = detecting();
    const burst = Array.from({ length: 130 }, (_, i) => ({
      ...warning('Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', pod(`web-${i % 7}`, 'app'), 'kubelet', 'node-1'),
      lastTimestamp: new Date(Date.parse('2026-12-07T10:00:00Z') + i * 1000).toISOString().replace('.000', ''),
    }));
    expect(run(burst.slice(0, 100), ctx).hits).toEqual([]);
    expect(run(burst.slice(100), ctx).hits).toEqual(['KA-EVT-012']);
  });
});
