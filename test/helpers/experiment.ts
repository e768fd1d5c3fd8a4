import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A temp folder with the demo's spring-chain configs and `exp.yaml` (which may inherit them); returns the folder. */
export function experimentDir(prefix: string, exp: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  cpSync(path.resolve('demo/learn/spring-chain.yaml'), path.join(dir, 'spring-chain.yaml'));
  cpSync(path.resolve('demo/learn/base.yaml'), path.join(dir, 'base.yaml'));
  writeFileSync(path.join(dir, 'exp.yaml'), exp);
  return dir;
}
