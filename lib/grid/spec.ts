/**
 * A grid file: a base experiment and the values to sweep (MI-Prometheus's grid workers,
 * dida's hyper-parameter lists). Every run is a normal experiment with its own run folder.
 *
 *   name: lr-sweep                 # letters, digits, - and _ (also names the NATS stream)
 *   base: exp.yaml                 # an experiment config, relative to this file
 *   output: runs/lr-sweep          # the grid's folder: runs/<id>/, summary.csv, summary.md, tensorboard/
 *   set: { training.epochs: 20 }   # the same for every run
 *   product:                       # every combination of these ...
 *     optimizer.lr: [1.0e-3, 3.0e-4]
 *     network.mlp.sizes: [[16, 64, 16], [16, 128, 16]]
 *   points:                        # ... and/or these points, as listed
 *     - { optimizer.lr: 1.0e-2, optimizer.kind: sgd }
 *   seeds: [0, 1]                  # each point once per seed (default: the base's seed)
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { TorchError } from '../errors.ts';
import { NatsConfigSchema, natsConfig, readYaml, validateExperiment, type NatsConfig } from '../learn/config.ts';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

const GridSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _').default('grid'),
  base: z.string(),
  output: z.string().default('runs/grid'),
  set: z.record(z.string(), z.unknown()).default({}),
  product: z.record(z.string(), z.array(z.unknown()).min(1)).default({}),
  points: z.array(z.record(z.string(), z.unknown())).default([]),
  seeds: z.array(z.number().int().min(0)).min(1).nullable().default(null),
  /** The coordinator's NATS connection (`grid --nats`): servers, auth, TLS; never sent to workers. */
  nats: NatsConfigSchema.nullable().default(null),
});

/** One run of a grid, everything a worker on any machine needs to run it. */
export interface GridJob {
  /** The run message's format (grid/guard.ts's JOB_VERSION). */
  version: 1;
  grid: string;
  /** `003_lr=0.0003_sizes=16-64-16_seed=1`: the index keeps folders in grid order. */
  id: string;
  index: number;
  /** The swept values of this run (without the seed). */
  params: Record<string, unknown>;
  seed: number;
  /** The point's key (its params), shared by its seeds: TensorBoard groups them. */
  point: string;
  /** The merged experiment document (base, its defaults, `set`, the point, the seed). */
  document: Plain;
  /** The folder the base config's relative paths are resolved against. */
  baseDir: string;
  /** The run folder, relative to the grid's output. */
  folder: string;
  /** The grid's output folder on the coordinator's machine (a worker may put runs elsewhere). */
  gridOutput: string;
  /** 1 for the first try; a run given back by a lost worker comes again with the next number. */
  attempt: number;
}

export interface Grid {
  name: string;
  /** The grid file's `nats` section, its paths resolved. */
  nats: NatsConfig | null;
  file: string;
  output: string;
  keys: string[];
  jobs: GridJob[];
}

/** Sets a dotted key in a plain object (a value, not a string to parse). */
function setValue(target: Plain, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let at = target;
  for (const k of keys.slice(0, -1)) {
    if (!isPlain(at[k])) at[k] = {};
    at = at[k] as Plain;
  }
  at[keys[keys.length - 1]] = value;
}

/** A value as it appears in a run's name: numbers as written, lists joined with '-'. */
export function label(v: unknown): string {
  if (Array.isArray(v)) return v.map(label).join('-');
  if (isPlain(v)) return JSON.stringify(v);
  return String(v);
}

function product(axes: [string, unknown[]][]): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of axes) out = out.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return axes.length ? out : [];
}

/** Reads and checks a grid file: every run's experiment is validated before anything runs. */
export function loadGrid(file: string): Grid {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new TorchError('ERR_NOT_FOUND', `No grid file '${file}'`);
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(abs, 'utf8')) ?? {};
  } catch (e) {
    throw new TorchError('ERR_ARGUMENT', `'${file}' is not valid YAML: ${(e as Error).message}`);
  }
  const parsed = GridSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TorchError('ERR_ARGUMENT', `Invalid grid file '${file}':\n  ${parsed.error.issues.map((i) => `'${i.path.join('.')}': ${i.message}`).join('\n  ')}`);
  }
  const g = parsed.data;
  const dir = path.dirname(abs);
  const basePath = path.resolve(dir, g.base);
  const base = readYaml(basePath);
  const baseDir = path.dirname(basePath);
  const points = [...product(Object.entries(g.product)), ...g.points];
  if (points.length === 0) points.push({});
  const keys = [...new Set(points.flatMap((p) => Object.keys(p)))];
  const seeds = g.seeds ?? [Number(base.seed ?? 0)];
  const output = path.resolve(dir, g.output);
  const jobs: GridJob[] = [];
  for (const p of points) {
    for (const seed of seeds) {
      const index = jobs.length;
      const document: Plain = structuredClone(base);
      delete document.nats; // the coordinator's connection (and any secret in it) is not the workers' business
      for (const [k, v] of Object.entries(g.set)) setValue(document, k, v);
      for (const [k, v] of Object.entries(p)) setValue(document, k, v);
      document.seed = seed;
      const point = Object.entries(p).map(([k, v]) => `${k.split('.').pop()}=${label(v)}`).join('_') || 'base';
      const id = `${String(index).padStart(3, '0')}_${point}${seeds.length > 1 || g.seeds ? `_seed=${seed}` : ''}`.replace(/[^A-Za-z0-9_.=+-]/g, '-').slice(0, 120);
      document.name = `${g.name}/${id}`;
      try {
        validateExperiment(document, baseDir);
      } catch (e) {
        throw new TorchError('ERR_ARGUMENT', `Grid '${g.name}', run ${id}: ${(e as Error).message}`);
      }
      jobs.push({ version: 1, grid: g.name, id, index, params: p, seed, point, document, baseDir, folder: path.join('runs', id), gridOutput: output, attempt: 1 });
    }
  }
  return { name: g.name, nats: natsConfig(g.nats, dir), file: abs, output, keys, jobs };
}
