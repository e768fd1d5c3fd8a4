import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadExperiment, writeResolved } from '../../lib/index.ts';

function files(docs: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-cfg-'));
  for (const [name, text] of Object.entries(docs)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('experiment config', () => {
  it('inherits through defaults: (in order, the file last), fills defaults, takes overrides, writes the resolved config', () => {
    const dir = files({
      'a.yaml': 'optimizer: { kind: sgd, lr: 0.1, momentum: 0.9 }\ntraining: { epochs: 3 }\n',
      'b.yaml': 'defaults: [a.yaml]\noptimizer: { lr: 0.05 }\n',
      'exp.yaml': 'defaults: [b.yaml]\nname: x\noutput: out\ntraining: { batchSize: 8 }\n',
    });
    const exp = loadExperiment(path.join(dir, 'exp.yaml'), { 'training.epochs': '7', 'optimizer.betas': '[0.8, 0.9]' });
    expect(exp.optimizer).toMatchObject({ kind: 'sgd', lr: 0.05, momentum: 0.9, betas: [0.8, 0.9] });
    expect(exp.training).toMatchObject({ epochs: 7, batchSize: 8, loss: 'mse' });
    expect(exp.checkpoint.best).toBe(true);
    const file = writeResolved(exp);
    expect(file).toBe(path.join(dir, 'out', 'config.resolved.yaml'));
    expect(YAML.parse(readFileSync(file, 'utf8')).training.epochs).toBe(7);
  });

  it('rejects unknown keys, naming the nearest valid one', () => {
    const dir = files({ 'exp.yaml': 'trainig: { epochs: 3 }\noptimizer: { lr: 0.1, momentun: 0.9 }\n' });
    let message = '';
    try {
      loadExperiment(path.join(dir, 'exp.yaml'));
    } catch (e) {
      message = (e as Error).message;
      expect((e as { code: string }).code).toBe('ERR_ARGUMENT');
    }
    expect(message).toMatch(/unknown key 'trainig' \(did you mean 'training'\?\)/);
    expect(message).toMatch(/unknown key 'optimizer.momentun' \(did you mean 'optimizer.momentum'\?\)/);
  });

  it('names the key of a wrong value, an override typo, a loop in defaults, a missing file', () => {
    const dir = files({ 'exp.yaml': 'training: { epochs: -1 }\n', 'l1.yaml': 'defaults: [l2.yaml]\n', 'l2.yaml': 'defaults: [l1.yaml]\n' });
    expect(() => loadExperiment(path.join(dir, 'exp.yaml'))).toThrow(/'training.epochs': /);
    expect(() => loadExperiment(path.join(dir, 'l1.yaml'))).toThrow(/inheritance loops/);
    expect(() => loadExperiment(path.join(dir, 'nope.yaml'))).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    const ok = files({ 'exp.yaml': 'name: y\n' });
    expect(() => loadExperiment(path.join(ok, 'exp.yaml'), { 'training.lr': '1e-3' })).toThrow(/unknown key 'training.lr'/);
  });
});
