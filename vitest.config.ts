import { defineConfig } from 'vitest/config';

// GPU test files share nothing and must not run Dawn instances side by side: one fork at a time, each file
// in a fresh process that initialises the device once (test/setup/gpu.ts) and shuts it down at the end.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    isolate: true,
    globalSetup: ['test/setup/global.ts'],
    setupFiles: ['test/setup/gpu.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
