/**
 * The child process of scripts/fuzz/run.ts: loads mutants through torchloop exactly as a user
 * would (Model.loadSync on the bytes), and when one loads, reads its parameters and runs its
 * forward on zero inputs of the base model's shapes. It reports each case to the parent before
 * starting the next, so a crash or a hang points at the case that caused it.
 *
 * Message in: { base, seed, count, shapes }; out: { seed, outcome } per case, then { done }.
 */
import { readFileSync } from 'node:fs';
import { Model, Tensor, TorchError } from '../../lib/index.ts';
import { mutant } from './mutate.ts';

process.on('message', (msg: { base: string; seed: number; count: number; shapes: number[][] }) => {
  const base = readFileSync(msg.base);
  for (let s = msg.seed; s < msg.seed + msg.count; s++) {
    let outcome = 'loaded';
    let loaded = false;
    try {
      const m = Model.loadSync(mutant(base, s));
      loaded = true;
      try {
        m.parameters();
        m.forwardSync(...msg.shapes.map((shape) => Tensor.zeros(shape)));
        outcome = 'ran';
      } finally {
        m.dispose();
      }
    } catch (e) {
      outcome = e instanceof TorchError ? e.code + (loaded ? ' (after load)' : '') : `not a TorchError: ${(e as Error).message.slice(0, 80)}`;
    }
    process.send!({ seed: s, outcome });
  }
  process.send!({ done: true });
});
