// nn.mlp and PyTorch's nn.Sequential share state dicts under PyTorch's names, both ways,
// checked with real PyTorch (2.13's venv) and the safetensors library.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../../lib/index.ts';

const PY = path.resolve('.torch/bin/python');
const python = (code: string) => JSON.parse(execFileSync(PY, ['-c', code], { encoding: 'utf8' }).trim().split('\n').pop()!);
const x = [0.5, -1, 2, 0.25];

describe('nn.mlp <-> nn.Sequential state dicts', () => {
  it('a PyTorch-trained Sequential MLP\'s safetensors load into nn.mlp, and nn.mlp\'s go back into a Sequential', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-names-'));
    const fromPy = path.join(dir, 'py.safetensors'), fromTl = path.join(dir, 'tl.safetensors');
    const made = python(`
import json, torch
from safetensors.torch import save_file
torch.manual_seed(1)
m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, ${JSON.stringify(fromPy)})
print(json.dumps({"names": sorted(m.state_dict().keys()), "y": m(torch.tensor([${x.join(', ')}])).tolist()}))`);
    expect(made.names).toEqual(['0.bias', '0.weight', '2.bias', '2.weight']);
    const mlp = nn.mlp([4, 8, 3], { activation: 'tanh', seed: 9 });
    mlp.importSafetensors(fromPy);
    const y = mlp.forwardSync<Tensor>(new Tensor(Float32Array.from(x), [4]));
    Array.from(y.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(made.y[i], 5));

    const other = nn.mlp([4, 8, 3], { activation: 'tanh', seed: 3 });
    other.exportSafetensors(fromTl, { names: 'pytorch' });
    const back = python(`
import json, torch
from safetensors.torch import load_file
m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
m.load_state_dict(load_file(${JSON.stringify(fromTl)}), strict=True)
print(json.dumps({"y": m(torch.tensor([${x.join(', ')}])).tolist()}))`);
    const mine = other.forwardSync<Tensor>(new Tensor(Float32Array.from(x), [4]));
    Array.from(mine.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(back.y[i], 5));
  });

  it('a float64 state dict is an ERR_DTYPE unless converting is asked for', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-names-'));
    const file = path.join(dir, 'f64.safetensors');
    python(`
import json, torch
from safetensors.torch import save_file
torch.manual_seed(1)
m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
save_file(m.state_dict(), ${JSON.stringify(file)})
print("{}")`);
    const mlp = nn.mlp([4, 8, 3]);
    expect(() => mlp.importSafetensors(file)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringMatching(/l0_(weight|bias)' is float64 but the model's is float32: pass \{ convert: true \}/) }));
    mlp.importSafetensors(file, { convert: true });
  });
});
