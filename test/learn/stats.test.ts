import { mkdtempSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StatsManager } from '../../lib/index.ts';

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
