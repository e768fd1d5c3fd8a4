import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
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
  /** Epochs in the window for the epoch loss's mean and variance (default 10). */
  window?: number;
  /** Serve a live page of the curves on 127.0.0.1:port (0 picks a port). Nothing opens a browser. */
  live?: { port: number } | null;
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
  #window: number;
  #plots: boolean;
  #step = 0;
  #live: LivePage | null = null;

  constructor(options: StatsOptions) {
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.#tb = options.tensorboard === false ? null : new EventWriter(this.dir);
    if (options.csv !== false) this.#csv = openSync(path.join(this.dir, 'stats.csv'), 'w');
    this.#window = options.window ?? 10;
    this.#plots = options.plots ?? true;
    if (options.live) this.#live = new LivePage(options.live.port, () => ({ history: this.history, batches: this.batchLosses }));
  }

  /** Resolves to the live page's URL once it listens (null without one). */
  liveUrl(): Promise<string | null> {
    return this.#live ? this.#live.url : Promise.resolve(null);
  }

  get tensorboardFile(): string | null {
    return this.#tb?.file ?? null;
  }

  /** Continues a run: keeps its history (from a checkpoint) for plots and windows. */
  restore(history: EpochRecord[], step: number): void {
    this.history.push(...history);
    this.#step = step;
  }

  get step(): number {
    return this.#step;
  }

  batch(loss: number): void {
    this.#step++;
    this.batchLosses.push([this.#step, loss]);
    this.#tb?.scalar('loss/batch', loss, this.#step);
    this.#live?.send({ batch: [this.#step, loss] });
  }

  scalar(tag: string, value: number, step = this.#step): void {
    this.#tb?.scalar(tag, value, step);
  }

  /** Histograms of every parameter's weights and, when given, of the last update's gradients. */
  histograms(model: Model, epoch: number, gradients?: Record<string, Tensor>): void {
    if (!this.#tb) return;
    for (const [name, t] of Object.entries(model.parameters())) this.#tb.histogram(`weights/${name}`, t.data as Float32Array, epoch);
    for (const [name, g] of Object.entries(gradients ?? {})) this.#tb.histogram(`gradients/${name}`, g.data as Float32Array, epoch);
  }

  epoch(record: Omit<EpochRecord, 'lossWindowMean' | 'lossWindowVar'>): EpochRecord {
    const window = [...this.history.slice(-(this.#window - 1)).map((h) => h.loss), record.loss];
    const mean = window.reduce((a, b) => a + b, 0) / window.length;
    const variance = window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length;
    const full: EpochRecord = { ...record, lossWindowMean: mean, lossWindowVar: variance };
    this.history.push(full);
    this.#live?.send({ epoch: full });
    const tb = this.#tb;
    if (tb) {
      tb.scalar('loss/epoch', full.loss, full.epoch);
      tb.scalar('loss/epoch_window_mean', mean, full.epoch);
      tb.scalar('loss/epoch_window_var', variance, full.epoch);
      if (full.valLoss !== null) tb.scalar('loss/validation', full.valLoss, full.epoch);
      tb.scalar('lr', full.lr, full.epoch);
      tb.flush(); // once per epoch: TensorBoard sees the run as it goes
    }
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
    const written = writeLineChart(path.join(this.dir, 'loss.svg'), 'Training', 'epoch', 'loss', [
      { name: 'training loss', points: epochs.map((h) => [h.epoch, h.loss]) },
      { name: 'window mean', points: epochs.map((h) => [h.epoch, h.lossWindowMean]) },
      { name: 'validation loss', points: epochs.filter((h) => h.valLoss !== null).map((h) => [h.epoch, h.valLoss as number]) },
    ]);
    written.push(...writeLineChart(path.join(this.dir, 'batch-loss.svg'), 'Batch loss', 'step', 'loss', [{ name: 'batch loss', points: this.batchLosses }]));
    return written;
  }
}
