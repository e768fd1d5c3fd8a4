/**
 * Loads users' modules (environments named in a config, or by EnvironmentManager): `.js`,
 * `.mjs` and `.cjs` as they are; `.ts`, `.mts` and `.cts` through tsx (a dependency of
 * torchloop) with its tsImport, which loads one module graph without installing global hooks
 * (global hooks trip Node's require(esm) cycle check on a TypeScript file in a CommonJS
 * project). When torchloop itself runs from its TypeScript source, a loader is already active.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fromSource } from './paths.ts';

const require = createRequire(import.meta.url);

/** A path, file:// URL or package specifier as something import() takes. */
export function toImportable(specifier: string): string {
  if (/^(file|data|node):/.test(specifier)) return specifier;
  if (path.isAbsolute(specifier) || specifier.startsWith('.')) return pathToFileURL(path.resolve(specifier)).href;
  return specifier;
}

export function isTypeScript(specifier: string): boolean {
  const file = specifier.startsWith('file:') ? fileURLToPath(specifier) : specifier;
  return /\.[cm]?ts$/.test(file);
}

/**
 * tsx's ES module registration API, as a URL any thread can import. Read from tsx's own
 * exports map: require.resolve would pick its CommonJS flavour, which cannot register ESM hooks.
 */
export function tsxApiUrl(): string {
  const manifest = require.resolve('tsx/package.json');
  const entry = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api'];
  return pathToFileURL(path.join(path.dirname(manifest), entry.import.default)).href;
}

/** Imports a module, TypeScript included. */
export async function importModule(specifier: string): Promise<Record<string, unknown>> {
  const target = toImportable(specifier);
  if (!isTypeScript(target) || fromSource) return import(target);
  const { tsImport } = (await import(tsxApiUrl())) as { tsImport(s: string, parent: string): Promise<Record<string, unknown>> };
  return tsImport(target, import.meta.url);
}
