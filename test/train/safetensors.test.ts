import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, decodeSafetensors, encodeSafetensors, nn } from '../../lib/index.ts';
import { fixture, PYTHON } from '../helpers/fixtures.ts';

describe('state dicts in safetensors', () => {
  it('exports by name; a plain Python reader (json + torch.frombuffer) gets the same tensors', () => {
    using m = Model.loadSync(fixture('small.pt'));
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'tl-st-')), 'small.safetensors');
    m.exportSafetensors(file);
    const read = JSON.parse(
      execFileSync(PYTHON, ['-c', `import json, struct, sys, torch
b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
m = torch.jit.load(sys.argv[2]); sd = dict(m.named_parameters())
out = {}
for k, v in h.items():
    s, e = v['data_offsets']
    t = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=torch.float32).reshape(v['shape'])
    out[k] = float((t - sd[k]).abs().max())
print(json.dumps(out))`, file, fixture('small.pt')], { encoding: 'utf8' }),
    );
    expect(Object.keys(read).sort()).toEqual(['a.bias', 'a.weight', 'b.bias', 'b.weight']);
    for (const diff of Object.values(read)) expect(diff).toBe(0);
  });

  it('imports by name, strictly: a model takes another model\'s weights', () => {
    using a = Model.loadSync(fixture('small.pt'));
    using b = Model.loadSync(fixture('small.pt'));
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-st-'));
    const zeros = Object.fromEntries(Object.entries(b.stateDict()).map(([k, t]) => [k, new Tensor(new Float32Array(t.numel), [...t.shape])]));
    writeFileSync(path.join(dir, 'zeros.safetensors'), encodeSafetensors(zeros));
    b.importSafetensors(path.join(dir, 'zeros.safetensors'));
    expect(Array.from(b.parameters()['a.weight'].data)).toEqual(new Array(12).fill(0));
    a.exportSafetensors(path.join(dir, 'a.safetensors'));
    b.importSafetensors(path.join(dir, 'a.safetensors'));
    expect(Array.from(b.parameters()['a.weight'].data)).toEqual(Array.from(a.parameters()['a.weight'].data));
    // strict: names and shapes must match
    using mlp = nn.mlp([4, 3], { seed: 1 });
    expect(() => mlp.importSafetensors(path.join(dir, 'a.safetensors'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/no parameter or buffer 'a.bias'/) }));
    expect(() => b.loadStateDict({ 'a.weight': new Tensor(new Float32Array(4), [2, 2]) }, { strict: false })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });

  it('round-trips every dtype and refuses a truncated file', () => {
    const tensors = {
      f: new Tensor([1.5, -2], [2], 'float32'),
      d: new Tensor([3.25], [1], 'float64'),
      i: new Tensor([7, -8], [1, 2], 'int64'),
      b: new Tensor([1, 0, 1], [3], 'bool'),
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k].dtype).toBe(t.dtype);
      expect(back.tensors[k].toArray()).toEqual(t.toArray());
    }
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_LOAD' }));
  });
});
