/**
 * `npm run fuzz`: structure-aware mutants of the test fixtures (scripts/fuzz/mutate.ts),
 * loaded through torchloop in a supervised child process (runner.ts). A child that dies is a
 * crash and one that stops reporting for 30 s is a hang: the mutant is written to
 * test/fuzz/crashers/ (a regression case from then on) and the run goes on after it.
 * Prints the outcomes by error code; exits 1 on any crash or hang.
 *
 *   npm run fuzz -- [--cases 10000] [--kinds pd,mlp,kinds,small,deep,sdpa] [--seed 1]
 *   TORCHLOOP_ADDON=build-1.13/Release/torchloop.node npm run fuzz   # against another build
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mutant } from './mutate.ts';

const { values: opts } = parseArgs({ options: { cases: { type: 'string', default: '10000' }, kinds: { type: 'string', default: 'pd,mlp,kinds,small,deep,sdpa' }, seed: { type: 'string', default: '1' } } });
const root = path.resolve(import.meta.dirname, '..', '..');
const fixtures = path.join(root, process.env.TORCHLOOP_FIXTURES ?? 'test/fixtures/torch-2.13');
const crashers = path.join(root, 'test', 'fuzz', 'crashers');
const KINDS: Record<string, { file: string; shapes: number[][] }> = {
  pd: { file: 'script_pd_controller.pt', shapes: [[1], [1], [12], [12], [12], [12]] },
  mlp: { file: 'mlp_m2.pt', shapes: [[1, 48]] },
  kinds: { file: 'kinds.pt', shapes: [[4], [4]] },
  small: { file: 'small.pt', shapes: [[5, 4]] },
  deep: { file: 'deep_shape_error.pt', shapes: [[1, 4]] },
  sdpa: { file: 'sdpa.pt', shapes: [[1, 5, 16]] },
};
const cases = Number(opts.cases), first = Number(opts.seed);
let findings = 0;

function startRunner(): ChildProcess {
  return fork(path.join(import.meta.dirname, 'runner.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}

async function fuzzKind(kind: string): Promise<Record<string, number>> {
  const { file, shapes } = KINDS[kind];
  const base = path.join(fixtures, file);
  const outcomes: Record<string, number> = {};
  let next = first;
  while (next < first + cases) {
    const child = startRunner();
    const count = first + cases - next;
    const finished = await new Promise<'done' | 'crash' | 'hang'>((resolve) => {
      let timer = setTimeout(() => resolve('hang'), 30_000);
      child.on('message', (m: { seed?: number; outcome?: string; done?: boolean }) => {
        clearTimeout(timer);
        timer = setTimeout(() => resolve('hang'), 30_000);
        if (m.done) return resolve('done');
        outcomes[m.outcome!] = (outcomes[m.outcome!] ?? 0) + 1;
        next = m.seed! + 1;
      });
      child.on('exit', () => resolve(child.exitCode === 0 ? 'done' : 'crash'));
      child.send({ base, seed: next, count, shapes });
    });
    child.kill('SIGKILL');
    if (finished === 'done' && next >= first + cases) break;
    // The case after the last one reported is the one that crashed or hung.
    findings++;
    outcomes[finished] = (outcomes[finished] ?? 0) + 1;
    mkdirSync(crashers, { recursive: true });
    const out = path.join(crashers, `${kind}-${finished}-seed${next}.pt`);
    writeFileSync(out, mutant(readFileSync(base), next));
    console.log(`  ${finished.toUpperCase()} at seed ${next}: written to ${path.relative(root, out)}`);
    next++;
  }
  return outcomes;
}

const t0 = performance.now();
console.log(`fuzzing ${cases} mutants per kind from ${path.relative(root, fixtures)}, seeds ${first}..${first + cases - 1}, addon ${process.env.TORCHLOOP_ADDON ?? '(main build)'}`);
let total = 0;
for (const kind of opts.kinds.split(',')) {
  const t = performance.now();
  const outcomes = await fuzzKind(kind);
  const n = Object.values(outcomes).reduce((a, b) => a + b, 0);
  total += n;
  console.log(`${kind.padEnd(6)} ${n} cases in ${((performance.now() - t) / 1000).toFixed(0)} s: ${Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
console.log(`${total} cases in ${((performance.now() - t0) / 1000).toFixed(0)} s; ${findings} crash(es) or hang(s)`);
process.exit(findings ? 1 : 0);
