/**
 * unitree_rl_gym's deploy configs (`deploy/deploy_mujoco/configs/*.yaml`), read as their
 * authors wrote them: `{LEGGED_GYM_ROOT_DIR}` in paths is replaced by the robot files' root.
 * Every field is checked; an error names the field and the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { TorchError, describe } from '../errors.ts';

export interface DeployConfig {
  file: string;
  policyPath: string;
  xmlPath: string;
  simulationDuration: number;
  simulationDt: number;
  controlDecimation: number;
  kps: number[];
  kds: number[];
  defaultAngles: number[];
  angVelScale: number;
  dofPosScale: number;
  dofVelScale: number;
  actionScale: number;
  cmdScale: number[];
  numActions: number;
  numObs: number;
  cmdInit: number[];
}

/**
 * Reads a deploy config. A bare name (`h1.yaml`) is looked up in the root's
 * `deploy/deploy_mujoco/configs/`, as deploy_mujoco.py does.
 */
export function readDeployConfig(config: string, root: string): DeployConfig {
  const file = existsSync(config) || config.includes('/') ? path.resolve(config) : path.join(root, 'deploy', 'deploy_mujoco', 'configs', config);
  if (!existsSync(file)) throw new TorchError('ERR_NOT_FOUND', `No deploy config '${config}' (looked for ${file})`);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TorchError('ERR_ARGUMENT', `'${file}' is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new TorchError('ERR_ARGUMENT', `'${file}' must hold a mapping at the top`);
  const d = doc as Record<string, unknown>;
  const field = (key: string) => {
    if (!(key in d)) throw new TorchError('ERR_ARGUMENT', `'${file}' has no '${key}'`);
    return d[key];
  };
  const num = (key: string, check: (x: number) => boolean = Number.isFinite, what = 'a number'): number => {
    const v = field(key);
    if (typeof v !== 'number' || !check(v)) throw new TorchError('ERR_ARGUMENT', `Expected ${what} for '${key}' in '${file}' but received ${describe(v)}`);
    return v;
  };
  const list = (key: string, length: number, lengthOf: string): number[] => {
    const v = field(key);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new TorchError('ERR_ARGUMENT', `Expected a list of numbers for '${key}' in '${file}' but received ${describe(v)}`);
    if (v.length !== length) throw new TorchError('ERR_SHAPE', `'${key}' in '${file}' has ${v.length} values; expected ${length} (${lengthOf})`);
    return v as number[];
  };
  const str = (key: string): string => {
    const v = field(key);
    if (typeof v !== 'string' || !v) throw new TorchError('ERR_ARGUMENT', `Expected a path for '${key}' in '${file}' but received ${describe(v)}`);
    return path.resolve(path.dirname(file), v.replaceAll('{LEGGED_GYM_ROOT_DIR}', root));
  };
  const numActions = num('num_actions', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const numObs = num('num_obs', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const per = `num_actions = ${numActions}`;
  return {
    file,
    policyPath: str('policy_path'),
    xmlPath: str('xml_path'),
    simulationDuration: num('simulation_duration', (x) => x > 0, 'a positive number'),
    simulationDt: num('simulation_dt', (x) => x > 0, 'a positive number'),
    controlDecimation: num('control_decimation', (x) => Number.isInteger(x) && x > 0, 'a positive integer'),
    kps: list('kps', numActions, per),
    kds: list('kds', numActions, per),
    defaultAngles: list('default_angles', numActions, per),
    angVelScale: num('ang_vel_scale'),
    dofPosScale: num('dof_pos_scale'),
    dofVelScale: num('dof_vel_scale'),
    actionScale: num('action_scale'),
    cmdScale: list('cmd_scale', 3, 'vx, vy, wz'),
    numActions,
    numObs,
    cmdInit: list('cmd_init', 3, 'vx, vy, wz'),
  };
}
