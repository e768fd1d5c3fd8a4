/**
 * torchloop: run, step and train TorchScript models from Node.js.
 *
 * Data flows one way: user code -> lib/ -> lib/native.ts -> native/ -> libtorch.
 */
export { TorchError, type TorchErrorCode } from './errors.ts';
export { Tensor, DTYPES, type DType, type TypedArray } from './tensor.ts';
export { Model, type LoadOptions, type ModelSource, type MethodSignature, type ArgumentSignature, type Value, type Argument } from './model.ts';
export { version, cudaAvailable, setNumThreads, getNumThreads, manualSeed, loadLibrary, type VersionInfo } from './runtime.ts';
export { Entity, type OutputSpec } from './realtime/entity.ts';
export { TorchEntity, type TorchEntityOptions, type WarmupOptions, type WarmupReport } from './realtime/torch-entity.ts';
export { Signal, InputSignal, OutputSignal, ScalarSignal, plug, unplug, type SignalArray, type SignalInput, type SignalSpec, type ComputeFn } from './realtime/signal.ts';
export { Pool, pool } from './realtime/pool.ts';
export { Tracer } from './realtime/tracer.ts';
export { LatencyStats, type LatencySummary } from './realtime/latency.ts';
export { Stopwatch } from './realtime/clock.ts';
export { ControlLoop, type ControlLoopOptions, type LoopStats, type RealtimeOptions } from './realtime/control-loop.ts';
export { SharedSignal } from './realtime/shared-signal.ts';
export { type Scope, type ScopeOptions } from './realtime/scope.ts';
export type { NativeStep as NativeStepHandle } from './native.ts';
export { Trainer, type TrainerOptions, type LossName } from './train/trainer.ts';
export { ProcessGroup, type ProcessGroupOptions } from './train/distributed.ts';
export { nn, type MlpOptions, type Activation } from './train/nn.ts';
export { encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors } from './train/safetensors.ts';
export { Environment, type EnvironmentOptions, type Predictor } from './data/environment.ts';
export { EnvironmentManager, type EnvironmentManagerOptions, type EnvironmentSource, type Batch } from './data/environment-manager.ts';
export { DatabaseManager, type Mode, type Normalization } from './data/database.ts';
export { DataManager, type DataSource, type DataManagerOptions } from './data/data-manager.ts';
export { DataGeneration, type DataGenerationOptions, type GenerationReport } from './data/data-generation.ts';
export { SpringChainEnvironment, type SpringChainOptions } from './data/examples/spring-chain.ts';
export { BeamEnvironment, beamMjcf, BEAM_DEFAULTS, type BeamOptions, type BeamParameters } from './data/examples/beam.ts';
export { Random } from './data/random.ts';
export type { FieldSpec, Field, FieldValues, FieldArray, FieldDtype } from './data/fields.ts';
export { nodeErrors } from './data/fields.ts';
export { RemoteEnvironmentClient, RemoteSampleSink, type RemoteOptions, type RemoteClientOptions, type RemoteSinkOptions } from './data/remote.ts';
export { loadExperiment, validateExperiment, writeResolved, ExperimentSchema, type Experiment } from './learn/config.ts';
export { StatsManager, type EpochRecord } from './learn/stats.ts';
export { EventWriter } from './learn/tensorboard.ts';
export { NetworkManager, type DataTransformation } from './learn/network-manager.ts';
export { saveCheckpoint, loadCheckpoint, type CheckpointState } from './learn/checkpoint.ts';
export { TrainingPipeline, buildNetwork, type TrainingHooks, type TrainingReport } from './learn/pipelines.ts';
export { runPrediction, runEvaluation, type PredictionReport, type PredictionFrame, type Metric } from './learn/prediction.ts';
export { PredictionPage, gridEdges, type PredictionPageInit } from './learn/prediction-page.ts';
export { loadMujoco, loadMjcf, mjcfFiles, type MujocoModule, type MjcfFile } from './sim/mujoco.ts';
export { MujocoEntity, type MujocoEntityOptions } from './sim/mujoco-entity.ts';
export { readDeployConfig, type DeployConfig } from './sim/deploy-config.ts';
export { build as buildSim2Sim, Sim2Sim, type Sim2SimOptions, type Sim2SimReport, type Trajectory } from './sim/sim2sim.ts';
export { fetchRobots, robotsRoot, haveRobots, robotSearchPath, verifyRobots, UNITREE_RL_GYM, type FetchOptions } from './sim/robots.ts';
