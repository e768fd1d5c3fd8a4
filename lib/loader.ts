/**
 * Loads users' modules (environments named in a config, or by EnvironmentManager): `.js`,
 * `.mjs` and `.cjs` as they are; `.ts`, `.mts` and `.cts` through tsx, a dependency of
 * torchloop, registered on first need. When torchloop itself runs from its TypeScript
 * source, a TypeScript loader is already active and none is added.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fromSource } from './paths.ts';

const require = createRequire(import.meta.url);
let registered = false;

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

/** tsx's registration API, as a URL any thread can import. */
export function tsxApiUrl(): string {
  return pathToFileURL(require.resolve('tsx/esm/api')).href;
}

/** Imports a module, TypeScript included. */
export async function importModule(specifier: string): Promise<Record<string, unknown>> {
  const target = toImportable(specifier);
  if (isTypeScript(target) && !fromSource && !registered) {
    const { register } = (await import(tsxApiUrl())) as { register(): unknown };
    register();
    registered = true;
  }
  return import(target);
}

/** Whether a worker that imports `modules` needs tsx registered first. */
export function workerNeedsTypeScript(...modules: string[]): boolean {
  return modules.some((m) => isTypeScript(toImportable(m)));
}
