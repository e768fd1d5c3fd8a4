#!/usr/bin/env node
/**
 * The torchloop command line:
 *   torchloop generate|train|predict|evaluate CONFIG.yaml [--section.key value ...] [--json]
 *   torchloop train CONFIG.yaml --nproc N [--nnodes M --node-rank R --master host:port]
 *   torchloop grid GRID.yaml [--workers N | --nats URL] [--json]
 *   torchloop worker --nats URL --grid NAME
 *   torchloop inspect model.pt|model.pt2 [--json]
 *   torchloop compile model.pt --input 1x48 [--input ...] -o model.pt2 [--module pkg.mod:factory] [--python PY] [--default] [--force] [--json]
 *   torchloop bench [--model file.pt --shape 1x48 ...] [--steps N] [--rounds N] [--json]
 *   torchloop sim2sim CONFIG.yaml [--root DIR] [--seconds S] [--realtime] [--view] [--command vx,vy,wz] [--trajectory out.json] [--json]
 *   torchloop robots fetch [--from DIR|URL] [--to DIR]
 * Config keys given as --a.b value override the file (the value is read as YAML: 1e-3, true, [1, 2]).
 */
import path from 'node:path';
import { Command } from 'commander';
import { DataGeneration } from '../data/data-generation.ts';
import { bench, formatBench } from './bench.ts';
import { TorchError } from '../errors.ts';
import { Model } from '../model.ts';
import { version } from '../runtime.ts';
import { environmentSource, loadExperiment, natsConfig, resolvePath, writeResolved } from '../learn/config.ts';
import { NATS_FLAGS, natsFlags, resolveNats } from '../nats-connect.ts';
import { TrainingPipeline } from '../learn/pipelines.ts';
import { runEvaluation, runPrediction } from '../learn/prediction.ts';
import { exitWithLauncher, launch, prepareData, rankFromEnv, withLock } from '../learn/data-parallel.ts';
import { ProcessGroup } from '../train/distributed.ts';
import { runGrid } from '../grid/grid.ts';
import { serveIpc } from '../grid/local.ts';
import { serveNats } from '../grid/nats.ts';
import { fetchRobots, robotSearchPath, UNITREE_RL_GYM } from '../sim/robots.ts';
import { formatSim2Sim, parseCommand, runSim2Sim } from './sim2sim.ts';
import { compilePackage, formatCompile } from './compile.ts';
import { receiveRemote } from '../data/receive.ts';

// Top-level config keys that hold a value (the sections are set as --section.key).
const TOP_LEVEL = ['name', 'seed', 'output'];

/** Splits `--a.b value` pairs (and --name/--seed/--output: config overrides) from the options commander knows. */
export function splitOverrides(argv: string[]): { rest: string[]; overrides: Record<string, string> } {
  const rest: string[] = [], overrides: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = new RegExp(`^--((?:${TOP_LEVEL.join('|')})|[A-Za-z_]\\w*\\.[\\w.]+)(?:=(.*))?$`).exec(a);
    if (m) {
      if (m[2] !== undefined) overrides[m[1]] = m[2];
      else if (i + 1 < argv.length) overrides[m[1]] = argv[++i];
      else throw new TorchError('ERR_ARGUMENT', `Override ${a} needs a value`);
    } else rest.push(a);
  }
  return { rest, overrides };
}

/** The NATS auth and TLS flags (nats-connect.ts), the same on every command that connects. */
function withNats(cmd: Command): Command {
  for (const [flags, description] of NATS_FLAGS) cmd.option(flags, description);
  return cmd;
}

function output(json: boolean, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value) : text());
}

export async function main(argv: string[]): Promise<void> {
  const { rest, overrides } = splitOverrides(argv);
  const program = new Command('torchloop').description('Run, train and feed TorchScript models from Node.js').version(version.torchloop).showHelpAfterError();
  program.exitOverride();

  withNats(program.command('generate <config>'))
    .description('fill the database with samples from the environments')
    .option('--batches <n>', 'batches to produce (default: training.batchesPerEpoch)')
    .option('--mode <mode>', 'training | validation | prediction', 'training')
    .option('--nats [servers]', "receive the samples from remote environment clients (docs/PROTOCOL.md) instead of running the environment here (servers: here, the config's nats.servers, or NATS_URL)")
    .option('--dataset <name>', 'with --nats: the remote dataset (default: the experiment name)')
    .option('--timeout <s>', 'with --nats: give up after this many seconds', '600')
    .option('--json', 'machine-readable output')
    .action(async (config: string, o: { batches?: string; mode: string; json?: boolean; nats?: string | true; dataset?: string; timeout: string }) => {
      const exp = loadExperiment(config, overrides);
      writeResolved(exp);
      if (o.nats) {
        const r = await receiveRemote(exp, { nats: resolveNats({ servers: o.nats === true ? undefined : o.nats, flags: natsFlags(o), config: natsConfig(exp.nats, exp.baseDir) }), dataset: o.dataset ?? exp.name, samples: Number(o.batches ?? exp.training.batchesPerEpoch) * exp.training.batchSize, mode: o.mode as 'training', timeoutMs: Number(o.timeout) * 1000, onReady: (stream) => { if (!o.json) process.stderr.write(`Waiting for samples on the stream ${stream}: start the clients\n`); } });
        return output(!!o.json, r, () => `${r.samples} samples from remote clients in ${r.seconds.toFixed(1)} s (${r.refused} batches refused, ${r.duplicates} duplicates dropped) -> ${r.file}`);
      }
      const report = await new DataGeneration({
        environment: environmentSource(exp),
        environmentOptions: exp.environment.options,
        workers: exp.environment.workers,
        seed: exp.seed,
        database: resolvePath(exp, exp.database.file),
        batchNb: Number(o.batches ?? exp.training.batchesPerEpoch),
        batchSize: exp.training.batchSize,
        mode: o.mode as 'training',
        progress: !o.json,
      }).execute();
      output(!!o.json, report, () => `${report.samples} samples in ${report.seconds.toFixed(1)} s (${report.samplesPerSecond.toFixed(0)}/s) -> ${report.file}`);
    });

  program
    .command('train <config>')
    .description('train the network of an experiment (--nproc N: data-parallel, N processes)')
    .option('--resume <checkpoint>', 'continue from a checkpoint (.pt with its .json)')
    .option('--nproc <n>', 'processes on this machine, each training on its shard of every batch (c10d, Gloo)')
    .option('--nnodes <n>', 'machines taking part (each runs this command with its --node-rank)', '1')
    .option('--node-rank <n>', "this machine's place among them", '0')
    .option('--master <host:port>', "node 0's rendezvous address (several nodes; a free local port otherwise)")
    .option('--json', 'machine-readable output')
    .action(async (config: string, o: { resume?: string; json?: boolean; nproc?: string; nnodes: string; nodeRank: string; master?: string }) => {
      const exp = loadExperiment(config, overrides);
      const rank = rankFromEnv();
      if (!rank && (o.nproc !== undefined || Number(o.nnodes) > 1)) {
        // The launcher: the data first, then the ranks (this same command, with the rank in its environment).
        const dp = ProcessGroup.available();
        if (!dp.available) throw new TorchError('ERR_UNSUPPORTED', `Data-parallel training is not available: ${dp.why}`);
        await withLock(`${resolvePath(exp, exp.database.file)}.torchloop-lock`, () => prepareData(exp));
        const args = ['train', config, ...Object.entries(overrides).flatMap(([k, v]) => [`--${k}`, v]), ...(o.resume ? ['--resume', o.resume] : []), ...(o.json ? ['--json'] : [])];
        await launch({ nproc: Number(o.nproc ?? 1), nnodes: Number(o.nnodes), nodeRank: Number(o.nodeRank), master: o.master, timeoutMs: exp.distributed.timeoutSeconds * 1000, command: [process.execPath, ...process.execArgv, process.argv[1], ...args] });
        return;
      }
      if (rank) exitWithLauncher();
      const r = await new TrainingPipeline(exp, { resume: o.resume, progress: !o.json, rank: rank ?? undefined }).execute();
      if (rank && rank.rank !== 0) return;
      output(!!o.json, r, () => `${r.epochs} epoch(s)${r.stoppedEarly ? ' (stopped early)' : ''}, best validation loss ${r.bestValLoss?.toExponential(3) ?? 'n/a'}, ${r.secondsPerEpoch.toFixed(2)} s/epoch${rank ? `, ${rank.worldSize} processes` : ''}\noutputs in ${r.output}`);
    });

  withNats(program.command('grid <file>'))
    .description('run a grid of experiments (a base config and the values to sweep) and summarise them')
    .option('--workers <n>', 'local worker processes', '1')
    .option('--nats [servers]', "put the runs on a NATS JetStream work queue for `torchloop worker --nats` processes instead (servers: here, the grid file's nats.servers, or NATS_URL)")
    .option('--ack-wait <seconds>', 'NATS: how long a silent worker keeps its run before another takes it', '30')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { workers: string; nats?: string | true; ackWait: string; json?: boolean }) => {
      const workers = Number(o.workers);
      if (!(Number.isInteger(workers) && workers >= 1)) throw new TorchError('ERR_ARGUMENT', `Expected a positive integer for --workers but received '${o.workers}'`);
      const r = await runGrid(file, { workers, nats: o.nats, natsFlags: natsFlags(o), ackWaitMs: Number(o.ackWait) * 1000, progress: true });
      output(!!o.json, { ...r, runs: r.runs.map((x) => ({ ...x.result, params: x.job.params, seed: x.job.seed, redone: x.redone })) }, () =>
        [`grid ${r.name}: ${r.runs.length} runs in ${r.seconds.toFixed(1)} s (${r.runsPerMinute.toFixed(1)} runs/min)${r.redone.length ? `, ${r.redone.length} redone after a lost worker` : ''}`,
          ...r.points.slice(0, 5).map((p, i) => `  ${i + 1}. ${p.point}: mean best val loss ${p.meanBestValLoss?.toExponential(3) ?? 'n/a'} over ${p.done}/${p.runs} run(s)`),
          `summary: ${r.files.markdown}, ${r.files.csv}; tensorboard --logdir ${r.files.tensorboard}`].join('\n'));
    });

  withNats(program.command('worker'))
    .description("take a grid's runs from a NATS JetStream work queue until the grid ends")
    .option('--nats <servers>', 'the NATS server the grid was queued on (or NATS_URL)')
    .option('--grid <name>', "the grid's name (its file's `name:`): the only grid this worker takes runs of", 'grid')
    .option('--out <dir>', "where run folders go on this machine (default: the grid's output folder when it is inside --base-dir, else <base-dir>/runs/<grid>)")
    .option('--base-dir <dir>', 'the folder every file a run opens must be inside (default: the working directory)')
    .option('--allow-module <file...>', 'environment modules (besides the built-in torchloop:...) that runs may import')
    .option('--wait <seconds>', 'how long to wait for the grid to be queued', '60')
    .option('--ipc', 'internal: a local worker of `torchloop grid --workers`')
    .action(async (o: { nats?: string; grid: string; out?: string; baseDir?: string; allowModule?: string[]; wait: string; ipc?: boolean }) => {
      if (o.ipc) {
        if (!process.send) throw new TorchError('ERR_ARGUMENT', '--ipc is for worker processes that `torchloop grid` starts');
        serveIpc();
        await new Promise<void>((resolve) => process.once('disconnect', () => resolve()));
        return;
      }
      if (!o.nats && !process.env.NATS_URL) throw new TorchError('ERR_ARGUMENT', 'Expected --nats URL (the server the grid was queued on) or NATS_URL');
      const nats = resolveNats({ servers: o.nats, flags: natsFlags(o) });
      await serveNats({ nats, grid: o.grid, gridOutput: o.out && path.resolve(o.out), baseDir: path.resolve(o.baseDir ?? '.'), allowModules: (o.allowModule ?? []).map((m) => path.resolve(m)), waitMs: Number(o.wait) * 1000 });
    });

  program
    .command('predict <config>')
    .description('let the network drive the environment and compare with the simulation')
    .requiredOption('--checkpoint <file>', 'a checkpoint: path, file:// or http(s):// URL')
    .option('--steps <n>', 'prediction steps')
    .option('--json', 'machine-readable output')
    .action(async (config: string, o: { checkpoint: string; steps?: string; json?: boolean }) => {
      const exp = loadExperiment(config, overrides);
      const r = await runPrediction(exp, o.checkpoint, { steps: o.steps ? Number(o.steps) : undefined });
      output(!!o.json, r, () => `${r.steps} steps: RMS error ${r.rmse.toExponential(3)} (target RMS ${r.targetRms.toExponential(3)}), residual ${r.predictedResidual.toExponential(3)} vs simulation ${r.simulatedResidual.toExponential(3)}`);
    });

  program
    .command('evaluate <config>')
    .description('metrics of a checkpoint on held-out samples')
    .requiredOption('--checkpoint <file>', 'a checkpoint: path, file:// or http(s):// URL')
    .option('--mode <mode>', 'the held-out mode', 'validation')
    .option('--json', 'machine-readable output')
    .action(async (config: string, o: { checkpoint: string; mode: string; json?: boolean }) => {
      const exp = loadExperiment(config, overrides);
      const r = await runEvaluation(exp, o.checkpoint, { mode: o.mode as 'validation' });
      output(!!o.json, r, () => Object.entries(r).map(([k, v]) => `${k}: ${v}`).join('\n'));
    });

  program
    .command('inspect <model>')
    .description("a TorchScript file's methods, signatures and parameter count, or a .pt2 package's inputs and metadata")
    .option('--json', 'machine-readable output')
    .action((file: string, o: { json?: boolean }) => {
      using m = Model.loadSync(file);
      const params = m.parameters();
      const count = Object.values(params).reduce((a, t) => a + t.numel, 0);
      const pkg = m.packageInfo;
      const info = { file, format: m.format, methods: m.methods.map((name) => m.signature(name)), parameters: count, tensors: Object.fromEntries(Object.entries(params).map(([k, t]) => [k, [...t.shape]])), ...(pkg ? { package: pkg } : {}), libtorch: version.libtorch };
      const sig = info.methods.map((s) => `  ${s.name}(${s.arguments.map((a) => `${a.name}: ${a.type}`).join(', ')}) -> ${s.returns}`);
      output(!!o.json, info, () =>
        pkg
          ? [`${file}: an AOTInductor package (native code compiled for ${pkg.metadata.AOTI_CPU_ISA || pkg.metadata.AOTI_DEVICE_KEY || 'this machine'})`, ...sig,
             ...pkg.inputs.map((i) => `  input ${i.name}: ${i.shape ? `${i.shape.join('x')} ${i.dtype}` : 'shape not recorded'}`),
             ...(pkg.metadata['torchloop.torch_version'] ? [`  compiled by PyTorch ${pkg.metadata['torchloop.torch_version']} from ${pkg.metadata['torchloop.source']}`] : [])].join('\n')
          : [`${file}: ${count} parameters in ${Object.keys(params).length} tensors`, ...sig].join('\n'),
      );
    });

  program
    .command('compile [model]')
    .description('a TorchScript file (or --module pkg.mod:factory) into an AOTInductor .pt2 package, checked against it and timed; needs Python with PyTorch 2.x and a C++ compiler')
    .requiredOption('-o, --out <file.pt2>', 'the package to write')
    .option('--input <shape...>', "each input of forward(), e.g. 1x48 or 1x12:int64 (one per argument, in order)")
    .option('--module <pkg.mod:factory>', 'a Python function returning the nn.Module, instead of a TorchScript file')
    .option('--python <path>', "the Python to compile with (default: the one of the pip torch torchloop's libtorch came from)")
    .option('--default', "AOTInductor's default options (no freezing, no max-autotune)")
    .option('--force', 'replace an existing .pt2 package')
    .option('--no-bench', 'skip timing the source and the package')
    .option('--json', 'machine-readable output')
    .action(async (file: string | undefined, o: { out: string; input?: string[]; module?: string; python?: string; default?: boolean; force?: boolean; bench: boolean; json?: boolean }) => {
      const r = await compilePackage({
        source: file, module: o.module, inputs: o.input ?? [], out: o.out, python: o.python, defaultOptions: o.default, force: o.force,
        benchSteps: o.bench ? 20_000 : 0, onProgress: o.json ? undefined : (l) => console.error(l),
      });
      output(!!o.json, r, () => formatCompile(r));
    });

  program
    .command('bench')
    .description("a realtime step's latency on this machine: TorchEntity against the C++ floor (built-in models, or --model)")
    .option('--model <file>', 'a TorchScript file of yours')
    .option('--shape <shape...>', "its forward's input shapes, e.g. 1x48 (one per argument)")
    .option('--steps <n>', 'steps per path', '100000')
    .option('--rounds <n>', 'interleaved rounds', '10')
    .option('--json', 'machine-readable output')
    .action(async (o: { model?: string; shape?: string[]; steps: string; rounds: string; json?: boolean }) => {
      if (o.model && !o.shape?.length) throw new TorchError('ERR_ARGUMENT', 'Expected --shape for each input of --model (e.g. --shape 1x48)');
      const r = await bench({ model: o.model, shapes: o.shape, steps: Number(o.steps), rounds: Number(o.rounds) });
      output(!!o.json, r, () => formatBench(r));
    });

  program
    .command('sim2sim <config>')
    .description("run a policy on its robot in MuJoCo as unitree_rl_gym's deploy_mujoco.py does (a deploy config: h1.yaml, or a path)")
    .option('--root <dir>', 'the unitree_rl_gym folder ({LEGGED_GYM_ROOT_DIR}; default: the robot files torchloop finds)')
    .option('--seconds <s>', 'simulated seconds', '10')
    .option('--realtime', 'at wall-clock rate, in a ControlLoop (default: as fast as it can)')
    .option('--view', 'serve the live scope with the 3D view on loopback (implies --realtime)')
    .option('--port <n>', "the scope's port (--view)", '0')
    .option('--host <address>', "the scope's address (--view; default 127.0.0.1: another makes the page want the token it prints)")
    .option('--priority <p>', 'the loop thread\'s SCHED_FIFO priority (--realtime; where the process may)')
    .option('--cpu <c>', 'pin the loop thread to this CPU (--realtime)')
    .option('--command <vx,vy,wz>', 'the velocity command (default: the config\'s cmd_init)')
    .option('--trajectory <file>', 'write {dt, t, pos, quat, action}, one row per policy tick')
    .option('--json', 'machine-readable output')
    .action(async (config: string, o: { root?: string; seconds: string; realtime?: boolean; view?: boolean; port: string; host?: string; priority?: string; cpu?: string; command?: string; trajectory?: string; json?: boolean }) => {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const r = await runSim2Sim({
        config, root: o.root && path.resolve(o.root), seconds: Number(o.seconds), realtime: o.realtime, view: o.view, scopePort: Number(o.port), scopeHost: o.host,
        command: parseCommand(o.command), trajectory: o.trajectory, abort: abort.signal,
        loopRealtime: { priority: o.priority === undefined ? undefined : Number(o.priority), cpu: o.cpu === undefined ? undefined : Number(o.cpu) },
        onWarning: (w) => console.error(`note: ${w}`),
        onScope: (scope) => console.error(`3D scope: ${scope.url} (Ctrl-C stops)`),
      });
      const { trajectory: _t, ...report } = r;
      output(!!o.json, report, () => formatSim2Sim(r));
    });

  program
    .command('robots <action>')
    .description(`get the robot files sim2sim and the demo use ('fetch': ${UNITREE_RL_GYM.repository} at ${UNITREE_RL_GYM.commit.slice(0, 7)}, sha256-checked; 'where': where they are looked for)`)
    .option('--from <dir|url>', 'a folder holding unitree_rl_gym/, or a base URL (default: GitHub)')
    .option('--to <dir>', 'a folder to hold unitree_rl_gym/ (default: ~/.cache/torchloop/robots)')
    .action(async (action: string, o: { from?: string; to?: string }) => {
      if (action === 'where') {
        console.log(robotSearchPath().join('\n'));
        return;
      }
      if (action !== 'fetch') throw new TorchError('ERR_ARGUMENT', `Expected 'torchloop robots fetch' or 'torchloop robots where' but received '${action}'`);
      await fetchRobots({ from: o.from, to: o.to, log: (l) => console.log(l) });
    });

  await program.parseAsync(rest, { from: 'user' });
}

const isMain = process.argv[1] && path.resolve(process.argv[1]).replace(/\.[jt]s$/, '') === import.meta.filename.replace(/\.[jt]s$/, '');
if (isMain) {
  main(process.argv.slice(2)).catch((e: Error & { code?: string; exitCode?: number }) => {
    if (e.code?.startsWith('commander.')) process.exit(e.exitCode ?? 1); // commander printed it
    console.error(`torchloop: ${e instanceof TorchError ? `${e.code}: ` : ''}${e.message}`);
    process.exit(1);
  });
}
