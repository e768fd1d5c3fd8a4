import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StatsManager } from '../../lib/index.ts';
import { ticks } from '../../lib/learn/page-chart.ts';
import { writeLineChart } from '../../lib/learn/plots.ts';

describe('StatsManager live page', () => {
  it('serves a page on loopback and streams batches and epochs to it', async () => {
    const stats = new StatsManager({ dir: mkdtempSync(path.join(tmpdir(), 'tl-live-')), live: { port: 0 }, plots: false });
    const url = (await stats.liveUrl())!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await (await fetch(url)).text();
    expect(page).toContain("new EventSource('/events')");
    const received: unknown[] = [];
    await new Promise<void>((resolve) => {
      get(`${url}events`, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const line of chunk.split('\n')) if (line.startsWith('data: ')) received.push(JSON.parse(line.slice(6)));
          if (received.length === 1) {
            stats.batch(0.5);
            stats.epoch({ epoch: 0, loss: 0.5, valLoss: 0.4, lr: 0.01, seconds: 1 });
          }
          if (received.length >= 3) resolve();
        });
      });
    });
    stats.close();
    expect(received[0]).toEqual({ history: [], batches: [] });
    expect(received[1]).toEqual({ batch: [1, 0.5] });
    expect(received[2]).toMatchObject({ epoch: { epoch: 0, loss: 0.5, valLoss: 0.4 } });
  });
});

describe('StatsManager in TensorBoard (read by TensorBoard\'s own EventAccumulator)', () => {
  const read = (dir: string) => JSON.parse(execFileSync(path.resolve('.torch/bin/python'), ['test/helpers/tb_scalars.py', dir], { encoding: 'utf8' })) as { scalars: Record<string, [number, number][]> };

  it('every tag arrives, zeros included (simple_value sits in a oneof, as in summary.proto)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-tb-'));
    const stats = new StatsManager({ dir, plots: false, window: 3 });
    for (const loss of [0, 2, 4]) stats.batch(loss);
    stats.scalar('reward', 0);
    stats.epoch({ epoch: 0, loss: 0, valLoss: 0, lr: 0, seconds: 1 });
    stats.epoch({ epoch: 1, loss: 3, valLoss: 1, lr: 0.5, seconds: 1 });
    stats.close();
    const s = read(dir).scalars;
    expect(s['Train/Batch/Loss']).toEqual([[1, 0], [2, 2], [3, 4]]);
    expect(s['Train/Batch/Mean']).toEqual([[1, 0], [2, 1], [3, 2]]);
    // The true variance over the window (DeepPhysX writes the change of the mean under that name).
    expect(s['Train/Batch/Variance'].map(([, v]) => v)).toEqual([0, 1, expect.closeTo(8 / 3, 5)]);
    expect(s['reward/Value']).toEqual([[3, 0]]);
    expect(s['Train/Epoch/Loss']).toEqual([[0, 0], [1, 3]]);
    expect(s['Test/Valid/Loss']).toEqual([[0, 0], [1, 1]]);
    expect(s['lr/Value']).toEqual([[0, 0], [1, 0.5]]);
    expect(s['Train/Epoch/Variance']).toEqual([[0, 0], [1, 2.25]]);
  });

  it('the torchloop layout is still there, zeros included', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-tb-'));
    const stats = new StatsManager({ dir, plots: false, layout: 'torchloop' });
    stats.batch(0);
    stats.epoch({ epoch: 0, loss: 0, valLoss: null, lr: 0, seconds: 1 });
    stats.close();
    const s = read(dir).scalars;
    expect(s['loss/batch']).toEqual([[1, 0]]);
    expect(s['loss/epoch_window_var']).toEqual([[0, 0]]);
    expect(s['lr']).toEqual([[0, 0]]);
  });
});

describe('axis ticks (the pages and the SVG/PNG plots)', () => {
  it('are 1, 2 or 5 times a power of ten apart, whole numbers for epochs; decades on a log axis', () => {
    expect(ticks(0, 58, false, true)).toEqual({ lo: 0, hi: 60, values: [0, 10, 20, 30, 40, 50, 60] });
    expect(ticks(1, 20, false, true).values).toEqual([0, 5, 10, 15, 20]);
    expect(ticks(0, 2, false, true).values).toEqual([0, 1, 2]);
    expect(ticks(0, 0.00021, false).values).toEqual([0, 0.00005, 0.0001, 0.00015, 0.0002, 0.00025]);
    expect(ticks(0, 0, false).values).toContain(0); // one value: an axis around it
    expect(ticks(Math.log10(5.3e-4), Math.log10(0.4), true)).toEqual({ lo: -4, hi: 0, values: [0.0001, 0.001, 0.01, 0.1, 1] });
    expect(ticks(Math.log10(0.3), Math.log10(0.5), true).values).toEqual([0.1, 0.2, 0.5, 1]);
    expect(ticks(-9, 1, true).values).toEqual([1e-9, 1e-7, 0.00001, 0.001, 0.1, 10]);
  });

  it('label a loss plot in decades and its epochs in round numbers', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-ticks-'));
    const loss = Array.from({ length: 59 }, (_, e) => [e, 0.4 * Math.exp(-e / 9)] as [number, number]);
    const [svgFile] = writeLineChart(path.join(dir, 'loss.svg'), 'Training', 'epoch', 'loss', [{ name: 'training loss', points: loss }], { log: true });
    const labels = [...readFileSync(svgFile, 'utf8').matchAll(/font-size="10">([^<]+)</g)].map((m) => m[1]);
    expect(labels).toEqual(['0.0001', '0.001', '0.01', '0.1', '1', '0', '10', '20', '30', '40', '50', '60']);
  });
});
