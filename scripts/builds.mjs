// The addon builds a checkout makes, in one place for setup, the test projects and the bench:
//   main:  build/      against libtorch 2.x (the project's pip torch in .torch/, or the
//                      libtorch that $LIBTORCH / $Torch_DIR name); what `import 'torchloop'` loads;
//   1.13:  build-1.13/ against Debian's libtorch-dev 1.13, kept working beside 2.x.
// Each has its own fixtures, saved by the PyTorch of the same version.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_VENV, SYSTEM_DIRS, venvTorchDir } from './find-libtorch.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const BUILDS = [
  {
    name: 'main',
    torch: '2.13',
    dir: 'build',
    fixtures: 'test/fixtures/torch-2.13',
    env: () => (process.env.LIBTORCH || process.env.Torch_DIR ? {} : { LIBTORCH: venvTorchDir() ?? '' }),
    python: () => path.join(PROJECT_VENV, 'bin', 'python'),
  },
  {
    name: '1.13',
    torch: '1.13',
    dir: 'build-1.13',
    fixtures: 'test/fixtures/torch-1.13',
    env: () => ({ LIBTORCH: '', Torch_DIR: SYSTEM_DIRS[0] }),
    python: () => '/usr/bin/python3',
  },
];

export const addonOf = (build) => path.join(root, build.dir, 'Release', 'torchloop.node');
