/**
 * What a NATS grid worker agrees to run. A message on `torchloop.grid.<name>.runs` comes from
 * the network, so the worker checks it before anything is opened or imported:
 *
 * - **The message:** at most MAX_JOB_BYTES, JSON, this protocol's version, every field present
 *   and of its type.
 * - **The grid:** the grid the worker was started for, and nothing else.
 * - **The experiment:** a valid document without `notify`, since a shell command or a webhook
 *   is not a worker's to run.
 * - **The files:** the database, the network file and the environment module must resolve inside
 *   the worker's base folder. A path may not be absolute, may not climb out with `..`, and may
 *   not lead out through a symlink.
 * - **The environment module:** built-in (`torchloop:...`), or on the worker's own allow-list
 *   (`--allow-module`), wherever that file lies.
 * - **The run folder:** the worker's own choice. The message gives only its name, a plain
 *   relative name (`runs/<id>`).
 *
 * A refusal is a JobRefusal with the reason. The worker publishes it as the run's failed
 * result and goes on.
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { environmentSource, validateExperiment, type Experiment } from '../learn/config.ts';
import type { GridJob } from './spec.ts';

export const JOB_VERSION = 1;
/** The largest run message a worker reads (a grid's experiment documents are a few kB). */
export const MAX_JOB_BYTES = 256 * 1024;

export class JobRefusal extends TorchError {
  /** The run's index when the message had a valid one (its result can then be published). */
  readonly index: number | null;
  constructor(reason: string, index: number | null = null) {
    super('ERR_FORBIDDEN', reason);
    this.index = index;
  }
}

export interface WorkerPolicy {
  grid: string;
  /** The folder every file must resolve inside (the worker's --base-dir; default its working directory). */
  root: string;
  /** Environment modules this worker may import besides the built-ins (absolute paths). */
  allowModules: string[];
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The real path of `p`, or of its deepest existing ancestor joined with the rest. */
function realish(p: string): string {
  let head = path.resolve(p);
  const tail: string[] = [];
  while (!existsSync(head)) {
    const parent = path.dirname(head);
    if (parent === head) break;
    tail.unshift(path.basename(head));
    head = parent;
  }
  return path.join(realpathSync(head), ...tail);
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A path the job names: relative, without `..`, and (following symlinks) inside the root. */
function checkPath(what: string, value: string, base: string, root: string, index: number): string {
  if (path.isAbsolute(value)) throw new JobRefusal(`${what} '${value}' is an absolute path: a worker only opens files inside its base folder`, index);
  const resolved = path.resolve(base, value);
  if (!inside(root, resolved)) throw new JobRefusal(`${what} '${value}' climbs out of the worker's base folder ${root} with '..'`, index);
  if (!inside(root, realish(resolved))) throw new JobRefusal(`${what} '${value}' resolves outside the worker's base folder ${root} through a symlink`, index);
  return resolved;
}

/**
 * Checks a run message against the worker's policy. Returns the job and the folder its
 * relative paths resolve against; throws JobRefusal.
 */
export function checkJob(data: Uint8Array, policy: WorkerPolicy): { job: GridJob; baseDir: string; exp: Experiment } {
  if (data.byteLength > MAX_JOB_BYTES) throw new JobRefusal(`the run message is ${data.byteLength} bytes, over the ${MAX_JOB_BYTES} a worker reads`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw new JobRefusal('the run message is not JSON');
  }
  if (!isPlain(raw)) throw new JobRefusal('the run message is not a JSON object');
  const index = Number.isSafeInteger(raw.index) && (raw.index as number) >= 0 ? (raw.index as number) : null;
  if (index === null) throw new JobRefusal('the run message has no valid index');
  if (raw.version !== JOB_VERSION) throw new JobRefusal(`the run message's version is ${JSON.stringify(raw.version)?.slice(0, 20)}, this worker speaks ${JOB_VERSION}`, index);
  if (raw.grid !== policy.grid) throw new JobRefusal(`the run is for grid ${JSON.stringify(raw.grid)?.slice(0, 80)}, this worker serves '${policy.grid}'`, index);
  for (const [k, type] of [['id', 'string'], ['folder', 'string'], ['point', 'string'], ['baseDir', 'string'], ['seed', 'number']] as const) {
    if (typeof raw[k] !== type) throw new JobRefusal(`the run message's '${k}' is missing or not a ${type}`, index);
  }
  if (!isPlain(raw.document)) throw new JobRefusal("the run message's 'document' is missing or not an object", index);
  if (!isPlain(raw.params)) throw new JobRefusal("the run message's 'params' is missing or not an object", index);
  const folder = raw.folder as string;
  const segments = folder.split('/');
  if (folder.length > 200 || segments.length > 2 || segments.some((x) => !/^[A-Za-z0-9_.=,+-]+$/.test(x) || x === '.' || x === '..')) throw new JobRefusal(`the run folder '${folder.slice(0, 80)}' is not a plain relative name (runs/<id>)`, index);
  if (raw.document.notify !== undefined && raw.document.notify !== null) throw new JobRefusal('the experiment asks for notify (a command or a webhook): a worker does not run those', index);

  const root = realpathSync(policy.root);
  // Relative paths resolve against the job's config folder when that is inside the root here, else against the root.
  const jobDir = raw.baseDir as string;
  const baseDir = path.isAbsolute(jobDir) && existsSync(jobDir) && inside(root, realish(jobDir)) ? jobDir : root;
  const { nats: _nats, ...document } = raw.document as Record<string, unknown>;
  void _nats;
  let exp: Experiment;
  try {
    exp = validateExperiment({ ...document, output: path.join(root, '.unused') }, baseDir);
  } catch (e) {
    throw new JobRefusal(`the experiment is not valid: ${(e as Error).message.slice(0, 500)}`, index);
  }
  checkPath('database.file', exp.database.file, baseDir, root, index);
  if (exp.network.file) checkPath('network.file', exp.network.file, baseDir, root, index);
  if (path.isAbsolute(exp.checkpoint.dir) || exp.checkpoint.dir.split(/[\\/]/).includes('..')) throw new JobRefusal(`checkpoint.dir '${exp.checkpoint.dir}' must stay inside the run folder`, index);
  if (!exp.environment.module.startsWith('torchloop:')) {
    // Imported code: only what the worker itself allowed, wherever it lies.
    const module = realish(path.resolve(baseDir, exp.environment.module));
    if (!policy.allowModules.map((m) => realish(m)).includes(module)) throw new JobRefusal(`environment.module '${exp.environment.module}' is not built-in and not on this worker's --allow-module list`, index);
  } else {
    try {
      environmentSource(exp);
    } catch (e) {
      throw new JobRefusal((e as Error).message, index);
    }
  }
  const job = { ...(raw as unknown as GridJob), document };
  return { job, baseDir, exp };
}
