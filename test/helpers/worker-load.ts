// Runs in a worker_thread: loads the addon in a second environment and uses a model.
import { parentPort, workerData } from 'node:worker_threads';
import { Model, Tensor } from '../../lib/index.ts';

const m = Model.loadSync(workerData.model as string);
const y = m.callSync('scaled', new Tensor(new Float32Array([1, 2])), 3, 1);
m.dispose();
parentPort!.postMessage(Array.from(y.data as Float32Array));
