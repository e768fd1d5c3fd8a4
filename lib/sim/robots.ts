/**
 * Robot files others published, fetched at a pinned commit and checked by sha256: today
 * unitree_rl_gym's H1 (its MJCF model and meshes, its deploy config, its policy and its own
 * sim2sim loop), BSD-3-Clause. Nothing of them is in torchloop's repository or package.
 *
 * Where they are looked for, in order: $TORCHLOOP_ROBOTS, the user cache
 * ($XDG_CACHE_HOME or ~/.cache)/torchloop/robots, and ../shared/robots beside the working
 * directory or the package. `fetchRobots()` fills the cache from GitHub, or from a local
 * folder or another URL: one code path, the same checks.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { packageRoot } from '../paths.ts';

export const UNITREE_RL_GYM = {
  repository: 'unitreerobotics/unitree_rl_gym',
  commit: '276801e46c5d433564f24658bac64f254b7d2d4b',
  folder: 'unitree_rl_gym',
  license: 'BSD-3-Clause',
  /** [path, sha256, bytes] */
  files: [
    ['LICENSE', 'aef6394ba1597725a68308167324e675f562e6606027404deb1b9da254c2b9c1', 1561],
    ['deploy/deploy_mujoco/configs/h1.yaml', '4e509fa63fda52e38d21d9f1924b7c0d6bf9dfd1c2d9b94450b7f6e7ca281329', 697],
    ['deploy/deploy_mujoco/deploy_mujoco.py', '48e9f7a6b8ba701e68dfa48f2e89944c9f2aac1ec39c0a9915d6fe14ec71a4da', 4862],
    ['deploy/pre_train/h1/motion.pt', '44a0fbceb81f3877833ae9a398d039bea1759cb0d3c8188181013885f70589eb', 139345],
    ['resources/robots/h1/h1.xml', '2bee8abddbf4bc093bcdb2266c7139cd1c78e279bf65f7ee9fde41fe599900d4', 10982],
    ['resources/robots/h1/meshes/left_ankle_link.STL', '2d403f5414764e600af95d96eaee8ab7e49d2c7f75c1ae3dbbde052d4a14ffa1', 129684],
    ['resources/robots/h1/meshes/left_elbow_link.STL', '5ccf9bc83a751c1965b692e75534e57ee3c8a0916cbcff2ccccd8fe2b9d818d7', 258684],
    ['resources/robots/h1/meshes/left_hip_pitch_link.STL', 'aa790c31ffc100cd182f2bf4480e7bfda675edc58ed8f361b6553a4975c9de3b', 452384],
    ['resources/robots/h1/meshes/left_hip_roll_link.STL', '8ed880cf1171e048cfe50489fe2546c32790ac0c24a2b3b4c560495401013552', 769284],
    ['resources/robots/h1/meshes/left_hip_yaw_link.STL', '103a854e684b84e1baba7d073822079069c64d0fa7b1592f29d38bd29f545bfb', 885884],
    ['resources/robots/h1/meshes/left_knee_link.STL', 'efda8a6c54406c788102c0d6e59ea95e24114607bc2da9a2bf7f287ef7e48109', 660384],
    ['resources/robots/h1/meshes/left_shoulder_pitch_link.STL', '42e1db49464ca0f44f933114ee426e7f6d6310d20cf104bfa38b5ed4794cfab7', 787484],
    ['resources/robots/h1/meshes/left_shoulder_roll_link.STL', '8d3bcf767d72a9a5d7dae539eae79dc4132f0159b8803a6f6f2f9ad4b7e94d19', 903384],
    ['resources/robots/h1/meshes/left_shoulder_yaw_link.STL', 'e22a5b53f8f307e6c5d6c17f9ceae4852c6468547a951cb39dfdec9ee414b515', 644184],
    ['resources/robots/h1/meshes/logo_link.STL', 'ef9635c847ca7cd61aeaed86ad599935b648fb6f8688867c0448917b1811511b', 145484],
    ['resources/robots/h1/meshes/pelvis.STL', 'dc2cbbeb07d3b63bce9fedeb8cf5252609dca1e89380734d22d5b3c8ded2f15c', 672884],
    ['resources/robots/h1/meshes/right_ankle_link.STL', 'b39f5b3245926e935b9b37bdf25080d482d3be921aa5d70e01fe5f29ef70910a', 129084],
    ['resources/robots/h1/meshes/right_elbow_link.STL', 'bc1b2aa33cffda279b3e6a40b5b932b86de9cce6c41f0c0d860b442e81edcdc2', 258584],
    ['resources/robots/h1/meshes/right_hip_pitch_link.STL', '3c0300dd96432f218857886007e9d4e8be038cd8b85e04e84a59df4de7f90476', 452384],
    ['resources/robots/h1/meshes/right_hip_roll_link.STL', '3e95b01b0a215e1d134545d4073cf7a72ab38ca33e35c606c03f1706d63588c6', 768484],
    ['resources/robots/h1/meshes/right_hip_yaw_link.STL', '10badbb0ac78e22fc220f421b1c919cfcf59406b412d78313e4b8b06cbc51e47', 884484],
    ['resources/robots/h1/meshes/right_knee_link.STL', '6183abbaef2afc775c220853e403b8479022a99954dbeef829b39d71916ddeda', 662184],
    ['resources/robots/h1/meshes/right_shoulder_pitch_link.STL', '850ffa7321993bfadcdb8bab1d422239f6a20abe27daa5ef99622f55d4da3217', 788484],
    ['resources/robots/h1/meshes/right_shoulder_roll_link.STL', 'b9e793e351e09027d27427c06df2c1cb6b37c0205d0f68686b0d73916c6821de', 908284],
    ['resources/robots/h1/meshes/right_shoulder_yaw_link.STL', '0c9e4bec895f24c07fb2c4d132fc5e3cc7146155547267e9c270789af6567781', 646884],
    ['resources/robots/h1/meshes/torso_link.STL', '3ab785cbfbd851b0e9c59a46871aabc4718f3f8e726e21a2d14360d217ec7ba8', 2339384],
    ['resources/robots/h1/scene.xml', '88ffcccad2c5df71a7472b4b30ec7e4ea06e045efc6b4e11ccd8bebc2848f0b3', 853],
    ['resources/robots/h1/urdf/h1.urdf', '89c3824f471ec32060d0ffc702a13e296a7010d040a9e3a9c1f320706d42f4de', 26216],
  ] as [string, string, number][],
};

export const ROBOTS_HELP = `Get them with \`torchloop robots fetch\` (downloads ${UNITREE_RL_GYM.repository} at ${UNITREE_RL_GYM.commit.slice(0, 7)} from GitHub, sha256-checked, about 14 MB), or point TORCHLOOP_ROBOTS at a folder holding ${UNITREE_RL_GYM.folder}/`;

/** The folders searched for robot files, in order: TORCHLOOP_ROBOTS, the user cache, ../shared/robots (from the working directory and from the package). */
export function robotSearchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  // TORCHLOOP_ROBOTS, when set, replaces the checkout's ../shared/robots (not the cache).
  if (env.TORCHLOOP_ROBOTS) out.push(path.resolve(env.TORCHLOOP_ROBOTS));
  out.push(robotCache(env));
  if (!env.TORCHLOOP_ROBOTS) out.push(path.resolve('..', 'shared', 'robots'), path.resolve(packageRoot, '..', 'shared', 'robots'));
  return [...new Set(out)];
}

export function robotCache(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'torchloop', 'robots');
}

/** The files missing from a folder, by the manifest (names only; sizes are checked, hashes by verifyRobots). */
function missingIn(dir: string): string[] {
  return UNITREE_RL_GYM.files.filter(([f]) => !existsSync(path.join(dir, UNITREE_RL_GYM.folder, f))).map(([f]) => f);
}

/**
 * `{LEGGED_GYM_ROOT_DIR}` for unitree_rl_gym's configs: the first folder of the search path
 * holding every file. None is ERR_NOT_FOUND saying where it looked and how to get them.
 */
export function robotsRoot(env: NodeJS.ProcessEnv = process.env, tried: string[] = robotSearchPath(env)): string {
  for (const dir of tried) if (missingIn(dir).length === 0) return path.join(dir, UNITREE_RL_GYM.folder);
  throw new TorchError('ERR_NOT_FOUND', `No robot files: looked for ${UNITREE_RL_GYM.folder}/ (${UNITREE_RL_GYM.files.length} files) in ${tried.join(', ')}. ${ROBOTS_HELP}`);
}

/** Whether robotsRoot() would find the files. */
export function haveRobots(env: NodeJS.ProcessEnv = process.env): boolean {
  return robotSearchPath(env).some((d) => missingIn(d).length === 0);
}

export interface FetchOptions {
  /** Where from: a folder holding unitree_rl_gym/, or a base URL (default: the pinned commit on GitHub). */
  from?: string;
  /** Where to: a folder that will hold unitree_rl_gym/ (default: the user cache). */
  to?: string;
  log?: (line: string) => void;
}

/**
 * Copies or downloads every file of the manifest, checks its sha256, and writes it (through a
 * temporary file, renamed into place). A file already there with the right hash is kept.
 * A wrong hash or a failed download is ERR_NOT_FOUND naming the file and its source.
 */
export async function fetchRobots(options: FetchOptions = {}): Promise<string> {
  const to = path.resolve(options.to ?? robotCache());
  const from = options.from ?? `https://raw.githubusercontent.com/${UNITREE_RL_GYM.repository}/${UNITREE_RL_GYM.commit}`;
  const remote = /^https?:\/\//.test(from);
  const log = options.log ?? (() => {});
  let fetched = 0;
  for (const [file, sha, bytes] of UNITREE_RL_GYM.files) {
    const dest = path.join(to, UNITREE_RL_GYM.folder, file);
    if (existsSync(dest) && sha256(readFileSync(dest)) === sha) continue;
    const source = remote ? `${from.replace(/\/$/, '')}/${file}` : path.join(path.resolve(from), UNITREE_RL_GYM.folder, file);
    let data: Buffer;
    try {
      if (remote) {
        const res = await fetch(source);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        data = Buffer.from(await res.arrayBuffer());
      } else data = readFileSync(source);
    } catch (e) {
      throw new TorchError('ERR_NOT_FOUND', `Cannot get robot file '${file}' from ${source}: ${(e as Error).message}. ${ROBOTS_HELP}`);
    }
    const got = sha256(data);
    if (got !== sha || data.length !== bytes) {
      throw new TorchError('ERR_NOT_FOUND', `Robot file '${file}' from ${source} is not the published one: sha256 ${got} (${data.length} bytes), expected ${sha} (${bytes} bytes)`);
    }
    mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.part`;
    writeFileSync(tmp, data);
    renameSync(tmp, dest);
    fetched++;
  }
  log(`robot files: ${UNITREE_RL_GYM.files.length} in ${path.join(to, UNITREE_RL_GYM.folder)} (${fetched} fetched from ${from}, all sha256-checked)`);
  return path.join(to, UNITREE_RL_GYM.folder);
}

/** Files of a folder whose hash is not the manifest's (empty: all good). */
export function verifyRobots(dir: string): string[] {
  return UNITREE_RL_GYM.files.filter(([f, sha]) => {
    const p = path.join(dir, f);
    return !existsSync(p) || sha256(readFileSync(p)) !== sha;
  }).map(([f]) => f);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
