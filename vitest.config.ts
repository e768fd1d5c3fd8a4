import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { BUILDS, addonOf } from './scripts/builds.mjs';

// One test project per addon build (scripts/builds.mjs): libtorch 2.x (build/) and Debian's
// libtorch 1.13 (build-1.13/). Every test runs against both; a test that needs 2.x skips on
// 1.13 and says why. In CI both builds must be there; elsewhere a missing second build is
// reported and skipped.
const projects = BUILDS.filter((b) => {
  if (existsSync(addonOf(b))) return true;
  if (b.name === 'main' || process.env.CI) throw new Error(`${addonOf(b)} is missing: run \`npm test\` (its setup builds it)`);
  console.warn(`[vitest] no ${b.dir}/ build: the libtorch ${b.torch} project is skipped (npm test builds it)`);
  return false;
}).map((b) => ({
  extends: true as const,
  test: {
    name: `libtorch-${b.torch}`,
    env: { TORCHLOOP_ADDON: addonOf(b), TORCHLOOP_FIXTURES: b.fixtures, TORCHLOOP_BUILD: b.name, TORCHLOOP_TEST_PYTHON: b.python() },
  },
}));

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
    projects,
  },
});
