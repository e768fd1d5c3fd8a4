/**
 * Where torchloop's own files are, whichever copy runs: the TypeScript source (lib/), the
 * ES modules built from it (dist/), or the CommonJS bundle (dist/index.cjs). All three sit one
 * folder below the package root.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Running from the TypeScript source (a TypeScript loader is active). */
export const fromSource = import.meta.url.endsWith('.ts');

/** A file of the package's own code, by its path under lib/ without extension: the source or the built ES module. */
export function ownModule(name: string): string {
  return fromSource ? path.join(packageRoot, 'lib', `${name}.ts`) : path.join(packageRoot, 'dist', `${name}.js`);
}
