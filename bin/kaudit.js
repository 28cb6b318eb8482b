#!/usr/bin/env node
// Entry point: kaudit runs its TypeScript sources directly on Node.js 24 (type stripping). This file is plain
// JavaScript so that the process is set up before any TypeScript loads: the compile cache is on (the sources then
// load from it, without starting the type stripper), and the parse worker is already loading.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kaudit needs Node.js 24 or later (this is ${process.version}); run it through npm (npx kaudit, npm run kaudit --) which uses the pinned Node 24\n`,
  );
  process.exit(2);
}
const { useCompileCache } = await import('../src/compile-cache.js');
useCompileCache();
// The commands that parse start their parse worker now: it loads its code while this thread loads the rest.
if (process.argv[2] === 'run' || process.argv[2] === 'scan') {
  const { prestartParseWorkers } = await import('../src/parse/prestart.ts');
  prestartParseWorkers(1);
}
await import('../src/cli/cli.ts');
