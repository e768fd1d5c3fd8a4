// A remote environment client process for test/data/remote.test.ts.
import path from 'node:path';
import { RemoteEnvironmentClient } from '../../lib/index.ts';

const [servers, clientId, seed, batches] = process.argv.slice(2);
const client = new RemoteEnvironmentClient({
  servers,
  dataset: 'chain_test',
  clientId,
  seed: Number(seed),
  batchSize: 16,
  environment: { module: path.resolve(import.meta.dirname, '../../lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' },
  environmentOptions: { nodes: 8, iterations: 10 },
});
const r = await client.run(Number(batches));
console.log(JSON.stringify(r));
