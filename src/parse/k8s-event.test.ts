// Kubernetes Events as a real kube-apiserver v1.26 served them (../shared/corpus/k8s-api/events: the same events
// through core v1 and events.k8s.io/v1) into kaudit's event record: one shape whichever API served the event.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { K8S_CORPUS } from '../../test/utils/fake-k8s-api.ts';
import { DetectionEngine } from '../detect/engine.ts';
import { noDetection } from '../detect/hook.ts';
import { compileRuleTexts } from '../detect/rules.ts';
import type { ChunkContext } from './chunk.ts';
import { eventIdentity, type ApiEvent } from './k8s-event.ts';
import { processBlock } from './parsers.ts';
import { compilePatterns } from './patterns.ts';
import { compileRedaction } from './redact.ts';

const ctx: ChunkContext = {
  redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }),
  detector: noDetection,
  patterns: compilePatterns(undefined),
};

/** A recorded list's items, given the list's apiVersion as the source does (list items carry none). */
function listed(file: string): ApiEvent[] {
  const list = JSON.parse(readFileSync(path.join(K8S_CORPUS, 'events', file), 'utf8')) as { apiVersion: string; items: ApiEvent[] };
  return list.items.map((e) => ({ ...e, apiVersion: list.apiVersion }));
}

/** A recorded watch's objects, in order. */
function watched(file: string): Array<{ type: string; object: ApiEvent }> {
  return readFileSync(path.join(K8S_CORPUS, 'events', file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: ApiEvent });
}

function records(events: readonly ApiEvent[]) {
  const r = processBlock(Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join('')), ctx, { parser: 'k8s_events' });
  return { r, ids: r.count > 0 ? r.ids.split('\n') : [], docs: r.replaced.map(([, text]) => JSON.parse(text) as Record<string, any>) };
}

describe('Kubernetes event records', () => {
  it('gives the same record for an event whether core v1 or events.k8s.io/v1 served it (but for `api`)', () => {
    const core = records(listed('list-core-events.json'));
    const grouped = records(listed('list-events-v1.json'));
    expect(core.r.count).toBe(15);
    expect(core.r.bad).toEqual([]);
    expect(core.ids).toEqual(grouped.ids);
    for (const [i, doc] of core.docs.entries()) {
      expect(doc.api).toBe('v1');
      expect(grouped.docs[i]!.api).toBe('events.k8s.io/v1');
      expect({ ...doc, api: '' }).toEqual({ ...grouped.docs[i], api: '' });
    }
  });

  it('fills the documented fields from a controller-manager event and from a scheduler event', () => {
    const { docs } = records(watched('watch-core-events.jsonl').map((w) => w.object));
    const scheduling = docs.find((d) => d.reason === 'FailedScheduling')!;
    expect(scheduling).toEqual({
      time: '2026-12-07T06:48:41.360579Z', type: 'Warning', reason: 'FailedScheduling',
      message: '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..',
      action: 'Scheduling', count: 1, first_time: '2026-12-07T06:48:41.360579Z', last_time: '2026-12-07T06:48:41.360579Z',
      involved_object: { kind: 'Pod', namespace: 'events-demo', name: 'huge-cpu', uid: expect.any(String), api_version: 'v1', field_path: null },
      reporting: { component: 'default-scheduler', instance: 'default-scheduler-vm' },
      event: { namespace: 'events-demo', name: expect.stringMatching(/^huge-cpu\./), uid: expect.any(String), resource_version: expect.any(String) },
      api: 'v1',
    });
    const combined = docs.filter((d) => d.reason === 'FailedCreate' && d.message.startsWith('(combined from similar events)'));
    expect(combined.map((d) => d.count)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(combined[5]).toMatchObject({
      type: 'Warning', involved_object: { kind: 'ReplicaSet', namespace: 'quota-demo' }, reporting: { component: 'replicaset-controller', instance: null },
    });
    expect(combined[5]!.last_time > combined[5]!.first_time).toBe(true);
    expect(combined[5]!.time).toBe(combined[5]!.last_time);
  });

  it('identifies an event by uid and count: a repeat counted by its recorder is a new record, the same state is not', () => {
    const w = watched('watch-events-v1.jsonl');
    const ids = records(w.map((x) => x.object)).ids;
    const keys = w.map((x) => eventIdentity(x.object));
    expect(ids).toEqual(keys.map((k) => `event:${k}`));
    // 21 watch events, each a new (uid, count): the combined FailedCreate's MODIFIEDs carry counts 2..6.
    expect(new Set(keys).size).toBe(w.length);
    const modified = w.filter((x) => x.type === 'MODIFIED');
    expect(modified.map((x) => x.object.metadata!.uid)).toEqual(Array(modified.length).fill(modified[0]!.object.metadata!.uid));
  });

  it('blanks credentials in messages with the redaction patterns', () => {
    const [e] = listed('list-core-events.json');
    const { docs } = records([{ ...e!, message: 'Back-off pulling image: pull from https://robot:s3cr3tpassw0rd@registry.example/app failed' }]);
    expect(docs[0]!.message).not.toContain('s3cr3tpassw0rd');
    expect(docs[0]!.message).toContain('[redacted: url_password]');
  });

  it('hands over the detection notes of its block (allowlisted hits), as the other parsers do', () => {
    const detector = new DetectionEngine(compileRuleTexts([{ name: 'r.yaml', text: `
rules:
  - { id: EVT-WARN, name: warning, category: runtime, level: low, source: k8s_events, match: { field: type, equals: Warning }, output: "{reason}" }
allowlist:
  - { id: all-warnings, rules: [EVT-WARN], match: { field: type, equals: Warning } }
` }]), { clusterName: 'prod', clusterId: 'c-1' });
    const events = listed('list-events-v1-warnings.json');
    const warnings = events.filter((e) => e.type === 'Warning').length;
    expect(warnings).toBeGreaterThan(0);
    const r = processBlock(Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join('')), { ...ctx, detector }, { parser: 'k8s_events' });
    expect(r.alarms).toEqual([]);
    expect(r.notes?.allowlisted).toEqual([{ rule: 'EVT-WARN', entry: 'all-warnings', count: warnings }]);
  });

  it('refuses lines that are not events, naming why', () => {
    const { r } = records([]);
    expect(r.count).toBe(0);
    const bad = processBlock(Buffer.from('not json\n{"kind":"Status"}\n'), ctx, { parser: 'k8s_events' });
    expect(bad.bad.map((b) => b.error)).toEqual(['not JSON (a Kubernetes event)', 'not a Kubernetes event (no metadata)']);
  });
});
