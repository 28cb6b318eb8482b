// deploy/monitoring: the PodMonitor, the alerts and the Grafana dashboard an operator installs beside kaudit. Valid
// against the Prometheus Operator's schema, every PromQL expression parses, and every metric and label it reads is
// one a real agent exports (scraped from a running agent), so a renamed metric cannot leave a silent alert behind.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { REPO } from './dockerfile.ts';
import { documents, kustomize, schemaErrors, unknownFieldErrors, type K8sObject } from './k8s-schema.ts';

const rendered = kustomize(join(REPO, 'deploy/monitoring'));
const daemonSet = documents((await import('node:fs')).readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8')).find((o) => o.kind === 'DaemonSet') as any;
const find = (kind: string) => rendered.find((o) => o.kind === kind) as any;
const dashboard = JSON.parse(find('ConfigMap').data['kaudit-dashboard.json']);

/** Metrics the dashboard reads from elsewhere: Prometheus' own `up`, and the kubelet's cAdvisor container metrics. */
const EXTERNAL_METRICS = new Set(['up', 'container_cpu_usage_seconds_total', 'container_memory_working_set_bytes']);
/** Labels Prometheus adds to every target a PodMonitor scrapes. */
const TARGET_LABELS = new Set(['pod', 'namespace', 'container', 'instance', 'job', 'endpoint']);

interface Selector { metric: string; labels: string[] }

/** Parse errors of a PromQL expression, and the metrics it selects with the labels it matches or groups by. */
function readPromQL(expr: string): { errors: string[]; selectors: Selector[]; grouping: string[] } {
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  parser.parse(expr).iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(`syntax error at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 10), n.to + 10))}`);
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        const labels = n.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher')
          .map((m) => expr.slice(m.getChild('LabelName')!.from, m.getChild('LabelName')!.to)) ?? [];
        if (id !== null) selectors.push({ metric: expr.slice(id.from, id.to), labels });
      }
      if (n.name === 'GroupingLabels') {
        for (const l of n.node.getChildren('LabelName')) grouping.push(expr.slice(l.from, l.to));
      }
    },
  });
  return { errors, selectors, grouping };
}

/** Grafana's variables as Prometheus receives them once Grafana has substituted them. */
const substituted = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$pod', '.*');

/** Every expression of the rules and the dashboard, with where it is. */
function expressions(): Array<{ where: string; expr: string }> {
  const rules = find('PrometheusRule').spec.groups.flatMap((g: any) => g.rules.map((r: any) => ({ where: `alert ${r.alert}`, expr: r.expr as string })));
  const panels = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => ({ where: `panel "${p.title}" ${t.refId}`, expr: substituted(t.expr) })));
  const variables = dashboard.templating.list.filter((v: any) => v.type === 'query')
    .map((v: any) => ({ where: `variable ${v.name}`, expr: /^label_values\((.+), *\w+\)$/.exec(v.query.query)![1] }));
  return [...rules, ...panels, ...variables];
}

/** Metric name → label names seen in a real agent's /metrics (names from # TYPE lines, labels from samples). */
let exported: Map<string, Set<string>>;
let agent: AgentProcess | undefined;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-monitoring-'));
  await mkdir(join(dir, 'logs'));
  await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${Array.from({ length: 20 }, (_, i) => auditLine(i)).join('\n')}\nnot an event\n`);
  const port = await freePort();
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: { listen: `127.0.0.1:${port}` },
    sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit') } },
    sinks: { out: { kind: 'file', path: join(dir, 'out.ndjson'), batch: { max_wait: 20 } } },
  });
  agent = AgentProcess.run(config);
  await agent.started();
  let text = '';
  for (let i = 0; i < 100 && !/kaudit_sink_records_out_total\{sink="out"\} [1-9]/.test(text); i++) {
    await new Promise((r) => setTimeout(r, 100));
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }
  exported = new Map();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type !== null) exported.set(type[1], new Set());
    const sample = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}/.exec(line);
    if (sample !== null) for (const [, label] of sample[2].matchAll(/(\w+)="/g)) exported.get(sample[1])?.add(label);
  }
}, 60_000);

afterAll(async () => {
  if (agent !== undefined && agent.child.exitCode === null) await agent.kill9();
});

describe('deploy/monitoring', () => {
  it('renders with kustomize into objects valid against the Kubernetes and Prometheus Operator schemas', async () => {
    expect(rendered.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PodMonitor', 'PrometheusRule']);
    const errors = (await Promise.all(rendered.map(schemaErrors))).flat();
    expect(errors).toEqual([]);
    expect(unknownFieldErrors(rendered as K8sObject[])).toEqual([]);
  });

  it('scrapes the DaemonSet\'s pods on the port that serves /metrics', () => {
    const monitor = find('PodMonitor');
    const pod = daemonSet.spec.template;
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);
    const ports = pod.spec.containers.flatMap((c: any) => c.ports ?? []).map((p: any) => p.name);
    for (const endpoint of monitor.spec.podMetricsEndpoints) {
      expect(ports).toContain(endpoint.port);
      expect(endpoint.path).toBe('/metrics');
    }
    // The alerts and panels select the agent by its container's name.
    expect(pod.spec.containers.map((c: any) => c.name)).toContain('kaudit');
  });

  it('has a dashboard Grafana can load: unique panel ids, every panel on the data source variable', () => {
    const ids = dashboard.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v: any) => v.name)).toEqual(expect.arrayContaining(['datasource', 'pod']));
    for (const p of dashboard.panels) expect(p.datasource.uid, p.title).toBe('${datasource}');
    expect(find('ConfigMap').metadata.labels.grafana_dashboard).toBe('1');
  });

  it('alerts and panels: every expression parses and reads only metrics and labels a running agent exports', () => {
    const problems: string[] = [];
    const all = expressions();
    expect(all.length).toBeGreaterThan(20);
    for (const { where, expr } of all) {
      const { errors, selectors, grouping } = readPromQL(expr);
      problems.push(...errors.map((e) => `${where}: ${e}`));
      if (selectors.length === 0) problems.push(`${where}: selects no metric`);
      for (const s of selectors) {
        if (EXTERNAL_METRICS.has(s.metric)) continue;
        const labels = exported.get(s.metric);
        if (labels === undefined) {
          problems.push(`${where}: ${s.metric} is not exported by the agent`);
          continue;
        }
        // Labels are known from samples only: a metric with none yet (no reload happened) is checked by name.
        if (labels.size === 0) continue;
        for (const l of [...s.labels, ...grouping]) {
          if (!labels.has(l) && !TARGET_LABELS.has(l)) problems.push(`${where}: ${s.metric} has no label ${l}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every alert says how severe it is and what happened', () => {
    for (const r of find('PrometheusRule').spec.groups.flatMap((g: any) => g.rules)) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
    }
  });
});
