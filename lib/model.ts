import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TorchError, expected } from './errors.ts';
import { native, type PackageInfo, type MethodSignature, type NativeModel, type NativeStep, type NativeTrainer, type StepArgSpec } from './native.ts';
import { readSafetensors, writeSafetensors } from './train/safetensors.ts';
import type { Tensor, TypedArray } from './tensor.ts';

export type { MethodSignature, ArgumentSignature, PackageInfo } from './native.ts';

/** Where a model comes from: a path, a `file://` URL, or the bytes of a `.pt` or `.pt2` file. */
export type ModelSource = string | URL | Buffer | Uint8Array;

/**
 * What a TorchScript method returns, converted: a Tensor, a number (`int`, `float`), a
 * boolean, a string, null (`None`), an array (`List`, `Tuple`) or a plain object (`Dict[str, T]`).
 * Pass the shape you expect as a type argument: `m.forwardSync<Tensor>(x)`,
 * `m.forwardSync<[Tensor, Tensor]>(x, h)`.
 */
export type Value = Tensor | number | boolean | string | null | Value[] | { [key: string]: Value };
/** What a method takes: a Value, a bare TypedArray (a 1-D tensor), `undefined` for a defaulted argument. */
export type Argument = Value | TypedArray | bigint | undefined | readonly Argument[] | { [key: string]: Argument };

export interface LoadOptions {
  /** `'cpu'` (default), `'cuda'` or `'cuda:N'`. CUDA without CUDA support is an ERR_DEVICE, never a silent CPU fall-back. */
  device?: string;
  /**
   * Eval with gradients: run in eval mode with autograd on, for a forward() that calls
   * torch.autograd.grad itself (forces from an energy, as nequip/Allegro potentials do).
   * Default false: calls run under c10::InferenceMode.
   */
  grad?: boolean;
}

function normalizeSource(source: ModelSource): string | Buffer {
  if (typeof source === 'string') {
    // The C library would stop at a NUL and open another file.
    if (source.includes('\0')) expected('ERR_ARGUMENT', 'a path without NUL characters', 'the model source', source);
    return source;
  }
  if (source instanceof URL) {
    if (source.protocol !== 'file:') expected('ERR_ARGUMENT', 'a file:// URL', 'the model source', source.href);
    return fileURLToPath(source);
  }
  if (Buffer.isBuffer(source)) return source;
  if (source instanceof Uint8Array) return Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  return expected('ERR_ARGUMENT', 'a path, a file:// URL or a Buffer', 'the model source', source);
}

function checkDevice(options: LoadOptions | undefined): string {
  const device = options?.device ?? 'cpu';
  if (typeof device !== 'string') expected('ERR_ARGUMENT', "a string such as 'cpu' or 'cuda:0'", 'options.device', device);
  return device;
}

/**
 * A module loaded through libtorch: a TorchScript archive (`.pt`, from torch.jit.save) or an
 * AOTInductor package (`.pt2`, from torch._inductor.aoti_compile_and_package or `torchloop
 * compile`); the file's contents decide, not its name. A package is native code compiled for
 * this kind of machine, and runs in the process: load only packages you trust, as you would a
 * shared library. It has one method, `forward`, whose arguments are tensors of the shapes it
 * was compiled for; it cannot be trained or saved (`ERR_UNSUPPORTED`).
 *
 * @example
 * const m = await Model.load('model.pt');
 * const y = m.forwardSync(new Tensor(new Float32Array(48), [1, 48]));
 * const z = await m.forward(x);   // on a worker thread
 * m.dispose();
 */
export class Model implements Disposable {
  #native: NativeModel;

  private constructor(handle: NativeModel) {
    this.#native = handle;
  }

  /** Loads a `.pt` or `.pt2` file (path, file:// URL or Buffer) off the JavaScript thread. */
  static async load(source: ModelSource, options?: LoadOptions): Promise<Model> {
    const device = checkDevice(options);
    const src = normalizeSource(source);
    return Model.#configured(new Model(await native.NativeModel.load(src, device)), options);
  }

  static #configured(model: Model, options?: LoadOptions): Model {
    if (options?.grad !== undefined) {
      if (typeof options.grad !== 'boolean') expected('ERR_ARGUMENT', 'a boolean', 'options.grad', options.grad);
      model.gradEnabled = options.grad;
    }
    return model;
  }

  /** Loads a `.pt` file on the calling thread. */
  static loadSync(source: ModelSource, options?: LoadOptions): Model {
    const device = checkDevice(options);
    return Model.#configured(new Model(native.NativeModel.loadSync(normalizeSource(source), device)), options);
  }

  /**
   * A module from TorchScript source text, e.g.
   * `def forward(self, x: Tensor) -> Tensor:\n    return torch.linear(x, self.w, self.b)`,
   * with parameters (trainable) and buffers by name.
   */
  static compile(source: string, tensors: { parameters?: Record<string, Tensor>; buffers?: Record<string, Tensor> } = {}): Model {
    if (typeof source !== 'string') expected('ERR_ARGUMENT', 'TorchScript source text', 'Model.compile', source);
    return new Model(native.NativeModel.compile(source, tensors.parameters ?? {}, tensors.buffers ?? {}));
  }

  /** Reads a file into memory first, then loads from the bytes (useful for files that change on disk). */
  static async loadBytes(file: string, options?: LoadOptions): Promise<Model> {
    return Model.load(await readFile(file), options);
  }

  /** The module's methods: `forward` and every `@torch.jit.export`ed one. */
  get methods(): string[] {
    return this.#native.methods();
  }

  /** Argument names and TorchScript types of a method, and its return type. */
  signature(method = 'forward'): MethodSignature {
    return this.#native.signature(method);
  }

  /** Runs `forward` on the calling thread. */
  forwardSync<R extends Value = Value>(...args: Argument[]): R {
    return this.#native.callSync('forward', args) as R;
  }

  /** Runs `forward` on a worker thread; the event loop keeps turning. */
  forward<R extends Value = Value>(...args: Argument[]): Promise<R> {
    return this.#call('forward', args);
  }

  /** Runs any method on the calling thread. */
  callSync<R extends Value = Value>(method: string, ...args: Argument[]): R {
    if (typeof method !== 'string') expected('ERR_ARGUMENT', 'a method name', 'callSync', method);
    return this.#native.callSync(method, args) as R;
  }

  /** Runs any method on a worker thread. */
  call<R extends Value = Value>(method: string, ...args: Argument[]): Promise<R> {
    if (typeof method !== 'string') return Promise.reject(new TorchError('ERR_ARGUMENT', 'Expected a method name for call'));
    return this.#call(method, args);
  }

  #call<R extends Value>(method: string, args: Argument[]): Promise<R> {
    try {
      return this.#native.call(method, args) as Promise<R>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Copies of the parameters, by dotted name. */
  parameters(): Record<string, Tensor> {
    return this.#native.parameters();
  }

  /** Copies of the buffers (running statistics and the like), by dotted name. */
  buffers(): Record<string, Tensor> {
    return this.#native.buffers();
  }

  /** Parameters and buffers together, by name (copies): what a state dict holds. */
  stateDict(): Record<string, Tensor> {
    return { ...this.#native.parameters(), ...this.#native.buffers() };
  }

  /**
   * Copies named tensors into the parameters and buffers. Strict by default: every name and
   * shape must match. A PyTorch `nn.Sequential` MLP's names (`0.weight`, `2.bias`, ...) load
   * into an `nn.mlp`'s layers in order. Another dtype is an ERR_DTYPE unless `convert: true`.
   */
  loadStateDict(tensors: Record<string, Tensor>, options: { strict?: boolean; convert?: boolean } = {}): void {
    const own = this.stateDict();
    const named = fromSequentialNames(tensors, own);
    if (!options.convert) {
      for (const [name, t] of Object.entries(named)) {
        const mine = own[name];
        if (mine && mine.dtype !== t.dtype) {
          throw new TorchError('ERR_DTYPE', `'${name}' is ${t.dtype} but the model's is ${mine.dtype}: pass { convert: true } to convert it`);
        }
      }
    }
    this.#native.loadStateDict(named, options.strict ?? true);
  }

  /**
   * Writes the state dict as a safetensors file (readable by the safetensors library or any
   * reader of the format). `names: 'pytorch'` writes an `nn.mlp`'s parameters under
   * `nn.Sequential`'s names (`0.weight`, `2.weight`, ...), for PyTorch's load_state_dict.
   */
  exportSafetensors(path: string, options: { names?: 'torchloop' | 'pytorch' } = {}): void {
    writeSafetensors(path, options.names === 'pytorch' ? toSequentialNames(this.stateDict(), sequentialStride.get(this) ?? 2) : this.stateDict());
  }

  /** Loads parameters and buffers from a safetensors file (as loadStateDict). */
  importSafetensors(path: string, options: { strict?: boolean; convert?: boolean } = {}): void {
    this.loadStateDict(readSafetensors(path), options);
  }

  /** Inference mode (the default after loading): runs under c10::InferenceMode. */
  eval(): this {
    this.#native.setTraining(false);
    return this;
  }

  /** Training mode: dropout and batch norm behave as in training, gradients are tracked. */
  train(on = true): this {
    this.#native.setTraining(on);
    return this;
  }

  get training(): boolean {
    return this.#native.training();
  }

  /** Eval with gradients (LoadOptions.grad): calls run with autograd on, in eval mode. */
  get gradEnabled(): boolean {
    return this.#native.gradEnabled();
  }

  set gradEnabled(on: boolean) {
    this.#native.setGradEnabled(on);
  }

  /** `'cpu'` or `'cuda:N'`. */
  get device(): string {
    return this.#native.device();
  }

  /** `'torchscript'` (a `.pt` archive) or `'aoti'` (an AOTInductor `.pt2` package). */
  get format(): 'torchscript' | 'aoti' {
    return this.#native.packageInfo() ? 'aoti' : 'torchscript';
  }

  /** An AOTInductor package's inputs (as compiled) and metadata; null for TorchScript. */
  get packageInfo(): PackageInfo | null {
    return this.#native.packageInfo();
  }

  /** Saves as a TorchScript archive that `torch.jit.load` reads. */
  save(path: string): void {
    if (typeof path !== 'string') expected('ERR_ARGUMENT', 'a path', 'save', path);
    this.#native.save(path);
  }

  /** Frees the module. Calls in flight finish; later calls throw ERR_DISPOSED. */
  dispose(): void {
    this.#native.dispose();
  }

  get disposed(): boolean {
    return this.#native.disposed();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal The native trainer behind Trainer. */
  createTrainer(config: Record<string, unknown>, resume: boolean): NativeTrainer {
    return this.#native.createTrainer(config, resume);
  }

  /** @internal The realtime step behind TorchEntity. */
  createStep(method: string, inputs: StepArgSpec[], options?: { plan?: boolean }): NativeStep {
    return this.#native.createStep(method, inputs, options);
  }
}

/** nn.mlp models: the index step between Linear layers in the matching nn.Sequential (2 with activations, 1 without). */
export const sequentialStride = new WeakMap<Model, number>();

const MLP_NAME = /^l(\d+)_(weight|bias)$/;
const SEQUENTIAL_NAME = /^(\d+)\.(weight|bias)$/;

/** An nn.Sequential state dict's names mapped onto an nn.mlp's (`l{k}_weight`), when the model is one and the names are those. */
function fromSequentialNames(tensors: Record<string, Tensor>, own: Record<string, Tensor>): Record<string, Tensor> {
  const names = Object.keys(tensors);
  if (names.length === 0 || !names.every((n) => SEQUENTIAL_NAME.test(n)) || !Object.keys(own).some((n) => MLP_NAME.test(n))) return tensors;
  const indices = [...new Set(names.map((n) => Number(SEQUENTIAL_NAME.exec(n)![1])))].sort((a, b) => a - b);
  const out: Record<string, Tensor> = {};
  for (const [n, t] of Object.entries(tensors)) {
    const [, idx, kind] = SEQUENTIAL_NAME.exec(n)!;
    out[`l${indices.indexOf(Number(idx))}_${kind}`] = t;
  }
  return out;
}

function toSequentialNames(tensors: Record<string, Tensor>, stride: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [n, t] of Object.entries(tensors)) {
    const m = MLP_NAME.exec(n);
    if (!m) throw new TorchError('ERR_ARGUMENT', `'${n}' is not an nn.mlp layer's parameter: PyTorch's names are for nn.mlp models`);
    out[`${Number(m[1]) * stride}.${m[2]}`] = t;
  }
  return out;
}
