// ControlLoop: a graph ticked in a thread of its own with native pacing. Timing is measured
// by `npm run bench` (the loop section), never asserted here: these tests check behaviour.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ControlLoop, TorchError } from '../../lib/index.ts';

const graphs = new URL('../helpers/loop-graphs.ts', import.meta.url);
const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('ControlLoop', () => {
  it('starts, stops and restarts; its stats count ticks, jitter, compute and period', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'counter', hz: 1000, signals: ['writer.sout_vec'] });
    const warnings: string[] = [];
    loop.on('warning', (w) => warnings.push(w));
    for (let run = 0; run < 2; run++) {
      await loop.start();
      expect(loop.running).toBe(true);
      await waitFor(() => loop.stats().ticks >= 50);
      const live = loop.stats(); // read while it runs
      expect(live.ticks).toBeGreaterThanOrEqual(50);
      expect(Number.isNaN(live.gcs)).toBe(true);
      const s = await loop.stop();
      expect(loop.running).toBe(false);
      expect(s.ticks).toBeGreaterThanOrEqual(live.ticks);
      expect(s.jitter.count).toBe(s.ticks);
      expect(s.compute.count).toBe(s.ticks);
      expect(s.period.count).toBe(s.ticks - 1);
      expect(s.jitter.p50).toBeGreaterThanOrEqual(0);
      expect(s.period.p50).toBeGreaterThan(0.5); // ms, at 1 kHz
      expect(s.gcs).toBeGreaterThanOrEqual(0);
    }
    expect(await loop.stop()).toBeDefined(); // stopping a stopped loop returns its stats
    await expect(new ControlLoop({ module: graphs, export: 'nope', hz: 10 }).start()).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(() => new ControlLoop({ module: graphs, hz: -1 })).toThrow(TorchError);
  }, 30_000);

  it('a shared output is never torn: every snapshot holds one tick; a shared input reaches the next ticks', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'counter', hz: 20_000, signals: ['writer.sout_vec', 'writer.sin_gain'] });
    await loop.start();
    const vec = loop.signal('writer.sout_vec');
    expect(vec.direction).toBe('out');
    expect(loop.signal('writer.sin_gain').direction).toBe('in');
    expect(() => loop.signal('writer.nope')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    let reads = 0, torn = 0, distinct = 0, last = -2;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const v = vec.value;
      reads++;
      for (let i = 1; i < v.length; i++) if (v[i] !== v[0]) torn++;
      if (v[0] !== vec.tick) torn++;
      if (v[0] !== last) distinct++, (last = v[0]);
    }
    expect(torn).toBe(0);
    expect(reads).toBeGreaterThan(1000);
    expect(distinct).toBeGreaterThan(100); // the reads saw the loop move
    loop.signal('writer.sin_gain').value = [2];
    await waitFor(() => vec.value[0] === 2 * vec.tick);
    expect(() => (vec.value = [1])).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    await loop.stop();
  }, 30_000);

  it('an error in a tick stops the loop and reaches the main thread naming the entity and the signal', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'failing', hz: 1000 });
    const error = new Promise<TorchError>((r) => loop.once('error', r));
    await loop.start();
    const e = await error;
    expect(e).toBeInstanceOf(TorchError);
    expect(e.message).toMatch(/the sensor went away \(in signal 'bad\.sout_x' of entity 'bad'\)/);
    await waitFor(() => !loop.running);
    const s = await loop.stop();
    expect(s.ticks).toBe(20);
  }, 30_000);

  it('stop() during an overrun returns: the stuck tick\'s thread is terminated after stopTimeoutMs', async () => {
    // The graph flags (in shared memory) when the loop thread is inside its stuck tick: the
    // test waits for that, not for a time, so a busy machine cannot make stop() come first.
    const entered = new Int32Array(new SharedArrayBuffer(4));
    const loop = new ControlLoop({ module: graphs, export: 'slow', options: { ms: 60_000, entered }, hz: 1000, stopTimeoutMs: 300 });
    const warnings: string[] = [];
    loop.on('warning', (w) => warnings.push(w));
    await loop.start();
    await waitFor(() => Atomics.load(entered, 0) === 1, 50_000);
    const t0 = Date.now();
    await loop.stop();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(loop.running).toBe(false);
    expect(warnings.join('\n')).toMatch(/terminated/);
    // A short overrun under 'skip': missed deadlines are counted, and 'overrun' is emitted.
    const skip = new ControlLoop({ module: graphs, export: 'slow', options: { ms: 5 }, hz: 1000 });
    const overrun = new Promise<{ missed: number }>((r) => skip.once('overrun', r));
    await skip.start();
    expect((await overrun).missed).toBeGreaterThan(0);
    const s = await skip.stop();
    expect(s.overruns).toBeGreaterThan(0);
    expect(s.skipped).toBeGreaterThan(0);
    expect(s.worstLateTick).toBeGreaterThanOrEqual(0);
  }, 90_000);

  it('100,000 ticks of a TorchEntity and a plant: 0 GCs in the loop thread', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'pd', hz: 20_000, spinUs: 20 });
    await loop.start();
    await waitFor(() => loop.stats().ticks >= 100_000, 60_000);
    const s = await loop.stop();
    expect(s.ticks).toBeGreaterThanOrEqual(100_000);
    expect(s.gcs).toBe(0);
  }, 90_000);

  it('the realtime settings report what they did, and the loop runs either way', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'counter', hz: 1000, realtime: { priority: 10, cpu: 0, lockMemory: false } });
    await loop.start();
    await waitFor(() => loop.stats().ticks > 10);
    const s = await loop.stop();
    expect(s.realtime).toHaveLength(2);
    expect(s.realtime[0]).toMatch(/SCHED_FIFO 10/);
    expect(s.realtime[1]).toMatch(/CPU 0/);
    expect(s.ticks).toBeGreaterThan(0);
  }, 30_000);

  it('a process killed or exiting while its loop runs leaves nothing behind', async () => {
    for (const how of ['SIGKILL', 'SIGTERM', 'exit']) {
      const code = `import { ControlLoop } from './lib/index.ts';
        const loop = new ControlLoop({ module: ${JSON.stringify(graphs.href)}, export: 'counter', hz: 1000 });
        await loop.start(); console.log('running');
        ${how === 'exit' ? 'setTimeout(() => process.exit(3), 100);' : 'setInterval(() => {}, 1000);'}`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((r) => child.stdout.on('data', (d: Buffer) => d.toString().includes('running') && r()));
      if (how !== 'exit') child.kill(how as NodeJS.Signals);
      const t0 = Date.now();
      const [exitCode, signal] = await new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
      expect(Date.now() - t0).toBeLessThan(5000);
      if (how === 'exit') expect(exitCode).toBe(3);
      else expect(signal).toBe(how);
      expect(() => process.kill(child.pid!, 0)).toThrow(); // gone, with its threads
    }
  }, 60_000);
});
