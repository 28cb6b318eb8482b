// Container logs: the CRI parser's lines/s and MB/s (in process, one thread), and the agent's peak RSS and CPU with
// N pod directories on a kubelet-shaped node (the real `kaudit run` into a local HTTP receiver).
// Usage: npm run bench:containers -- [--lines N] [--rounds R] [--pods P] [--lines-per-pod L] [--only parse,pods] [--rules] [--ingress]
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noDetection } from '../src/detect/hook.ts';
import { DetectorHost, systemRuleFiles } from '../src/detect/setup.ts';
import { processBlock } from '../src/parse/parsers.ts';
import { compilePatterns } from '../src/parse/patterns.ts';
import { compileRedaction } from '../src/parse/redact.ts';
import { AgentProcess, writeAgentConfig } from '../test/utils/agent.ts';
import { FakeNode, criLines } from '../test/utils/kubelet.ts';
import { readProcSample, threadCpuSeconds } from '../test/utils/proc.ts';
import { prng } from '../test/utils/prng.ts';
import { Receiver } from '../test/utils/receiver.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '500000' },
    rounds: { type: 'string', default: '5' },
    pods: { type: 'string', default: '500' },
    'lines-per-pod': { type: 'string', default: '200' },
    only: { type: 'string', default: 'parse,pods' },
    /** The source's poll_interval. */
    poll: { type: 'string', default: '1s' },
    /** The parse bench with the shipped rules on (rules on containers, and on ingress with --ingress). */
    rules: { type: 'boolean', default: false },
    /** The parse bench on an ingress-nginx controller's access lines (default format), parsed into ingress fields. */
    ingress: { type: 'boolean', default: false },
  },
});
const only = new Set(values.only.split(','));
const random = prng(7);

/** What applications print: access logs, JSON logs, stack traces, now and then a line over 16 KiB (P fragments). */
function message(i: number): string {
  const r = random();
  if (r < 0.45) return `10.0.${i % 250}.${i % 200} - - [07/Dec/2026:10:41:17 +0000] "GET /api/v1/items/${i} HTTP/1.1" 200 ${512 + (i % 4096)} "-" "Mozilla/5.0 (X11; Linux x86_64)"`;
  if (r < 0.85) return JSON.stringify({ level: 'info', ts: 1796640077.123 + i, logger: 'orders', msg: 'order processed', order_id: `o-${i}`, items: i % 7, duration_ms: i % 300 });
  if (r < 0.999) return `\tat com.example.shop.OrderService.process(OrderService.java:${i % 900})`;
  return 'x'.repeat(20_000 + (i % 30_000));
}

/** An ingress-nginx controller's access line (its default format): ordinary browsing, now and then a 404. */
function accessLine(i: number): string {
  const status = i % 40 === 0 ? 404 : 200;
  return `198.51.100.${i % 200} - - [07/Dec/2026:10:41:17 +0000] "GET /api/v1/items/${i} HTTP/1.1" ${status} ${512 + (i % 4096)} "https://shop.example.com/" `
    + `"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" 412 0.004 [shop-web-80] [] 10.244.1.17:8080 ${512 + (i % 4096)} 0.004 ${status} ${i.toString(16)}`;
}

async function parseBench(): Promise<void> {
  const n = Number(values.lines);
  const blocks: Buffer[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  let bytes = 0;
  const time = '2026-12-07T10:41:17.123456789Z';
  for (let i = 0; i < n; i++) {
    const l = criLines(values.ingress ? accessLine(i) : message(i), i % 10 === 0 ? 'stderr' : 'stdout', time);
    parts.push(l);
    size += l.length;
    // 1 MiB blocks, cut after a complete line as the reader's hold-back of partial lines does.
    if (size >= 1024 * 1024 && l.includes(' F ', time.length)) {
      blocks.push(Buffer.concat(parts));
      bytes += size;
      parts = [];
      size = 0;
    }
  }
  if (size > 0) {
    blocks.push(Buffer.concat(parts));
    bytes += size;
  }
  const kubernetes = JSON.stringify({ namespace: 'shop', pod: 'orders-7d4b9-x2x9k', pod_uid: '0f6c1b1e-3c55-4b8f-9d7e-1d2b3c4d5e6f', container: 'orders', container_id: 'a'.repeat(64) });
  const detector = values.rules ? new DetectorHost({ ruleFiles: systemRuleFiles(), clusterName: 'bench', clusterId: '', updateIntervalMs: 60_000 }).detector : noDetection;
  const ctx = { redactor: compileRedaction({ secrets: true, token_requests: true, paths: [] }), detector, patterns: compilePatterns(undefined) };
  const ingress = values.ingress ? 'default' : undefined;
  process.stdout.write(`CRI parse: ${n} lines${ingress ? ' (ingress access lines)' : ''}, ${(bytes / 1e6).toFixed(1)} MB in ${blocks.length} blocks, one thread, redaction patterns on, ${values.rules ? 'shipped rules on' : 'no rules'}\n`);
  process.stdout.write('round  lines/s    MB/s   CPU s\n');
  for (let round = 0; round < Number(values.rounds); round++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let records = 0;
    let offset = 0;
    for (const b of blocks) {
      records += processBlock(b, ctx, { parser: 'containers', fileKey: 'bench', offset, kubernetes, maxMessageBytes: 1024 * 1024, continues: false, ingress }).count;
      offset += b.length;
    }
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (records !== n) throw new Error(`parsed ${records} records, expected ${n}`);
    process.stdout.write(`${String(round + 1).padEnd(6)} ${String(Math.round(n / s)).padStart(7)} ${(bytes / 1e6 / s).toFixed(1).padStart(7)} ${((cpu.user + cpu.system) / 1e6).toFixed(2).padStart(7)}\n`);
  }
}

async function podsBench(): Promise<void> {
  const pods = Number(values.pods);
  const perPod = Number(values['lines-per-pod']);
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-bench-containers-'));
  const rx = await Receiver.start();
  try {
    const node = await new FakeNode(dir).init();
    for (let p = 0; p < pods; p++) {
      const [c] = await node.pod(`ns-${p % 20}`, `app-${p}-7d4b9`, ['app']);
      await c.print(Array.from({ length: perPod }, (_, i) => message(p * perPod + i)));
    }
    const config = await writeAgentConfig(dir, {
      state_dir: join(dir, 'state'), http: null, detection: { enabled: false },
      sources: { pods: { kind: 'containers', path: node.links, pods_path: node.pods, poll_interval: values.poll } },
      sinks: { rx: { kind: 'http', url: rx.url(), batch: { max_wait: 100 } } },
    });
    const total = pods * perPod;
    const t0 = performance.now();
    const agent = AgentProcess.run(config);
    let peak = 0;
    while (rx.documentCount < total) {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.logs().slice(-2000)}`);
      peak = Math.max(peak, readProcSample(agent.pid)?.rssBytes ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
    const s = (performance.now() - t0) / 1000;
    // Idle with every pod's file open and watched: what the node pays while nothing is written.
    await new Promise((r) => setTimeout(r, 3000));
    const cpuBefore = threadCpuSeconds(agent.pid);
    await new Promise((r) => setTimeout(r, 10_000));
    const cpuAfter = threadCpuSeconds(agent.pid);
    const idle = Object.keys(cpuAfter).reduce((sum, k) => sum + cpuAfter[k] - (cpuBefore[k] ?? 0), 0) / 10;
    const status = readProcSample(agent.pid);
    await agent.stop();
    process.stdout.write(`\n${pods} pods (one container each, poll_interval ${values.poll}, ${perPod} lines each, ${total} lines): all delivered in ${s.toFixed(1)} s; ` +
      `peak RSS ${((status?.hwmBytes ?? peak) / 2 ** 20).toFixed(0)} MiB; idle afterwards ${(idle * 100).toFixed(1)} % of a core, RSS ${((status?.rssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB\n`);
  } finally {
    await rx.close();
    await rm(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`node ${process.version}, ${availableParallelism()} cores\n`);
if (only.has('parse')) await parseBench();
if (only.has('pods')) await podsBench();
