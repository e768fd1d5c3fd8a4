// The robot files: the same fetch path a user's machine takes from GitHub, from a local folder
// here (no network), every file's sha256 checked against the pinned manifest.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TorchError, UNITREE_RL_GYM, fetchRobots, haveRobots, robotSearchPath, robotsRoot, verifyRobots } from '../../lib/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'torchloop-robots-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('robot files', () => {
  it('says where it looked and how to get them when they are missing', () => {
    const env = { TORCHLOOP_ROBOTS: path.join(tmp, 'none'), HOME: path.join(tmp, 'home') };
    expect(robotSearchPath(env)[0]).toBe(path.join(tmp, 'none'));
    const e = (() => { try { robotsRoot(env, [path.join(tmp, 'none'), path.join(tmp, 'home')]); } catch (x) { return x as TorchError; } })();
    expect(e).toBeInstanceOf(TorchError);
    expect(e!.code).toBe('ERR_NOT_FOUND');
    expect(e!.message).toContain(`in ${path.join(tmp, 'none')}, ${path.join(tmp, 'home')}.`);
    expect(e!.message).toContain('torchloop robots fetch');
  });

  it.skipIf(!haveRobots())('fetches the pinned files from a folder, checking each sha256, and refuses a changed one', async () => {
    const from = path.dirname(robotsRoot());
    const to = path.join(tmp, 'cache');
    const dir = await fetchRobots({ from, to });
    expect(dir).toBe(path.join(to, UNITREE_RL_GYM.folder));
    expect(verifyRobots(dir)).toEqual([]);
    expect(haveRobots({ TORCHLOOP_ROBOTS: to })).toBe(true);
    expect(robotsRoot({ TORCHLOOP_ROBOTS: to })).toBe(dir);

    // A source whose file differs from the published one.
    const tampered = path.join(tmp, 'tampered');
    cpSync(from, tampered, { recursive: true });
    const yaml = path.join(tampered, UNITREE_RL_GYM.folder, 'deploy', 'deploy_mujoco', 'configs', 'h1.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('kps:', 'kps: #'));
    const fresh = path.join(tmp, 'fresh');
    const e = await fetchRobots({ from: tampered, to: fresh }).catch((x) => x);
    expect(e).toBeInstanceOf(TorchError);
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toContain('h1.yaml');
    expect(e.message).toContain('is not the published one');
    expect(existsSync(path.join(fresh, UNITREE_RL_GYM.folder, 'deploy', 'deploy_mujoco', 'configs', 'h1.yaml'))).toBe(false);
    // A changed file in a folder already fetched is found by verifyRobots.
    writeFileSync(path.join(dir, 'deploy', 'deploy_mujoco', 'configs', 'h1.yaml'), 'x');
    expect(verifyRobots(dir)).toEqual(['deploy/deploy_mujoco/configs/h1.yaml']);
  });
});
