import { expected } from '../errors.ts';
import { Model, sequentialStride } from '../model.ts';
import { native } from '../native.ts';
import type { Tensor } from '../tensor.ts';

export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'none';

export interface MlpOptions {
  /** Between layers (default relu); the last layer has none. */
  activation?: Activation;
  /** Seeds libtorch's generator first (as torch.manual_seed), so weights are reproducible. */
  seed?: number;
}

/**
 * Builders for common networks, authored without Python: TorchScript source plus parameters
 * initialised as PyTorch's nn.Linear does (kaiming_uniform with a = sqrt(5), bias uniform in
 * ±1/sqrt(fan_in)), drawn from libtorch's generator in nn.Linear's order, so
 * `nn.mlp(sizes, { seed })` has the weights of `torch.manual_seed(seed); nn.Sequential(nn.Linear, ...)`.
 *
 * @example
 * const policy = nn.mlp([48, 256, 256, 12], { activation: 'tanh', seed: 0 });
 */
export const nn = {
  mlp(sizes: number[], options: MlpOptions = {}): Model {
    if (!Array.isArray(sizes) || sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
      expected('ERR_ARGUMENT', 'at least two positive integer layer sizes', 'nn.mlp', sizes);
    }
    const activation = options.activation ?? 'relu';
    if (!['tanh', 'relu', 'sigmoid', 'none'].includes(activation)) expected('ERR_ARGUMENT', "'tanh', 'relu', 'sigmoid' or 'none'", 'activation', activation);
    if (options.seed !== undefined) native.manualSeed(options.seed);
    const parameters: Record<string, Tensor> = {};
    const lines: string[] = [];
    for (let i = 0; i < sizes.length - 1; i++) {
      const [fanIn, fanOut] = [sizes[i], sizes[i + 1]];
      const bound = 1 / Math.sqrt(fanIn);
      parameters[`l${i}_weight`] = native.uniform([fanOut, fanIn], -bound, bound);
      parameters[`l${i}_bias`] = native.uniform([fanOut], -bound, bound);
      const linear = `torch.linear(x, self.l${i}_weight, self.l${i}_bias)`;
      const last = i === sizes.length - 2;
      lines.push(`        x = ${last || activation === 'none' ? linear : `torch.${activation}(${linear})`}`);
    }
    const source = `def forward(self, x: Tensor) -> Tensor:\n${lines.join('\n')}\n        return x\n`.replace(/^ {4}/gm, '');
    const model = Model.compile(source, { parameters });
    sequentialStride.set(model, activation === 'none' ? 1 : 2);
    return model;
  },
};
