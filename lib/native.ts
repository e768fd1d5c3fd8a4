/**
 * The one typed seam to the native addon: only this file knows the `.node` file exists.
 * Loading is done by node-gyp-build (prebuilds/ first, then build/Release); when it fails
 * the error says what was searched, which libtorch the finder sees, and what to run.
 */
import { createRequire } from 'node:module';
import { constants as bufferConstants } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TorchError } from './errors.ts';
import { packageRoot } from './paths.ts';
import { Tensor } from './tensor.ts';

/** A method's argument as the TorchScript schema declares it. */
export interface ArgumentSignature {
  name: string;
  /** TorchScript type, e.g. `Tensor`, `List[int]`, `Optional[Tensor]`. */
  type: string;
  hasDefault: boolean;
  default?: unknown;
}

/** A method's signature: arguments (without self) and the return type. */
export interface MethodSignature {
  name: string;
  arguments: ArgumentSignature[];
  returns: string;
}

/** Native model handle (native/napi/model_wrap.cc). */
/** An AOTInductor package's inputs as compiled (shapes and dtypes when torchloop compile recorded them) and its metadata. */
export interface PackageInfo {
  inputs: { name: string; shape?: number[]; dtype?: string }[];
  /** How many tensors forward() returns. */
  outputs: number;
  metadata: Record<string, string>;
}

export interface NativeModel {
  methods(): string[];
  signature(method: string): MethodSignature;
  /** Runs on the calling thread. */
  callSync(method: string, args: unknown[]): unknown;
  /** Runs on a libuv worker thread; inputs' buffers are held until it settles. */
  call(method: string, args: unknown[]): Promise<unknown>;
  parameters(): Record<string, Tensor>;
  buffers(): Record<string, Tensor>;
  setTraining(on: boolean): void;
  training(): boolean;
  setGradEnabled(on: boolean): void;
  gradEnabled(): boolean;
  save(path: string): void;
  device(): string;
  packageInfo(): PackageInfo | null;
  dispose(): void;
  disposed(): boolean;
  createStep(method: string, inputs: StepArgSpec[], options?: { plan?: boolean }): NativeStep;
  createTrainer(config: Record<string, unknown>, resume: boolean): NativeTrainer;
  /** Copies named tensors into parameters and buffers; strict: every name, every shape. */
  loadStateDict(tensors: Record<string, Tensor>, strict: boolean): void;
}

/** Native trainer handle (native/napi/trainer_wrap.cc). */
export interface NativeTrainer {
  stepSync(inputs: unknown[], target: unknown): number;
  step(inputs: unknown[], target: unknown): Promise<number>;
  evaluateSync(inputs: unknown[], target: unknown): number;
  evaluate(inputs: unknown[], target: unknown): Promise<number>;
  info(): { lr: number; optimizerSteps: number; microSteps: number; restored: boolean; config: string };
  save(path: string): void;
  /** Gradients of the last update by parameter name (when created with keepGradients). */
  gradients(): Record<string, Tensor>;
  /** Data-parallel: broadcasts rank 0's state, then averages gradients over the group. Returns the buckets (parameter names). */
  attach(group: NativeProcessGroup, bucketCapBytes: number): string[][];
  dispose(): void;
}

/** Native realtime step handle (native/napi/step_wrap.cc). Views stay valid until dispose(). */
export interface NativeStep {
  /** Views of the input tensors libtorch reads; write into them in place. */
  inputs(): Tensor[];
  /** Views of the output tensors each step writes. */
  outputs(): Tensor[];
  /** A float64 tensor [lastRunMs, steps, runs recorded, max ms, sum ms, 0, 0, 0] that step() writes in place. */
  stats(): Tensor;
  /** An int32 tensor: the run-time histogram (lib/realtime/latency.ts's buckets) that step() fills. */
  histogram(): Tensor;
  /** Runs one step: no arguments, no result, no allocation. */
  step(): void;
  /** The same step as a plain function bound to this step (the cheapest call: no unwrap). */
  stepFunction(): () => void;
  /** Each step writes its entry time (ms) into the next slot of buf, cyclically; null stops. */
  trace(buf: Float64Array | null): void;
  /** Re-runs the interpreter on the current inputs and rebuilds the plan; true if the output views changed. */
  prepare(): boolean;
  /** The C++ floor: the same native step as step(), looped durationsUs.length times in C++; each entry-to-entry cycle time in microseconds (it also counts in stats and the histogram). */
  loop(durationsUs: Float64Array): void;
  /** "plan (N ops)" or "interpreter (why)". */
  planStatus(): string;
  /** Each output's place in the method's result: "0", "1.0" (tuple elements), "forces" (a dict key). */
  outputNames(): string[];
  /** Whether the model keeps state between calls (attributes reassigned or written in place). */
  stateful(): boolean;
  /** Copies the model's state; restoreState() puts the copy back (binding keeps one). */
  saveState(): void;
  restoreState(): void;
  dispose(): void;
}

/** One argument of a step: a tensor input, a tuple or Dict[str, Tensor] of them, or a constant. */
export type StepArgSpec =
  | { shape: number[]; dtype: string; fromDouble?: boolean }
  | { tuple: StepArgSpec[] }
  | { dict: [string, StepArgSpec][] }
  | { value: unknown };

export interface NativeRuntimeInfo {
  /** The libtorch headers the addon was compiled against. */
  libtorch: string;
  /** The libtorch this process loaded (its own build settings say so). */
  loadedLibtorch: string;
  libtorchPath: string;
  builtAgainst: string;
  cpuCapability: string;
  cuda: boolean;
  cudaDeviceCount: number;
  threads: number;
  interopThreads: number;
  blas: string;
}

interface NativeAddon {
  NativeModel: {
    loadSync(source: string | Buffer, device?: string): NativeModel;
    load(source: string | Buffer, device?: string): Promise<NativeModel>;
    /** A module from TorchScript source text with the given parameters and buffers. */
    compile(source: string, parameters?: Record<string, Tensor>, buffers?: Record<string, Tensor>): NativeModel;
  };
  setup(classes: { TorchError: typeof TorchError; Tensor: typeof Tensor; maxArrayBufferBytes: number }): void;
  runtimeInfo(): NativeRuntimeInfo;
  setNumThreads(n: number): void;
  manualSeed(seed: number): void;
  /** A float32 tensor of the shape, uniform in [low, high), from libtorch's seeded generator. */
  uniform(shape: number[], low: number, high: number): Tensor;
  /** Writes the monotonic clock in ms into buf[index]; allocates nothing. */
  /** dlopens a library of TorchScript operators (RTLD_GLOBAL); returns the operators it registered. */
  loadLibrary(path: string): string[];
  stamp(buf: Float64Array, index: number): void;
  /** The ControlLoop's clock (native/core/pacer.h); its stats are written into the views given. */
  NativePacer: new (hz: number, spinUs: number, policy: 'skip' | 'catch-up', meta: Float64Array, jitter: Int32Array, compute: Int32Array, period: Int32Array) => NativePacer;
  /** Realtime settings for the calling thread; one line per setting ("ok: ..." or why not). */
  applyRealtime(priority: number, cpu: number, lockMemory: boolean): string[];
  pacerBuckets: number;
  pacerSlots: number;
  /** A c10d process group (native/napi/process_group_wrap.cc); the rendezvous runs off the event loop. */
  connectProcessGroup(options: { rank: number; worldSize: number; masterHost: string; masterPort: number; localHost?: string; timeoutMs?: number }): Promise<NativeProcessGroup>;
  /** Whether this build has c10d with Gloo, and if not, why. */
  distributedInfo(): { available: boolean; why: string };
}

/** Native process group handle (native/napi/process_group_wrap.cc). */
export interface NativeProcessGroup {
  rank(): number;
  worldSize(): number;
  /** Sums across the group, in place. */
  allreduce(values: Float32Array | Float64Array): void;
  barrier(): void;
  dispose(): void;
}

export interface NativePacer {
  /** Sleeps to the next deadline (then spins its last µs); returns the tick number. */
  wait(): number;
  /** The tick's work is done. */
  done(): void;
  /** The C++ floor: n ticks of a native step, paced here, with no JavaScript. */
  loopStep(step: NativeStep, n: number): void;
}

export { packageRoot };

/**
 * The addon file: $TORCHLOOP_ADDON when set (a second build, e.g. against another libtorch),
 * else what node-gyp-build picks (build/Release, then prebuilds/).
 */
function addonPath(): string {
  const chosen = process.env.TORCHLOOP_ADDON;
  if (chosen) {
    const file = path.resolve(chosen);
    if (!existsSync(file)) throw new Error(`TORCHLOOP_ADDON=${chosen} does not exist`);
    return file;
  }
  const require = createRequire(import.meta.url);
  return (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
}

/** What the addon file says it was built against (a string the build embeds), if readable. */
function builtAgainst(file: string | undefined): string | undefined {
  if (!file || !existsSync(file)) return undefined;
  const bytes = readFileSync(file);
  // The marker is followed by "libtorch <version> in <folder>" (a bare copy of the marker
  // alone may sit elsewhere in the binary).
  const marker = 'torchloop-built-against: ';
  const at = bytes.indexOf(`${marker}libtorch `);
  if (at < 0) return undefined;
  const end = bytes.indexOf(0, at);
  return bytes.subarray(at + marker.length, end).toString('utf8');
}

function nativeLoadError(cause: unknown, file: string | undefined): TorchError {
  const reason = (cause as Error).message.split('\n')[0];
  let finder: string;
  try {
    finder = execFileSync(process.execPath, [path.join(packageRoot, 'scripts', 'find-libtorch.mjs'), '--explain'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000,
    }).trim();
  } catch (e) {
    finder = String((e as { stderr?: string }).stderr ?? e).trim();
  }
  const inRepo = existsSync(path.join(packageRoot, 'scripts', 'setup.mjs'));
  const rebuild = inRepo ? '`npm run build:native`' : '`npm rebuild torchloop`';
  const against = builtAgainst(file);
  const unresolved = /undefined symbol|cannot open shared object|compiled against libtorch/.test(reason);
  const searched = file ? file : `${path.join(packageRoot, 'build', 'Release')}, ${path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)}`;
  return new TorchError(
    'ERR_NATIVE_LOAD',
    `torchloop could not load its native addon: ${reason}\n` +
      `Addon: ${searched}${file && !existsSync(file) ? ' (missing)' : ''}${against ? `, built against ${against}` : ''}\n` +
      `libtorch finder:\n  ${finder.replace(/\n/g, '\n  ')}\n` +
      (unresolved
        ? `The addon and the libtorch it finds do not match (moved, removed or replaced since the build). Rebuild it against the libtorch above: ${rebuild}.\n`
        : '') +
      (inRepo
        ? 'To fix: `npm run setup` (prepares libtorch and builds), or set LIBTORCH=/path/to/libtorch and run `npm run build:native`.'
        : 'To fix: `npm rebuild torchloop` (it uses a matching prebuild, or builds against the libtorch the finder reports; with none, it lists the commands that provide one).'),
  );
}

function loadAddon(): { addon: NativeAddon; file: string } {
  // OpenBLAS reads this when libtorch loads it; a realtime step wants one thread.
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  let file: string | undefined;
  try {
    file = addonPath();
    // RTLD_NOW: a symbol the loaded libtorch lacks fails here, at import, with a message,
    // not later as a "symbol lookup error" that kills the process on the first call.
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, file, os.constants.dlopen.RTLD_NOW);
    mod.exports.setup({ TorchError, Tensor, maxArrayBufferBytes: bufferConstants.MAX_LENGTH });
    return { addon: mod.exports, file };
  } catch (cause) {
    throw nativeLoadError(cause, file);
  }
}

const loaded = loadAddon();
export const native: NativeAddon = loaded.addon;
/** The addon file this process loaded. */
export const addonFile: string = loaded.file;
