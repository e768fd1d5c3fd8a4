#!/usr/bin/env node
// dist/index.cjs: torchloop as one CommonJS file, for `require('torchloop')` on Node 20
// (which cannot require ES modules). esbuild bundles lib/ (dependencies stay external) and
// maps import.meta to CommonJS's own; the file sits in dist/ like the ES modules, so paths
// computed from it (the package root, dist/data/worker-entry.js) are the same.
import { build } from 'esbuild';

await build({
  entryPoints: ['lib/index.ts'],
  outfile: 'dist/index.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  define: { 'import.meta.url': '__torchloopModuleUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
  banner: { js: "const __torchloopModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
