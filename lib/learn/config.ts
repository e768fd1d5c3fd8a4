import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { redact } from '../nats-options.ts';
import { TorchError } from '../errors.ts';
import { ownModule } from '../paths.ts';

/**
 * One YAML experiment file (MI-Prometheus / the pose-estimation trainer's config.yaml):
 * sections for environment, database, network, optimizer, training, validation, testing,
 * checkpoint and stats. `defaults: [base.yaml, ...]` inherits (files relative to this one,
 * merged in order, this file last); unknown keys are errors that name the nearest valid key;
 * `--section.key value` overrides on the command line.
 */
/** Environments torchloop ships, by the name `environment.module` gives them. */
const BUILTIN_ENVIRONMENTS: Record<string, { file: string; export: string }> = {
  'torchloop:spring-chain': { file: 'data/examples/spring-chain', export: 'SpringChainEnvironment' },
  'torchloop:beam': { file: 'data/examples/beam', export: 'BeamEnvironment' },
};

const environment = z.strictObject({
  /** A module of yours (.js, .mjs or .ts; relative to the config file), or a built-in: torchloop:spring-chain, torchloop:beam. */
  module: z.string().default('torchloop:spring-chain'),
  /** The class's export name (a built-in's own class by default). */
  export: z.string().optional(),
  options: z.record(z.string(), z.unknown()).default({}),
  workers: z.number().int().min(0).default(0),
  simulationsPerStep: z.number().int().min(1).default(1),
  maxWrongSamplesPerStep: z.number().int().min(0).default(10),
  /**
   * The sample's fields, for a dataset that remote clients fill (`generate --nats`) when no
   * environment class is at hand here (a Python simulator): [{ name, shape, dtype, kind }].
   */
  fields: z.array(z.strictObject({ name: z.string(), shape: z.array(z.number().int().min(1)), dtype: z.enum(['float32', 'float64', 'int32', 'int64', 'uint8']).default('float32'), kind: z.enum(['training', 'additional']).default('training') })).optional(),
});
const database = z.strictObject({
  file: z.string().default('dataset.sqlite'),
  source: z.enum(['generate-then-reload', 'always-produce', 'load']).default('generate-then-reload'),
});
const network = z.strictObject({
  file: z.string().nullable().default(null),
  mlp: z.strictObject({ sizes: z.array(z.number().int().min(1)).min(2), activation: z.enum(['tanh', 'relu', 'sigmoid', 'none']).default('tanh') }).nullable().default(null),
  input: z.string().default('loads'),
  target: z.string().default('displacements'),
  normalize: z.boolean().default(true),
});
const optimizer = z.strictObject({
  kind: z.enum(['sgd', 'adam', 'adamw', 'rmsprop']).default('adam'),
  lr: z.number().positive().default(1e-3),
  momentum: z.number().min(0).default(0),
  weightDecay: z.number().min(0).default(0),
  betas: z.tuple([z.number(), z.number()]).default([0.9, 0.999]),
  clipNorm: z.number().min(0).default(0),
  schedule: z.enum(['none', 'step', 'cosine']).default('none'),
  stepSize: z.number().int().min(1).default(10),
  gamma: z.number().positive().default(0.5),
});
const training = z.strictObject({
  epochs: z.number().int().min(1).default(10),
  batchSize: z.number().int().min(1).default(64),
  batchesPerEpoch: z.number().int().min(1).default(20),
  loss: z.enum(['mse', 'l1', 'smooth_l1', 'huber']).default('mse'),
  earlyStopping: z.strictObject({ patience: z.number().int().min(1).default(5), minDelta: z.number().min(0).default(0) }).nullable().default(null),
  async: z.boolean().default(false),
});
const validation = z.strictObject({
  every: z.number().int().min(1).default(1),
  samples: z.number().int().min(0).default(256),
});
const testing = z.strictObject({
  samples: z.number().int().min(1).default(256),
  metrics: z.array(z.enum(['mse', 'mae', 'max'])).default(['mse', 'mae']),
});
const checkpoint = z.strictObject({
  dir: z.string().default('checkpoints'),
  saveFrequency: z.number().int().min(0).default(0),
  best: z.boolean().default(true),
  last: z.boolean().default(true),
});
const stats = z.strictObject({
  tensorboard: z.boolean().default(true),
  csv: z.boolean().default(true),
  plots: z.boolean().default(true),
  window: z.number().int().min(1).default(50),
  layout: z.enum(['deepphysx', 'torchloop']).default('deepphysx'),
  histogramsEvery: z.number().int().min(0).default(1),
  /** A live page of the curves: on 127.0.0.1 unless `host` names another address (then it wants the token it prints). */
  live: z.strictObject({ port: z.number().int().min(0).max(65535).default(0), host: z.string().optional() }).nullable().default(null),
});
const distributed = z.strictObject({
  /** Gradient bucket size for the all-reduce (DDP's bucket_cap_mb; the first bucket is 1 MiB at most). */
  bucketCapMB: z.number().positive().default(25),
  /** Rendezvous and every collective: a rank that is gone stops the others at this limit at the latest. */
  timeoutSeconds: z.number().positive().default(60),
});
const prediction = z.strictObject({
  steps: z.number().int().min(1).default(100),
  record: z.boolean().default(true),
});

/**
 * A NATS connection (`generate --nats`, grids over NATS): servers, one auth method, TLS. File
 * paths are relative to the config file. Secrets written here are masked in every file torchloop
 * writes; a file (creds, nkey) or the NATS_* environment keeps them out of the config.
 */
export const NatsConfigSchema = z.strictObject({
  servers: z.union([z.string(), z.array(z.string())]).optional(),
  token: z.string().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  nkey: z.string().optional(),
  creds: z.string().optional(),
  tls: z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), required: z.boolean().optional() }).optional(),
  inbox: z.string().optional(),
});
export type NatsConfig = z.infer<typeof NatsConfigSchema>;

/** A config's `nats` section with its file paths resolved against the config's folder. */
export function natsConfig(c: NatsConfig | null | undefined, baseDir: string): NatsConfig | null {
  if (!c) return null;
  const at = (p?: string) => (p === undefined ? undefined : path.resolve(baseDir, p));
  return { ...c, nkey: at(c.nkey), creds: at(c.creds), tls: c.tls && { ...c.tls, ca: at(c.tls.ca), cert: at(c.tls.cert), key: at(c.tls.key) } };
}

export const ExperimentSchema = z.strictObject({
  name: z.string().default('experiment'),
  seed: z.number().int().min(0).default(0),
  output: z.string().default('runs/experiment'),
  environment: environment.prefault({}),
  database: database.prefault({}),
  network: network.prefault({}),
  optimizer: optimizer.prefault({}),
  training: training.prefault({}),
  validation: validation.prefault({}),
  testing: testing.prefault({}),
  checkpoint: checkpoint.prefault({}),
  stats: stats.prefault({}),
  prediction: prediction.prefault({}),
  /** Data-parallel training (`torchloop train --nproc N`). */
  distributed: distributed.prefault({}),
  /** When a training run ends or fails: a shell command and/or a webhook URL (POSTed JSON). */
  notify: z.strictObject({ command: z.string().nullable().default(null), url: z.string().nullable().default(null) }).nullable().default(null),
  /** The NATS connection of `generate --nats` (remote environments). */
  nats: NatsConfigSchema.nullable().default(null),
});
export type Experiment = z.infer<typeof ExperimentSchema> & { baseDir: string };

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge: objects merge key by key, anything else replaces. */
export function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlain(v) && isPlain(out[k]) ? merge(out[k] as Plain, v) : v;
  return out;
}

/** A config file merged with its `defaults:` (not validated). */
export function readYaml(file: string, seen: string[] = []): Plain {
  const abs = path.resolve(file);
  if (seen.includes(abs)) throw new TorchError('ERR_ARGUMENT', `Config inheritance loops: ${[...seen, abs].join(' -> ')}`);
  if (!existsSync(abs)) throw new TorchError('ERR_NOT_FOUND', `No config file '${file}'`);
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(abs, 'utf8')) ?? {};
  } catch (e) {
    throw new TorchError('ERR_ARGUMENT', `'${file}' is not valid YAML: ${(e as Error).message}`);
  }
  if (!isPlain(doc)) throw new TorchError('ERR_ARGUMENT', `'${file}' must hold a mapping at the top`);
  const { defaults, ...rest } = doc;
  let merged: Plain = {};
  for (const parent of (defaults as string[] | undefined) ?? []) merged = merge(merged, readYaml(path.resolve(path.dirname(abs), parent), [...seen, abs]));
  return merge(merged, rest);
}

/** Sets `a.b.c` in an object from a command-line string (parsed as YAML: numbers, booleans, lists). */
export function setPath(target: Plain, dotted: string, raw: string): void {
  const keys = dotted.split('.');
  let at = target;
  for (const k of keys.slice(0, -1)) {
    if (!isPlain(at[k])) at[k] = {};
    at = at[k] as Plain;
  }
  at[keys[keys.length - 1]] = YAML.parse(raw);
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The keys a strict object schema accepts at a path (for "did you mean"). */
function keysAt(pathParts: PropertyKey[]): string[] {
  let schema: z.ZodType = ExperimentSchema;
  for (const p of pathParts) {
    let inner: unknown = schema;
    while (inner && !(inner instanceof z.ZodObject)) inner = (inner as { _zod?: { def?: { innerType?: unknown } } })._zod?.def?.innerType;
    if (!(inner instanceof z.ZodObject)) return [];
    schema = inner.shape[String(p)] as z.ZodType;
  }
  let inner: unknown = schema;
  while (inner && !(inner instanceof z.ZodObject)) inner = (inner as { _zod?: { def?: { innerType?: unknown } } })._zod?.def?.innerType;
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
}

/** Validates a merged document; errors name the key, what was wrong, and the nearest valid key for typos. */
export function validateExperiment(doc: Plain, baseDir = process.cwd()): Experiment {
  const r = ExperimentSchema.safeParse(doc);
  if (r.success) return { ...r.data, baseDir };
  const lines = r.error.issues.map((issue) => {
    const where = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => {
          const valid = keysAt(issue.path);
          const nearest = valid.map((v) => [v, levenshtein(k, v)] as const).sort((a, b) => a[1] - b[1])[0];
          const full = where ? `${where}.${k}` : k;
          return `unknown key '${full}'${nearest && nearest[1] <= Math.max(2, k.length / 2) ? ` (did you mean '${where ? `${where}.` : ''}${nearest[0]}'?)` : ''}; valid keys here: ${valid.join(', ')}`;
        })
        .join('\n');
    }
    return `'${where}': ${issue.message}`;
  });
  throw new TorchError('ERR_ARGUMENT', `Invalid experiment config:\n  ${lines.join('\n  ')}`);
}

/** Reads a config file (with its defaults), applies overrides, validates. */
export function loadExperiment(file: string, overrides: Record<string, string> = {}): Experiment {
  const doc = readYaml(file);
  for (const [k, v] of Object.entries(overrides)) setPath(doc, k, v);
  return validateExperiment(doc, path.dirname(path.resolve(file)));
}

/** The environment class to load: a built-in's file in this package, or the user's module relative to the config. */
export function environmentSource(exp: Experiment): { module: string; exportName: string } {
  const builtin = BUILTIN_ENVIRONMENTS[exp.environment.module];
  if (builtin) return { module: ownModule(builtin.file), exportName: exp.environment.export ?? builtin.export };
  if (exp.environment.module.startsWith('torchloop:')) {
    throw new TorchError('ERR_NOT_FOUND', `No built-in environment '${exp.environment.module}' (there is: ${Object.keys(BUILTIN_ENVIRONMENTS).join(', ')})`);
  }
  if (!exp.environment.export) throw new TorchError('ERR_ARGUMENT', `environment.export must name the class that '${exp.environment.module}' exports`);
  return { module: resolvePath(exp, exp.environment.module), exportName: exp.environment.export };
}

/** Paths in a config are relative to the config file. */
export function resolvePath(exp: Experiment, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(exp.baseDir, p);
}

/** Writes the resolved config next to the outputs; returns its path. */
export function writeResolved(exp: Experiment): string {
  const out = resolvePath(exp, exp.output);
  mkdirSync(out, { recursive: true });
  const file = path.join(out, 'config.resolved.yaml');
  const { baseDir, ...doc } = exp;
  writeFileSync(file, `# resolved from ${baseDir}\n${YAML.stringify(redact(doc))}`);
  return file;
}
