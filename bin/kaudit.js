#!/usr/bin/env node
// Entry shim: kaudit runs its TypeScript sources directly on Node.js 24 (type stripping).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kaudit needs Node.js 24 or later (this is ${process.version}); run it through npm (npx kaudit, npm run kaudit --) which uses the pinned Node 24\n`,
  );
  process.exit(2);
}
await import('../src/cli/main.ts');
