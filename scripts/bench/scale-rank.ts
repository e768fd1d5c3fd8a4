/**
 * One rank of the data-parallel throughput bench (scale.ts starts them through the same
 * launcher as `torchloop train --nproc`): M3 (MLP 512-1024-1024-512 relu), Adam + MSE, a
 * global batch of 64 split over the ranks, stepSync on this rank's shard. Rank 0 prints JSON.
 *   argv: steps bucketCapMB threads
 */
import { ProcessGroup, Tensor, Trainer, manualSeed, nn, setNumThreads } from '../../lib/index.ts';
import { rankFromEnv } from '../../lib/learn/data-parallel.ts';

const [steps, bucketCapMB, threads] = process.argv.slice(2).map(Number);
const rank = rankFromEnv() ?? { rank: 0, worldSize: 1, master: '', timeoutMs: 60_000 };
setNumThreads(threads);
manualSeed(0);
const model = nn.mlp([512, 1024, 1024, 512], { activation: 'relu', seed: 0 });
const trainer = new Trainer(model, { optimizer: 'adam', lr: 1e-4, loss: 'mse' });
const group = rank.worldSize > 1 ? await ProcessGroup.connect(rank) : null;
const buckets = group ? trainer.attach(group, { bucketCapMB }).length : 0;
const B = 64, per = B / rank.worldSize;
const x = new Tensor(Float32Array.from({ length: per * 512 }, (_, i) => Math.sin(i + rank.rank)), [per, 512]);
const y = new Tensor(Float32Array.from({ length: per * 512 }, (_, i) => Math.cos(i + rank.rank)), [per, 512]);
for (let i = 0; i < 5; i++) trainer.stepSync([x], y);
group?.barrier();
const t0 = performance.now();
for (let i = 0; i < steps; i++) trainer.stepSync([x], y);
group?.barrier();
const seconds = (performance.now() - t0) / 1000;
// The all-reduce alone: M3's gradients (2.1 M floats) summed across the group, as the reducer does.
let allreduceMs = 0;
if (group) {
  const grads = new Float32Array(Object.values(model.parameters()).reduce((a, t) => a + t.numel, 0));
  group.allreduce(grads);
  const t1 = performance.now();
  for (let i = 0; i < 20; i++) group.allreduce(grads);
  allreduceMs = (performance.now() - t1) / 20;
}
if (rank.rank === 0) console.log(JSON.stringify({ samplesPerSecond: (steps * B) / seconds, msPerStep: (seconds * 1000) / steps, buckets, allreduceMs }));
group?.dispose();
