/**
 * torchloop: run, step and train TorchScript models from Node.js.
 *
 * Data flows one way: user code -> lib/ -> lib/native.ts -> native/ -> libtorch.
 */
export { TorchError, type TorchErrorCode } from './errors.ts';
export { Tensor, DTYPES, type DType, type TypedArray } from './tensor.ts';
export { Model, type LoadOptions, type ModelSource, type MethodSignature, type ArgumentSignature } from './model.ts';
export { version, cudaAvailable, setNumThreads, getNumThreads, manualSeed, type VersionInfo } from './runtime.ts';
