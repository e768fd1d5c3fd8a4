/**
 * Data-parallel training's launcher and ranks (`torchloop train exp.yaml --nproc N`), as
 * torchrun: the launcher prepares the data, picks a rendezvous port, starts N copies of the
 * same command as ranks (TORCHLOOP_RANK, TORCHLOOP_WORLD_SIZE, TORCHLOOP_MASTER in their
 * environment) and watches them. A rank that dies makes the launcher stop the others (they
 * fail by themselves too: their next collective sees the connection drop, or times out),
 * and the launcher exits with an error that names the rank and how it ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:net';
import { TorchError } from '../errors.ts';
import type { Batch } from '../data/environment-manager.ts';
import type { Field, FieldValues } from '../data/fields.ts';
import { DatabaseManager } from '../data/database.ts';
import { EnvironmentManager } from '../data/environment-manager.ts';
import { environmentSource, resolvePath, type Experiment } from './config.ts';

export interface RankInfo {
  rank: number;
  worldSize: number;
  /** The rendezvous, host:port (rank 0 serves it). */
  master: string;
  timeoutMs: number;
}

export interface LaunchOptions {
  /** Processes on this machine. */
  nproc: number;
  /** Machines (each runs a launcher with its own --node-rank). */
  nnodes?: number;
  nodeRank?: number;
  /** host:port of node 0 (required with several nodes; a free loopback port otherwise). */
  master?: string;
  /** The command each rank runs: [executable, ...args]; its environment gets the rank's variables. */
  command: string[];
  timeoutMs: number;
  /** Where rank 0's stdout goes (others' stdout is dropped: they print the same report). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** This process's rank, when a launcher started it. */
export function rankFromEnv(env = process.env): RankInfo | null {
  if (env.TORCHLOOP_RANK === undefined) return null;
  const rank = Number(env.TORCHLOOP_RANK), worldSize = Number(env.TORCHLOOP_WORLD_SIZE);
  if (!Number.isInteger(rank) || !Number.isInteger(worldSize) || rank < 0 || rank >= worldSize || !env.TORCHLOOP_MASTER) {
    throw new TorchError('ERR_ARGUMENT', `TORCHLOOP_RANK=${env.TORCHLOOP_RANK}, TORCHLOOP_WORLD_SIZE=${env.TORCHLOOP_WORLD_SIZE}, TORCHLOOP_MASTER=${env.TORCHLOOP_MASTER}: expected 0 <= rank < world size and host:port`);
  }
  return { rank, worldSize, master: env.TORCHLOOP_MASTER, timeoutMs: Number(env.TORCHLOOP_TIMEOUT_MS ?? 60_000) };
}

/**
 * A rank exits when its launcher is gone (killed with SIGKILL, say): nobody would read its
 * output, and it must not train on alone. Checked once a second, off the hot path.
 */
export function exitWithLauncher(env = process.env): void {
  const launcher = Number(env.TORCHLOOP_LAUNCHER_PID);
  if (!launcher) return;
  setInterval(() => {
    if (process.ppid !== launcher) {
      process.stderr.write(`torchloop: rank ${env.TORCHLOOP_RANK}: the launcher (pid ${launcher}) is gone; stopping\n`);
      process.exit(1);
    }
  }, 1000).unref();
}

/** Rank r's rows of a batch: an equal, contiguous shard of every field (as DistributedSampler on a batch). */
export function shard(batch: Batch, fields: Field[], rank: Pick<RankInfo, 'rank' | 'worldSize'>): Batch {
  const per = Math.floor(batch.size / rank.worldSize), extra = batch.size % rank.worldSize;
  // Uneven batches (a last partial one) give the first `extra` ranks one row more.
  const start = rank.rank * per + Math.min(rank.rank, extra), size = per + (rank.rank < extra ? 1 : 0);
  const values: FieldValues = {};
  for (const f of fields) {
    const a = batch.values[f.name];
    if (a) values[f.name] = a.subarray(start * f.size, (start + size) * f.size) as typeof a;
  }
  return { ...batch, values, size };
}

/**
 * A lock file beside the database so that runs sharing one prepare it once: created with O_EXCL,
 * holding the owner's pid; a lock whose owner has died is taken over.
 */
export async function withLock<T>(file: string, body: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(file), { recursive: true }); // the database's folder, on a fresh clone
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(file, 'utf8') || 0);
      let alive = owner > 0;
      try {
        if (alive) process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (!alive && Date.now() - statSync(file).mtimeMs > 1000) rmSync(file, { force: true });
      await sleep(200);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(file, { force: true });
  }
}

/** A free TCP port on this machine (for a local rendezvous). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Puts the samples a data-parallel run reads into the database before the ranks start:
 * the validation samples, and for generate-then-reload an epoch of training samples when the
 * database has fewer (the ranks then read it as 'load'). Returns what it added.
 */
export async function prepareData(exp: Experiment): Promise<{ training: number; validation: number }> {
  const file = resolvePath(exp, exp.database.file);
  const epoch = exp.training.batchSize * exp.training.batchesPerEpoch;
  let haveTraining = 0, haveValidation = 0;
  if (existsSync(file)) {
    const db = DatabaseManager.open(file, {});
    haveTraining = db.count('training');
    haveValidation = db.count('validation');
    db.close();
  }
  const wantTraining = exp.database.source === 'generate-then-reload' ? Math.max(0, epoch - haveTraining) : 0;
  const wantValidation = Math.max(0, exp.validation.samples - haveValidation);
  if (exp.database.source === 'load' && haveTraining < exp.training.batchSize) {
    throw new TorchError('ERR_NOT_FOUND', `${file} holds ${haveTraining} training samples, fewer than one batch ('load' reads the database: run torchloop generate first)`);
  }
  if (wantTraining === 0 && wantValidation === 0) return { training: 0, validation: 0 };
  const envs = new EnvironmentManager({
    environment: environmentSource(exp),
    workers: exp.environment.workers,
    seed: exp.seed,
    simulationsPerStep: exp.environment.simulationsPerStep,
    maxWrongSamplesPerStep: exp.environment.maxWrongSamplesPerStep,
    environmentOptions: exp.environment.options,
  });
  await envs.start();
  const db = DatabaseManager.open(file, { fields: envs.fields });
  try {
    for (const [mode, want] of [['training', wantTraining], ['validation', wantValidation]] as const) {
      for (let left = want; left > 0; ) {
        const b = await envs.getBatch(Math.min(mode === 'training' ? exp.training.batchSize : 256, left));
        db.add(mode, b.values, b.size);
        left -= b.size;
      }
    }
  } finally {
    db.close();
    await envs.close();
  }
  return { training: wantTraining, validation: wantValidation };
}

export interface LaunchReport {
  worldSize: number;
  /** Exit codes (or signal names) by local rank. */
  exits: (number | string)[];
  /** Milliseconds from start to the last rank's exit. */
  ms: number;
}

/**
 * Starts the local ranks and waits for them. Resolves when all exit 0; rejects with
 * ERR_DISTRIBUTED when one fails, after stopping the others (SIGTERM, then SIGKILL after
 * a grace period).
 */
export async function launch(o: LaunchOptions): Promise<LaunchReport> {
  const nnodes = o.nnodes ?? 1, nodeRank = o.nodeRank ?? 0;
  if (!(Number.isInteger(o.nproc) && o.nproc >= 1)) throw new TorchError('ERR_ARGUMENT', `Expected a positive integer for --nproc but received ${o.nproc}`);
  if (!(Number.isInteger(nnodes) && nnodes >= 1 && Number.isInteger(nodeRank) && nodeRank >= 0 && nodeRank < nnodes)) {
    throw new TorchError('ERR_ARGUMENT', `Expected 0 <= --node-rank < --nnodes but received ${nodeRank} of ${nnodes}`);
  }
  if (nnodes > 1 && !o.master) throw new TorchError('ERR_ARGUMENT', 'Several nodes need --master host:port (node 0 serves the rendezvous there)');
  const master = o.master ?? `127.0.0.1:${await freePort()}`;
  const worldSize = nnodes * o.nproc;
  const stderr = o.stderr ?? process.stderr, stdout = o.stdout ?? process.stdout;
  const t0 = performance.now();
  const children: ChildProcess[] = [];
  const exits: (number | string | null)[] = new Array(o.nproc).fill(null);
  let failure: string | null = null;

  // The others get the collective timeout to fail by themselves (their error says what they
  // saw), then SIGTERM, then SIGKILL.
  const stopOthers = () => {
    const alive = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
    setTimeout(() => {
      for (const c of alive()) c.kill('SIGTERM');
      setTimeout(() => alive().forEach((c) => c.kill('SIGKILL')), 5000).unref();
    }, o.timeoutMs + 2000).unref();
  };

  await new Promise<void>((resolve) => {
    let running = o.nproc;
    for (let local = 0; local < o.nproc; local++) {
      const rank = nodeRank * o.nproc + local;
      const child = spawn(o.command[0], o.command.slice(1), {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          TORCHLOOP_RANK: String(rank),
          TORCHLOOP_LOCAL_RANK: String(local),
          TORCHLOOP_WORLD_SIZE: String(worldSize),
          TORCHLOOP_MASTER: master,
          TORCHLOOP_TIMEOUT_MS: String(o.timeoutMs),
          TORCHLOOP_LAUNCHER_PID: String(process.pid),
        },
      });
      children.push(child);
      stderr.write(`[launcher] rank ${rank}/${worldSize}: pid ${child.pid}\n`);
      if (rank === 0) child.stdout!.pipe(stdout, { end: false });
      else child.stdout!.resume();
      // Rank 0 draws the progress bar; the others' messages are prefixed.
      let tail = '';
      child.stderr!.on('data', (d: Buffer) => {
        if (rank === 0) {
          stderr.write(d);
          return;
        }
        const lines = (tail + d.toString()).split('\n');
        tail = lines.pop()!;
        for (const line of lines) stderr.write(`[rank ${rank}] ${line}\n`);
      });
      child.on('exit', (code, signal) => {
        if (tail) stderr.write(`[rank ${rank}] ${tail}\n`);
        exits[local] = signal ?? code ?? -1;
        if ((code !== 0 || signal) && failure === null) {
          failure = `rank ${rank} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
          stopOthers();
        }
        if (--running === 0) resolve();
      });
    }
  });
  const report = { worldSize, exits: exits as (number | string)[], ms: performance.now() - t0 };
  if (failure) {
    throw new TorchError('ERR_DISTRIBUTED', `Data-parallel training stopped: ${failure}; the other ranks were stopped (exits by local rank: ${report.exits.join(', ')})`);
  }
  return report;
}
