// The health and metrics endpoint of a running agent, read over HTTP as Kubernetes probes and Prometheus do.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLine } from '../../bench/gen-audit.ts';
import { AgentProcess, writeAgentConfig } from '../utils/agent.ts';
import { freePort } from '../utils/ports.ts';
import { Receiver } from '../utils/receiver.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});


function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('health and metrics endpoint', () => {
  it('answers /healthz and /readyz, and counts lines, errors, deliveries and lag in /metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaudit-observe-'));
    await mkdir(join(dir, 'logs'));
    const lines = [...Array.from({ length: 30 }, (_, i) => auditLine(i)), 'not an event', auditLine(30)];
    await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${lines.join('\n')}\n`);
    const rx = await Receiver.start();
    cleanup.push(() => rx.close());
    const port = await freePort();
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'),
      http: { listen: `127.0.0.1:${port}` },
      sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit') } },
      sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 50 } } },
    });
    const agent = AgentProcess.run(config);
    cleanup.push(async () => {
      if (agent.child.exitCode === null) await agent.kill9();
    });
    await agent.started();
    await rx.waitFor((r) => r.acceptedAuditIds().length === 31, 20_000, '31 events');

    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    // Counters move once the acknowledgement is processed; poll briefly.
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await (await fetch(`${base}/metrics`)).text();
      if (metric(text, 'kaudit_sink_records_out_total', 'sink="rx"') === 31) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(metric(text, 'kaudit_source_lines_total', 'source="audit"')).toBe(32);
    expect(metric(text, 'kaudit_source_parse_errors_total', 'source="audit"')).toBe(1);
    expect(metric(text, 'kaudit_source_bytes_read_total', 'source="audit"')).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
    expect(metric(text, 'kaudit_sink_records_in_total', 'sink="rx"')).toBe(31);
    expect(metric(text, 'kaudit_sink_records_out_total', 'sink="rx"')).toBe(31);
    expect(metric(text, 'kaudit_sink_last_delivery_timestamp_seconds', 'sink="rx"')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(text).toMatch(/^kaudit_sink_buffer_bytes\{sink="rx"\} \d+/m);
    expect(text).toMatch(/^kaudit_checkpoint_lag_bytes\{source="audit",file=".*kubernetes\.audit"\} 0$/m);
    expect((await agent.stop()).code).toBe(0);
  }, 60_000);
});
