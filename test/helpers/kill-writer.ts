// A generation process for the kill -9 test: writes batches of 100 into a dataset and prints
// the number committed after each transaction, until it is killed.
import { DatabaseManager, SpringChainEnvironment, EnvironmentManager } from '../../lib/index.ts';

const file = process.argv[2];
const envs = new EnvironmentManager({ environment: SpringChainEnvironment, seed: 1, environmentOptions: { nodes: 8, iterations: 10 } });
await envs.start();
const db = DatabaseManager.open(file, { fields: envs.fields });
for (let b = 0; ; b++) {
  const batch = await envs.getBatch(100);
  db.add('training', batch.values, batch.size);
  process.stdout.write(`${(b + 1) * 100}\n`);
}
