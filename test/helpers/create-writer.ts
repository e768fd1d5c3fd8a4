// For the kill tests: creates datasets one after another in a folder (each created, then one
// batch added) and prints the index of each completed one, until it is killed.
import path from 'node:path';
import { DatabaseManager } from '../../lib/index.ts';

const dir = process.argv[2], round = process.argv[3] ?? '0';
const fields = [{ name: 'x', shape: [64] }, { name: 'y', shape: [8] }];
for (let i = 0; ; i++) {
  const db = DatabaseManager.open(path.join(dir, `ds-${round}-${i}.sqlite`), { fields });
  db.add('training', { x: new Float32Array(64 * 10).fill(i), y: new Float32Array(80) }, 10);
  db.close();
  process.stdout.write(`${i}\n`);
}
