/**
 * The loop bench's floor (loop.ts, variant d), in a worker thread: the demo's controller step
 * paced by the same native pacer as ControlLoop, looped in C++ (pacer.loopStep) with no
 * JavaScript per tick. Stats go to the shared views it is given.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../../lib/native.ts';
import { build } from '../../demo/arm-graph.ts';

const d = workerData as { hz: number; ticks: number; spinUs: number; meta: Float64Array; hist: Int32Array[]; realtime: { priority: number; cpu: number } };
const g = build({ hz: d.hz, seconds: 1 });
const realtime = native.applyRealtime(d.realtime.priority, d.realtime.cpu, false);
const pacer = new native.NativePacer(d.hz, d.spinUs, 'skip', d.meta, d.hist[0], d.hist[1], d.hist[2]);
pacer.loopStep(g.controller.nativeStep, d.ticks);
g.dispose();
parentPort!.postMessage({ realtime });
