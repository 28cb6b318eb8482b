// Running the sources directly (`node src/cli/main.ts`): the same start as bin/kaudit.js, the entry point.
await import('../../bin/kaudit.js');
