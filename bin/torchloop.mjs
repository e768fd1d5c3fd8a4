#!/usr/bin/env node
// The torchloop CLI. In a checkout of torchloop it runs the TypeScript source through tsx
// (so it never runs a stale dist/); an installed package runs its built dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const checkout = existsSync(path.join(root, 'scripts', 'setup.mjs')) && existsSync(path.join(root, 'lib', 'cli', 'main.ts'));
let main;
if (!checkout) ({ main } = await import(pathToFileURL(path.join(root, 'dist', 'cli', 'main.js')).href));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(path.join(root, 'lib', 'cli', 'main.ts')).href));
}
main(process.argv.slice(2)).catch((e) => {
  if (e.code?.startsWith('commander.')) process.exit(e.exitCode ?? 1);
  console.error(`torchloop: ${e.code && !e.code.startsWith('commander') ? `${e.code}: ` : ''}${e.message}`);
  process.exit(1);
});
