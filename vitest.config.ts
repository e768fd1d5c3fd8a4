import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native code: each test file in its own process, so a crash cannot hide behind another file.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ['test/**/*.test.ts'],
    // test/gpu/ needs a CUDA libtorch; it skips itself where CUDA is absent.
  },
});
