import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { expected } from './errors.ts';
import { addonFile, native, packageRoot } from './native.ts';

const pkg = createRequire(import.meta.url)(path.join(packageRoot, 'package.json')) as { version: string };

/** Versions and capabilities of this build. */
export interface VersionInfo {
  torchloop: string;
  /** The libtorch in use, e.g. "2.13.0" (the addon refuses to load on any other major.minor). */
  libtorch: string;
  /** Where that libtorch's libtorch_cpu was loaded from. */
  libtorchPath: string;
  /** The addon file in use. */
  addon: string;
  /** Whether libtorch has CUDA and sees a GPU. */
  cuda: boolean;
  cudaDeviceCount: number;
  threads: number;
  /** The BLAS libtorch calls and the kernels it picked, e.g. "OpenBLAS 0.3.21 (Haswell kernels)". */
  blas: string;
  /** ATen's vectorised CPU kernels: "AVX512", "AVX2" or "DEFAULT". */
  cpuCapability: string;
}

function readVersion(): VersionInfo {
  const r = native.runtimeInfo();
  return {
    torchloop: pkg.version, libtorch: r.loadedLibtorch || r.libtorch, libtorchPath: r.libtorchPath, addon: addonFile,
    cuda: r.cuda, cudaDeviceCount: r.cudaDeviceCount, threads: r.threads, blas: r.blas, cpuCapability: r.cpuCapability,
  };
}

/** @example version.cuda // false on a CPU-only libtorch */
export const version: Readonly<VersionInfo> = Object.freeze(readVersion());

/** Whether `device: 'cuda'` can work here. */
export function cudaAvailable(): boolean {
  return native.runtimeInfo().cuda;
}

/**
 * Sets libtorch's intra-op threads and OpenBLAS's. The default is 1, what a realtime loop
 * wants; raise it for large batches.
 */
export function setNumThreads(n: number): void {
  const max = Math.min(1024, 4 * availableParallelism());
  if (!Number.isInteger(n) || n < 1 || n > max) expected('ERR_ARGUMENT', `an integer from 1 to ${max} (4 x the CPUs)`, 'setNumThreads', n);
  native.setNumThreads(n);
}

/**
 * Loads a shared library that registers TorchScript operators (a `TORCH_LIBRARY` block), as
 * `torch.ops.load_library(path)` does in Python: call it before loading a model that uses
 * them (torchvision's `torchvision::nms`, a `deepmd::` potential, your own ops). The library
 * must be built against the same libtorch as torchloop (see `version.libtorch`).
 * Returns the operators it registered (empty when it was loaded before).
 *
 * @example
 * loadLibrary('/opt/my_ops/libmy_ops.so');   // ['my_ops::scale_add']
 * const m = await Model.load('uses_my_ops.pt');
 */
export function loadLibrary(path: string): { path: string; operators: string[] } {
  if (typeof path !== 'string' || path.length === 0) expected('ERR_ARGUMENT', 'a path to a shared library', 'loadLibrary', path);
  return { path, operators: native.loadLibrary(path) };
}

/** Current intra-op thread count. */
export function getNumThreads(): number {
  return native.runtimeInfo().threads;
}

/** Seeds libtorch's random generators. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) expected('ERR_ARGUMENT', 'a non-negative integer', 'manualSeed', seed);
  native.manualSeed(seed);
}
