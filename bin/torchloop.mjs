#!/usr/bin/env node
// The torchloop CLI: the built JavaScript when there is one, else the TypeScript source through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist', 'cli', 'main.js');
let main;
if (existsSync(built)) ({ main } = await import(pathToFileURL(built).href));
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
