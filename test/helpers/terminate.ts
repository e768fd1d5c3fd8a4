// Run by test/models/misuse.test.ts in a plain node child: worker threads start every async
// operation torchloop has and are terminated in the middle of it, again and again. The
// process must live through all of it (it prints "alive" at the end).
import { Worker } from 'node:worker_threads';
import { fixture } from './fixtures.ts';

const ops = ['load', 'forward', 'call', 'trainerStep', 'trainerEvaluate'];
const rounds = Number(process.argv[2] ?? 6);
const body = (op: string) => `
import { parentPort } from 'node:worker_threads';
const { Model, Tensor, Trainer } = await import(${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)});
const file = ${JSON.stringify(fixture('slow.pt'))};
const m = Model.loadSync(file);
const x = new Tensor(new Float32Array(64 * 64).fill(0.01), [64, 64]);
const small = Model.loadSync(${JSON.stringify(fixture('small.pt'))});
const trainer = new Trainer(small, { optimizer: 'adam', lr: 1e-3 });
const bx = new Tensor(new Float32Array(4096 * 4).fill(0.1), [4096, 4]), by = new Tensor(new Float32Array(4096 * 2), [4096, 2]);
parentPort.postMessage('ready');
for (;;) {
  switch (${JSON.stringify(op)}) {
    case 'load': await Model.load(file); break;
    case 'forward': await m.forward(x, 200); break;
    case 'call': await m.call('forward', x, 200); break;
    case 'trainerStep': await trainer.step([bx], by); break;
    case 'trainerEvaluate': await trainer.evaluate([bx], by); break;
  }
}`;

for (let r = 0; r < rounds; r++) {
  for (const op of ops) {
    const code = `data:text/javascript,${encodeURIComponent(body(op))}`;
    const w = new Worker(`import(${JSON.stringify(new URL('./worker-register.mjs', import.meta.url).href)}).then(() => import(${JSON.stringify(code)}))`, { eval: true });
    await new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.once('message', () => setTimeout(resolve, 5 + ((r * 7) % 40)));
    });
    await w.terminate();
  }
}
console.log('alive');
