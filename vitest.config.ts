import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash and rotation suites start child agents and real servers; keep them from starving each other on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
