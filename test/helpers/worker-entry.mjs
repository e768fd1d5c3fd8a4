// Worker entry in plain JS: Node 20 resolves a worker's entry before --import hooks apply,
// so register tsx here and then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker-load.ts');
