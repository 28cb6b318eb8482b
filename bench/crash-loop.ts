// Crash-loop duplicates: the agent killed again and again soon after its start, over one audit file, into a receiver.
//
//   node bench/crash-loop.ts [--events 3000] [--kills 40] [--min-ms 50] [--max-ms 600] [--from started|spawn] [--seed 1]
//
// Each run is killed (SIGKILL) at a random time between min-ms and max-ms after it logged `kaudit started` (or after
// its spawn: on a busy machine the start alone can take longer than the window), as a crash-looping pod is; a last
// `run --once` then delivers what is left. Prints how many copies of each event the receiver accepted.
// Figures only: the test (test/e2e/crash-loop.test.ts) asserts behaviour.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess, writeAgentConfig } from '../test/utils/agent.ts';
import { Receiver } from '../test/utils/receiver.ts';
import { auditLine } from './gen-audit.ts';
import { prng } from '../test/utils/prng.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '3000' },
    kills: { type: 'string', default: '40' },
    'min-ms': { type: 'string', default: '50' },
    'max-ms': { type: 'string', default: '600' },
    from: { type: 'string', default: 'started' },
    seed: { type: 'string', default: '1' },
  },
});

const events = Number(values.events);
const kills = Number(values.kills);
const [minMs, maxMs] = [Number(values['min-ms']), Number(values['max-ms'])];
const rand = prng(Number(values.seed));
const dir = await mkdtemp(join(tmpdir(), 'kaudit-crashloop-bench-'));
try {
  await mkdir(join(dir, 'logs'));
  const lines = Array.from({ length: events }, (_, i) => auditLine(i, 4711));
  await writeFile(join(dir, 'logs', 'kubernetes.audit'), `${lines.join('\n')}\n`);
  const rx = await Receiver.start();
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, 'state'),
    http: null,
    sources: { audit: { kind: 'audit', path: join(dir, 'logs', 'kubernetes.audit') } },
    sinks: { rx: { kind: 'http', url: rx.url(), inputs: ['audit'], batch: { max_wait: 100 } } },
  });
  const spawn = (args: string[]) => AgentProcess.run(config, args);
  let ranOut = 0;
  for (let k = 0; k < kills; k++) {
    const agent = spawn([]);
    if (values.from === 'started') await agent.started(30_000);
    await new Promise((r) => setTimeout(r, minMs + Math.floor(rand() * (maxMs - minMs))));
    const exit = await agent.kill9();
    if (exit.signal !== 'SIGKILL') ranOut++;
  }
  const byKilledRuns = rx.acceptedAuditIds().length;
  const last = spawn(['--once']);
  const exit = await last.exited;
  const copies = new Map<string, number>();
  for (const id of rx.acceptedAuditIds()) copies.set(id, (copies.get(id) ?? 0) + 1);
  const delivered = [...copies.values()].reduce((a, b) => a + b, 0);
  const histogram: Record<number, number> = {};
  for (const n of copies.values()) histogram[n] = (histogram[n] ?? 0) + 1;
  const lost = lines.filter((l) => !copies.has((JSON.parse(l) as { auditID: string }).auditID)).length;
  console.log(JSON.stringify({
    events, kills, killWindowMs: [minMs, maxMs], after: values.from, runsThatExitedBeforeTheirKill: ranOut, lastRunExit: exit,
    acceptedFromKilledRuns: byKilledRuns, accepted: delivered, duplicates: delivered - copies.size, duplicatePercent: Number((100 * (delivered - copies.size) / delivered).toFixed(1)),
    maxCopies: Math.max(...copies.values()), eventsByCopies: histogram, lost,
  }));
  await rx.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
