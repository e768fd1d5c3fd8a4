import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataGeneration, DataManager, DatabaseManager, EnvironmentManager, SpringChainEnvironment } from '../../lib/index.ts';
import { PYTHON } from '../helpers/fixtures.ts';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'tl-db-'));
const fields = [
  { name: 'x', shape: [2, 3] },
  { name: 'label', shape: [1], dtype: 'int64' as const },
];
function batch(n: number, offset = 0) {
  const x = new Float32Array(n * 6).map((_, i) => offset + i);
  const label = BigInt64Array.from({ length: n }, (_, i) => BigInt(offset + i));
  return { x, label };
}

describe('DatabaseManager', () => {
  it('stores one row per sample, by mode, and reads them back by id, in any order', () => {
    using db = DatabaseManager.open(path.join(tmp(), 'd.sqlite'), { fields });
    const ids = db.add('training', batch(10), 10);
    db.add('validation', batch(3, 100), 3);
    expect(db.count('training')).toBe(10);
    expect(db.count('validation')).toBe(3);
    const got = db.read([ids[7], ids[2]]);
    expect(Array.from(got.x as Float32Array).slice(0, 6)).toEqual([42, 43, 44, 45, 46, 47]);
    expect(Array.from(got.label as BigInt64Array)).toEqual([7n, 2n]);
  });

  it('rejects a NaN or a wrong shape, naming the field, and writes nothing of that batch', () => {
    using db = DatabaseManager.open(path.join(tmp(), 'd.sqlite'), { fields });
    const b = batch(4);
    b.x[13] = NaN;
    expect(() => db.add('training', b, 4)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: "Field 'x' of sample 2 has NaN at index 1: samples must be finite" }));
    expect(() => db.add('training', { x: new Float32Array(5), label: new BigInt64Array(1) }, 1)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/field 'x'/) }));
    expect(db.count('training')).toBe(0);
  });

  it('keeps per-field normalization incrementally, equal to a recomputation', () => {
    using db = DatabaseManager.open(path.join(tmp(), 'd.sqlite'), { fields: [{ name: 'v', shape: [4] }] });
    const all: number[] = [];
    for (let b = 0; b < 5; b++) {
      const v = new Float32Array(40).map((_, i) => Math.sin(b * 40 + i) * 3 + 1);
      all.push(...v);
      db.add('training', { v }, 10);
    }
    const mean = all.reduce((a, c) => a + c, 0) / all.length;
    const std = Math.sqrt(all.reduce((a, c) => a + (c - mean) ** 2, 0) / all.length);
    const inc = db.normalization('training').v;
    expect(inc.count).toBe(200);
    expect(inc.mean).toBeCloseTo(mean, 6);
    expect(inc.std).toBeCloseTo(std, 6);
    const re = db.recomputeNormalization('training').v;
    expect(re.mean).toBeCloseTo(inc.mean, 9);
    expect(re.std).toBeCloseTo(inc.std, 9);
  });

  it('shuffled batches cover every sample once per epoch, reproducibly per seed', () => {
    using db = DatabaseManager.open(path.join(tmp(), 'd.sqlite'), { fields });
    db.add('training', batch(50), 50);
    const epoch = (seed: number) => [...db.batches('training', 16, { seed })].flatMap((b) => Array.from(b.label as BigInt64Array, Number));
    const e1 = epoch(1);
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(e1).toEqual(epoch(1));
    expect(e1).not.toEqual(epoch(2));
  });

  it('reopens an existing dataset for more data or for reading; a mismatched schema is refused', () => {
    const file = path.join(tmp(), 'd.sqlite');
    DatabaseManager.open(file, { fields }).add('training', batch(5), 5);
    const again = DatabaseManager.open(file);
    again.add('training', batch(5, 5), 5);
    expect(again.count('training')).toBe(10);
    again.close();
    using ro = DatabaseManager.open(file, { readonly: true });
    expect(ro.count('training')).toBe(10);
    expect(() => DatabaseManager.open(file, { fields: [{ name: 'x', shape: [6] }] })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });

  it('the documented layout is readable from Python (sqlite3 + numpy), and .npy / safetensors exports load there', () => {
    const dir = tmp();
    const file = path.join(dir, 'd.sqlite');
    using db = DatabaseManager.open(file, { fields });
    db.add('training', batch(3), 3);
    db.exportNpy(dir, 'training');
    db.exportSafetensors(path.join(dir, 'd.safetensors'));
    const out = execFileSync(PYTHON, ['-c', `import sqlite3, json, sys, numpy as np, struct
c = sqlite3.connect(sys.argv[1])
f = {n: (d, json.loads(s)) for n, d, s in c.execute('SELECT name, dtype, shape FROM fields')}
row = c.execute('SELECT x, label FROM samples WHERE mode = ? ORDER BY id', ('training',)).fetchall()[1]
x = np.frombuffer(row[0], dtype=f['x'][0]).reshape(f['x'][1])
lab = np.frombuffer(row[1], dtype=f['label'][0])
npx = np.load(sys.argv[2] + '/training_x.npy')
b = open(sys.argv[2] + '/d.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
print(json.dumps([x.tolist(), int(lab[0]), list(npx.shape), float(npx[2, 1, 2]), h['x']['shape'], h['__metadata__']['mode']]))`, file, dir], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([[[6, 7, 8], [9, 10, 11]], 1, [3, 2, 3], 17, [3, 2, 3], 'training']);
  });

  it('a generation process killed with kill -9 loses at most its open batch; the database reopens clean', async () => {
    const file = path.join(tmp(), 'killed.sqlite');
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/kill-writer.ts', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let committed = 0;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the writer exited by itself (code ${code}) after ${committed} samples`)));
      child.stdout.on('data', (d: Buffer) => {
        committed = Math.max(committed, ...d.toString().trim().split('\n').map(Number));
        if (committed >= 500) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    using db = DatabaseManager.open(file);
    expect(db.query<{ integrity_check: string }>('PRAGMA integrity_check')[0].integrity_check).toBe('ok');
    const n = db.count('training');
    expect(n % 100).toBe(0); // no half batch
    expect(n).toBeGreaterThanOrEqual(committed);
    expect(db.normalization('training').loads.count).toBe(n * 8); // statistics committed with their batch
  });
});

describe('DataManager and DataGeneration', () => {
  it('generate-then-reload: epoch 0 from the environments (stored), later epochs from the database', async () => {
    const envs = new EnvironmentManager({ environment: SpringChainEnvironment, seed: 2, environmentOptions: { nodes: 8, iterations: 20 } });
    await envs.start();
    using db = DatabaseManager.open(path.join(tmp(), 'g.sqlite'), { fields: envs.fields });
    const dm = new DataManager({ source: 'generate-then-reload', database: db, environments: envs, batchSize: 16, batchesPerEpoch: 3 });
    let produced = 0;
    for await (const b of dm.epoch(0)) produced += b.size;
    expect(produced).toBe(48);
    expect(db.count('training')).toBe(48);
    let reread = 0;
    for await (const b of dm.epoch(1)) reread += b.size;
    expect(reread).toBe(48);
    expect(db.count('training')).toBe(48);
    await envs.close();
    expect(() => new DataManager({ source: 'load', batchSize: 4 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });

  it('DataGeneration fills a dataset with 2 workers', async () => {
    const file = path.join(tmp(), 'gen.sqlite');
    const report = await new DataGeneration({
      environment: { module: path.resolve('lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' },
      environmentOptions: { nodes: 8, iterations: 20 },
      database: file,
      batchNb: 4,
      batchSize: 32,
      workers: 2,
      seed: 1,
      progress: false,
    }).execute();
    expect(report.samples).toBe(128);
    using db = DatabaseManager.open(file, { readonly: true });
    expect(db.count('training')).toBe(128);
    expect(db.fields.map((f) => f.name)).toEqual(['loads', 'displacements', 'residual']);
  });
});
