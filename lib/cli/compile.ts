/**
 * `torchloop compile`: a TorchScript file (or a Python module's factory) into an AOTInductor
 * package (.pt2), PyTorch 2's deployment format. The work is PyTorch's, in the Python of the
 * pip torch that torchloop's libtorch came from (python/compile_pt2.py): torch.export's
 * TorchScript converter, AOTInductor with freezing and max-autotune's CPP GEMM backend, and a
 * check of the package's outputs against the source's before it is written. Then torchloop
 * loads the package, checks it against the source once more, and times both as realtime steps.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { Model } from '../model.ts';
import { packageRoot } from '../paths.ts';
import { version } from '../runtime.ts';
import { Tensor } from '../tensor.ts';
import { bench, type BenchRow } from './bench.ts';

export interface CompileOptions {
  /** A TorchScript file, or (with `module`) nothing. */
  source?: string;
  /** pkg.mod:factory, a function returning an nn.Module (imported from the current folder). */
  module?: string;
  /** One shape per input of forward(): "1x48", "1x12:int64". */
  inputs: string[];
  out: string;
  /** The Python to run PyTorch in (default: the one of the pip torch torchloop was built against). */
  python?: string;
  /** AOTInductor's defaults instead of freezing + max-autotune. */
  defaultOptions?: boolean;
  /** Overwrite an existing .pt2 package at `out`. */
  force?: boolean;
  /** Steps per timing of the source and the package (0: no timing). */
  benchSteps?: number;
  /** Progress lines ("convert 1.2 s"). */
  onProgress?: (line: string) => void;
}

export interface CompileReport {
  out: string;
  torch: string;
  options: string;
  inputs: { name: string; shape: number[]; dtype: string }[];
  /** Seconds in AOTInductor, and in all. */
  compileSeconds: number;
  totalSeconds: number;
  /** Largest difference between the package's outputs and the source's (PyTorch, then torchloop). */
  maxAbsDiff: number;
  /** TorchEntity step p50 in µs, source and package, and source / package. */
  timing?: { source: BenchRow; package: BenchRow; speedup: number };
}

/** The Python whose torch made the libtorch this addon runs on (a pip torch's venv), else python3. */
export function torchPython(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.TORCHLOOP_PYTHON) return process.env.TORCHLOOP_PYTHON;
  const m = /^(.*)\/lib\/python3[^/]*\/site-packages\/torch\/lib\//.exec(version.libtorchPath ?? '');
  if (m && existsSync(path.join(m[1], 'bin', 'python'))) return path.join(m[1], 'bin', 'python');
  return 'python3';
}

function runPython(python: string, args: string[], onLine: (l: string) => void): Promise<{ status: number; stdout: string; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    let stdout = '', pending = '';
    const errors: string[] = [];
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('error ')) errors.push(line.slice(6));
        else if (line.startsWith('stage ') || line.startsWith('note ')) onLine(line);
        else if (/Error|Traceback/.test(line)) errors.push(line);
      }
    });
    child.on('error', (e) => reject(new TorchError('ERR_MISSING_DEPENDENCY', `Cannot run ${python}: ${e.message}. torchloop compile needs Python with PyTorch 2.x (torch.export, AOTInductor) and a C++ compiler; name one with --python`)));
    child.on('close', (status) => resolve({ status: status ?? 1, stdout, errors }));
  });
}

function parseShape(spec: string): { shape: number[]; dtype: string } {
  const [shape, dtype = 'float32'] = spec.split(':');
  return { shape: shape.split('x').map(Number), dtype };
}

export async function compilePackage(o: CompileOptions): Promise<CompileReport> {
  const started = Date.now();
  const progress = o.onProgress ?? (() => {});
  if (!version.libtorch.startsWith('2.')) {
    throw new TorchError('ERR_UNSUPPORTED', `This torchloop build uses libtorch ${version.libtorch}, which cannot load AOTInductor packages (.pt2): build torchloop against libtorch 2.x to compile and run them`);
  }
  if (!o.source === !o.module) throw new TorchError('ERR_ARGUMENT', 'Expected a TorchScript file or --module pkg.mod:factory, not both or neither');
  if (!o.inputs.length) throw new TorchError('ERR_ARGUMENT', 'Expected --input with the shape of each input of forward(), e.g. --input 1x48');
  if (!/\.pt2$/.test(o.out)) throw new TorchError('ERR_ARGUMENT', `Expected an output path ending in .pt2 but received '${o.out}'`);
  if (o.source && !existsSync(o.source)) throw new TorchError('ERR_MODEL_LOAD', `Cannot compile '${o.source}': no such file`);
  if (existsSync(o.out)) {
    // Only a package is ever replaced, and only when asked: nothing else is overwritten.
    let isPackage = false;
    try {
      isPackage = statSync(o.out).isFile() && Model.loadSync(o.out).format === 'aoti';
    } catch {
      isPackage = false;
    }
    if (!isPackage || !o.force) {
      throw new TorchError('ERR_ARGUMENT', `'${o.out}' exists${isPackage ? '' : ' and is not a .pt2 package'}: ${isPackage ? 'pass --force to replace it' : 'choose another output path'}`);
    }
  }
  const python = torchPython(o.python);
  const script = path.join(packageRoot, 'python', 'compile_pt2.py');
  const args = [script, '--out', path.resolve(o.out), ...(o.source ? ['--pt', path.resolve(o.source)] : ['--module', o.module!])];
  for (const i of o.inputs) args.push('--input', i);
  if (o.defaultOptions) args.push('--default');
  progress(`compiling with ${python} (AOTInductor: about 6 to 30 s per model on a 2-core machine, longer on a first run)`);
  const ticker = setInterval(() => progress(`  ... ${((Date.now() - started) / 1000).toFixed(0)} s`), 10_000);
  let r;
  try {
    r = await runPython(python, args, (line) => {
      const m = /^stage (\S+) ([\d.]+)/.exec(line);
      progress(m ? `${m[1]} (${m[2]} s)` : line.replace(/^note /, 'note: '));
    });
  } finally {
    clearInterval(ticker);
  }
  if (r.status !== 0) {
    const message = r.errors.join('\n') || `${python} ${path.basename(script)} failed (exit ${r.status})`;
    throw new TorchError(r.status === 3 ? 'ERR_RUNTIME' : r.status === 2 ? 'ERR_ARGUMENT' : 'ERR_RUNTIME', message);
  }
  const lines = r.stdout.trim().split('\n');
  const py = JSON.parse(lines[lines.length - 1]) as { inputs: CompileReport['inputs']; max_abs_diff: number; compile_s: number; torch: string; options: string };
  // torchloop itself loads the package and checks it against the source on the same inputs.
  progress('loading the package in torchloop');
  using pkg = Model.loadSync(o.out);
  let maxAbsDiff = py.max_abs_diff;
  let timing: CompileReport['timing'];
  if (o.source) {
    using src = Model.loadSync(o.source);
    const xs = o.inputs.map((spec, i) => {
      const { shape, dtype } = parseShape(spec);
      const n = shape.reduce((a, b) => a * b, 1);
      if (dtype !== 'float32') return null;
      const v = new Float32Array(n);
      for (let j = 0; j < n; j++) v[j] = Math.sin(0.7 * j + i);
      return new Tensor(v, shape);
    });
    if (xs.every((x) => x)) {
      const flat = (v: unknown): Tensor[] => (v instanceof Tensor ? [v] : Array.isArray(v) ? v.flatMap(flat) : []);
      const a = flat(src.forwardSync(...(xs as Tensor[]))), b = flat(pkg.forwardSync(...(xs as Tensor[])));
      for (let k = 0; k < a.length; k++) {
        const da = a[k].data as Float32Array, db = b[k]?.data as Float32Array;
        for (let j = 0; j < da.length; j++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(da[j] - (db?.[j] ?? NaN)) || (Number.isNaN(db?.[j]) ? Infinity : 0));
      }
      if (a.length !== b.length || !(maxAbsDiff <= 1e-4 * Math.max(1, ...a.flatMap((t) => Array.from(t.data as Float32Array, Math.abs))))) {
        throw new TorchError('ERR_RUNTIME', `The package written to '${o.out}' differs from '${o.source}' in torchloop by ${maxAbsDiff}: do not use it`);
      }
      if ((o.benchSteps ?? 20_000) > 0) {
        progress('timing the source and the package as realtime steps');
        const steps = o.benchSteps ?? 20_000;
        const shapes = o.inputs.map((s) => parseShape(s).shape.join('x'));
        const source = (await bench({ model: o.source, shapes, steps, rounds: 4 })).rows[0];
        const compiled = (await bench({ model: o.out, shapes, steps, rounds: 4 })).rows[0];
        timing = { source, package: compiled, speedup: source.entity.p50 / compiled.entity.p50 };
      }
    }
  }
  return {
    out: o.out, torch: py.torch, options: py.options, inputs: py.inputs, compileSeconds: py.compile_s,
    totalSeconds: Math.round((Date.now() - started) / 100) / 10, maxAbsDiff, timing,
  };
}

export function formatCompile(r: CompileReport): string {
  const lines = [
    `${r.out}: ${r.inputs.map((i) => `${i.name} ${i.shape.join('x')} ${i.dtype}`).join(', ')}`,
    `  PyTorch ${r.torch}, ${r.options}; AOTInductor ${r.compileSeconds} s, ${r.totalSeconds} s in all`,
    `  outputs match the source: max abs difference ${r.maxAbsDiff.toExponential(2)}`,
  ];
  if (r.timing) {
    const t = r.timing;
    lines.push(`  TorchEntity step p50: ${t.source.entity.p50.toFixed(1)} µs (.pt, ${t.source.path.split(' (')[0]}) -> ${t.package.entity.p50.toFixed(1)} µs (.pt2): ${t.speedup.toFixed(2)}x`);
    if (t.speedup < 1) lines.push('  The package is slower than the .pt file on this machine: keep running the .pt.');
  }
  lines.push('  A .pt2 package is native code: load only packages you made or trust.');
  return lines.join('\n');
}
