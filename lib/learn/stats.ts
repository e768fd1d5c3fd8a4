import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Model } from '../model.ts';
import type { Tensor } from '../tensor.ts';
import { LivePage } from './live.ts';
import { writeLineChart } from './plots.ts';
import { EventWriter } from './tensorboard.ts';

export interface StatsOptions {
  dir: string;
  tensorboard?: boolean;
  csv?: boolean;
  plots?: boolean;
  /** Values in the window for running means and variances (default 50, DeepPhysX's). */
  window?: number;
  /**
   * TensorBoard tags: 'deepphysx' (default) as DeepPhysX's StatsManager writes them,
   * `Train/Batch/{Loss,Mean,Variance}`, `Train/Epoch/{Loss,Mean,Variance}`,
   * `Test/Valid/{Loss,Mean,Variance}`, `<custom>/{Value,Mean,Variance}` (the learning rate is
   * `lr/...`), `weights/<name>`, `grads/<name>`; or 'torchloop', the earlier layout (`loss/batch`,
   * `loss/epoch`, `loss/epoch_window_mean`, `loss/epoch_window_var`, `loss/validation`, `lr`,
   * `weights/...`, `gradients/...`). "Variance" is the true variance over the window (DeepPhysX
   * writes the change of the running mean under that name).
   */
  layout?: 'deepphysx' | 'torchloop';
  /** Serve a live page of the curves on 127.0.0.1:port (0 picks a port). Nothing opens a browser. */
  live?: { port: number; host?: string } | null;
  /** The plots' loss axis, with its units (default "loss"). */
  lossLabel?: string;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  lossWindowMean: number;
  lossWindowVar: number;
  valLoss: number | null;
  lr: number;
  seconds: number;

}

/**
 * Training statistics (DeepPhysX's StatsManager, the dida CSV tracker): TensorBoard event
 * files (batch loss, epoch loss with its mean and variance over a window, validation loss,
 * custom scalars, weight and gradient histograms), a CSV file beside them, and PNG/SVG plots
 * of the curves at the end. Nothing opens a browser.
 */
export class StatsManager {
  readonly dir: string;
  readonly history: EpochRecord[] = [];
  readonly batchLosses: [number, number][] = [];
  #tb: EventWriter | null;
  #csv: number | null = null;
  #csvColumns: string[] | null = null;
  #csvWanted: boolean;
  #window: number;
  #plots: boolean;
  #step = 0;
  #live: LivePage | null = null;
  #layout: 'deepphysx' | 'torchloop';
  // The last `window` values per series, for running means and variances.
  #windows = new Map<string, number[]>();

  #lossLabel: string;

  constructor(options: StatsOptions) {
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.#tb = options.tensorboard === false ? null : new EventWriter(this.dir);
    this.#csvWanted = options.csv !== false; // opened at the first epoch, or by restore() to continue it
    this.#window = options.window ?? 50;
    this.#layout = options.layout ?? 'deepphysx';
    this.#plots = options.plots ?? true;
    this.#lossLabel = options.lossLabel ?? 'loss';
    if (options.live) this.#live = new LivePage(options.live.port, () => ({ history: this.history, batches: this.batchLosses }), options.live.host);
  }

  /** Resolves to the live page's URL once it listens (null without one). */
  liveUrl(): Promise<string | null> {
    return this.#live ? this.#live.url : Promise.resolve(null);
  }

  get tensorboardFile(): string | null {
    return this.#tb?.file ?? null;
  }

  /**
   * Continues a run: keeps its history (from a checkpoint) for plots and windows, and continues
   * its stats.csv: the rows up to the checkpoint's last epoch stay, later ones (epochs run after
   * the checkpoint, which the resumed run repeats) go.
   */
  restore(history: EpochRecord[], step: number, windows?: Record<string, number[]>): void {
    this.history.push(...history);
    this.#step = step;
    for (const [k, v] of Object.entries(windows ?? {})) this.#windows.set(k, [...v]);
    if (!this.#csvWanted || this.#csv !== null) return;
    const file = path.join(this.dir, 'stats.csv');
    const last = history.length ? history[history.length - 1].epoch : -Infinity;
    if (!existsSync(file)) return;
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
    if (lines.length === 0) return;
    const header = lines[0].split(',');
    const at = header.indexOf('epoch');
    const kept = lines.slice(1).filter((l) => at >= 0 && Number(l.split(',')[at]) <= last);
    writeFileSync(file, [lines[0], ...kept].join('\n') + '\n');
    this.#csv = openSync(file, 'a');
    this.#csvColumns = header;
  }

  /** The running windows, for a checkpoint. */
  windowState(): Record<string, number[]> {
    return Object.fromEntries([...this.#windows].map(([k, v]) => [k, [...v]]));
  }

  get step(): number {
    return this.#step;
  }

  /** Adds a value to a series' window; returns its mean and (population) variance over it. */
  #windowed(series: string, value: number): [number, number] {
    let w = this.#windows.get(series);
    if (!w) this.#windows.set(series, (w = []));
    w.push(value);
    if (w.length > this.#window) w.shift();
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    return [mean, w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length];
  }

  /** Value, running mean and variance under `<prefix>/{names}` (DeepPhysX's add_scalar_full). */
  #full(prefix: string, first: string, value: number, step: number): void {
    const [mean, variance] = this.#windowed(prefix, value);
    this.#tb?.scalar(`${prefix}/${first}`, value, step);
    this.#tb?.scalar(`${prefix}/Mean`, mean, step);
    this.#tb?.scalar(`${prefix}/Variance`, variance, step);
  }

  batch(loss: number): void {
    this.#step++;
    this.batchLosses.push([this.#step, loss]);
    if (this.#layout === 'deepphysx') this.#full('Train/Batch', 'Loss', loss, this.#step);
    else this.#tb?.scalar('loss/batch', loss, this.#step);
    this.#live?.send({ batch: [this.#step, loss] });
  }

  /** A custom scalar: `<tag>/Value`, `/Mean`, `/Variance` (DeepPhysX's add_custom_scalar_full), or `<tag>` in the torchloop layout. */
  scalar(tag: string, value: number, step = this.#step): void {
    if (this.#layout === 'deepphysx') this.#full(tag, 'Value', value, step);
    else this.#tb?.scalar(tag, value, step);
  }

  /** Histograms of every parameter's weights and, when given, of the last update's gradients. */
  histograms(model: Model, epoch: number, gradients?: Record<string, Tensor>): void {
    if (!this.#tb) return;
    for (const [name, t] of Object.entries(model.parameters())) this.#tb.histogram(`weights/${name}`, t.data as Float32Array, epoch);
    const grads = this.#layout === 'deepphysx' ? 'grads' : 'gradients';
    for (const [name, g] of Object.entries(gradients ?? {})) this.#tb.histogram(`${grads}/${name}`, g.data as Float32Array, epoch);
  }

  epoch(record: Omit<EpochRecord, 'lossWindowMean' | 'lossWindowVar'>): EpochRecord {
    const window = [...this.history.slice(-(this.#window - 1)).map((h) => h.loss), record.loss];
    const mean = window.reduce((a, b) => a + b, 0) / window.length;
    const variance = window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length;
    const full: EpochRecord = { ...record, lossWindowMean: mean, lossWindowVar: variance };
    this.history.push(full);
    this.#live?.send({ epoch: full });
    const tb = this.#tb;
    if (tb && this.#layout === 'deepphysx') {
      tb.scalar('Train/Epoch/Loss', full.loss, full.epoch);
      tb.scalar('Train/Epoch/Mean', mean, full.epoch);
      tb.scalar('Train/Epoch/Variance', variance, full.epoch);
      if (full.valLoss !== null) this.#full('Test/Valid', 'Loss', full.valLoss, full.epoch);
      this.#full('lr', 'Value', full.lr, full.epoch);
      tb.flush();
    } else if (tb) {
      tb.scalar('loss/epoch', full.loss, full.epoch);
      tb.scalar('loss/epoch_window_mean', mean, full.epoch);
      tb.scalar('loss/epoch_window_var', variance, full.epoch);
      if (full.valLoss !== null) tb.scalar('loss/validation', full.valLoss, full.epoch);
      tb.scalar('lr', full.lr, full.epoch);
      tb.flush(); // once per epoch: TensorBoard sees the run as it goes
    }
    if (this.#csv === null && this.#csvWanted) this.#csv = openSync(path.join(this.dir, 'stats.csv'), 'w');
    if (this.#csv !== null) {
      if (!this.#csvColumns) {
        this.#csvColumns = Object.keys(full);
        writeSync(this.#csv, this.#csvColumns.join(',') + '\n');
      }
      writeSync(this.#csv, this.#csvColumns.map((c) => ((full as unknown as Record<string, number | null>)[c] ?? '')).join(',') + '\n');
    }
    return full;
  }

  /** Writes the plots and closes the files; returns what it wrote. */
  close(): string[] {
    this.#live?.close();
    this.#tb?.close();
    if (this.#csv !== null) closeSync(this.#csv);
    this.#csv = null;
    if (!this.#plots || this.history.length === 0) return [];
    const epochs = this.history;
    const written = writeLineChart(path.join(this.dir, 'loss.svg'), 'Training', 'epoch', this.#lossLabel, [
      { name: 'training loss', points: epochs.map((h) => [h.epoch, h.loss]) },
      { name: 'window mean', points: epochs.map((h) => [h.epoch, h.lossWindowMean]) },
      { name: 'validation loss', points: epochs.filter((h) => h.valLoss !== null).map((h) => [h.epoch, h.valLoss as number]) },
    ], { log: true });
    written.push(...writeLineChart(path.join(this.dir, 'batch-loss.svg'), 'Batch loss', 'step (batches)', this.#lossLabel, [{ name: 'batch loss', points: this.batchLosses }], { log: true }));
    return written;
  }
}
