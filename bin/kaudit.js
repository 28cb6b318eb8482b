#!/usr/bin/env node
// Entry point: kaudit runs its TypeScript sources directly on Node.js 24 (type stripping). This file is plain
// JavaScript so that the process is set up before any TypeScript loads: the compile cache is on (the sources then
// load from it, without starting the type stripper), and scan's parse worker is already loading.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kaudit needs Node.js 24 or later (this is ${process.version}); run it through npm (npx kaudit, npm run kaudit --) which uses the pinned Node 24\n`,
  );
  process.exit(2);
}
// Settings Node cannot change once the process runs, so the process replaces itself once (exec: same PID, same
// streams, ~30 ms) with them, unless the operator already chose them:
// - V8 sizes the main thread's young generation at start, and in a long busy run it doubled to 64 MB (about +33 MB
//   resident over 600,000 events), and any rate keeps all of it resident: 2 MB semi-spaces (the parse workers get
//   their own size below). A smaller young generation hands more short-lived objects to the old one, where the heap
//   bound (src/memory.ts) collects them. Against 8 MB: RSS at 1,000 events/s 131–133 against 145 MiB, idle VmHWM
//   89 against 104 MiB, full-speed peak RSS 187–205 against 232–235 MB with the same events per CPU-second (16 MB
//   → 8 MB before had taken 191–201 → 180–186 MB over 600,000 events). 1 MB saved no more.
// - glibc gives every thread that allocates its own malloc arena, which keeps what it once held: two arenas
//   (peak RSS over 1.5 million events 227–233 MB → 218–224 MB, same throughput).
// - glibc serves blocks above its mmap threshold (128 KiB) with their own mappings, returned when freed, but raises
//   the threshold to the size of every such block freed: after that, buffers of a few hundred KiB to MiBs come from
//   the heap, whose freed space stays resident ([heap] in /proc/PID/smaps grew 17 → 31 MB over 1.5 million events;
//   15 MB flat with the threshold fixed at 128 KiB).
const operatorFlags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''];
/** @param {string} flag whether the operator set this V8 flag (command line or NODE_OPTIONS) */
const operatorSet = (flag) => operatorFlags.some((a) => a.includes(flag));
{
  const semiSpace = operatorSet('--max-semi-space-size') ? [] : ['--max-semi-space-size=2'];
  const malloc = {
    ...(process.env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2' } : {}),
    ...(process.env.MALLOC_MMAP_THRESHOLD_ === undefined ? { MALLOC_MMAP_THRESHOLD_: '131072' } : {}),
  };
  if (semiSpace.length > 0 || Object.keys(malloc).length > 0) {
    try {
      process.execve?.(process.execPath, [process.execPath, ...semiSpace, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...malloc });
    } catch {
      // No exec here (an unusual platform): run with the defaults.
    }
  }
}
// The parse workers keep few objects alive from one block to the next: 4 MB semi-spaces (about 25 MB less per
// worker). A V8 flag set now reaches every worker started later, and overrides their resourceLimits.
const { setFlagsFromString } = await import('node:v8');
setFlagsFromString('--max-semi-space-size=4');
// Young-generation collections run on the thread that allocates, without helper threads: the agent keeps both
// cores busy (reader and sender, parse worker), where helpers only take turns with the threads they would help.
// Measured over 200,000 events, seven interleaved pairs: events/s equal or higher in all seven (mean +6 %), GC
// helper CPU 0.57–0.74 s against 0.65–0.81 s. Kept as given when the operator sets it either way.
if (!operatorSet('parallel-scavenge')) {
  setFlagsFromString('--no-parallel-scavenge');
}
const { useCompileCache } = await import('../src/compile-cache.js');
useCompileCache();
// scan starts its parse worker now: it loads its code while this thread loads the rest. run parses on this thread
// until the input is heavy (src/parse/adaptive.ts): a worker started here would only be stopped again.
if (process.argv[2] === 'scan') {
  const { prestartParseWorkers } = await import('../src/parse/prestart.ts');
  prestartParseWorkers(1);
}
await import('../src/cli/cli.ts');
